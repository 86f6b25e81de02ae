"""The vendor client against the fake vendor over real HTTP on loopback."""

from __future__ import annotations

import base64
import socket

import pytest

from declick.local.fake_vendor import MISSING, Reply
from declick_contract.errors import (
    RemoteApiAuthError,
    RemoteApiRejectedError,
    RemoteApiResponseError,
    RemoteApiTransientError,
)
from declick_contract.models import CreateTaskRequest, FileInfo
from declick_pipeline.remote_api import Credentials, RemoteApiClient, credentials_from_secret, retry_after_seconds

REQUEST = CreateTaskRequest(
    file_link="https://bucket.s3.amazonaws.com/a.wav?X-Amz-Signature=abc",
    file_info=FileInfo(file_size=10778976, file_md5="1bf1f1e6f112b2fb5836c1c3abcb5411", file_time=168, file_ext="wav"),
    detection_mult=8.0,
    click_len=10,
    output_ext="mp3",
    priority=1,
)


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps():
    return Sleeps()


@pytest.fixture
def client(vendor, sleeps):
    return RemoteApiClient(
        vendor.url,
        Credentials("test-key", "test-secret"),
        max_retries=3,
        backoff_base_seconds=0.01,
        backoff_max_seconds=0.04,
        max_retry_after_seconds=5,
        sleep=sleeps,
    )


def test_create_sends_the_documented_body_with_both_file_ext_fields(client, vendor):
    vendor.script_create(Reply.created("6a4eab77-be30-430a-bf0e-3048042a34ef"))
    assert client.create_task(REQUEST) == "6a4eab77-be30-430a-bf0e-3048042a34ef"
    (request,) = vendor.requests
    assert (request.method, request.path) == ("POST", "/v3/pic/ecr/batch")
    assert request.headers["authorization"] == "Basic " + base64.b64encode(b"test-key:test-secret").decode()
    assert request.headers["content-type"] == "application/json"
    assert request.json == {
        "file_link": "https://bucket.s3.amazonaws.com/a.wav?X-Amz-Signature=abc",
        "file_ext": "mp3",
        "file_info": {
            "file_size": 10778976,
            "file_md5": "1bf1f1e6f112b2fb5836c1c3abcb5411",
            "file_time": 168,
            "file_ext": "wav",
        },
        "detection_mult": 8.0,
        "click_len": 10,
        "priority": 1,
    }


def test_the_two_file_ext_fields_stay_apart():
    request = REQUEST.model_copy(
        update={"output_ext": "wav", "file_info": REQUEST.file_info.model_copy(update={"file_ext": "mp3"})}
    )
    body = request.to_json()
    assert (body["file_ext"], body["file_info"]["file_ext"]) == ("wav", "mp3")


def test_request_model_enforces_the_documented_ranges():
    with pytest.raises(ValueError):
        REQUEST.model_validate(REQUEST.model_dump() | {"detection_mult": 10.5})
    with pytest.raises(ValueError):
        REQUEST.model_validate(REQUEST.model_dump() | {"click_len": 4})
    with pytest.raises(ValueError):
        FileInfo(file_size=1, file_md5="x", file_time=1, file_ext="wav")


def test_result_with_string_fields(client, vendor):
    vendor.script_task("t1", Reply.result("2", wait_time="30", voice_result="", reason=""))
    result = client.get_result("t1")
    assert (result.status, result.status_name, result.wait_time, result.voice_result, result.reason) == (
        2,
        "IN_PROGRESS",
        30,
        None,
        None,
    )
    (request,) = vendor.requests
    assert (request.method, request.path) == ("GET", "/v3/pic/ecr/result/t1")
    assert request.headers["authorization"] == vendor.authorization


def test_result_with_number_fields_and_missing_ones(client, vendor):
    vendor.script_task(
        "t1", Reply.result(3, wait_time=MISSING, voice_result="https://cdn.example/r.mp3", reason=MISSING)
    )
    result = client.get_result("t1")
    assert (result.status_name, result.wait_time, result.voice_result, result.reason) == (
        "COMPLETE",
        None,
        "https://cdn.example/r.mp3",
        None,
    )


def test_task_id_is_escaped_in_the_path(client, vendor):
    vendor.script_task("a/b c", Reply.result(1))
    client.get_result("a/b c")
    assert vendor.requests[0].path == "/v3/pic/ecr/result/a%2Fb%20c"


def test_5xx_and_429_are_retried_with_backoff(client, vendor, sleeps):
    vendor.script_create(Reply.http(500), Reply.http(429), Reply.http(503), Reply.created("t-ok"))
    assert client.create_task(REQUEST) == "t-ok"
    assert len(vendor.requests) == 4
    assert len(sleeps) == 3
    assert all(0.005 <= s <= 0.04 for s in sleeps)


def test_retry_after_is_honoured_and_capped(client, vendor, sleeps):
    vendor.script_task("t", Reply.http(429, retry_after="2"), Reply.http(503, retry_after="3600"), Reply.result(2))
    client.get_result("t")
    assert sleeps == [2.0, 5.0]


def test_a_create_does_not_sleep_a_long_retry_after_but_hands_it_back(client, vendor, sleeps):
    """The submit Lambda serves a batch: one record's long Retry-After must not hold up the others."""
    vendor.script_create(Reply.http(429, retry_after="2"), Reply.http(503, retry_after="3600"), Reply.created("t"))
    with pytest.raises(RemoteApiTransientError) as caught:
        client.create_task(REQUEST)
    assert sleeps == [2.0]
    assert caught.value.retry_after == 3600.0 and caught.value.http_status == 503
    assert len(vendor.requests) == 2


def test_retries_run_out_as_a_transient_error(client, vendor, sleeps):
    vendor.script_task("t1", Reply.http(502))
    with pytest.raises(RemoteApiTransientError, match="4 attempt") as caught:
        client.get_result("t1")
    assert caught.value.http_status == 502
    assert len(vendor.requests) == 4


def test_connection_refused_is_retried_then_transient(sleeps):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = RemoteApiClient(f"http://127.0.0.1:{port}", Credentials("k", "s"), max_retries=2, sleep=sleeps)
    with pytest.raises(RemoteApiTransientError, match="cannot connect"):
        client.get_result("t1")
    assert len(sleeps) == 2


def test_nonzero_code_is_rejected_with_code_and_msg(client, vendor, sleeps):
    vendor.script_create(Reply.error(1002, "file_md5 mismatch"))
    with pytest.raises(RemoteApiRejectedError) as caught:
        client.create_task(REQUEST)
    assert (caught.value.code, caught.value.msg) == (1002, "file_md5 mismatch")
    assert "file_md5 mismatch" in str(caught.value)
    assert sleeps == []  # not retried


def test_nonzero_code_as_a_string(client, vendor):
    vendor.script_task("t1", Reply.result(2, code="7", msg="busy"))
    with pytest.raises(RemoteApiRejectedError) as caught:
        client.get_result("t1")
    assert caught.value.code == 7


def test_wrong_credentials_are_an_auth_error(vendor, sleeps):
    client = RemoteApiClient(vendor.url, Credentials("test-key", "wrong"), sleep=sleeps)
    with pytest.raises(RemoteApiAuthError, match="401"):
        client.create_task(REQUEST)
    assert sleeps == []


@pytest.mark.parametrize(
    "reply",
    [
        Reply.raw("<html>gateway</html>"),
        Reply.raw('{"code": 0, "data": '),
        Reply(body=[1, 2]),
        Reply(body={"msg": "no code"}),
    ],
)
def test_malformed_bodies_are_response_errors(client, vendor, reply):
    vendor.script_task("t1", reply)
    with pytest.raises(RemoteApiResponseError):
        client.get_result("t1")


@pytest.mark.parametrize(
    "data",
    [{"status": None}, {"status": "soon"}, {"wait_time": "5"}, {"status": 0}],
)
def test_unreadable_status_is_a_response_error(client, vendor, data):
    vendor.script_task("t1", Reply(body={"code": 0, "msg": "", "data": data}))
    with pytest.raises(RemoteApiResponseError, match="status"):
        client.get_result("t1")


def test_create_without_task_id_is_a_response_error(client, vendor):
    vendor.script_create(Reply(body={"code": 0, "msg": "", "data": {}}))
    with pytest.raises(RemoteApiResponseError, match="task_id"):
        client.create_task(REQUEST)


def test_4xx_without_code_is_rejected_not_retried(client, vendor, sleeps):
    vendor.script_create(Reply.http(400, body="bad request"))
    with pytest.raises(RemoteApiRejectedError, match="400"):
        client.create_task(REQUEST)
    assert sleeps == []


def test_retry_after_parsing():
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds("-1") == 0.0
    assert retry_after_seconds("Wed, 25 Nov 2026 09:00:30 GMT", now=1795597200.0) == 30.0
    assert retry_after_seconds("whenever") is None
    assert retry_after_seconds(None) is None


def test_credentials_never_show_in_repr_and_bad_secrets_are_named():
    credentials = credentials_from_secret({"appkey": "k", "appsecret": "very-secret"})
    assert "very-secret" not in repr(credentials)
    assert credentials.authorization() == "Basic " + base64.b64encode(b"k:very-secret").decode()
    with pytest.raises(RemoteApiAuthError, match="appsecret"):
        credentials_from_secret({"appkey": "k"})
    with pytest.raises(RemoteApiAuthError, match="not JSON"):
        credentials_from_secret("nope")


def test_read_timeout_on_a_get_is_retried(vendor, sleeps):
    client = RemoteApiClient(vendor.url, Credentials("test-key", "test-secret"), read_timeout=0.2, sleep=sleeps)
    vendor.script_task("t1", Reply.result(1).delayed(0.5), Reply.result(2))
    assert client.get_result("t1").status == 2
    assert len(sleeps) == 1


def test_read_timeout_on_a_create_is_not_resent(vendor, sleeps):
    client = RemoteApiClient(vendor.url, Credentials("test-key", "test-secret"), read_timeout=0.2, sleep=sleeps)
    vendor.script_create(Reply.created("slow").delayed(0.5))
    with pytest.raises(RemoteApiTransientError, match="timed out"):
        client.create_task(REQUEST)
    assert len(vendor.created_tasks()) == 1
    assert sleeps == []
