"""report_failure and report_dead_letter: what ends up in the FAILED notification."""

from __future__ import annotations

import json

import pytest

from declick_pipeline.handlers import report_dead_letter, report_failure

from .conftest import INPUT_BUCKET


def failed_state(**extra):
    state = {
        "task_id": "t-5",
        "submitted_at": "2026-11-25T09:00:05Z",
        "uploaded_at": "2026-11-25T09:00:00.000Z",
        "input": {
            "bucket": INPUT_BUCKET,
            "key": "k.wav",
            "version_id": "v1",
            "etag": "e",
            "size": 10,
            "md5": "a" * 32,
            "duration_s": 1,
            "format": "wav",
        },
        "parameters": {"detection_mult": 8.0, "click_len": 10, "output_format": "mp3", "priority": 5},
    }
    state.update(extra)
    return state


def poll(status, name, reason=None, give_up=False, polls=7):
    return {
        "status": status,
        "status_name": name,
        "wait_seconds": 15,
        "voice_result": None,
        "reason": reason,
        "polls": polls,
        "give_up": give_up,
    }


def published(account):
    (note,) = account.notifications()
    assert note["status_attribute"] == {"Type": "String", "Value": "FAILED"}
    message = note["message"]
    assert message["status"] == "FAILED"
    assert "output" not in message
    return message


@pytest.mark.parametrize(
    ("status", "name", "code"),
    [
        (4, "FAILED", "REMOTE_TASK_FAILED"),
        (5, "CLOSED", "REMOTE_TASK_CLOSED"),
        (6, "TIMED_OUT", "REMOTE_TASK_TIMED_OUT"),
    ],
)
def test_remote_end_states_are_reported_with_the_remote_reason(account, lambda_context, status, name, code):
    report_failure.handler(failed_state(poll=poll(status, name, reason="audio too noisy")), lambda_context)
    message = published(account)
    assert message["error"] == {"code": code, "message": "audio too noisy"}
    assert message["task"] == {
        "id": "t-5",
        "remote_status": status,
        "polls": 7,
        "parameters": {"detection_mult": 8.0, "click_len": 10, "output_format": "mp3", "priority": 5},
    }
    assert message["input"]["key"] == "k.wav" and "etag" not in message["input"]
    assert message["timestamps"]["submitted_at"] == "2026-11-25T09:00:05Z"


def test_remote_failure_without_reason_still_says_something(account, lambda_context):
    report_failure.handler(failed_state(poll=poll(4, "FAILED")), lambda_context)
    assert published(account)["error"] == {
        "code": "REMOTE_TASK_FAILED",
        "message": "the remote task ended with status FAILED",
    }


def test_give_up_is_reported_as_poll_limit(account, lambda_context):
    report_failure.handler(failed_state(poll=poll(2, "IN_PROGRESS", give_up=True, polls=720)), lambda_context)
    error = published(account)["error"]
    assert error["code"] == "POLL_LIMIT_REACHED"
    assert "timed out" in error["message"] and "720" in error["message"]


def test_outage_give_up_is_reported_with_the_last_vendor_error(account, lambda_context):
    outage = {
        **poll(2, "IN_PROGRESS", give_up=True, polls=40),
        "errors": 31,
        "errors_since": "2026-11-25T09:00:00+00:00",
        "last_error": "RemoteApiTransientError",
        "last_error_message": "GET /v3/pic/ecr/result/t-1 failed after 5 attempt(s): HTTP 503",
    }
    report_failure.handler(failed_state(poll=outage), lambda_context)
    error = published(account)["error"]
    assert error["code"] == "REMOTE_API_UNAVAILABLE"
    assert "31 consecutive polls since 2026-11-25T09:00:00" in error["message"] and "HTTP 503" in error["message"]


@pytest.mark.parametrize(
    ("error_name", "message", "code"),
    [
        ("ResultFormatError", "the result is WAV audio, but MP3 was requested", "RESULT_WRONG_FORMAT"),
        ("ResultUrlRefusedError", "refusing to download the result: only https", "RESULT_URL_REFUSED"),
        ("ResultDownloadError", "downloading the result failed: HTTP 503", "RESULT_DOWNLOAD_FAILED"),
        ("RemoteApiTransientError", "GET failed after 5 attempt(s): HTTP 502", "REMOTE_API_UNAVAILABLE"),
        ("RemoteApiRejectedError", "code 1004: task not found", "REMOTE_API_REJECTED"),
        ("Lambda.Unknown", "The cause could not be determined", "INTERNAL_ERROR"),
    ],
)
def test_caught_errors_are_mapped_from_the_exception_name(account, lambda_context, error_name, message, code):
    cause = json.dumps({"errorMessage": message, "errorType": error_name, "stackTrace": ["..."]})
    state = failed_state(poll=poll(3, "COMPLETE"), error={"Error": error_name, "Cause": cause})
    result = report_failure.handler(state, lambda_context)
    error = published(account)["error"]
    assert error["code"] == code
    assert message in error["message"]
    assert result["error"] == error


def test_states_timeout_with_a_plain_text_cause(account, lambda_context):
    state = failed_state(error={"Error": "States.Timeout", "Cause": "Task timed out after 60 seconds"})
    report_failure.handler(state, lambda_context)
    assert published(account)["error"] == {"code": "STEP_TIMED_OUT", "message": "Task timed out after 60 seconds"}


def test_dead_letters_notify_failed_per_upload(account, lambda_context):
    body = {"Records": [account.s3_record("a b.wav", 10, version_id="v7"), account.s3_record("folder/", 0)]}
    test_event = {"Event": "s3:TestEvent", "Bucket": INPUT_BUCKET}
    event = account.sqs_event(body, test_event, "garbage that is not JSON")
    assert report_dead_letter.handler(event, lambda_context) == {"batchItemFailures": []}
    message = published(account)
    assert message["error"]["code"] == "SUBMIT_FAILED"
    assert message["input"] == {
        "bucket": INPUT_BUCKET,
        "key": "a b.wav",
        "version_id": "v7",
        "size": 10,
        "md5": None,
        "duration_s": None,
        "format": None,
    }
    assert "task" not in message
    assert message["timestamps"]["uploaded_at"] == "2026-11-25T09:00:00.000Z"


def test_dead_letter_publish_failure_keeps_the_message(account, lambda_context, monkeypatch):
    monkeypatch.setenv("TOPIC_ARN", account.topic_arn + "-missing")
    from declick_pipeline import runtime

    runtime.reset()
    event = account.sqs_event({"Records": [account.s3_record("a.wav", 10)]})
    result = report_dead_letter.handler(event, lambda_context)
    assert result == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}


def test_a_sparse_state_with_extra_fields_is_still_reported(account, lambda_context):
    state = {
        "task_id": "t-6",
        "delivery": {"anything": 1},
        "error": {"Error": "ResultFormatError", "Cause": "not json"},
    }
    report_failure.handler(state, lambda_context)
    message = published(account)
    assert message["error"] == {"code": "RESULT_WRONG_FORMAT", "message": "not json"}
    assert message["task"]["id"] == "t-6" and message["task"]["polls"] == 0
    assert message["input"]["key"] is None
