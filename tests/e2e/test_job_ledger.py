"""`declick status` and `declick replay` on the emulated stack, through the real CLI and the job ledger.

A replay is a second run of the same object version, so the usual "one notification per upload"
invariant becomes "one notification per upload plus one per replay" in this module.
"""

from __future__ import annotations

import time

import pytest

from declick.cli import main as declick
from declick.local.fake_vendor import Reply
from declick.local.runner import LocalPipeline
from tests.e2e import audio
from tests.e2e.helpers import SETTLE_TIMEOUT, assert_notification_shape, settle

PIPELINE_ENV = {"API_MAX_RETRIES": "0"}


@pytest.fixture(scope="module")
def pipeline(template, vendor):
    with LocalPipeline(
        template=template, api_url=vendor.url, appkey=vendor.appkey, appsecret=vendor.appsecret, env=PIPELINE_ENV
    ) as running:
        running.replays = {}
        yield running
        assert running.emulator.wait_idle(timeout=SETTLE_TIMEOUT)
        for upload in running.uploads:
            expected = 1 + running.replays.get(upload.key, 0)
            assert len(running.notifications_for(upload)) == expected, upload.key
        assert running.dead_letters() == 0


@pytest.fixture(scope="module")
def where(pipeline):
    """--table/--queue for the emulator (no CloudFormation there); boto3 follows AWS_ENDPOINT_URL."""
    return [
        "--table",
        pipeline.emulator.function_by_handler("submit_task").environment["LEDGER_TABLE"],
    ]


@pytest.fixture(scope="module")
def queue(pipeline):
    return ["--queue", pipeline.emulator.queue_for_function("submit_task")]


@pytest.fixture(scope="module")
def result_url(vendor):
    return vendor.serve_file("ledger.mp3", audio.mp3(seed=2), "audio/mpeg")


def _uri(upload) -> str:
    return f"s3://{upload.bucket}/{upload.key}#{upload.version_id}"


def status(capsys, where, upload) -> tuple[int, str]:
    capsys.readouterr()
    code = declick(["status", *where, _uri(upload)])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def wait_for_status(capsys, where, upload, wanted: str, timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    seen = ""
    while time.monotonic() < deadline:
        code, seen = status(capsys, where, upload)
        if code == 0 and f": {wanted} since" in seen:
            return seen
        time.sleep(0.1)
    raise AssertionError(f"{upload.key} never reached {wanted}; last status: {seen}")


def test_status_shows_each_stage_of_an_upload(pipeline, vendor, capsys, where, result_url):
    task_id = "task-ledger-stages"
    # The vendor takes 3 s to answer the creation (RECEIVED meanwhile), then reports the task
    # in progress for a few polls (SUBMITTED), then done (SUCCEEDED).
    vendor.script_create(Reply.created(task_id).delayed(3))
    vendor.script_task(task_id, *[Reply.result(2, wait_time="1")] * 4, Reply.result(3, voice_result=result_url))
    upload = pipeline.upload("ledger/stages.wav", audio.wav())

    received = wait_for_status(capsys, where, upload, "RECEIVED")
    assert "being checked" in received and "task_id" not in received
    submitted = wait_for_status(capsys, where, upload, "SUBMITTED")
    assert f"task_id: {task_id}" in submitted and "execution_arn: arn:" in submitted
    (note,) = settle(pipeline, [upload])
    assert_notification_shape(note, "SUCCEEDED")
    done = wait_for_status(capsys, where, upload, "SUCCEEDED")
    assert "output_key: ledger/stages.mp3" in done and "finished_at" in done and "reason" not in done


def test_status_of_an_unknown_upload_says_so(pipeline, capsys, where):
    capsys.readouterr()
    code = declick(["status", *where, f"s3://{pipeline.input_bucket}/never/uploaded.wav"])
    assert code == 1
    assert "no record of" in capsys.readouterr().err


def test_status_shows_a_rejection_with_its_reason(pipeline, capsys, where):
    upload = pipeline.upload("ledger/not-audio.wav", b"this is not audio at all" * 10)
    (note,) = settle(pipeline, [upload])
    assert_notification_shape(note, "REJECTED")
    shown = wait_for_status(capsys, where, upload, "REJECTED")
    assert f"reason: {note['error']['code']}" in shown


def _fail_then_replay_script(vendor, first: str, second: str, result_url: str, reason: str) -> None:
    vendor.script_create(Reply.created(first))
    vendor.script_task(first, Reply.result(4, reason=reason))
    vendor.script_task(second, Reply.result(3, voice_result=result_url))


def test_a_replayed_upload_gets_one_new_notification(pipeline, vendor, capsys, where, queue, result_url):
    _fail_then_replay_script(vendor, "task-replay-1", "task-replay-2", result_url, "vendor hiccup")
    upload = pipeline.upload("ledger/replayed.wav", audio.wav(seed=3))
    (failed,) = settle(pipeline, [upload])
    assert failed["status"] == "FAILED" and failed["error"]["code"] == "REMOTE_TASK_FAILED"
    shown = wait_for_status(capsys, where, upload, "FAILED")
    assert "reason: REMOTE_TASK_FAILED: vendor hiccup" in shown

    vendor.script_create(Reply.created("task-replay-2"))
    creates_before = len(vendor.created_tasks())
    pipeline.replays[upload.key] = 1
    capsys.readouterr()
    assert declick(["replay", *where, *queue, _uri(upload)]) == 0
    assert "1 upload(s) queued for replay" in capsys.readouterr().out

    assert pipeline.wait_for([upload], timeout=SETTLE_TIMEOUT)
    assert pipeline.emulator.wait_idle(timeout=SETTLE_TIMEOUT)
    notes = pipeline.notifications_for(upload)
    assert [n["status"] for n in notes] == ["FAILED", "SUCCEEDED"]  # one new notification, not two
    assert notes[1]["task"]["id"] == "task-replay-2"
    assert len(vendor.created_tasks()) == creates_before + 1  # a new remote task, not the failed one
    shown = wait_for_status(capsys, where, upload, "SUCCEEDED")
    assert "replays: 1" in shown and "reason" not in shown and "task_id: task-replay-2" in shown


def test_replay_of_every_failure_in_a_time_range(pipeline, vendor, capsys, where, queue, result_url):
    since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 1))
    time.sleep(1.1)  # the ledger's clock has whole seconds: keep earlier failures out of the range
    failed_uploads = []
    for name in ("range-a", "range-b"):
        _fail_then_replay_script(vendor, f"task-{name}-1", f"task-{name}-2", result_url, f"{name} failed")
        upload = pipeline.upload(f"ledger/{name}.wav", audio.wav(seed=7))
        (note,) = settle(pipeline, [upload])
        assert note["status"] == "FAILED"
        failed_uploads.append(upload)
    vendor.script_create(Reply.created("task-range-ok"))
    vendor.script_task("task-range-ok", Reply.result(3, voice_result=result_url))
    succeeded = pipeline.upload("ledger/range-ok.wav", audio.wav(seed=8))
    settle(pipeline, [succeeded])

    capsys.readouterr()
    assert declick(["replay", *where, *queue, "--failed-since", since, "--dry-run"]) == 0
    listed = capsys.readouterr().out
    assert listed.count("would replay") == 2 and "range-ok" not in listed

    # Creation replies are one queue and replays run concurrently: let the vendor number the tasks.
    vendor.script_any_task(Reply.result(3, voice_result=result_url))
    for upload in failed_uploads:
        pipeline.replays[upload.key] = 1
    assert declick(["replay", *where, *queue, "--failed-since", since]) == 0
    assert pipeline.emulator.wait_idle(timeout=SETTLE_TIMEOUT)
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while time.monotonic() < deadline and not all(len(pipeline.notifications_for(u)) == 2 for u in failed_uploads):
        time.sleep(0.2)
    for upload in failed_uploads:
        assert [n["status"] for n in pipeline.notifications_for(upload)] == ["FAILED", "SUCCEEDED"], upload.key
    assert len(pipeline.notifications_for(succeeded)) == 1
