"""submit_task on real audio in moto S3, against the fake vendor over real HTTP."""

from __future__ import annotations

import hashlib
import json
from urllib.parse import parse_qs, urlsplit

import pytest

from declick.local.fake_vendor import Reply
from declick_pipeline.handlers import submit_task

from .conftest import INPUT_BUCKET


def md5_of(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def run(account, lambda_context, *bodies):
    return submit_task.handler(account.sqs_event(*bodies), lambda_context)


def only_notification(account):
    notes = account.notifications()
    assert len(notes) == 1, notes
    return notes[0]


def test_wav_upload_creates_one_task_and_starts_the_execution(account, lambda_context, audio_files):
    uploaded = account.upload("calls/monday call.wav", audio_files["wav"])
    result = run(account, lambda_context, {"Records": [account.event_for(uploaded)]})

    assert result == {"batchItemFailures": []}
    (created,) = account.vendor.created_tasks()
    assert created.headers["authorization"] == account.vendor.authorization
    assert created.headers["content-type"] == "application/json"
    body = created.json
    assert body["file_info"] == {
        "file_size": len(audio_files["wav"]),
        "file_md5": md5_of(audio_files["wav"]),
        "file_time": 2,  # 1.5 s rounds up
        "file_ext": "wav",  # input format
    }
    assert body["file_ext"] == "mp3"  # output format, the default
    assert (body["detection_mult"], body["click_len"], body["priority"]) == (8.0, 10, 5)
    assert INPUT_BUCKET in body["file_link"] and "/calls/monday%20call.wav?" in body["file_link"]
    assert "X-Amz-Signature=" in body["file_link"]
    assert f"versionId={uploaded['version_id']}" in body["file_link"]
    # Signed with the link signer's long-term key, not the function's session: no session token
    # (which would end the link with the session), and the configured lifetime.
    query = parse_qs(urlsplit(body["file_link"]).query)
    assert query["X-Amz-Credential"][0].startswith(account.signing_key_id + "/")
    assert "X-Amz-Security-Token" not in query
    assert query["X-Amz-Expires"] == ["43200"]

    (execution,) = account.executions()
    assert execution["name"].startswith("task-1-") and len(execution["name"]) <= 80
    state = json.loads(execution["input"])
    # The Choice states test `$.poll` / `$.error` for presence: the input must not carry them, not even as null.
    assert set(state) == {"task_id", "submitted_at", "uploaded_at", "input", "parameters"}
    assert state["task_id"] == "task-1"
    assert state["uploaded_at"] == "2026-11-25T09:00:00.000Z"
    assert state["submitted_at"].endswith("Z")
    assert state["input"] == {
        "bucket": INPUT_BUCKET,
        "key": "calls/monday call.wav",
        "version_id": uploaded["version_id"],
        "etag": uploaded["etag"],
        "size": len(audio_files["wav"]),
        "md5": md5_of(audio_files["wav"]),
        "duration_s": 2,
        "format": "wav",
    }
    assert state["parameters"] == {"detection_mult": 8.0, "click_len": 10, "output_format": "mp3", "priority": 5}
    assert account.notifications() == []


def test_mp3_upload_with_parameters_in_metadata(account, lambda_context, audio_files):
    metadata = {"detection-mult": "6.5", "click-len": "20", "output-format": "WAV", "priority": "9"}
    uploaded = account.upload("in.mp3", audio_files["mp3"], metadata)
    assert run(account, lambda_context, {"Records": [account.event_for(uploaded)]}) == {"batchItemFailures": []}

    body = account.vendor.created_tasks()[0].json
    assert body["file_info"]["file_ext"] == "mp3"
    assert body["file_ext"] == "wav"
    assert (body["detection_mult"], body["click_len"], body["priority"]) == (6.5, 20, 9)
    state = json.loads(account.executions()[0]["input"])
    assert state["parameters"] == {"detection_mult": 6.5, "click_len": 20, "output_format": "wav", "priority": 9}


@pytest.mark.parametrize("key", ["a/b c+d.wav", "überspielung/😀 take 1.wav", "x%y&z=1.wav"])
def test_url_encoded_keys_are_decoded(account, lambda_context, audio_files, key):
    uploaded = account.upload(key, audio_files["wav"])
    assert run(account, lambda_context, {"Records": [account.event_for(uploaded)]}) == {"batchItemFailures": []}
    state = json.loads(account.executions()[0]["input"])
    assert state["input"]["key"] == key


def test_test_events_and_folder_markers_are_ignored(account, lambda_context):
    account.s3.put_object(Bucket=INPUT_BUCKET, Key="folder/", Body=b"")
    test_event = {"Service": "Amazon S3", "Event": "s3:TestEvent", "Bucket": INPUT_BUCKET}
    folder = {"Records": [account.s3_record("folder/", 0)]}
    assert run(account, lambda_context, test_event, folder) == {"batchItemFailures": []}
    assert account.vendor.requests == []
    assert account.notifications() == []


def test_duplicate_event_creates_one_remote_task(account, lambda_context, audio_files):
    uploaded = account.upload("twice.wav", audio_files["wav"])
    body = {"Records": [account.event_for(uploaded)]}
    assert run(account, lambda_context, body, body) == {"batchItemFailures": []}
    assert run(account, lambda_context, body) == {"batchItemFailures": []}
    assert len(account.vendor.created_tasks()) == 1
    assert len(account.executions()) == 1


def test_new_version_of_the_same_key_is_a_new_upload(account, lambda_context, audio_files):
    first = account.upload("same.wav", audio_files["wav"])
    second = account.upload("same.wav", audio_files["mp3"])
    run(account, lambda_context, {"Records": [account.event_for(first)]}, {"Records": [account.event_for(second)]})
    assert len(account.vendor.created_tasks()) == 2


def test_unversioned_bucket_uses_the_etag(account, lambda_context, audio_files):
    account.s3.create_bucket(Bucket="plain")
    response = account.s3.put_object(Bucket="plain", Key="p.wav", Body=audio_files["wav"])
    record = account.s3_record("p.wav", len(audio_files["wav"]), response["ETag"].strip('"'), None, bucket="plain")
    assert run(account, lambda_context, {"Records": [record]}, {"Records": [record]}) == {"batchItemFailures": []}
    assert len(account.vendor.created_tasks()) == 1
    assert "versionId" not in account.vendor.created_tasks()[0].json["file_link"]


def test_vendor_outage_fails_the_record_for_redelivery_and_the_retry_succeeds(account, lambda_context, audio_files):
    account.vendor.script_create(Reply.http(503), Reply.http(503))  # API_MAX_RETRIES=1 → two attempts
    uploaded = account.upload("later.wav", audio_files["wav"])
    event = account.sqs_event({"Records": [account.event_for(uploaded)]})
    result = submit_task.handler(event, lambda_context)
    assert result == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
    assert account.executions() == []
    assert account.notifications() == []

    assert submit_task.handler(event, lambda_context) == {"batchItemFailures": []}
    assert len(account.executions()) == 1


def test_one_bad_record_does_not_fail_the_batch(account, lambda_context, audio_files):
    uploaded = account.upload("good.wav", audio_files["wav"])
    event = account.sqs_event("not json at all", {"Records": [account.event_for(uploaded)]})
    result = submit_task.handler(event, lambda_context)
    assert result == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
    assert len(account.executions()) == 1


def test_failed_start_is_retried_without_a_second_remote_task(account, lambda_context, audio_files, monkeypatch):
    uploaded = account.upload("retry.wav", audio_files["wav"])
    event = account.sqs_event({"Records": [account.event_for(uploaded)]})
    monkeypatch.setenv("STATE_MACHINE_ARN", account.state_machine_arn.replace("declick-pipeline", "missing"))
    from declick_pipeline import runtime

    runtime.reset()
    assert submit_task.handler(event, lambda_context)["batchItemFailures"]
    monkeypatch.setenv("STATE_MACHINE_ARN", account.state_machine_arn)
    runtime.reset()
    assert submit_task.handler(event, lambda_context) == {"batchItemFailures": []}
    assert len(account.vendor.created_tasks()) == 1
    assert len(account.executions()) == 1


def test_task_ids_are_sanitised_into_execution_names(account, lambda_context, audio_files):
    account.vendor.script_create(Reply.created("job:42/x.y"))
    uploaded = account.upload("odd.wav", audio_files["wav"])
    run(account, lambda_context, {"Records": [account.event_for(uploaded)]})
    (execution,) = account.executions()
    assert execution["name"].startswith("job-42-x-y-")
    assert json.loads(execution["input"])["task_id"] == "job:42/x.y"


def test_a_task_id_that_is_not_an_identifier_fails_the_upload(account, lambda_context, audio_files):
    account.vendor.script_create(Reply.created("job 42/ä"))
    uploaded = account.upload("odd.wav", audio_files["wav"])
    assert run(account, lambda_context, {"Records": [account.event_for(uploaded)]}) == {"batchItemFailures": []}
    assert account.executions() == []
    assert only_notification(account)["message"]["error"]["code"] == "REMOTE_API_BAD_RESPONSE"


def reject_case(account, lambda_context, key, data, metadata=None, size=None):
    uploaded = account.upload(key, data, metadata)
    record = account.event_for(uploaded)
    if size is not None:
        record["s3"]["object"]["size"] = size
    assert run(account, lambda_context, {"Records": [record]}) == {"batchItemFailures": []}
    assert account.vendor.created_tasks() == []
    assert account.executions() == []
    note = only_notification(account)
    assert note["status_attribute"] == {"Type": "String", "Value": "REJECTED"}
    message = note["message"]
    assert message["status"] == "REJECTED"
    assert "task" not in message and "output" not in message
    assert message["input"]["key"] == key
    return message


@pytest.mark.parametrize(
    ("name", "make", "code"),
    [
        ("empty.wav", lambda audio: b"", "EMPTY_FILE"),
        ("notes.wav", lambda audio: b"these are my meeting notes, not audio at all\n" * 10, "NOT_AUDIO"),
        ("cut.wav", lambda audio: audio["wav"][:30], "UNREADABLE_AUDIO"),
        ("lossless.wav", lambda audio: audio["flac"], "UNSUPPORTED_FORMAT"),
        ("header-only.wav", lambda audio: audio["wav"][:44], "UNREADABLE_AUDIO"),
    ],
)
def test_content_that_can_never_succeed_is_rejected(account, lambda_context, audio_files, name, make, code):
    message = reject_case(account, lambda_context, name, make(audio_files))
    assert message["error"]["code"] == code
    assert message["error"]["message"]


@pytest.mark.parametrize(
    ("metadata", "field"),
    [
        ({"detection-mult": "5.9"}, "detection-mult"),
        ({"detection-mult": "10.5"}, "detection-mult"),
        ({"detection-mult": "nan"}, "detection-mult"),
        ({"click-len": "4"}, "click-len"),
        ({"click-len": "31"}, "click-len"),
        ({"click-len": "7.5"}, "click-len"),
        ({"priority": "10"}, "priority"),
        ({"priority": "-1"}, "priority"),
        ({"output-format": "flac"}, "output-format"),
    ],
)
def test_bad_parameters_are_rejected_naming_the_field(account, lambda_context, audio_files, metadata, field):
    message = reject_case(account, lambda_context, "p.wav", audio_files["wav"], metadata)
    assert message["error"]["code"] == "INVALID_PARAMETER"
    assert field in message["error"]["message"]


def test_too_large_is_rejected_before_downloading(account, lambda_context, audio_files):
    limit = 50 * 1024 * 1024
    downloads = []
    from declick_pipeline import runtime

    runtime.client("s3").meta.events.register("before-call.s3.GetObject", lambda **kw: downloads.append(kw))
    big = audio_files["wav"][:44] + bytes(limit + 1 - 44)
    message = reject_case(account, lambda_context, "big.wav", big)
    assert message["error"]["code"] == "FILE_TOO_LARGE"
    assert str(limit) in message["error"]["message"]
    assert downloads == []


def test_size_from_head_object_is_checked_when_the_event_understates_it(
    account, lambda_context, audio_files, monkeypatch
):
    monkeypatch.setenv("MAX_INPUT_BYTES", "1000")
    from declick_pipeline import runtime

    runtime.reset()
    downloads = []
    runtime.client("s3").meta.events.register("before-call.s3.GetObject", lambda **kw: downloads.append(kw))
    message = reject_case(account, lambda_context, "big.wav", audio_files["wav"][:1001], size=10)
    assert message["error"]["code"] == "FILE_TOO_LARGE"
    assert message["input"]["size"] == 1001
    assert downloads == []


def test_deleted_object_is_rejected(account, lambda_context, audio_files):
    account.s3.create_bucket(Bucket="plain")
    response = account.s3.put_object(Bucket="plain", Key="gone.wav", Body=audio_files["wav"])
    account.s3.delete_object(Bucket="plain", Key="gone.wav")
    record = account.s3_record("gone.wav", len(audio_files["wav"]), response["ETag"].strip('"'), None, bucket="plain")
    assert run(account, lambda_context, {"Records": [record]}) == {"batchItemFailures": []}
    message = only_notification(account)["message"]
    assert message["error"]["code"] == "OBJECT_NOT_FOUND"
    assert account.vendor.created_tasks() == []


def test_vendor_refusal_is_a_rejection(account, lambda_context, audio_files):
    account.vendor.script_create(Reply.error(2001, "file_time does not match the file"))
    uploaded = account.upload("refused.wav", audio_files["wav"])
    assert run(account, lambda_context, {"Records": [account.event_for(uploaded)]}) == {"batchItemFailures": []}
    message = only_notification(account)["message"]
    assert message["error"]["code"] == "REMOTE_REJECTED"
    assert "file_time does not match" in message["error"]["message"]
    assert message["input"]["md5"] == md5_of(audio_files["wav"])
    assert account.executions() == []


def test_duplicate_of_a_rejected_upload_notifies_once(account, lambda_context):
    uploaded = account.upload("notes.wav", b"plain text" * 20)
    body = {"Records": [account.event_for(uploaded)]}
    run(account, lambda_context, body)
    run(account, lambda_context, body)
    assert len(account.notifications()) == 1


def test_missing_setting_is_named(account, lambda_context, monkeypatch):
    monkeypatch.delenv("STATE_MACHINE_ARN")
    from declick_pipeline import runtime
    from declick_pipeline.settings import SettingsError

    runtime.reset()
    with pytest.raises(SettingsError, match="STATE_MACHINE_ARN"):
        submit_task.handler(account.sqs_event({"Records": []}), lambda_context)


def test_an_existing_execution_counts_as_started(account):
    from declick_pipeline.pipeline_state import PipelineState
    from declick_pipeline.submission import _start_execution

    _start_execution(account.state_machine_arn, "task-7-abc", PipelineState(task_id="task-7", attempt=1))
    # differs: AlreadyExists
    _start_execution(account.state_machine_arn, "task-7-abc", PipelineState(task_id="task-7", attempt=2))
    assert [e["name"] for e in account.executions()] == ["task-7-abc"]


def test_metrics_are_emitted_and_no_signature_or_secret_is_logged(
    account, lambda_context, audio_files, capsys, monkeypatch
):
    import io

    from declick_pipeline.observability import logger

    log_stream = io.StringIO()
    monkeypatch.setattr(logger.registered_handler, "stream", log_stream)
    uploaded = account.upload("logged.wav", audio_files["wav"])
    rejected = account.upload("logged.txt", b"just words, many of them" * 4)
    run(account, lambda_context, {"Records": [account.event_for(uploaded)]}, {"Records": [account.event_for(rejected)]})
    output = capsys.readouterr().out + log_stream.getvalue()
    emf = [json.loads(line) for line in output.splitlines() if line.startswith('{"_aws"')]
    assert emf and emf[-1]["Submitted"] == [1.0] and emf[-1]["Rejected"] == [1.0]
    logs = [json.loads(line) for line in output.splitlines() if line.startswith('{"level"')]
    assert any(line.get("task_id") == "task-1" and line.get("object_key") == "logged.wav" for line in logs)
    assert "X-Amz-Signature" not in output
    assert account.vendor.appsecret not in output
