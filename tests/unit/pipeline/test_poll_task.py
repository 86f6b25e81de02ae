"""poll_task against the fake vendor: status mapping, wait_time coercion and clamping, give-up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from declick.local.fake_vendor import MISSING, Reply
from declick_contract.errors import RemoteApiRejectedError, RemoteApiResponseError, RemoteApiTransientError
from declick_pipeline import runtime
from declick_pipeline.handlers import poll_task as poll_handler
from declick_pipeline.pipeline_state import PipelineState
from declick_pipeline.polling import poll_task


def poll_once(state_dict, now=None):
    return poll_task(PipelineState.model_validate(state_dict), now=now)


def state(task_id="t-1", polls=None, submitted_at=None):
    result = {
        "task_id": task_id,
        "submitted_at": submitted_at or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "input": {"bucket": "in", "key": "a.wav"},
        "parameters": {"output_format": "mp3"},
    }
    if polls is not None:
        result["poll"] = {"status": 2, "polls": polls, "give_up": False}
    return result


@pytest.mark.parametrize(
    ("status", "name"),
    [(1, "WAITING"), ("2", "IN_PROGRESS"), (3, "COMPLETE"), ("4", "FAILED"), (5, "CLOSED"), (" 6 ", "TIMED_OUT")],
)
def test_status_is_mapped_from_number_or_string(account, lambda_context, status, name):
    account.vendor.script_task("t-1", Reply.result(status, wait_time="20", voice_result="", reason="why"))
    poll = poll_handler.handler(state(), lambda_context)
    assert poll["status"] == int(str(status).strip())
    assert poll["status_name"] == name
    assert poll["polls"] == 1
    assert poll["give_up"] is False
    (request,) = account.vendor.received("GET")
    assert request.path == "/v3/pic/ecr/result/t-1"
    assert request.headers["authorization"] == account.vendor.authorization


@pytest.mark.parametrize(
    ("wait_time", "expected"),
    [
        ("20", 20),
        (20, 20),
        (20.2, 21),
        (" 30 ", 30),
        ("0", 5),  # below WAIT_MIN_SECONDS
        (2, 5),
        ("100000", 300),  # above WAIT_MAX_SECONDS
        (MISSING, 15),  # missing → WAIT_DEFAULT_SECONDS
        ("", 15),
        ("soon", 15),
        (None, 15),
        ("-3", 15),
        (-3, 15),
        ("NaN", 15),
    ],
)
def test_wait_time_is_coerced_and_clamped(account, lambda_context, wait_time, expected):
    account.vendor.script_task("t-1", Reply.result(2, wait_time=wait_time))
    assert poll_handler.handler(state(), lambda_context)["wait_seconds"] == expected


def test_default_wait_is_clamped_too(account, lambda_context, monkeypatch):
    monkeypatch.setenv("WAIT_DEFAULT_SECONDS", "1")
    monkeypatch.setenv("WAIT_MIN_SECONDS", "4")
    runtime.reset()
    account.vendor.script_task("t-1", Reply.result(1, wait_time=MISSING))
    assert poll_handler.handler(state(), lambda_context)["wait_seconds"] == 4


def test_complete_carries_the_result_url_and_blank_fields_become_null(account, lambda_context):
    account.vendor.script_task("t-1", Reply.result(3, voice_result="https://cdn.example/r.mp3", reason=""))
    poll = poll_handler.handler(state(polls=4), lambda_context)
    assert poll == {
        "status": 3,
        "status_name": "COMPLETE",
        "wait_seconds": 10,
        "voice_result": "https://cdn.example/r.mp3",
        "reason": None,
        "polls": 5,
        "give_up": False,
    }


def test_gives_up_on_the_max_polls_th_pending_poll(account, monkeypatch):
    monkeypatch.setenv("MAX_POLLS", "3")
    runtime.reset()
    account.vendor.script_task("t-1", Reply.result(2))
    assert poll_once(state(polls=1))["give_up"] is False
    assert poll_once(state(polls=2))["give_up"] is True


def test_gives_up_after_max_processing_seconds(account, monkeypatch):
    monkeypatch.setenv("MAX_PROCESSING_SECONDS", "3600")
    runtime.reset()
    account.vendor.script_task("t-1", Reply.result(1))
    submitted = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
    fresh = poll_once(state(submitted_at="2026-11-25T09:00:00Z"), now=submitted + timedelta(seconds=3600))
    late = poll_once(state(submitted_at="2026-11-25T09:00:00Z"), now=submitted + timedelta(seconds=3601))
    assert (fresh["give_up"], late["give_up"]) == (False, True)


def test_finished_tasks_never_give_up(account, monkeypatch):
    monkeypatch.setenv("MAX_POLLS", "1")
    runtime.reset()
    account.vendor.script_task("t-1", Reply.result(4, reason="bad audio"))
    poll = poll_once(state(polls=10))
    assert (poll["status_name"], poll["give_up"], poll["reason"]) == ("FAILED", False, "bad audio")


def test_vendor_outage_raises_transient_for_the_state_machine_retry(account, lambda_context):
    account.vendor.script_task("t-1", Reply.http(502))
    with pytest.raises(RemoteApiTransientError):
        poll_handler.handler(state(), lambda_context)


def test_vendor_error_code_raises_rejected(account, lambda_context):
    with pytest.raises(RemoteApiRejectedError, match="task not found"):
        poll_handler.handler(state(task_id="unknown"), lambda_context)


def test_unknown_status_is_a_response_error(account, lambda_context):
    account.vendor.script_task("t-1", Reply.result(9))
    with pytest.raises(RemoteApiResponseError, match="unknown status 9"):
        poll_handler.handler(state(), lambda_context)
