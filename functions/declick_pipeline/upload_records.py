"""Small facts about an upload kept in the idempotency table, each written once with a condition.

* Who owns the upload's notification. Exactly one notification per upload version is the
  pipeline's promise, but three places can send one: the submit step (REJECTED, or FAILED for a
  cause no retry can fix), the state machine (once an execution is started) and the dead-letter
  reporter (SUBMIT_FAILED). The first to claim the upload owns it; the others stay silent. A
  started execution claims it too, so a submit message that still reaches the dead-letter queue
  afterwards (a lost delete, a retry storm) cannot add a FAILED to the execution's outcome.
* Which upload a remote task id was given for. A vendor that hands out the same task id twice is
  broken; both uploads still get their own execution (the name includes the upload), and the
  reuse is logged and counted so someone looks at it.

The items live next to Powertools' idempotency records (same `id`/`expiration` schema, distinct
`id` prefixes, the same TTL), so no extra table or permission beyond PutItem/GetItem is needed.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping

from botocore.exceptions import ClientError

from declick_pipeline import runtime
from declick_pipeline.observability import MetricUnit, logger, metrics

SUBMIT, EXECUTION, DEAD_LETTER = "submit", "execution", "dead_letter"


def _item_id(kind: str, value: str) -> str:
    return f"{kind}#{hashlib.sha256(value.encode()).hexdigest()}"


def _identity_text(identity: Mapping[str, str]) -> str:
    return json.dumps(dict(identity), sort_keys=True, separators=(",", ":"))


def _put_once(item_id: str, attributes: dict[str, dict[str, str]]) -> bool:
    """Write the item unless one with this id exists; True when this call wrote it."""
    current = runtime.settings().require("IDEMPOTENCY_TABLE")
    expiration = int(time.time()) + current.idempotency_ttl_seconds
    try:
        runtime.client("dynamodb").put_item(
            TableName=current.idempotency_table,
            Item={"id": {"S": item_id}, "expiration": {"N": str(expiration)}, **attributes},
            ConditionExpression="attribute_not_exists(id)",
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException":
            return False
        raise
    return True


def claim_notification(identity: Mapping[str, str], owner: str) -> bool:
    """True if `owner` may notify for this upload version: nobody has claimed it before."""
    claimed = _put_once(_item_id("notification", _identity_text(identity)), {"owner": {"S": owner}})
    if not claimed and owner != EXECUTION:  # a retried start re-claims its own upload: nothing to report
        logger.warning("the upload already has a notification owner; not notifying again", extra={"owner": owner})
        metrics.add_metric(name="DuplicateNotificationSuppressed", unit=MetricUnit.Count, value=1)
    return claimed


def record_task_owner(task_id: str, identity: Mapping[str, str]) -> bool:
    """Remember which upload `task_id` belongs to; False (and a warning) if the vendor gave it to another."""
    mine = _identity_text(identity)
    item_id = _item_id("task", task_id)
    if _put_once(item_id, {"upload": {"S": mine}}):
        return True
    current = runtime.settings()
    stored = runtime.client("dynamodb").get_item(
        TableName=current.idempotency_table, Key={"id": {"S": item_id}}, ConsistentRead=True
    )
    owner = stored.get("Item", {}).get("upload", {}).get("S")
    if owner in (None, mine):
        return True
    logger.warning("the vendor returned a task id it already gave another upload", extra={"other_upload": owner})
    metrics.add_metric(name="VendorTaskIdReused", unit=MetricUnit.Count, value=1)
    return False
