"""submit_task against a vendor that misbehaves and uploads that look almost right (issue: hostile
vendor, hostile clients): every upload ends in one notification with the real reason, at once
when no retry can help, and nothing the vendor says grows the state, the logs or a notification."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
import soundfile

from declick.local.fake_vendor import Reply
from declick_pipeline import runtime
from declick_pipeline.handlers import report_dead_letter, submit_task
from declick_pipeline.vendor_text import TEXT_MAX_CHARS


def run(account, lambda_context, *uploads):
    event = account.sqs_event(*({"Records": [account.event_for(u)]} for u in uploads))
    return submit_task.handler(event, lambda_context)


def only_message(account):
    notes = account.notifications()
    assert len(notes) == 1, notes
    return notes[0]["message"]


def wav_bytes(channels: int, rate: int, seconds: float = 0.5) -> bytes:
    samples = 0.1 * np.random.default_rng(1).standard_normal((int(seconds * rate), channels))
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, rate, format="WAV")
    return buffer.getvalue()


def test_empty_task_id_is_failed_at_once_as_a_bad_response(account, lambda_context, audio_files):
    account.vendor.script_create(Reply.created(""))
    uploaded = account.upload("empty-id.wav", audio_files["wav"])
    assert run(account, lambda_context, uploaded) == {"batchItemFailures": []}
    message = only_message(account)
    assert message["status"] == "FAILED"
    assert message["error"]["code"] == "REMOTE_API_BAD_RESPONSE"
    assert "task_id" in message["error"]["message"]
    assert "task" not in message
    assert account.executions() == []
    assert len(account.vendor.created_tasks()) == 1


def test_huge_refusal_message_is_rejected_with_the_vendor_words_cut(account, lambda_context, audio_files):
    account.vendor.script_create(Reply.error(1003, "file_md5 mismatch; " + "details " * 40_000))
    uploaded = account.upload("huge-msg.wav", audio_files["wav"])
    assert run(account, lambda_context, uploaded) == {"batchItemFailures": []}
    message = only_message(account)
    assert message["status"] == "REJECTED"
    assert message["error"]["code"] == "REMOTE_REJECTED"
    assert "file_md5 mismatch" in message["error"]["message"]
    assert len(message["error"]["message"]) < 2 * TEXT_MAX_CHARS
    assert "cut" in message["error"]["message"]
    assert len(account.vendor.created_tasks()) == 1


@pytest.mark.parametrize("status", [401, 403])
def test_refused_credentials_fail_at_once(account, lambda_context, audio_files, status):
    account.vendor.script_create(Reply.http(status, body={"code": 401, "msg": "bad appkey"}))
    uploaded = account.upload("creds.wav", audio_files["wav"])
    assert run(account, lambda_context, uploaded) == {"batchItemFailures": []}
    message = only_message(account)
    assert message["status"] == "FAILED"
    assert message["error"]["code"] == "REMOTE_API_AUTH_FAILED"
    assert str(status) in message["error"]["message"]
    assert len(account.vendor.created_tasks()) == 1  # not retried


def test_placeholder_api_url_fails_without_calling_anyone(account, lambda_context, audio_files, monkeypatch):
    monkeypatch.setenv("API_BASE_URL", "https://api.vendor.example")
    runtime.reset()
    uploaded = account.upload("unconfigured.wav", audio_files["wav"])
    assert run(account, lambda_context, uploaded) == {"batchItemFailures": []}
    message = only_message(account)
    assert message["status"] == "FAILED"
    assert message["error"]["code"] == "REMOTE_API_NOT_CONFIGURED"
    assert "declick:apiBaseUrl" in message["error"]["message"]
    assert account.vendor.requests == []


def test_a_reused_task_id_still_gives_each_upload_its_own_execution(account, lambda_context, audio_files):
    account.vendor.script_create(Reply.created("same-id"), Reply.created("same-id"))
    first = account.upload("one.wav", audio_files["wav"])
    second = account.upload("two.wav", audio_files["wav"])
    assert run(account, lambda_context, first) == {"batchItemFailures": []}
    assert run(account, lambda_context, second) == {"batchItemFailures": []}
    executions = account.executions()
    assert len(executions) == 2
    assert len({e["name"] for e in executions}) == 2
    assert all(e["name"].startswith("same-id-") and len(e["name"]) <= 80 for e in executions)
    keys = {json.loads(e["input"])["input"]["key"] for e in executions}
    assert keys == {"one.wav", "two.wav"}
    reuse = account.ddb.scan(TableName="declick-idempotency")["Items"]
    assert sum(1 for item in reuse if item["id"]["S"].startswith("task#")) == 1


def test_underscore_spelling_of_a_key_is_ours(account, lambda_context, audio_files):
    uploaded = account.upload("underscore.wav", audio_files["wav"], {"detection_mult": "7", "click_len": "12"})
    assert run(account, lambda_context, uploaded) == {"batchItemFailures": []}
    body = account.vendor.created_tasks()[0].json
    assert (body["detection_mult"], body["click_len"]) == (7.0, 12)


@pytest.mark.parametrize(
    ("metadata", "right"),
    [
        ({"detection-mul": "7"}, "detection-mult"),
        ({"detectionmult": "7"}, "detection-mult"),
        ({"click_length": "12"}, "click-len"),
        ({"priorty": "1"}, "priority"),
        ({"output_fromat": "wav"}, "output-format"),
    ],
)
def test_a_near_miss_of_a_key_is_rejected_naming_the_right_one(account, lambda_context, audio_files, metadata, right):
    uploaded = account.upload("typo.wav", audio_files["wav"], metadata)
    assert run(account, lambda_context, uploaded) == {"batchItemFailures": []}
    message = only_message(account)
    assert message["status"] == "REJECTED"
    assert message["error"]["code"] == "INVALID_PARAMETER"
    assert f"did you mean '{right}'" in message["error"]["message"]
    assert account.vendor.created_tasks() == []


def test_unrelated_metadata_is_left_alone(account, lambda_context, audio_files):
    uploaded = account.upload("tagged.wav", audio_files["wav"], {"project": "radio", "author": "me", "format": "x"})
    assert run(account, lambda_context, uploaded) == {"batchItemFailures": []}
    assert len(account.executions()) == 1


def test_unreadable_audio_reason_has_no_temporary_path(account, lambda_context, audio_files):
    uploaded = account.upload("cut.wav", audio_files["wav"][:30])
    run(account, lambda_context, uploaded)
    message = only_message(account)
    assert message["error"]["code"] == "UNREADABLE_AUDIO"
    assert "/tmp" not in message["error"]["message"] and "declick-" not in message["error"]["message"]


@pytest.mark.parametrize(("channels", "rate", "words"), [(6, 16000, "6"), (1, 96000, "96000 Hz")])
def test_audio_mp3_cannot_hold_is_rejected_at_upload(account, lambda_context, channels, rate, words):
    uploaded = account.upload("wide.wav", wav_bytes(channels, rate))
    run(account, lambda_context, uploaded)
    message = only_message(account)
    assert message["status"] == "REJECTED"
    assert message["error"]["code"] == "OUTPUT_FORMAT_UNSUPPORTED"
    assert words in message["error"]["message"] and "output-format" in message["error"]["message"]
    assert account.vendor.created_tasks() == []


def test_the_same_audio_is_accepted_for_wav_output(account, lambda_context):
    uploaded = account.upload("wide-wav.wav", wav_bytes(6, 96000), {"output-format": "wav"})
    assert run(account, lambda_context, uploaded) == {"batchItemFailures": []}
    assert len(account.executions()) == 1


def _visibility_calls():
    calls = []
    runtime.client("sqs").meta.events.register(
        "provide-client-params.sqs.ChangeMessageVisibility", lambda params, **kw: calls.append(dict(params))
    )
    return calls


def _received(account, event):
    """Give each record a real receipt handle of a real `declick-submit` queue in moto."""
    queue_url = account.sqs.create_queue(QueueName="declick-submit")["QueueUrl"]
    for record in event["Records"]:
        account.sqs.send_message(QueueUrl=queue_url, MessageBody=record["body"])
    received = account.sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
    assert len(received) == len(event["Records"])
    for record, message in zip(event["Records"], received, strict=True):
        record["receiptHandle"] = message["ReceiptHandle"]
    return queue_url


def test_a_transient_failure_sets_that_message_visibility_to_a_short_backoff(
    account, lambda_context, audio_files, monkeypatch
):
    monkeypatch.setenv("SUBMIT_RETRY_BASE_SECONDS", "8")
    monkeypatch.setenv("SUBMIT_RETRY_MAX_SECONDS", "100")
    runtime.reset()
    calls = _visibility_calls()
    account.vendor.script_create(Reply.http(503), Reply.http(503))  # API_MAX_RETRIES=1
    good = account.upload("fine.wav", audio_files["wav"])
    bad = account.upload("blip.wav", audio_files["wav"])
    event = account.sqs_event({"Records": [account.event_for(bad)]}, {"Records": [account.event_for(good)]})
    event["Records"][0]["attributes"]["ApproximateReceiveCount"] = "3"
    queue_url = _received(account, event)
    result = submit_task.handler(event, lambda_context)
    assert result == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
    (call,) = calls
    assert call["ReceiptHandle"] == event["Records"][0]["receiptHandle"]
    assert call["QueueUrl"].endswith("/123456789012/declick-submit")
    assert 16 <= call["VisibilityTimeout"] <= 32  # third receive: 8 * 2**2, equal jitter
    assert account.notifications() == []
    # moto took it: the message stays invisible (the queue's own default would be 30 s, too).
    assert account.sqs.receive_message(QueueUrl=queue_url).get("Messages", []) == []


def test_a_long_retry_after_is_not_slept_in_the_batch(account, lambda_context, audio_files, monkeypatch):
    runtime.reset()
    calls = _visibility_calls()
    account.vendor.script_create(Reply.http(429, retry_after="90"))
    slow = account.upload("busy.wav", audio_files["wav"])
    other = account.upload("other.wav", audio_files["wav"])
    event = account.sqs_event({"Records": [account.event_for(slow)]}, {"Records": [account.event_for(other)]})
    _received(account, event)
    result = submit_task.handler(event, lambda_context)
    assert result == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
    assert len(account.vendor.created_tasks()) == 2  # one 429 for the first, no inline retry; one for the second
    assert len(account.executions()) == 1
    (call,) = calls
    assert call["VisibilityTimeout"] >= 90  # the vendor's Retry-After, on that message only


def test_dead_letter_after_a_submit_notification_stays_silent(account, lambda_context, audio_files):
    uploaded = account.upload("notes.wav", b"plain text, not audio" * 10)
    body = {"Records": [account.event_for(uploaded)]}
    run(account, lambda_context, uploaded)
    report_dead_letter.handler(account.sqs_event(body), lambda_context)
    message = only_message(account)
    assert message["status"] == "REJECTED"


def test_dead_letter_after_a_started_execution_stays_silent(account, lambda_context, audio_files):
    uploaded = account.upload("started.wav", audio_files["wav"])
    run(account, lambda_context, uploaded)
    assert len(account.executions()) == 1
    report_dead_letter.handler(account.sqs_event({"Records": [account.event_for(uploaded)]}), lambda_context)
    assert account.notifications() == []


def test_dead_letter_of_a_never_notified_upload_is_reported(account, lambda_context, audio_files):
    uploaded = account.upload("lost.wav", audio_files["wav"])
    report_dead_letter.handler(account.sqs_event({"Records": [account.event_for(uploaded)]}), lambda_context)
    assert only_message(account)["error"]["code"] == "SUBMIT_FAILED"


def test_the_vendor_text_bound_is_a_setting(account, lambda_context, audio_files, monkeypatch):
    monkeypatch.setenv("VENDOR_TEXT_MAX_CHARS", "300")
    runtime.reset()
    account.vendor.script_create(Reply.error(1003, "too loud " * 1000))
    uploaded = account.upload("bounded.wav", audio_files["wav"])
    run(account, lambda_context, uploaded)
    message = only_message(account)
    assert message["status"] == "REJECTED"
    assert "too loud" in message["error"]["message"]
    assert len(message["error"]["message"]) < 400
