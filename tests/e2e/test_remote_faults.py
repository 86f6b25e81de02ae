"""The remote side misbehaving, scripted on a real HTTP fake vendor: every upload still ends in
exactly one notification, and the right one.

Uploads here run one at a time because the fake vendor's creation replies are a single queue.
"""

from __future__ import annotations

import json

import pytest

from declick.local.fake_vendor import MISSING, Reply
from declick.local.runner import LocalPipeline
from tests.e2e import audio
from tests.e2e.helpers import assert_every_upload_notified_once, assert_notification_shape, settle
from tests.e2e.truncating_server import TruncatingServer

MAX_POLLS = 4


@pytest.fixture(scope="module")
def truncating():
    data = audio.mp3()
    with TruncatingServer(body=data[: len(data) // 2], declared=len(data)) as server:
        yield server


@pytest.fixture(scope="module")
def pipeline(template, vendor, truncating):
    """The stack on the fake vendor; the truncating server is also exempt from the https rule."""
    env = {
        "MAX_POLLS": str(MAX_POLLS),
        "DOWNLOAD_ALLOWED_HOSTS": f"{vendor.host_port},{truncating.host_port}",
    }
    with LocalPipeline(
        template=template, api_url=vendor.url, appkey=vendor.appkey, appsecret=vendor.appsecret, env=env
    ) as running:
        yield running
        assert_every_upload_notified_once(running)


@pytest.fixture(scope="module")
def result_url(vendor):
    return vendor.serve_file("result.mp3", audio.mp3(seed=9), "audio/mpeg")


def _run(pipeline, vendor, name: str, *, create=None, results=(), meta=None):
    """Script the vendor for one upload, upload, settle; return (notification, vendor requests made)."""
    task_id = f"task-{name}"
    vendor.script_create(*(create or [Reply.created(task_id)]))
    if results:
        vendor.script_task(task_id, *results)
    first = len(vendor.requests)
    upload = pipeline.upload(f"faults/{name}.wav", audio.wav(), meta)
    (note,) = settle(pipeline, [upload])
    return note, vendor.requests[first:]


def _creates(requests):
    return [r for r in requests if r.method == "POST"]


def _polls(requests, task_id):
    return [r for r in requests if r.method == "GET" and r.path.endswith(f"/result/{task_id}")]


def test_create_answering_an_error_code_is_rejected(pipeline, vendor):
    note, requests = _run(pipeline, vendor, "code-nonzero", create=[Reply.error(1001, "file_md5 does not match")])
    assert_notification_shape(note, "REJECTED")
    assert note["error"]["code"] == "REMOTE_REJECTED"
    assert "file_md5 does not match" in note["error"]["message"]
    assert len(_creates(requests)) == 1 and not [r for r in requests if r.method == "GET"]
    assert "faults/code-nonzero.mp3" not in pipeline.output_objects()


@pytest.mark.parametrize(
    ("name", "first"),
    [("http-500", Reply.http(500, body="oops")), ("http-429", Reply.http(429, retry_after="1"))],
)
def test_create_retried_after_a_transient_answer(pipeline, vendor, result_url, name, first):
    task_id = f"task-{name}"
    note, requests = _run(
        pipeline,
        vendor,
        name,
        create=[first, Reply.created(task_id)],
        results=[Reply.result(3, voice_result=result_url)],
    )
    assert_notification_shape(note, "SUCCEEDED")
    assert note["task"]["id"] == task_id
    assert len(_creates(requests)) == 2  # one remote task: the refused POST created none
    assert pipeline.output_objects()[f"faults/{name}.mp3"] == audio.mp3(seed=9)


@pytest.mark.parametrize(
    ("status", "code"), [(4, "REMOTE_TASK_FAILED"), (5, "REMOTE_TASK_CLOSED"), (6, "REMOTE_TASK_TIMED_OUT")]
)
def test_remote_task_ending_badly_is_failed_with_its_reason(pipeline, vendor, status, code):
    reason = f"vendor says no ({status})"
    note, requests = _run(pipeline, vendor, f"status-{status}", results=[Reply.result(status, reason=reason)])
    assert_notification_shape(note, "FAILED")
    assert note["error"]["code"] == code and reason in note["error"]["message"]
    assert note["task"]["remote_status"] == status
    assert len(_creates(requests)) == 1 and len(_polls(requests, f"task-status-{status}")) == 1
    assert f"faults/status-{status}.mp3" not in pipeline.output_objects()


def _first_wait_seconds(pipeline, task_id: str) -> int:
    # Execution names are `<task id>-<digest of the upload and task id>` (submission.execution_name).
    execution = next(e for e in pipeline.emulator.executions() if e["name"].startswith(f"{task_id}-"))
    for event in pipeline.emulator.execution_history(execution["executionArn"]):
        details = event.get("lambdaFunctionSucceededEventDetails") or event.get("taskSucceededEventDetails")
        if details:
            output = json.loads(details["output"])
            output = output.get("Payload", output)
            if "wait_seconds" in output:
                return output["wait_seconds"]
    raise AssertionError(f"no poll output in the history of {task_id}")


@pytest.mark.parametrize(
    ("name", "wait_time", "expected"),
    [
        ("wait-number", 0, 0),  # as a JSON number
        ("wait-string", "2", 2),  # as documented: a string
        ("wait-missing", MISSING, 1),  # WAIT_DEFAULT_SECONDS
        ("wait-negative", "-5", 1),  # unusable -> default
        ("wait-huge", "999999", 2),  # clamped to WAIT_MAX_SECONDS
    ],
)
def test_wait_time_in_any_shape_is_clamped(pipeline, vendor, result_url, name, wait_time, expected):
    task_id = f"task-{name}"
    note, requests = _run(
        pipeline,
        vendor,
        name,
        results=[Reply.result(2, wait_time=wait_time), Reply.result(3, voice_result=result_url)],
    )
    assert_notification_shape(note, "SUCCEEDED")
    assert note["task"]["polls"] == 2 and len(_polls(requests, task_id)) == 2
    assert _first_wait_seconds(pipeline, task_id) == expected


def _voice_result_cases():
    return [
        ("result-404", lambda vendor, trunc: vendor.file_url("missing.mp3"), "RESULT_DOWNLOAD_REFUSED"),
        ("result-truncated", lambda vendor, trunc: trunc.url("cut.mp3"), "RESULT_DOWNLOAD_FAILED"),
        (
            "result-not-audio",
            lambda vendor, trunc: vendor.serve_file("page.mp3", b"<html>not found</html>" * 10, "text/html"),
            "RESULT_WRONG_FORMAT",
        ),
        # Refused before any connection is attempted: wrong scheme, private literal, private name,
        # and a loopback address that is not the one exempted for local runs.
        ("result-plain-http", lambda vendor, trunc: "http://example.com/result.mp3", "RESULT_URL_REFUSED"),
        ("result-private-ip", lambda vendor, trunc: "https://10.20.30.40/result.mp3", "RESULT_URL_REFUSED"),
        ("result-private-name", lambda vendor, trunc: "https://localhost:9/result.mp3", "RESULT_URL_REFUSED"),
        (
            "result-other-loopback",
            lambda vendor, trunc: vendor.file_url("result.mp3").replace("127.0.0.1", "127.0.0.2"),
            "RESULT_URL_REFUSED",
        ),
    ]


@pytest.mark.parametrize(("name", "make_url", "code"), _voice_result_cases(), ids=[c[0] for c in _voice_result_cases()])
def test_bad_voice_result_fails_the_upload(pipeline, vendor, truncating, result_url, name, make_url, code):
    url = make_url(vendor, truncating)
    hits_before = truncating.hits
    note, requests = _run(pipeline, vendor, name, results=[Reply.result(3, voice_result=url)])
    assert_notification_shape(note, "FAILED")
    assert note["error"]["code"] == code, note["error"]
    assert f"faults/{name}.mp3" not in pipeline.output_objects()
    assert len(_creates(requests)) == 1
    if name == "result-truncated":
        assert truncating.hits > hits_before  # it was really fetched (and retried), then given up
    if code == "RESULT_URL_REFUSED":
        assert not [r for r in requests if r.path.startswith("/files/")]


def test_a_task_that_never_finishes_ends_at_the_poll_cap(pipeline, vendor):
    task_id = "task-forever"
    note, requests = _run(pipeline, vendor, "forever", results=[Reply.result(2, wait_time="0")])
    assert_notification_shape(note, "FAILED")
    assert note["error"]["code"] == "POLL_LIMIT_REACHED"
    assert len(_polls(requests, task_id)) == MAX_POLLS
