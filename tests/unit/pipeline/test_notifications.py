"""One notification, a body per protocol: readable e-mail, JSON for programs, `status` on both (moto SNS)."""

from __future__ import annotations

import json

import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.sns.models import sns_backends

from declick_pipeline import notifications

from .conftest import INPUT_BUCKET, OUTPUT_BUCKET, REGION

INPUT = {
    "bucket": INPUT_BUCKET,
    "key": "calls/monday call.wav",
    "version_id": "v1",
    "size": 402_784,
    "md5": "0" * 32,
    "duration_s": 10,
    "format": "wav",
}
TASK = {"id": "task-7", "remote_status": 3, "polls": 2, "parameters": {"detection_mult": 7.5, "click_len": 12}}


def succeeded() -> dict:
    return notifications.build_notification(
        notifications.SUCCEEDED,
        input=INPUT,
        output={"bucket": OUTPUT_BUCKET, "key": "calls/monday call.mp3", "size": 120_000, "format": "mp3"},
        task=TASK,
        uploaded_at="2026-11-25T09:00:00Z",
        submitted_at="2026-11-25T09:00:02Z",
    )


def rejected(key: str = "notes.wav") -> dict:
    return notifications.build_notification(
        notifications.REJECTED,
        input={**INPUT, "key": key},
        error={"code": "NOT_AUDIO", "message": "the file content is not WAV or MP3 audio"},
    )


def sent(account) -> list[tuple]:
    """What SNS received (moto keeps every publish: id, message, subject, attributes, group)."""
    return sns_backends[DEFAULT_ACCOUNT_ID][REGION].topics[account.topic_arn].sent_notifications


def test_email_gets_text_and_programs_get_the_json(account):
    message = succeeded()
    notifications.publish(message)

    ((_, body, subject, attributes, _),) = sent(account)
    bodies = json.loads(body)
    document = json.loads(bodies["default"])
    assert document == message
    for protocol in ("sqs", "lambda", "http", "https", "firehose"):
        assert json.loads(bodies[protocol]) == message, protocol
    email = bodies["email"]
    assert email.startswith(f"Your upload s3://{INPUT_BUCKET}/calls/monday call.wav was cleaned.")
    assert f"Result: s3://{OUTPUT_BUCKET}/calls/monday call.mp3 (mp3, 120,000 bytes)" in email
    assert "task: task-7" in email and "detection_mult=7.5" in email
    assert "{" not in email  # no JSON for people
    assert subject == "Declick SUCCEEDED: monday call.wav"
    assert attributes["status"] == {"Type": "String", "Value": "SUCCEEDED"}

    # A queue subscriber (the fixture's inbox, SNS envelope) receives the JSON and the attribute.
    (note,) = account.notifications()
    assert note["message"] == message
    assert note["status_attribute"] == {"Type": "String", "Value": "SUCCEEDED"}


def test_failures_explain_themselves_in_the_email(account):
    notifications.publish(rejected())
    notifications.publish(
        notifications.build_notification(
            notifications.FAILED,
            input=INPUT,
            task=TASK,
            error={"code": "REMOTE_TASK_FAILED", "message": "the processing service reported the task as failed"},
        )
    )
    (_, rejected_body, rejected_subject, *_), (_, failed_body, failed_subject, *_) = sent(account)
    rejected_email = json.loads(rejected_body)["email"]
    assert "notes.wav was rejected." in rejected_email
    assert "Reason: the file content is not WAV or MP3 audio" in rejected_email
    assert "Code: NOT_AUDIO" in rejected_email
    assert "upload it again" in rejected_email
    assert rejected_subject == "Declick REJECTED: notes.wav"
    failed_email = json.loads(failed_body)["email"]
    assert "could not be processed" in failed_email and "Code: REMOTE_TASK_FAILED" in failed_email
    assert failed_subject == "Declick FAILED: monday call.wav"


def test_raw_queue_subscribers_filter_on_status_and_get_bare_json(account):
    queue_url = account.sqs.create_queue(QueueName="failures-only")["QueueUrl"]
    queue_arn = account.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    account.sns.subscribe(
        TopicArn=account.topic_arn,
        Protocol="sqs",
        Endpoint=queue_arn,
        Attributes={"RawMessageDelivery": "true", "FilterPolicy": json.dumps({"status": ["REJECTED", "FAILED"]})},
    )
    notifications.publish(succeeded())
    notifications.publish(rejected())
    received = account.sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
    assert [json.loads(item["Body"])["status"] for item in received] == ["REJECTED"]


@pytest.mark.parametrize(
    "key",
    ["réunions/enregistrement du lundi matin — salle B.wav", "x/" + "very-long-name-" * 12 + ".mp3"],
)
def test_subjects_are_ascii_single_line_and_short(key):
    subject = notifications.email_subject(rejected(key))
    assert subject.startswith("Declick REJECTED: ")
    assert len(subject) <= 100
    assert subject.isascii() and "\n" not in subject


def test_outcomes_are_counted_by_status_and_reason(account, capsys):
    notifications.publish(rejected())
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    (record,) = [r for r in records if "Notifications" in r]
    assert (record["service"], record["status"], record["reason"]) == ("declick", "REJECTED", "NOT_AUDIO")
    (definition,) = record["_aws"]["CloudWatchMetrics"]
    assert definition["Dimensions"] == [["service", "status", "reason"]]
