"""The user's side of the SNS topics: one queue subscribed (raw delivery) to every topic.

This is how a user would receive the notifications too (an SQS subscription), so what the
inbox holds is exactly what was published, message attributes included.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

LOG = logging.getLogger("declick.local")

QUEUE_NAME = "declick-local-notifications"
POLL_WAIT_SECONDS = 1  # long-polling wait: also how soon the collector notices `stop`


@dataclass
class Notification:
    message: dict[str, Any]
    attributes: dict[str, str]


class NotificationInbox:
    def __init__(self, client: Callable[[str], Any], stop: threading.Event):
        self._client = client
        self._stop = stop
        self.queue_url = ""
        self.notifications: list[Notification] = []
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    def subscribe(self, topic_arns: Iterable[str]) -> None:
        sqs = self._client("sqs")
        self.queue_url = sqs.create_queue(QueueName=QUEUE_NAME)["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        sns = self._client("sns")
        for topic_arn in topic_arns:
            sns.subscribe(
                TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"}
            )

    def start(self) -> None:
        self._thread = threading.Thread(target=self._collect, name="notifications", daemon=True)
        self._thread.start()

    def join(self) -> None:
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def _collect(self) -> None:
        sqs = self._client("sqs")
        while not self._stop.is_set():
            try:
                messages = sqs.receive_message(
                    QueueUrl=self.queue_url,
                    MaxNumberOfMessages=10,
                    WaitTimeSeconds=POLL_WAIT_SECONDS,
                    MessageAttributeNames=["All"],
                ).get("Messages", [])
            except Exception as exc:  # noqa: BLE001 - keep collecting
                LOG.warning("collecting notifications failed: %s", exc)
                time.sleep(0.2)
                continue
            for message in messages:
                try:
                    body = json.loads(message["Body"])
                except ValueError:
                    body = {"raw": message["Body"]}
                attributes = {k: v.get("StringValue", "") for k, v in (message.get("MessageAttributes") or {}).items()}
                with self._cond:
                    self.notifications.append(Notification(body, attributes))
                    self._cond.notify_all()
                sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])

    def wait_for(self, predicate: Callable[[list[Notification]], bool], timeout: float) -> bool:
        """Wait until `predicate(notifications)` holds; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(list(self.notifications)):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.5))
        return True
