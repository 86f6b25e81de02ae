"""One look at the remote task, shaped for the state machine's Choice and Wait states.

The vendor's `wait_time` is a hint in seconds documented as a string. It is clamped to
[WAIT_MIN_SECONDS, WAIT_MAX_SECONDS] so a zero cannot spin the loop and a huge value cannot
stall it; anything unreadable (missing, text, negative) means WAIT_DEFAULT_SECONDS. The poll
gives up while the task is still WAITING/IN_PROGRESS once this is the MAX_POLLS-th poll or
MAX_PROCESSING_SECONDS have passed since submission.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from declick_contract.api import PENDING_STATUSES
from declick_pipeline import runtime
from declick_pipeline.notifications import parse_timestamp
from declick_pipeline.observability import MetricUnit, logger, metrics, tracer
from declick_pipeline.pipeline_state import PipelineState, PollOutcome
from declick_pipeline.settings import Settings


def wait_seconds(wait_time: int | None, settings: Settings) -> int:
    value = settings.wait_default_seconds if wait_time is None or wait_time < 0 else wait_time
    return max(settings.wait_min_seconds, min(settings.wait_max_seconds, value))


@tracer.capture_method(capture_response=False)
def poll_task(state: PipelineState, now: datetime | None = None) -> dict[str, Any]:
    current = runtime.settings().require("API_BASE_URL", "API_SECRET_ARN")
    result = runtime.remote_api().get_result(state.task_id)
    polls = max(0, state.poll.polls if state.poll else 0) + 1
    give_up = False
    if result.status in PENDING_STATUSES:
        submitted = parse_timestamp(state.submitted_at)
        elapsed = ((now or datetime.now(UTC)) - submitted).total_seconds() if submitted else 0.0
        give_up = polls >= current.max_polls or elapsed > current.max_processing_seconds
    metrics.add_metric(name="Polls", unit=MetricUnit.Count, value=1)
    poll = PollOutcome(
        status=result.status,
        status_name=result.status_name,
        wait_seconds=wait_seconds(result.wait_time, current),
        voice_result=result.voice_result,
        reason=result.reason,
        polls=polls,
        give_up=give_up,
    )
    logger.info(
        "remote task polled",
        extra={
            "status_name": result.status_name,
            "polls": polls,
            "give_up": give_up,
            "wait_seconds": poll.wait_seconds,
        },
    )
    return poll.model_dump()
