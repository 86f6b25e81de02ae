"""One look at the remote task, shaped for the state machine's Choice and Wait states.

The vendor's `wait_time` is a hint in seconds documented as a string. It is clamped to
[WAIT_MIN_SECONDS, WAIT_MAX_SECONDS] so a zero cannot spin the loop and a huge value cannot
stall it; anything unreadable (missing, text, negative) means WAIT_DEFAULT_SECONDS. The poll
gives up while the task is still WAITING/IN_PROGRESS once this is the MAX_POLLS-th poll or
MAX_PROCESSING_SECONDS have passed since submission.

A vendor that is down (429/5xx/network trouble that outlasted the client's own retries) or
answers nonsense is not the upload's fault, and the remote task we paid for may still finish:
the poll answers `retry` with a backed-off wait, and the state machine loops back to its Wait.
Only after VENDOR_OUTAGE_TOLERANCE_SECONDS of *continuous* errors (or the overall deadline) does
it give up, with the last error carried to `report_failure`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from declick_contract.api import PENDING_STATUSES
from declick_contract.errors import RemoteApiResponseError, RemoteApiTransientError
from declick_pipeline import runtime
from declick_pipeline.notifications import parse_timestamp
from declick_pipeline.observability import MetricUnit, logger, metrics, tracer
from declick_pipeline.pipeline_state import PipelineState, PollOutcome
from declick_pipeline.settings import Settings

MAX_ERROR_CHARS = 500


def wait_seconds(wait_time: int | None, settings: Settings) -> int:
    value = settings.wait_default_seconds if wait_time is None or wait_time < 0 else wait_time
    return max(settings.wait_min_seconds, min(settings.wait_max_seconds, value))


def backoff_seconds(errors: int, settings: Settings) -> int:
    """Wait after the `errors`-th consecutive failed poll: the default wait doubled per error, capped."""
    base = max(1, settings.wait_default_seconds, settings.wait_min_seconds)
    return max(settings.wait_min_seconds, min(settings.wait_max_seconds, base * 2 ** min(errors - 1, 20)))


def _elapsed(since: str | None, now: datetime) -> float:
    start = parse_timestamp(since)
    return (now - start).total_seconds() if start else 0.0


@tracer.capture_method(capture_response=False)
def poll_task(state: PipelineState, now: datetime | None = None) -> dict[str, Any]:
    current = runtime.settings().require("API_BASE_URL", "API_SECRET_ARN")
    previous = state.poll or PollOutcome()
    polls = max(0, previous.polls) + 1
    try:
        result = runtime.remote_api().get_result(state.task_id)
    except (RemoteApiTransientError, RemoteApiResponseError) as exc:
        return _poll_failed(state, previous, polls, exc, current, now or datetime.now(UTC))
    moment = now or datetime.now(UTC)
    give_up = False
    if result.status in PENDING_STATUSES:
        elapsed = _elapsed(state.submitted_at, moment)
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
    if previous.errors:
        logger.info("remote API answers again", extra={"failed_polls": previous.errors})
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


def _poll_failed(
    state: PipelineState,
    previous: PollOutcome,
    polls: int,
    exc: Exception,
    current: Settings,
    now: datetime,
) -> dict[str, Any]:
    """The vendor could not be read this time: wait and look again, unless it has been too long."""
    errors = previous.errors + 1
    errors_since = previous.errors_since if previous.errors and previous.errors_since else now.isoformat()
    outage = _elapsed(errors_since, now)
    give_up = (
        outage >= current.vendor_outage_tolerance_seconds
        or polls >= current.max_polls
        or _elapsed(state.submitted_at, now) > current.max_processing_seconds
    )
    metrics.add_metric(name="PollErrors", unit=MetricUnit.Count, value=1)
    poll = PollOutcome(
        # The last status the vendor did tell us, so a notification still says how far it got.
        status=previous.status,
        status_name=previous.status_name,
        wait_seconds=backoff_seconds(errors, current),
        polls=polls,
        give_up=give_up,
        retry=not give_up,
        errors=errors,
        errors_since=errors_since,
        last_error=type(exc).__name__,
        last_error_message=str(exc)[:MAX_ERROR_CHARS],
    )
    logger.warning(
        "remote API unavailable while polling",
        extra={
            "error_type": type(exc).__name__,
            "failed_polls": errors,
            "outage_seconds": round(outage, 1),
            "give_up": give_up,
            "wait_seconds": poll.wait_seconds,
        },
    )
    return poll.model_dump()
