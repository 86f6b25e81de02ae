"""When a failed submit record comes back: seconds to minutes, with backoff, per message.

A record that failed for a passing reason (vendor 5xx or 429, a POST timeout, a StartExecution
throttle) is reported in `batchItemFailures`; SQS would show it again only when the queue's
visibility timeout runs out. That timeout must cover a whole batch's worst case (six times the
function timeout, over an hour), far too long to wait out a vendor blip. So the handler sets
each failed message's visibility itself, from how many times it was received: `base`, 2x, 4x,
... up to `cap`, with jitter so a burst of failures does not come back as a burst, and never
sooner than the vendor's own `Retry-After`. After the queue's max receive count the message
goes to the dead-letter queue as before. If setting the visibility fails, the message simply
waits out the queue's timeout: slower, never lost.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from declick_pipeline import runtime
from declick_pipeline.observability import logger

# SQS's own bound on a message's visibility timeout (12 hours).
MAX_VISIBILITY_SECONDS = 43_200


def retry_delay_seconds(
    receive_count: int, base: float, cap: float, retry_after: float | None = None, rng: random.Random | None = None
) -> int:
    """Visibility for a message received `receive_count` times (1 = first delivery) that just failed."""
    exponent = max(0, receive_count - 1)
    ceiling = min(cap, base * (2 ** min(exponent, 30)))
    delay = (rng or random).uniform(ceiling / 2, ceiling)  # equal jitter
    if retry_after is not None:
        delay = max(delay, min(retry_after, cap))
    return max(1, min(MAX_VISIBILITY_SECONDS, round(delay)))


def queue_url_from_arn(arn: str) -> str:
    """arn:aws:sqs:<region>:<account>:<name> → the queue URL (no GetQueueUrl call, no extra permission)."""
    parts = arn.split(":")
    if len(parts) != 6 or parts[2] != "sqs":
        raise ValueError(f"not an SQS queue ARN: {arn!r}")
    _, partition, _, region, account, name = parts
    suffix = "amazonaws.com.cn" if partition == "aws-cn" else "amazonaws.com"
    return f"https://sqs.{region}.{suffix}/{account}/{name}"


def defer_failed_records(
    records: Iterable[Mapping[str, Any]], failed_ids: Iterable[str], retry_after: Mapping[str, float]
) -> dict[str, int]:
    """Set each failed message's visibility; return message id → seconds (for logs and tests)."""
    settings = runtime.settings()
    failed = set(failed_ids)
    deferred: dict[str, int] = {}
    for record in records:
        message_id = record.get("messageId")
        if message_id not in failed:
            continue
        try:
            receive_count = int((record.get("attributes") or {}).get("ApproximateReceiveCount") or 1)
        except ValueError:
            receive_count = 1
        seconds = retry_delay_seconds(
            receive_count,
            settings.submit_retry_base_seconds,
            settings.submit_retry_max_seconds,
            retry_after.get(message_id),
        )
        try:
            runtime.client("sqs").change_message_visibility(
                QueueUrl=queue_url_from_arn(record["eventSourceARN"]),
                ReceiptHandle=record["receiptHandle"],
                VisibilityTimeout=seconds,
            )
        except (ClientError, BotoCoreError, KeyError, ValueError) as exc:
            logger.warning(
                "could not shorten a failed message's visibility; it waits for the queue's timeout",
                extra={"message_id": message_id, "problem": str(exc)},
            )
            continue
        deferred[message_id] = seconds
    if deferred:
        logger.info("failed records will be retried", extra={"retry_in_seconds": deferred})
    return deferred
