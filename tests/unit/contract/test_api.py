"""The contract's numbers are the ones every side enforces."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from declick_contract.api import (
    CLICK_LEN_RANGE,
    DETECTION_MULT_RANGE,
    FAILED_STATUSES,
    PENDING_STATUSES,
    PRIORITY_RANGE,
    Status,
)
from declick_contract.models import CreateTaskRequest, FileInfo, parse_task_result
from declick_pipeline.failure_report import REMOTE_STATUS_ERRORS
from infra.config import StackConfig

FILE = FileInfo(file_size=10, file_md5="0" * 32, file_time=1, file_ext="wav")


def test_statuses_are_pending_complete_or_failed_exactly_once():
    assert PENDING_STATUSES | {Status.COMPLETE} | FAILED_STATUSES == set(Status)
    assert not PENDING_STATUSES & FAILED_STATUSES
    assert [int(s) for s in Status] == [1, 2, 3, 4, 5, 6]


def test_every_failed_status_has_a_notification_code():
    assert set(REMOTE_STATUS_ERRORS) == FAILED_STATUSES


@pytest.mark.parametrize(
    ("field", "bounds"),
    [("detection_mult", DETECTION_MULT_RANGE), ("click_len", CLICK_LEN_RANGE), ("priority", PRIORITY_RANGE)],
)
def test_request_and_stack_config_share_the_ranges(field, bounds):
    body = {"file_link": "https://x.test/a.wav", "file_info": FILE, "detection_mult": 8.0, "click_len": 10}
    body["priority"] = 5
    low, high = bounds
    for value in (low, high):
        CreateTaskRequest(**{**body, field: value})
        StackConfig(api_base_url="https://api.test", **{f"default_{field}": value})
    step = 0.5 if isinstance(low, float) else 1
    for value in (low - step, high + step):
        with pytest.raises(ValidationError):
            CreateTaskRequest(**{**body, field: value})
        with pytest.raises(ValidationError):
            StackConfig(api_base_url="https://api.test", **{f"default_{field}": value})


def test_request_sends_two_file_ext_fields():
    request = CreateTaskRequest(
        file_link="https://x.test/a.wav", file_info=FILE, detection_mult=8.0, click_len=10, output_ext="wav", priority=1
    )
    body = request.to_json()
    assert body["file_ext"] == "wav" and body["file_info"]["file_ext"] == "wav"
    assert "output_ext" not in body


@pytest.mark.parametrize(("status", "wait_time"), [("2", "15"), (2, 15), (2.0, 14.2), (" 2 ", " 15 ")])
def test_result_status_and_wait_time_as_strings_or_numbers(status, wait_time):
    result = parse_task_result({"status": status, "wait_time": wait_time})
    assert result.status == Status.IN_PROGRESS and result.wait_time == 15
    assert result.status_name == "IN_PROGRESS"
