"""The job ledger as the handlers write it (moto DynamoDB), and a replay event through submit_task."""

from __future__ import annotations

import pytest

from declick.ops.replay import replay_event
from declick_pipeline import ledger, runtime
from declick_pipeline.handlers import report_dead_letter, submit_task

from .conftest import INPUT_BUCKET, LEDGER_TABLE


def item(account, key, version):
    found = account.ddb.get_item(
        TableName=LEDGER_TABLE, Key={"object": {"S": f"{INPUT_BUCKET}/{key}"}, "version": {"S": version}}
    ).get("Item")
    return {name: next(iter(value.values())) for name, value in (found or {}).items()}


def write(status, **fields):
    ledger.record(status, bucket=INPUT_BUCKET, key="a.wav", version="v1", **fields)


def test_stages_replace_each_other_and_a_late_submitted_does_not_undo_a_result(account):
    write(ledger.RECEIVED, uploaded_at="2026-12-01T10:00:00Z")
    write(ledger.SUBMITTED, task_id="t-1", only_from=(ledger.RECEIVED, ledger.SUBMITTED))
    assert item(account, "a.wav", "v1")["status"] == "SUBMITTED"
    write(ledger.SUCCEEDED, task_id="t-1", output_key="a.mp3")
    write(ledger.SUBMITTED, task_id="t-1", only_from=(ledger.RECEIVED, ledger.SUBMITTED))
    found = item(account, "a.wav", "v1")
    assert (found["status"], found["output_key"], found["task_id"]) == ("SUCCEEDED", "a.mp3", "t-1")
    assert found["first_received_at"] and found["finished_at"] and found["uploaded_at"] == "2026-12-01T10:00:00Z"


def test_a_replay_clears_the_old_failure_and_counts_itself(account):
    write(ledger.FAILED, reason={"code": "REMOTE_TASK_FAILED", "message": "no"}, task_id="t-1")
    assert item(account, "a.wav", "v1")["reason_code"] == "REMOTE_TASK_FAILED"
    write(ledger.RECEIVED, replay_id="r-1")
    found = item(account, "a.wav", "v1")
    assert found["status"] == "RECEIVED" and found["replays"] == "1" and found["replay_id"] == "r-1"
    assert not {"reason_code", "reason_message", "task_id", "finished_at"} & set(found)


def test_a_failing_ledger_write_never_stops_the_step(account, monkeypatch):
    monkeypatch.setenv("LEDGER_TABLE", "no-such-table")
    runtime.reset()
    write(ledger.FAILED, reason={"code": "X", "message": "y"})  # logged and counted, not raised
    assert item(account, "a.wav", "v1") == {}


def test_unknown_status_is_a_programming_error(account):
    with pytest.raises(ValueError, match="unknown ledger status"):
        write("LOST")


def test_submit_writes_submitted_with_task_and_execution(account, lambda_context, audio_files):
    uploaded = account.upload("ledgered.wav", audio_files["wav"])
    submit_task.handler(account.sqs_event({"Records": [account.event_for(uploaded)]}), lambda_context)
    found = item(account, "ledgered.wav", uploaded["version_id"])
    assert found["status"] == "SUBMITTED" and found["task_id"] == "task-1"
    assert found["execution_arn"].startswith("arn:aws:states:") and found["version_id"] == uploaded["version_id"]


def test_a_replay_event_makes_a_new_task_where_a_duplicate_does_not(account, lambda_context, audio_files):
    uploaded = account.upload("again.wav", audio_files["wav"])
    original = {"Records": [account.event_for(uploaded)]}
    submit_task.handler(account.sqs_event(original, original), lambda_context)
    assert len(account.vendor.created_tasks()) == 1
    stored = item(account, "again.wav", uploaded["version_id"])
    replay = replay_event({**stored, "bucket": INPUT_BUCKET, "key": "again.wav"}, "replay-1", "2026-12-01T11:00:00Z")
    submit_task.handler(account.sqs_event(replay, replay), lambda_context)  # the replay itself delivered twice
    assert len(account.vendor.created_tasks()) == 2
    found = item(account, "again.wav", uploaded["version_id"])
    assert (found["status"], found["replays"], found["task_id"]) == ("SUBMITTED", "1", "task-2")


def test_dead_letter_report_writes_failed(account, lambda_context, audio_files):
    uploaded = account.upload("dead.wav", audio_files["wav"])
    report_dead_letter.handler(account.sqs_event({"Records": [account.event_for(uploaded)]}), lambda_context)
    found = item(account, "dead.wav", uploaded["version_id"])
    assert (found["status"], found["reason_code"]) == ("FAILED", "SUBMIT_FAILED")
