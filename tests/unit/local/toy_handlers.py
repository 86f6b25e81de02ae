"""A miniature pipeline for testing the emulator itself, independent of the product handlers.

Shaped like the real one (SQS-fed submit with partial batch failures, a polling state machine,
a DLQ reporter), small enough that a failure here points at the emulator, not at the product.
"""

from __future__ import annotations

import json
import os
import uuid
from urllib.parse import unquote_plus

import boto3

# Built at import time on purpose: the emulator must import handlers after setting the environment.
_TOPIC = os.environ["TOPIC_ARN"]
_sns = boto3.client("sns")


def _publish(status: str, key: str, **extra: object) -> None:
    message = {"status": status, "input": {"key": key}, **extra}
    _sns.publish(
        TopicArn=_TOPIC,
        Message=json.dumps(message),
        MessageAttributes={"status": {"DataType": "String", "StringValue": status}},
    )


def _retry_soon(record) -> None:
    """What the product's submit handler does for a failed record: set its visibility itself. The
    emulator must honour it instead of the queue's (scaled) visibility timeout."""
    sqs = boto3.client("sqs")
    queue_url = sqs.get_queue_url(QueueName=record["eventSourceARN"].split(":")[-1])["QueueUrl"]
    sqs.change_message_visibility(QueueUrl=queue_url, ReceiptHandle=record["receiptHandle"], VisibilityTimeout=1)


def submit(event, context):
    failures = []
    for record in event["Records"]:
        body = json.loads(record["body"])
        if body.get("Event") == "s3:TestEvent":
            continue
        for s3_record in body["Records"]:
            key = unquote_plus(s3_record["s3"]["object"]["key"])
            if "poison" in key:
                failures.append({"itemIdentifier": record["messageId"]})
                _retry_soon(record)
                continue
            boto3.client("stepfunctions").start_execution(
                stateMachineArn=os.environ["STATE_MACHINE_ARN"],
                name=uuid.uuid4().hex,
                input=json.dumps(
                    {
                        "bucket": s3_record["s3"]["bucket"]["name"],
                        "key": key,
                        "version_id": s3_record["s3"]["object"].get("versionId"),
                        "function": context.function_name,
                    }
                ),
            )
    return {"batchItemFailures": failures}


def poll(event, context):
    polls = (event.get("poll") or {}).get("polls", 0) + 1
    return {"status": 3 if polls >= 2 else 2, "wait_seconds": 0, "polls": polls}


def deliver(event, context):
    if "boom" in event["key"]:
        raise ValueError("cannot deliver " + event["key"])
    s3 = boto3.client("s3")
    body = s3.get_object(Bucket=event["bucket"], Key=event["key"])["Body"].read()
    s3.put_object(Bucket=os.environ["OUTPUT_BUCKET"], Key=event["key"], Body=body[::-1])
    _publish("SUCCEEDED", event["key"], polls=event["poll"]["polls"], remaining=context.get_remaining_time_in_millis())
    return {"ok": True}


def fail(event, context):
    _publish("FAILED", event["key"], error=event.get("error", {}).get("Error"))
    return {}


def dead(event, context):
    for record in event["Records"]:
        for s3_record in json.loads(record["body"])["Records"]:
            _publish("FAILED", unquote_plus(s3_record["s3"]["object"]["key"]), error="dead-letter")
    return {}
