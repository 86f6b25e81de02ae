"""The emulator runs a CDK-shaped template end to end: S3 → SQS → function → state machine → SNS."""

from __future__ import annotations

import http.server
import json
import os
import sys
import threading
import time

import pytest

from declick.local.emulator import EmulatedAws
from declick.local.runner import free_port
from tests.unit.local.toy_template import PACKAGE, toy_template


@pytest.fixture(scope="module")
def aws():
    before = {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"}
    with EmulatedAws(toy_template(), handler_packages=(PACKAGE,), env_overrides={"LOCAL_ONLY": "1"}) as emulator:
        yield emulator
    assert {k: v for k, v in os.environ.items() if k != "PYTEST_CURRENT_TEST"} == before
    assert PACKAGE not in sys.modules


def _statuses(aws, key):
    return [n.message["status"] for n in aws.notifications if n.message["input"]["key"] == key]


def test_upload_flows_through_the_state_machine_to_a_notification(aws):
    s3 = aws.client("s3")
    bucket = aws.physical["InputBucket"]
    key = "a b/c+d é.wav"
    s3.put_object(Bucket=bucket, Key=key, Body=b"hello")
    assert aws.wait_for(lambda ns: _statuses(aws, key), timeout=30)
    note = next(n for n in aws.notifications if n.message["input"]["key"] == key)
    assert note.message["status"] == "SUCCEEDED" and note.attributes["status"] == "SUCCEEDED"
    assert note.message["polls"] == 2  # went through Choice → Wait → Poll once
    assert 0 < note.message["remaining"] <= 60_000  # the context reflects the function's timeout
    out = s3.get_object(Bucket=aws.physical["OutputBucket"], Key=key)["Body"].read()
    assert out == b"olleh"
    execution = next(
        e
        for e in aws.executions()
        if json.loads(aws.client("stepfunctions").describe_execution(executionArn=e["executionArn"])["input"])["key"]
        == key
    )
    described = aws.client("stepfunctions").describe_execution(executionArn=execution["executionArn"])
    assert json.loads(described["input"])["version_id"]  # S3 event carried the object version
    assert json.loads(described["input"])["function"] == aws.functions["SubmitFn"].name


def test_a_handler_error_is_caught_by_the_definition_with_its_error_name(aws):
    aws.client("s3").put_object(Bucket=aws.physical["InputBucket"], Key="boom.wav", Body=b"x")
    assert aws.wait_for(lambda ns: _statuses(aws, "boom.wav"), timeout=30)
    note = next(n for n in aws.notifications if n.message["input"]["key"] == "boom.wav")
    assert note.message == {"status": "FAILED", "input": {"key": "boom.wav"}, "error": "ValueError"}


def test_a_message_failing_every_time_is_redriven_to_the_dead_letter_function(aws):
    aws.client("s3").put_object(Bucket=aws.physical["InputBucket"], Key="poison.wav", Body=b"x")
    assert aws.wait_for(lambda ns: _statuses(aws, "poison.wav"), timeout=30)
    assert aws.wait_idle(timeout=30)
    assert _statuses(aws, "poison.wav") == ["FAILED"]
    submits = [b for b in aws.batch_log if b.function == aws.functions["SubmitFn"].name and b.failed_ids]
    assert len(submits) == 2  # maxReceiveCount receives, each reported as a batch item failure


def test_environment_is_the_resolved_template_plus_overrides(aws):
    env = aws.functions["SubmitFn"].environment
    assert env["STATE_MACHINE_ARN"] == aws.state_machines["Machine"]
    assert env["TOPIC_ARN"].startswith("arn:aws:sns:us-east-1:")
    assert env["SECRET"] == aws.arns["Secret"] and env["TABLE"] == aws.physical["Table"]
    assert env["LOCAL_ONLY"] == "1" and os.environ["LOCAL_ONLY"] == "1"
    assert os.environ["AWS_ENDPOINT_URL"] == aws.endpoint_url
    assert "NotifHandler" not in aws.functions  # CDK helper functions are not ours


class _Hook(http.server.BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], dict]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((dict(self.headers), json.loads(body)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def test_http_subscribers_get_sns_posts_off_the_publishers_path(aws):
    """A subscriber that is down must not fail `Publish` (SNS delivers asynchronously); a live one
    gets SNS's headers and the message attributes, and its filter policy applies."""
    hook = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Hook)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    sns = aws.client("sns")
    topic = aws.arns["Topic"]
    try:
        down = sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=f"http://127.0.0.1:{free_port()}/gone")
        live = sns.subscribe(
            TopicArn=topic,
            Protocol="http",
            Endpoint=f"http://127.0.0.1:{hook.server_address[1]}/hook",
            Attributes={"FilterPolicy": json.dumps({"status": ["FAILED"]})},
        )
        for status in ("SUCCEEDED", "FAILED"):
            sns.publish(
                TopicArn=topic,
                Message=json.dumps({"status": status, "input": {"key": "http-only"}}),
                MessageAttributes={"status": {"DataType": "String", "StringValue": status}},
            )
        deadline = time.monotonic() + 10
        while not _Hook.received and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.3)  # a filtered-out delivery would have arrived by now
        ((headers, body),) = _Hook.received
        assert headers["x-amz-sns-message-type"] == "Notification"
        assert headers["x-amz-sns-subscription-arn"] == live["SubscriptionArn"]
        assert headers["x-amz-sns-topic-arn"] == topic == body["TopicArn"]
        assert json.loads(body["Message"])["status"] == "FAILED"
        assert body["MessageAttributes"] == {"status": {"Type": "String", "Value": "FAILED"}}
    finally:
        for subscription in (down, live):
            sns.unsubscribe(SubscriptionArn=subscription["SubscriptionArn"])
        hook.shutdown()
        hook.server_close()
@pytest.mark.parametrize(("queue_seconds", "expected"), [(4620, 92), (720, 30), (180, 30)])
def test_received_messages_stay_invisible_for_the_queue_timeout_scaled_down(queue_seconds, expected):
    import boto3
    from moto import mock_aws

    from declick.local.emulator.event_sources import EventSourceMapping, SqsPollers

    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-east-1")
        url = sqs.create_queue(QueueName="q", Attributes={"VisibilityTimeout": str(queue_seconds)})["QueueUrl"]
        mapping = EventSourceMapping("fn", "arn:aws:sqs:us-east-1:123456789012:q", url, 5, True, 2)
        assert SqsPollers._visibility(sqs, mapping) == expected
