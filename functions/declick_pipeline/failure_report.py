"""FAILED notifications: from the state machine (remote failure, give-up, Catch) and from the DLQ.

A Catch puts `{"Error": <exception class name or States.*>, "Cause": <JSON with errorMessage>}`
at `$.error`. That wins over `$.poll` because it happened later (a Catch after a COMPLETE poll
means delivery failed, not the remote task).
"""

from __future__ import annotations

import json
from typing import Any

from declick_pipeline import notifications
from declick_pipeline.observability import MetricUnit, logger, metrics
from declick_pipeline.s3_events import Upload

REMOTE_STATUS_ERRORS = {
    4: "REMOTE_TASK_FAILED",
    5: "REMOTE_TASK_CLOSED",
    6: "REMOTE_TASK_TIMED_OUT",
}

# Exception class names (the Catch's Error) → notification error codes.
CAUGHT_ERRORS = {
    "ResultMissingError": "RESULT_MISSING",
    "ResultUrlRefusedError": "RESULT_URL_REFUSED",
    "ResultDownloadRefusedError": "RESULT_DOWNLOAD_REFUSED",
    "ResultFormatError": "RESULT_WRONG_FORMAT",
    "ResultDownloadError": "RESULT_DOWNLOAD_FAILED",
    "DeliveryRejectedError": "DELIVERY_FAILED",
    "RemoteApiRejectedError": "REMOTE_API_REJECTED",
    "RemoteApiAuthError": "REMOTE_API_AUTH_FAILED",
    "RemoteApiTransientError": "REMOTE_API_UNAVAILABLE",
    "RemoteApiResponseError": "REMOTE_API_BAD_RESPONSE",
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


def failure_error(state: dict[str, Any]) -> dict[str, str]:
    """The notification's `error` for a failed execution state."""
    caught = state.get("error")
    if isinstance(caught, dict) and (caught.get("Error") or caught.get("Cause")):
        name = str(caught.get("Error") or "")
        code = CAUGHT_ERRORS.get(name, "INTERNAL_ERROR")
        message = _cause_message(caught.get("Cause")) or name
        if code == "INTERNAL_ERROR" and name and name not in message:
            message = f"{name}: {message}"
        return {"code": code, "message": message}
    poll = state.get("poll") if isinstance(state.get("poll"), dict) else {}
    status = poll.get("status")
    if status in REMOTE_STATUS_ERRORS:
        reason = poll.get("reason") or f"the remote task ended with status {poll.get('status_name') or status}"
        return {"code": REMOTE_STATUS_ERRORS[status], "message": str(reason)}
    if poll.get("give_up"):
        return {
            "code": "POLL_LIMIT_REACHED",
            "message": f"timed out: the remote task was not done after {poll.get('polls')} polls",
        }
    return {"code": "INTERNAL_ERROR", "message": "the execution ended without a result"}


def report_failure(state: dict[str, Any]) -> dict[str, Any]:
    error = failure_error(state)
    poll = state.get("poll") if isinstance(state.get("poll"), dict) else {}
    message = notifications.build_notification(
        notifications.FAILED,
        input=state.get("input") or {},
        task={
            "id": state.get("task_id"),
            "remote_status": poll.get("status"),
            "polls": poll.get("polls", 0),
            "parameters": state.get("parameters") or {},
        },
        error=error,
        uploaded_at=state.get("uploaded_at"),
        submitted_at=state.get("submitted_at"),
    )
    logger.warning("task failed", extra={"error_code": error["code"]})
    notifications.publish(message)
    metrics.add_metric(name="Failed", unit=MetricUnit.Count, value=1)
    return {"notified": notifications.FAILED, "error": error}


def report_dead_upload(upload: Upload) -> None:
    """The submit queue gave up on this upload; whether a remote task exists is unknown, so no `task`."""
    message = notifications.build_notification(
        notifications.FAILED,
        input=upload.describe(),
        error={
            "code": "SUBMIT_FAILED",
            "message": "the upload could not be submitted after repeated attempts; an operator has to look",
        },
        uploaded_at=upload.uploaded_at,
    )
    notifications.publish(message)
    metrics.add_metric(name="Failed", unit=MetricUnit.Count, value=1)
