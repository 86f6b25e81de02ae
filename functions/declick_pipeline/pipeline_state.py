"""The state machine's data (docs/architecture.md, "State machine data") as typed models.

`submit_task` writes the execution input; `poll_task` adds `$.poll`; a Catch adds `$.error`.
The models accept unknown fields (the state machine adds `$.delivery`, `$.report`) and give
optional defaults to whatever a failure path may not have reached yet, because `report_failure`
must still be able to tell the user something when the state is incomplete.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="allow")


class SourceObject(_Lenient):
    bucket: str | None = None
    key: str | None = None
    version_id: str | None = None
    etag: str | None = None
    size: int | None = None
    md5: str | None = None
    duration_s: int | None = None
    format: str | None = None

    def for_notification(self) -> dict[str, Any]:
        return self.model_dump(exclude={"etag"})


class TaskParameters(_Lenient):
    detection_mult: float | None = None
    click_len: int | None = None
    output_format: str | None = None
    priority: int | None = None


class PollOutcome(_Lenient):
    status: int | None = None
    status_name: str | None = None
    wait_seconds: int | None = None
    voice_result: str | None = None
    reason: str | None = None
    polls: int = 0
    give_up: bool = False
    # Set by a poll that could not read the vendor (polling.py): loop to the Wait without a status.
    retry: bool = False
    errors: int = 0
    errors_since: str | None = None
    last_error: str | None = None
    last_error_message: str | None = None


class CaughtError(_Lenient):
    """What a Step Functions Catch puts at `$.error`."""

    error: str | None = Field(default=None, alias="Error")
    cause: Any = Field(default=None, alias="Cause")


class PipelineState(_Lenient):
    task_id: str
    submitted_at: str | None = None
    uploaded_at: str | None = None
    input: SourceObject = Field(default_factory=SourceObject)
    parameters: TaskParameters = Field(default_factory=TaskParameters)
    poll: PollOutcome | None = None
    error: CaughtError | None = None

    def task_summary(self) -> dict[str, Any]:
        """The notification's `task` block."""
        poll = self.poll or PollOutcome()
        return {
            "id": self.task_id,
            "remote_status": poll.status,
            "polls": poll.polls,
            "parameters": self.parameters.model_dump(),
        }
