"""One task on one worker: the service's job code (declick.jobs) with DynamoDB and S3 around it.

A redelivered message (the queue's visibility timeout passed, or a retried batch) finds its task
no longer waiting and is dropped: a task runs at most once. A task that can never succeed ends
as status 4 with the job's reason; one that waited past the queue deadline as status 6.
"""

from __future__ import annotations

import logging
import tempfile
import time
from pathlib import Path
from typing import Any

from declick.jobs import new_job, run_job
from declick_contract.api import Status
from declick_contract.codes import Code, reason_text
from declick_engine_backend.settings import BackendSettings
from declick_engine_backend.tasks import Task, TaskTable

log = logging.getLogger("declick.engine_backend")


def job_for(task: Task, settings: BackendSettings, work_dir: Path) -> dict[str, Any]:
    """The job dict declick.jobs.run_job expects (the service's scheduler builds the same)."""
    return new_job(
        task.task_id,
        task,
        settings,
        retry_delay_seconds=1.0,
        work_path=str(work_dir / f"{task.task_id}.in"),
        result_path=str(work_dir / f"{task.task_id}.{task.output_ext}"),
    )


def result_key(task: Task) -> str:
    return f"results/{task.task_id}.{task.output_ext}"


def process(
    task_id: str, settings: BackendSettings, table: TaskTable, s3: Any, now: float | None = None
) -> Status | None:
    """Run one task; the status it ended in, or None when there was nothing to do."""
    task = table.get(task_id)
    if task is None or task.status != Status.WAITING:
        log.info("nothing to do", extra={"task_id": task_id, "status": task.status if task else None})
        return None
    now = time.time() if now is None else now
    if now - task.created_at > settings.max_queue_seconds:
        reason = f"waited longer than {settings.max_queue_seconds:g} s in the queue"
        table.finish(task_id, Status.TIMED_OUT, reason, [Status.WAITING])
        return Status.TIMED_OUT
    if not table.start(task_id):
        return None
    with tempfile.TemporaryDirectory(prefix="declick-") as scratch:
        job = job_for(task, settings, Path(scratch))
        answer = run_job(job)
        if not answer["ok"]:
            table.finish(task_id, Status.FAILED, answer["reason"], [Status.IN_PROGRESS])
            log.info("task failed", extra={"task_id": task_id, "reason": answer["reason"]})
            return Status.FAILED
        key = result_key(task)
        try:
            # upload_file streams from disk (multipart above 8 MB): the result is never held in memory.
            s3.upload_file(job["result_path"], settings.results_bucket, key)
        except Exception as exc:  # noqa: BLE001 - the task must end with a reason whatever broke
            reason = reason_text(Code.PROCESSING_FAILED, f"cannot store the result: {exc.__class__.__name__}")
            table.finish(task_id, Status.FAILED, reason, [Status.IN_PROGRESS])
            log.exception("result upload failed", extra={"task_id": task_id})
            return Status.FAILED
    if not table.complete(task_id, key, settings.result_ttl_seconds):
        # Declared timed out meanwhile: the result will never be handed out.
        s3.delete_object(Bucket=settings.results_bucket, Key=key)
        current = table.get(task_id)
        return current.status if current is not None else None
    table.learn(task.output_ext, answer["audio_seconds"], answer["engine_seconds"])
    log.info(
        "task complete",
        extra={
            "task_id": task_id,
            "audio_seconds": answer["audio_seconds"],
            "engine_seconds": answer["engine_seconds"],
            "wall_seconds": answer["wall_seconds"],
        },
    )
    return Status.COMPLETE
