"""What the two endpoints do, free of HTTP and Lambda: create a task, report on one.

`handlers.api` turns an API Gateway event into calls of `TaskApi` and its answers (or
`RequestRefused`) into responses. Validation, codes, envelope and Basic auth are the contract's
(declick_contract), the same code the self-hosted service runs.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from declick_contract.api import Status
from declick_contract.basic_auth import AuthenticationFailed, BasicAuthenticator, same_owner
from declick_contract.codes import Code
from declick_contract.safe_download import UnsafeUrlError, check_link
from declick_contract.task_request import BatchRequest, RequestRefused, result_data
from declick_engine_backend.bands import band_of
from declick_engine_backend.settings import BackendSettings
from declick_engine_backend.tasks import Task, TaskTable


class TaskApi:
    def __init__(
        self,
        settings: BackendSettings,
        table: TaskTable,
        sqs: Any,
        s3: Any,
        authenticator: Callable[[], BasicAuthenticator],
        clock: Callable[[], float] = time.time,
    ):
        self.settings = settings
        self.table = table
        self.sqs = sqs
        self.s3 = s3
        self._authenticator = authenticator
        self._clock = clock

    def authenticate(self, header: str | None) -> str:
        try:
            return self._authenticator().authenticate(header)
        except AuthenticationFailed as exc:
            raise RequestRefused(Code.AUTH_FAILED, str(exc), 401) from None

    # ------------------------------------------------------------------ POST /v3/pic/ecr/batch

    def create(self, body: BatchRequest, appkey: str) -> dict[str, str]:
        settings = self.settings
        if body.file_info.file_size > settings.max_input_bytes:
            raise RequestRefused(Code.FILE_TOO_LARGE, f"file_size over {settings.max_input_bytes} bytes")
        if body.file_info.file_time > settings.max_audio_seconds:
            raise RequestRefused(
                Code.FILE_TOO_LARGE,
                f"file_time {body.file_info.file_time:g} s is over the {settings.max_audio_seconds:g} s one worker "
                "can clean inside Lambda's 15-minute limit",
            )
        try:
            check_link(body.file_link, settings.download_policy())
        except UnsafeUrlError as exc:
            raise RequestRefused(Code.BAD_PARAMETERS, f"file_link: {exc}") from None
        task = Task(
            task_id=str(uuid.uuid4()),
            appkey=appkey,
            status=Status.WAITING,
            priority=body.priority,
            band=band_of(body.priority),
            created_at=self._clock(),
            **asdict(body.requested_task()),
        )
        self.table.insert(task)
        # The record first, then the message: a worker never receives a task it cannot read.
        self.sqs.send_message(QueueUrl=settings.queue_url(task.band), MessageBody=json.dumps({"task_id": task.task_id}))
        return {"task_id": task.task_id}

    # ------------------------------------------------------------------ GET /v3/pic/ecr/result/{task_id}

    def result(self, task_id: str, appkey: str) -> dict[str, str]:
        task = self.table.get(task_id)
        if task is None or not same_owner(task.appkey, appkey):
            raise RequestRefused(Code.UNKNOWN_TASK, "no such task")
        task = self._enforce_deadlines(task)
        voice_result = self._presign(task) if task.status == Status.COMPLETE else ""
        return result_data(task.status, self.wait_time(task), voice_result, task.reason)

    def _enforce_deadlines(self, task: Task) -> Task:
        """A task past a deadline changes status when it is looked at: 6 for stuck, 5 for expired."""
        now, settings = self._clock(), self.settings
        changed = False
        if task.status == Status.WAITING and now - task.created_at > settings.max_queue_seconds:
            reason = f"waited longer than {settings.max_queue_seconds:g} s in the queue"
            changed = self.table.finish(task.task_id, Status.TIMED_OUT, reason, [Status.WAITING], now)
        elif task.status == Status.IN_PROGRESS and now - (task.started_at or now) > settings.max_processing_seconds:
            reason = f"processing took longer than {settings.max_processing_seconds:g} s"
            changed = self.table.finish(task.task_id, Status.TIMED_OUT, reason, [Status.IN_PROGRESS], now)
        elif task.status == Status.COMPLETE and (task.result_expires_at or math.inf) <= now:
            changed = self.table.finish(task.task_id, Status.CLOSED, "result expired", [Status.COMPLETE], now)
            if changed and task.result_key:
                self.s3.delete_object(Bucket=settings.results_bucket, Key=task.result_key)
        if not changed:
            return task
        return self.table.get(task.task_id) or task

    def _presign(self, task: Task) -> str:
        """A fresh link each poll, never valid longer than the result itself will exist."""
        left = int((task.result_expires_at or 0) - self._clock())
        expires_in = max(1, min(self.settings.presign_seconds, left))
        return self.s3.generate_presigned_url(
            "get_object",
            Params={"Bucket": self.settings.results_bucket, "Key": task.result_key},
            ExpiresIn=expires_in,
        )

    # ------------------------------------------------------------------ wait_time

    def expected_seconds(self, task: Task) -> float:
        settings = self.settings
        return (
            settings.task_overhead_seconds
            + task.file_size / settings.download_bytes_per_second
            + self.table.rate(task.output_ext) * task.file_time
        )

    def queue_ahead(self, band: str) -> int:
        """Tasks of the band queued or running now (approximate, as SQS counts are)."""
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.settings.queue_url(band),
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])

    def wait_time(self, task: Task) -> int:
        """Seconds until the task should be done: its band's queue shared by the band's workers,
        each queued task costing about as much as this one, then this task itself."""
        if task.status not in (Status.WAITING, Status.IN_PROGRESS):
            return 0
        expected = self.expected_seconds(task)
        if task.status == Status.IN_PROGRESS:
            elapsed = self._clock() - (task.started_at or self._clock())
            seconds = max(expected - elapsed, 0.25 * expected)
        else:
            ahead = max(self.queue_ahead(task.band) - 1, 0)
            seconds = math.ceil(ahead / self.settings.workers(task.band)) * expected + expected
        seconds = math.ceil(seconds - 1e-6)
        return int(min(max(seconds, self.settings.min_wait_seconds), self.settings.max_wait_seconds))
