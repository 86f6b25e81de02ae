"""Bodies of the service's API, shaped by compatibility with the vendor.

Every answer is the `{code, msg, data}` envelope; `status` and `wait_time` are strings. The
request rules are the contract's (declick_contract.task_request), checked strictly: the server is
where a client's mistake must be named, not silently coerced.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

# The request models are the contract's, so the engine backend validates exactly as we do.
from declick_contract.task_request import BatchRequest, FileInfo

__all__ = ["BatchRequest", "FileInfo"]  # and the answer models below


class TaskCreated(BaseModel):
    task_id: str


class TaskResult(BaseModel):
    status: str = Field(description="1 waiting, 2 in progress, 3 complete, 4 failed, 5 closed, 6 timed out.")
    wait_time: str = Field(description="Seconds to wait before polling again; 0 once the task is final.")
    voice_result: str = Field(description="Download link of the result when status is 3, else empty.")
    reason: str = Field(description="Why the task failed, closed or timed out, else empty.")


class Empty(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BatchEnvelope(BaseModel):
    code: int
    msg: str
    data: TaskCreated | Empty


class ResultEnvelope(BaseModel):
    code: int
    msg: str
    data: TaskResult | Empty


class ErrorEnvelope(BaseModel):
    code: int
    msg: str
    data: Empty


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    workers: int
    alive_workers: int
    ready_workers: int
    waiting: int
    in_progress: int
