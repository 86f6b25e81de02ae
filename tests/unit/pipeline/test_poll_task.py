"""poll_task against the fake vendor: status mapping, wait_time coercion and clamping, give-up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from declick.local.fake_vendor import MISSING, Reply
from declick_contract.errors import RemoteApiRejectedError
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
        "retry": False,
        "errors": 0,
        "errors_since": None,
        "last_error": None,
        "last_error_message": None,
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


def test_vendor_outage_loops_back_to_the_wait_with_backoff(account, lambda_context):
    account.vendor.script_task("t-1", Reply.http(502))
    first = poll_handler.handler(state(polls=3), lambda_context)
    assert (first["retry"], first["give_up"], first["errors"], first["polls"]) == (True, False, 1, 4)
    assert first["status"] == 2  # the last status the vendor told us survives the outage
    assert first["last_error"] == "RemoteApiTransientError" and "502" in first["last_error_message"]
    second = poll_handler.handler({**state(), "poll": first}, lambda_context)
    assert second["errors"] == 2 and second["errors_since"] == first["errors_since"]
    assert second["wait_seconds"] == min(300, 2 * first["wait_seconds"])  # backed off, capped at WAIT_MAX


def test_vendor_back_after_an_outage_clears_the_error_count(account, lambda_context, monkeypatch):
    monkeypatch.setenv("API_MAX_RETRIES", "0")  # one request per poll, so each scripted reply is one poll
    runtime.reset()
    account.vendor.script_task("t-1", Reply.http(503), Reply.result(2, wait_time="20"))
    failed = poll_handler.handler(state(), lambda_context)
    recovered = poll_handler.handler({**state(), "poll": failed}, lambda_context)
    assert failed["retry"] is True
    assert (recovered["retry"], recovered["errors"], recovered["errors_since"]) == (False, 0, None)
    assert (recovered["status_name"], recovered["wait_seconds"], recovered["polls"]) == ("IN_PROGRESS", 20, 2)


def test_outage_longer_than_the_tolerance_gives_up_with_the_last_error(account, monkeypatch):
    monkeypatch.setenv("VENDOR_OUTAGE_TOLERANCE_SECONDS", "600")
    runtime.reset()
    account.vendor.script_task("t-1", Reply.raw("<html>gateway</html>"))
    start = datetime.now(UTC)
    first = poll_once(state(), now=start)
    within = poll_once({**state(), "poll": first}, now=start + timedelta(seconds=599))
    beyond = poll_once({**state(), "poll": within}, now=start + timedelta(seconds=600))
    assert (first["retry"], within["retry"], beyond["retry"]) == (True, True, False)
    assert (within["give_up"], beyond["give_up"]) == (False, True)
    assert beyond["last_error"] == "RemoteApiResponseError" and beyond["errors"] == 3


def test_outage_near_the_deadline_gives_up_at_the_deadline(account, monkeypatch):
    monkeypatch.setenv("MAX_PROCESSING_SECONDS", "3600")
    runtime.reset()
    account.vendor.script_task("t-1", Reply.http(500))
    submitted = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
    poll = poll_once(state(submitted_at="2026-11-25T09:00:00Z"), now=submitted + timedelta(seconds=3601))
    assert (poll["give_up"], poll["retry"], poll["errors"]) == (True, False, 1)


def test_vendor_error_code_raises_rejected(account, lambda_context):
    with pytest.raises(RemoteApiRejectedError, match="task not found"):
        poll_handler.handler(state(task_id="unknown"), lambda_context)


def test_unknown_status_is_waited_out_like_an_outage(account, lambda_context):
    account.vendor.script_task("t-1", Reply.result(9))
    poll = poll_handler.handler(state(), lambda_context)
    assert (poll["retry"], poll["last_error"]) == (True, "RemoteApiResponseError")
    assert "unknown status 9" in poll["last_error_message"]
