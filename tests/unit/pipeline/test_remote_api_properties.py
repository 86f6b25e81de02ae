"""Property: whatever the vendor answers — any JSON, any size, any types, any HTTP status — the one
API client gives a typed outcome or one of our errors, never an unhandled exception, and never a
string past its bound. The answers come from the scripted fake vendor over real HTTP."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from declick.local.fake_vendor import FakeVendor, Reply
from declick_contract.errors import RemoteApiError, RemoteApiRejectedError, RemoteApiTransientError
from declick_contract.models import CreateTaskRequest, FileInfo, TaskResult
from declick_pipeline.remote_api import Credentials, RemoteApiClient
from declick_pipeline.vendor_text import TASK_ID_MAX_CHARS, TEXT_MAX_CHARS, URL_MAX_CHARS, is_clean_identifier

REQUEST = CreateTaskRequest(
    file_link="https://bucket.example/in.wav?sig=1",
    file_info=FileInfo(file_size=10, file_md5="0" * 32, file_time=1, file_ext="wav"),
    detection_mult=8.0,
    click_len=10,
    priority=5,
)

# Long strings, some full of control characters and invisible formatting.
huge_text = st.builds(
    lambda n, piece: (piece * (n // len(piece) + 1))[:n],
    st.integers(TEXT_MAX_CHARS - 5, 300_000),
    st.sampled_from(["x", "reason ", "\x00\x1b[31m", "\u202e\u200b", "é😀", "\r\n"]),
)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
    | huge_text
)
json_values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=10,
)
codes = json_values | st.sampled_from([0, "0", 0.0, " 0 ", 1001, "1004"])
statuses = json_values | st.sampled_from([1, 2, 3, 4, 5, 6, "3", " 2 ", 3.0, 7, -1])
data_objects = st.fixed_dictionaries(
    {},
    optional={
        "task_id": json_values | st.sampled_from(["task-1", "", "  ", "a" * 129, "id with space", 42]),
        "status": statuses,
        "wait_time": json_values | st.sampled_from(["15", 15, "-3", "soon"]),
        "voice_result": json_values | st.sampled_from(["https://cdn.example/r.mp3", "https://x/" + "y" * 5000]),
        "reason": json_values,
    },
)
envelopes = st.fixed_dictionaries(
    {}, optional={"code": codes, "msg": json_values, "data": data_objects | json_values}
)
bodies = envelopes | json_values | st.binary(max_size=64)
http_statuses = st.sampled_from([200, 200, 200, 201, 400, 401, 403, 404, 413, 429, 500, 502, 503])


@pytest.fixture(scope="module")
def vendor():
    with FakeVendor() as fake:
        yield fake


@pytest.fixture(scope="module")
def client(vendor):
    return RemoteApiClient(
        vendor.url, Credentials(vendor.appkey, vendor.appsecret), max_retries=0, read_timeout=10, sleep=lambda _: None
    )


def _check_error(exc: RemoteApiError) -> None:
    assert len(str(exc)) <= TEXT_MAX_CHARS
    if isinstance(exc, RemoteApiRejectedError):
        assert len(exc.msg) <= TEXT_MAX_CHARS
    if isinstance(exc, RemoteApiTransientError):
        assert exc.retry_after is None or exc.retry_after >= 0


def _reply(status: int, body: Any) -> Reply:
    return Reply(status=status, body=body)


_task_ids = itertools.count()
_SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)


@_SETTINGS
@given(status=http_statuses, body=bodies)
def test_create_gives_a_clean_task_id_or_a_known_error(vendor, client, status, body):
    vendor.script_create(_reply(status, body))
    try:
        task_id = client.create_task(REQUEST)
    except RemoteApiError as exc:
        _check_error(exc)
    else:
        assert isinstance(task_id, str)
        assert is_clean_identifier(task_id, TASK_ID_MAX_CHARS)


@_SETTINGS
@given(status=http_statuses, body=bodies)
def test_result_gives_a_bounded_result_or_a_known_error(vendor, client, status, body):
    task_id = f"prop-{next(_task_ids)}"
    vendor.script_task(task_id, _reply(status, body))
    try:
        result = client.get_result(task_id)
    except RemoteApiError as exc:
        _check_error(exc)
    else:
        assert isinstance(result, TaskResult)
        assert result.reason is None or 0 < len(result.reason) <= TEXT_MAX_CHARS
        assert result.reason is None or result.reason.isprintable()
        assert result.voice_result is None or is_clean_identifier(result.voice_result, URL_MAX_CHARS)
