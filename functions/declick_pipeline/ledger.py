"""The job ledger: where each upload is, one DynamoDB item per input object version.

Every step that moves an upload on writes one line here (submit: RECEIVED, SUBMITTED or
REJECTED; deliver: SUCCEEDED; report_failure and report_dead_letter: FAILED), so `declick status`
can answer before the notification arrives and `declick replay` can find the FAILED uploads of a
time range. The item's shape is in declick_contract.job_ledger; a replay of the same version
updates the same item and counts itself in `replays`.

The notification is the contract with the user; the ledger is the operators' view. A ledger write
that fails is logged and counted (`LedgerWriteErrors`, alarmed) but never stops the step: a
notification must not be lost, nor sent twice by a retried step, because of the ledger.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from declick_contract.job_ledger import FAILED, RECEIVED, REJECTED, STATUSES, SUBMITTED, SUCCEEDED, item_key
from declick_pipeline import notifications, runtime
from declick_pipeline.observability import MetricUnit, logger, metrics

__all__ = ["FAILED", "RECEIVED", "REJECTED", "SUBMITTED", "SUCCEEDED", "record"]

MAX_MESSAGE_CHARS = 1000

# Cleared when an upload moves on (a replayed upload must not keep its old failure reason).
_STALE_ON = {
    RECEIVED: ("reason_code", "reason_message", "task_id", "execution_arn", "output_key", "finished_at"),
    SUBMITTED: ("reason_code", "reason_message", "output_key", "finished_at"),
    SUCCEEDED: ("reason_code", "reason_message"),
    FAILED: ("output_key",),
    REJECTED: ("task_id", "execution_arn", "output_key"),
}


def record(
    status: str,
    *,
    bucket: str | None,
    key: str | None,
    version: str | None,
    reason: dict[str, str] | None = None,
    only_from: tuple[str, ...] = (),
    **fields: Any,
) -> None:
    """Set the upload's status (and any `fields` given: task_id, execution_arn, replay_id, output_key...).

    `only_from`: write only if the item is absent or in one of these statuses, for a step whose
    write may come after a later step's (SUBMITTED is written once the execution has started,
    and a fast execution may already have ended).
    """
    if status not in STATUSES:
        raise ValueError(f"unknown ledger status {status!r}")
    table = runtime.settings().ledger_table
    if not table or not bucket or not key:
        logger.debug("no ledger entry written", extra={"ledger_table": table, "status": status})
        return
    now = notifications.utc_now()
    values: dict[str, Any] = {"status": status, "status_at": now, "updated_at": now, "bucket": bucket, "key": key}
    if reason:
        values["reason_code"] = reason.get("code")
        values["reason_message"] = (reason.get("message") or "")[:MAX_MESSAGE_CHARS]
    if status in (SUCCEEDED, FAILED, REJECTED):
        values["finished_at"] = now
    values.update({name: value for name, value in fields.items() if value is not None})
    names = {f"#{i}": name for i, name in enumerate(values)}
    assignments = [f"#{i} = :{i}" for i in range(len(values))]
    attribute_values = {f":{i}": _typed(value) for i, value in enumerate(values.values())}
    names["#first"] = "first_received_at"
    assignments.append("#first = if_not_exists(#first, :now)")
    attribute_values[":now"] = {"S": now}
    expression = "SET " + ", ".join(assignments)
    stale = [name for name in _STALE_ON[status] if name not in values]
    if stale:
        names.update({f"#r{i}": name for i, name in enumerate(stale)})
        expression += " REMOVE " + ", ".join(f"#r{i}" for i in range(len(stale)))
    if status == RECEIVED and fields.get("replay_id"):
        names["#replays"] = "replays"
        attribute_values[":one"] = {"N": "1"}
        expression += " ADD #replays :one"
    condition: dict[str, str] = {}
    if only_from:
        allowed = [f":from{i}" for i in range(len(only_from))]
        attribute_values.update(
            {placeholder: {"S": value} for placeholder, value in zip(allowed, only_from, strict=True)}
        )
        status_name = next(placeholder for placeholder, name in names.items() if name == "status")
        condition["ConditionExpression"] = (
            f"attribute_not_exists({status_name}) OR {status_name} IN ({', '.join(allowed)})"
        )
    try:
        runtime.client("dynamodb").update_item(
            TableName=table,
            Key={name: {"S": value} for name, value in item_key(bucket, key, version).items()},
            UpdateExpression=expression,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=attribute_values,
            **condition,
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            logger.info("job ledger already past this step", extra={"status": status})
            return
        logger.error("job ledger write failed", extra={"status": status, "problem": str(exc)})
        metrics.add_metric(name="LedgerWriteErrors", unit=MetricUnit.Count, value=1)
    except BotoCoreError as exc:
        logger.error("job ledger write failed", extra={"status": status, "problem": str(exc)})
        metrics.add_metric(name="LedgerWriteErrors", unit=MetricUnit.Count, value=1)


def _typed(value: Any) -> dict[str, str]:
    if isinstance(value, bool):
        return {"BOOL": value}  # type: ignore[dict-item]
    if isinstance(value, int | float):
        return {"N": str(value)}
    return {"S": str(value)}
