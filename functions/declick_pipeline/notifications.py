"""The one message per upload that users subscribe to (schema in docs/architecture.md)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from declick_pipeline import runtime
from declick_pipeline.observability import logger

SCHEMA_VERSION = "1.0"
SUCCEEDED, FAILED, REJECTED = "SUCCEEDED", "FAILED", "REJECTED"

_INPUT_FIELDS = ("bucket", "key", "version_id", "size", "md5", "duration_s", "format")


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_timestamp(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def build_notification(
    status: str,
    *,
    input: dict[str, Any],  # noqa: A002 - the schema's name
    output: dict[str, Any] | None = None,
    task: dict[str, Any] | None = None,
    error: dict[str, Any] | None = None,
    uploaded_at: str | None = None,
    submitted_at: str | None = None,
) -> dict[str, Any]:
    if status not in (SUCCEEDED, FAILED, REJECTED):
        raise ValueError(f"unknown notification status {status!r}")
    message: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "status": status,
        "input": {name: input.get(name) for name in _INPUT_FIELDS},
    }
    if status == SUCCEEDED:
        message["output"] = output
    if task is not None and status != REJECTED:
        message["task"] = task
    if status != SUCCEEDED:
        message["error"] = {"code": (error or {}).get("code", "UNKNOWN"), "message": (error or {}).get("message", "")}
    message["timestamps"] = {"uploaded_at": uploaded_at, "submitted_at": submitted_at, "notified_at": utc_now()}
    return message


def publish(message: dict[str, Any]) -> str:
    """Publish to TOPIC_ARN with the `status` attribute subscribers filter on; return the message id."""
    topic_arn = runtime.settings().require("TOPIC_ARN").topic_arn
    response = runtime.client("sns").publish(
        TopicArn=topic_arn,
        Message=json.dumps(message, ensure_ascii=False),
        MessageAttributes={"status": {"DataType": "String", "StringValue": message["status"]}},
    )
    logger.info(
        "notification published",
        extra={"status": message["status"], "error_code": (message.get("error") or {}).get("code")},
    )
    return response["MessageId"]
