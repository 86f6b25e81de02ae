"""FAILED notifications: from the state machine (remote failure, give-up, Catch) and from the DLQ.

A Catch puts `{"Error": <exception class name or States.*>, "Cause": <JSON with errorMessage>}`
at `$.error`. That wins over `$.poll` because it happened later (a Catch after a COMPLETE poll
means delivery failed, not the remote task).
"""

from __future__ import annotations

import json
from typing import Any

from declick_contract import errors
from declick_contract.api import Status
from declick_pipeline import ledger, notifications, upload_records
from declick_pipeline.observability import MetricUnit, count_failure, logger, metrics
from declick_pipeline.pipeline_state import PipelineState, PollOutcome
from declick_pipeline.s3_events import Upload

REMOTE_STATUS_ERRORS = {
    Status.FAILED: "REMOTE_TASK_FAILED",
    Status.CLOSED: "REMOTE_TASK_CLOSED",
    Status.TIMED_OUT: "REMOTE_TASK_TIMED_OUT",
}

# Exception class names (the Catch's Error) → notification error codes.
CAUGHT_ERRORS = {
    errors.ResultMissingError.__name__: "RESULT_MISSING",
    errors.ResultUrlRefusedError.__name__: "RESULT_URL_REFUSED",
    errors.ResultDownloadRefusedError.__name__: "RESULT_DOWNLOAD_REFUSED",
    errors.ResultFormatError.__name__: "RESULT_WRONG_FORMAT",
    errors.ResultDownloadError.__name__: "RESULT_DOWNLOAD_FAILED",
    errors.DeliveryRejectedError.__name__: "DELIVERY_FAILED",
    errors.RemoteApiRejectedError.__name__: "REMOTE_API_REJECTED",
    errors.RemoteApiAuthError.__name__: "REMOTE_API_AUTH_FAILED",
    errors.RemoteApiTransientError.__name__: "REMOTE_API_UNAVAILABLE",
    errors.RemoteApiResponseError.__name__: "REMOTE_API_BAD_RESPONSE",
    "States.Timeout": "STEP_TIMED_OUT",
    "States.HeartbeatTimeout": "STEP_TIMED_OUT",
}

MAX_MESSAGE_CHARS = 1000


def _cause_message(cause: Any) -> str:
    if isinstance(cause, str):
        try:
            parsed = json.loads(cause)
        except ValueError:
            return cause[:MAX_MESSAGE_CHARS]
        cause = parsed
    if isinstance(cause, dict):
        message = cause.get("errorMessage") or cause.get("message") or cause.get("Cause")
        if message:
            return str(message)[:MAX_MESSAGE_CHARS]
        return json.dumps(cause)[:MAX_MESSAGE_CHARS]
    return "" if cause is None else str(cause)[:MAX_MESSAGE_CHARS]


def failure_error(state: PipelineState) -> dict[str, str]:
    """The notification's `error` for a failed execution state."""
    caught = state.error
    if caught is not None and (caught.error or caught.cause):
        name = caught.error or ""
        code = CAUGHT_ERRORS.get(name, "INTERNAL_ERROR")
        message = _cause_message(caught.cause) or name
        if code == "INTERNAL_ERROR" and name and name not in message:
            message = f"{name}: {message}"
        return {"code": code, "message": message}
    poll = state.poll or PollOutcome()
    if poll.status in REMOTE_STATUS_ERRORS:
        reason = poll.reason or f"the remote task ended with status {poll.status_name or poll.status}"
        return {"code": REMOTE_STATUS_ERRORS[poll.status], "message": reason}
    if poll.give_up and poll.errors and poll.last_error:
        code = CAUGHT_ERRORS.get(poll.last_error, "REMOTE_API_UNAVAILABLE")
        return {
            "code": code,
            "message": (
                f"the processing service could not be read for {poll.errors} consecutive polls since "
                f"{poll.errors_since}; last error: {poll.last_error_message or poll.last_error}"
            )[:MAX_MESSAGE_CHARS],
        }
    if poll.give_up:
        return {
            "code": "POLL_LIMIT_REACHED",
            "message": f"timed out: the remote task was not done after {poll.polls} polls",
        }
    return {"code": "INTERNAL_ERROR", "message": "the execution ended without a result"}


def report_failure(state: PipelineState) -> dict[str, Any]:
    error = failure_error(state)
    message = notifications.build_notification(
        notifications.FAILED,
        input=state.input.for_notification(),
        task=state.task_summary(),
        error=error,
        uploaded_at=state.uploaded_at,
        submitted_at=state.submitted_at,
    )
    logger.warning("task failed", extra={"error_code": error["code"]})
    notifications.publish(message)
    count_failure(error["code"])
    ledger.record(
        ledger.FAILED,
        bucket=state.input.bucket,
        key=state.input.key,
        version=state.input.version_id or state.input.etag,
        reason=error,
        task_id=state.task_id,
    )
    return {"notified": notifications.FAILED, "error": error}


def report_dead_upload(upload: Upload) -> None:
    """The submit queue gave up on this upload; whether a remote task exists is unknown, so no `task`."""
    if not upload_records.claim_notification(upload.identity(), upload_records.DEAD_LETTER):
        return  # already REJECTED/FAILED at submit, or an execution was started and will notify
    error = {
        "code": "SUBMIT_FAILED",
        "message": "the upload could not be submitted after repeated attempts; an operator has to look",
    }
    message = notifications.build_notification(
        notifications.FAILED, input=upload.describe(), error=error, uploaded_at=upload.uploaded_at
    )
    notifications.publish(message)
    metrics.add_metric(name="DeadLetters", unit=MetricUnit.Count, value=1)
    count_failure(error["code"])
    ledger.record(
        ledger.FAILED,
        bucket=upload.bucket,
        key=upload.key,
        version=upload.version,
        reason=error,
        version_id=upload.version_id,
        etag=upload.etag,
        uploaded_at=upload.uploaded_at,
    )
