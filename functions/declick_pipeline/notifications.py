"""The one message per upload that users subscribe to (schema in docs/architecture.md).

It is published as an SNS per-protocol message (``MessageStructure=json``): e-mail subscribers get
a readable text with a subject naming the outcome and the file; queues, functions, HTTP(S)
endpoints and ``email-json`` get the JSON document. Both carry the ``status`` message attribute
subscription filter policies match on.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from aws_lambda_powertools.metrics import single_metric

from declick_pipeline import runtime
from declick_pipeline.observability import METRICS_NAMESPACE, SERVICE_NAME, MetricUnit, logger

SCHEMA_VERSION = "1.0"
SUCCEEDED, FAILED, REJECTED = "SUCCEEDED", "FAILED", "REJECTED"

_INPUT_FIELDS = ("bucket", "key", "version_id", "size", "md5", "duration_s", "format")
# Protocols that get the JSON document; every other one (email-json, sms...) gets `default`, also JSON.
JSON_PROTOCOLS = ("sqs", "lambda", "http", "https", "firehose")
SUBJECT_MAX = 100
# The reason dimension of the Notifications metric for a success (FAILED/REJECTED use the error code).
SUCCESS_REASON = "OK"


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


def _size(value: Any) -> str:
    return f"{value:,} bytes" if isinstance(value, int) else "unknown size"


def email_subject(message: dict[str, Any]) -> str:
    """`Declick SUCCEEDED: talk.wav`; SNS wants ASCII without line breaks, under 100 characters."""
    name = str((message.get("input") or {}).get("key") or "upload").rsplit("/", 1)[-1]
    text = f"Declick {message['status']}: {name}"
    text = "".join(char if " " <= char <= "~" else "?" for char in text)
    return text if len(text) <= SUBJECT_MAX else text[: SUBJECT_MAX - 3] + "..."


def email_text(message: dict[str, Any]) -> str:
    """What a person reads: the outcome first, then where the result is, then the details."""
    status = message["status"]
    source = message.get("input") or {}
    where = f"s3://{source.get('bucket')}/{source.get('key')}"
    lines: list[str] = []
    if status == SUCCEEDED:
        output = message.get("output") or {}
        lines += [
            f"Your upload {where} was cleaned.",
            "",
            f"Result: s3://{output.get('bucket')}/{output.get('key')} ({output.get('format')}, "
            f"{_size(output.get('size'))})",
        ]
    else:
        error = message.get("error") or {}
        headline = "was rejected" if status == REJECTED else "could not be processed"
        lines += [f"Your upload {where} {headline}.", "", f"Reason: {error.get('message') or error.get('code')}"]
        lines.append(f"Code: {error.get('code')}")
        if status == REJECTED:
            lines.append("Nothing was sent for processing; fix the file or its metadata and upload it again.")
    lines += ["", "Details"]
    lines.append(f"  file: {source.get('format') or '?'}, {_size(source.get('size'))}, {source.get('duration_s')} s")
    if source.get("version_id"):
        lines.append(f"  version: {source['version_id']}")
    task = message.get("task") or {}
    if task.get("id"):
        lines.append(f"  task: {task['id']}")
    parameters = task.get("parameters") or {}
    if parameters:
        lines.append("  parameters: " + ", ".join(f"{name}={value}" for name, value in parameters.items()))
    for name, value in (message.get("timestamps") or {}).items():
        if value:
            lines.append(f"  {name.replace('_', ' ')}: {value}")
    lines += [
        "",
        "Programs: subscribe a queue, function or HTTPS endpoint to this topic to receive this message as JSON "
        "(schema_version " + str(message.get("schema_version")) + ").",
    ]
    return "\n".join(lines) + "\n"


def per_protocol_message(message: dict[str, Any]) -> str:
    """The `Message` of an SNS publish with `MessageStructure=json`: one body per protocol."""
    document = json.dumps(message, ensure_ascii=False)
    bodies = {"default": document, "email": email_text(message)}
    bodies.update(dict.fromkeys(JSON_PROTOCOLS, document))
    return json.dumps(bodies, ensure_ascii=False)


def outcome_reason(message: dict[str, Any]) -> str:
    return SUCCESS_REASON if message["status"] == SUCCEEDED else str((message.get("error") or {}).get("code"))


def publish(message: dict[str, Any]) -> str:
    """Publish to TOPIC_ARN with the `status` attribute subscribers filter on; return the message id."""
    topic_arn = runtime.settings().require("TOPIC_ARN").topic_arn
    response = runtime.client("sns").publish(
        TopicArn=topic_arn,
        Message=per_protocol_message(message),
        MessageStructure="json",
        Subject=email_subject(message),
        MessageAttributes={"status": {"DataType": "String", "StringValue": message["status"]}},
    )
    reason = outcome_reason(message)
    logger.info(
        "notification published",
        extra={"status": message["status"], "error_code": (message.get("error") or {}).get("code")},
    )
    # One data point per notification, by status and reason (the dashboard's outcome graphs); its
    # own EMF record because these dimensions must not apply to the handler's other metrics.
    with single_metric(name="Notifications", unit=MetricUnit.Count, value=1, namespace=METRICS_NAMESPACE) as metric:
        metric.add_dimension(name="service", value=SERVICE_NAME)
        metric.add_dimension(name="status", value=message["status"])
        metric.add_dimension(name="reason", value=reason)
    return response["MessageId"]
