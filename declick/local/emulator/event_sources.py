"""Lambda event source mappings (SQS → function): one poller per mapping, partial batch failures.

Visibility works as on AWS, with the clock of the queue's visibility timeout scaled down: a
received message stays invisible for `VISIBILITY_SCALE` x the queue's `VisibilityTimeout` (at
least `MIN_VISIBILITY_SECONDS`, so a batch waiting for its function is not redelivered under
it). A failed message is left alone: it comes back when that runs out, or when the function set
its visibility itself (the submit handler does, per attempt), exactly what the retry timing on
AWS depends on. moto moves a message to the DLQ after `maxReceiveCount` receives.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from declick.local.emulator.lambda_runtime import FunctionSpec, LambdaRuntime
from declick.local.template import REGION

LOG = logging.getLogger("declick.local")

# 4620 s (the submit queue: six times the function timeout) becomes 92 s; the DLQ's 720 s, 30 s.
VISIBILITY_SCALE = 1 / 50
MIN_VISIBILITY_SECONDS = 30
POLL_WAIT_SECONDS = 1  # long-polling wait: also how soon a poller notices `stop()`


@dataclass(frozen=True)
class EventSourceMapping:
    function_name: str
    queue_arn: str
    queue_url: str
    batch_size: int
    report_batch_item_failures: bool
    max_concurrency: int


@dataclass(frozen=True)
class Batch:
    """One event source mapping invocation: which messages went in, which were reported failed."""

    function: str
    message_ids: list[str]
    failed_ids: list[str]
    bodies: list[str]


def sqs_record(message: Mapping[str, Any], queue_arn: str) -> dict[str, Any]:
    """An SQS `ReceiveMessage` result as the Lambda event record the mapping would send."""
    attributes = {
        name: message.get("Attributes", {}).get(name, "")
        for name in ("ApproximateReceiveCount", "SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp")
    }
    message_attributes = {}
    for name, value in (message.get("MessageAttributes") or {}).items():
        entry = {"dataType": value.get("DataType"), "stringListValues": [], "binaryListValues": []}
        if "StringValue" in value:
            entry["stringValue"] = value["StringValue"]
        if "BinaryValue" in value:
            entry["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode()
        message_attributes[name] = entry
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": attributes,
        "messageAttributes": message_attributes,
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    }


def failed_items(mapping: EventSourceMapping, payload: bytes, ids: list[str]) -> set[str]:
    """Partial batch response semantics of the SQS event source mapping."""
    if not mapping.report_batch_item_failures:
        return set()
    try:
        response = json.loads(payload)
    except ValueError:
        return set(ids)
    if response is None or response == {}:
        return set()
    if not isinstance(response, dict):
        return set(ids)
    items = response.get("batchItemFailures") or []
    failed = set()
    for item in items:
        identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
        if identifier not in ids:
            return set(ids)  # an unknown or empty identifier fails the whole batch
        failed.add(identifier)
    return failed


class SqsPollers:
    """The managed pollers: receive up to `MaximumConcurrency` batches at once, invoke, delete or retry."""

    def __init__(
        self,
        mappings: list[EventSourceMapping],
        functions: Mapping[str, FunctionSpec],
        runtime: LambdaRuntime,
        client: Callable[[str], Any],
        stop: threading.Event,
    ):
        self.mappings = mappings
        self._runtime = runtime
        self._client = client
        self.batch_log: list[Batch] = []
        self.batches_in_flight = 0
        self._cond = threading.Condition()
        self._stop = stop
        self._threads: list[threading.Thread] = []
        self._pools: list[ThreadPoolExecutor] = []

    def start(self) -> None:
        for mapping in self.mappings:
            pool = ThreadPoolExecutor(max_workers=mapping.max_concurrency, thread_name_prefix=mapping.function_name)
            self._pools.append(pool)
            thread = threading.Thread(
                target=self._poll, args=(mapping, pool), name=f"esm-{mapping.function_name}", daemon=True
            )
            self._threads.append(thread)
            thread.start()

    def join(self) -> None:
        """After `stop` is set: wait for the pollers and the batches they started."""
        for thread in self._threads:
            thread.join(timeout=10)
        for pool in self._pools:
            pool.shutdown(wait=True, cancel_futures=False)
        self._threads.clear()
        self._pools.clear()

    def _poll(self, mapping: EventSourceMapping, pool: ThreadPoolExecutor) -> None:
        sqs = self._client("sqs")
        visibility = self._visibility(sqs, mapping)
        slots = threading.Semaphore(mapping.max_concurrency)
        while not self._stop.is_set():
            if not slots.acquire(timeout=0.5):
                continue
            try:
                messages = sqs.receive_message(
                    QueueUrl=mapping.queue_url,
                    MaxNumberOfMessages=min(mapping.batch_size, 10),
                    WaitTimeSeconds=POLL_WAIT_SECONDS,
                    VisibilityTimeout=visibility,
                    AttributeNames=["All"],
                    MessageAttributeNames=["All"],
                ).get("Messages", [])
            except Exception as exc:  # noqa: BLE001 - keep polling, like the managed poller
                LOG.warning("polling %s failed: %s", mapping.queue_url, exc)
                slots.release()
                time.sleep(0.2)
                continue
            if not messages:
                slots.release()
                continue
            with self._cond:
                self.batches_in_flight += 1
            pool.submit(self._run_batch, mapping, messages, sqs, slots)

    @staticmethod
    def _visibility(sqs: Any, mapping: EventSourceMapping) -> int:
        """The queue's visibility timeout on the emulator's clock."""
        try:
            attributes = sqs.get_queue_attributes(QueueUrl=mapping.queue_url, AttributeNames=["VisibilityTimeout"])
            queue_seconds = int(attributes["Attributes"]["VisibilityTimeout"])
        except Exception as exc:  # noqa: BLE001 - fall back to SQS's default of 30 s
            LOG.warning("cannot read the visibility timeout of %s: %s", mapping.queue_url, exc)
            queue_seconds = 30
        return max(MIN_VISIBILITY_SECONDS, round(queue_seconds * VISIBILITY_SCALE))

    def _run_batch(self, mapping: EventSourceMapping, messages: list[dict[str, Any]], sqs: Any, slots: Any) -> None:
        try:
            event = {"Records": [sqs_record(m, mapping.queue_arn) for m in messages]}
            ids = [m["MessageId"] for m in messages]
            payload, error = self._runtime.invoke(mapping.function_name, event)
            failed = set(ids) if error else failed_items(mapping, payload, ids)
            with self._cond:
                self.batch_log.append(Batch(mapping.function_name, ids, sorted(failed), [m["Body"] for m in messages]))
            done = [m for m in messages if m["MessageId"] not in failed]
            for start in range(0, len(done), 10):
                sqs.delete_message_batch(
                    QueueUrl=mapping.queue_url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                        for i, m in enumerate(done[start : start + 10])
                    ],
                )
            # Failed messages are not touched: they reappear when their visibility runs out.
        except Exception:  # noqa: BLE001 - a poller must survive; the message stays and is retried
            LOG.exception("event source mapping for %s failed", mapping.function_name)
        finally:
            with self._cond:
                self.batches_in_flight -= 1
                self._cond.notify_all()
            slots.release()
