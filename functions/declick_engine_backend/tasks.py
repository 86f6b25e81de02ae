"""Tasks in DynamoDB: one item per task, moved between statuses with conditional writes.

Every transition names the statuses it may start from (``only_from``), so two actors racing on
one task (the worker finishing it, a poll declaring it timed out) cannot both win: the loser's
write fails its condition and it re-reads. The item's ``expires`` attribute is the table's TTL:
DynamoDB deletes the record some time after the result itself has expired, so a late poll still
reads "closed" instead of "unknown task".

The engine's measured speed (seconds of engine time per second of audio, per output format) is
kept in the same table under ``meta#`` keys, which no task id can take (ids are UUIDs).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from botocore.exceptions import ClientError

from declick_contract.api import Status
from declick_contract.task_request import RequestedTask

_META = "meta#"
_RATE_WEIGHT = 0.3  # weight of the newest measurement in the moving average, as the service's estimator


@dataclass(frozen=True)
class Task(RequestedTask):
    """A task item: the request (the contract's fields) and the backend's bookkeeping."""

    task_id: str
    appkey: str
    status: Status
    priority: int
    band: str
    created_at: float
    started_at: float | None = None
    finished_at: float | None = None
    reason: str = ""
    result_key: str | None = None
    result_expires_at: float | None = None

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> Task:
        def num(name: str) -> float | None:
            value = item.get(name)
            return float(value) if value is not None else None

        return cls(
            task_id=item["task_id"],
            appkey=item["appkey"],
            status=Status(int(item["status"])),
            priority=int(item["priority"]),
            band=item["band"],
            file_link=item["file_link"],
            file_size=int(item["file_size"]),
            file_md5=item["file_md5"],
            file_time=float(item["file_time"]),
            input_ext=item["input_ext"],
            detection_mult=float(item["detection_mult"]),
            click_len=int(item["click_len"]),
            output_ext=item["output_ext"],
            created_at=float(item["created_at"]),
            started_at=num("started_at"),
            finished_at=num("finished_at"),
            reason=item.get("reason", ""),
            result_key=item.get("result_key"),
            result_expires_at=num("result_expires_at"),
        )


def _dec(value: float) -> Decimal:
    return Decimal(repr(float(value)))


class TaskTable:
    def __init__(self, table: Any, *, record_retention_seconds: int, initial_rate: float):
        self._table = table  # a boto3 DynamoDB Table resource
        self._retention = record_retention_seconds
        self._initial_rate = initial_rate

    def insert(self, task: Task) -> None:
        item = {
            "task_id": task.task_id,
            "appkey": task.appkey,
            "status": int(task.status),
            "priority": task.priority,
            "band": task.band,
            "file_link": task.file_link,
            "file_size": task.file_size,
            "file_md5": task.file_md5,
            "file_time": _dec(task.file_time),
            "input_ext": task.input_ext,
            "detection_mult": _dec(task.detection_mult),
            "click_len": task.click_len,
            "output_ext": task.output_ext,
            "created_at": _dec(task.created_at),
            "reason": "",
            "expires": int(task.created_at) + self._retention,
        }
        self._table.put_item(Item=item, ConditionExpression="attribute_not_exists(task_id)")

    def get(self, task_id: str) -> Task | None:
        if task_id.startswith(_META):
            return None
        item = self._table.get_item(Key={"task_id": task_id}, ConsistentRead=True).get("Item")
        return Task.from_item(item) if item else None

    def _transition(self, task_id: str, only_from: Iterable[Status], updates: dict[str, Any]) -> bool:
        names = {f"#{key}": key for key in updates} | {"#status": "status"}
        values = {f":{key}": value for key, value in updates.items()}
        allowed = [int(status) for status in only_from]
        values |= {f":from{i}": status for i, status in enumerate(allowed)}
        condition = "#status IN (" + ", ".join(f":from{i}" for i in range(len(allowed))) + ")"
        try:
            self._table.update_item(
                Key={"task_id": task_id},
                UpdateExpression="SET " + ", ".join(f"#{key} = :{key}" for key in updates),
                ConditionExpression=f"attribute_exists(task_id) AND {condition}",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def start(self, task_id: str, now: float | None = None) -> bool:
        """waiting -> in progress; False if the task is no longer waiting (a redelivered message)."""
        now = time.time() if now is None else now
        return self._transition(task_id, [Status.WAITING], {"status": int(Status.IN_PROGRESS), "started_at": _dec(now)})

    def complete(self, task_id: str, result_key: str, result_ttl_seconds: int, now: float | None = None) -> bool:
        now = time.time() if now is None else now
        return self._transition(
            task_id,
            [Status.IN_PROGRESS],
            {
                "status": int(Status.COMPLETE),
                "finished_at": _dec(now),
                "result_key": result_key,
                "result_expires_at": _dec(now + result_ttl_seconds),
                "expires": int(now) + result_ttl_seconds + self._retention,
            },
        )

    def finish(self, task_id: str, status: Status, reason: str, only_from: Iterable[Status], now: float | None = None):
        """Into a final status without a result (4 failed, 5 closed, 6 timed out), with the reason."""
        now = time.time() if now is None else now
        return self._transition(
            task_id,
            only_from,
            {
                "status": int(status),
                "reason": reason[:1000],
                "finished_at": _dec(now),
                "expires": int(now) + self._retention,
            },
        )

    # ------------------------------------------------------------------ measured engine speed

    def rate(self, output_ext: str) -> float:
        """Engine wall seconds per audio second for this output format (moving average)."""
        item = self._table.get_item(Key={"task_id": f"{_META}rate#{output_ext}"}).get("Item")
        return float(item["rate"]) if item else self._initial_rate

    def learn(self, output_ext: str, audio_seconds: float, engine_seconds: float) -> None:
        if audio_seconds <= 0 or engine_seconds <= 0:
            return
        sample = engine_seconds / audio_seconds
        updated = (1 - _RATE_WEIGHT) * self.rate(output_ext) + _RATE_WEIGHT * sample
        self._table.put_item(Item={"task_id": f"{_META}rate#{output_ext}", "rate": _dec(updated)})
