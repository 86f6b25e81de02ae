"""deliver_result: result streamed from the fake vendor into moto S3, SUCCEEDED published once."""

from __future__ import annotations

import pytest

from declick_contract.errors import (
    ResultDownloadError,
    ResultDownloadRefusedError,
    ResultFormatError,
    ResultMissingError,
    ResultUrlRefusedError,
)
from declick_pipeline import runtime
from declick_pipeline.delivery import output_key
from declick_pipeline.handlers import deliver_result

from .conftest import INPUT_BUCKET, OUTPUT_BUCKET


def completed_state(url, key="calls/monday call.wav", output_format="mp3", task_id="t-9"):
    return {
        "task_id": task_id,
        "submitted_at": "2026-11-25T09:00:05Z",
        "uploaded_at": "2026-11-25T09:00:00.000Z",
        "input": {
            "bucket": INPUT_BUCKET,
            "key": key,
            "version_id": "v1",
            "etag": "e",
            "size": 123,
            "md5": "0" * 32,
            "duration_s": 2,
            "format": "wav",
        },
        "parameters": {"detection_mult": 8.0, "click_len": 10, "output_format": output_format, "priority": 5},
        "poll": {
            "status": 3,
            "status_name": "COMPLETE",
            "wait_seconds": 15,
            "voice_result": url,
            "reason": None,
            "polls": 4,
            "give_up": False,
        },
    }


@pytest.mark.parametrize(
    ("key", "fmt", "expected"),
    [
        ("a/b c.wav", "mp3", "a/b c.mp3"),
        ("top.MP3", "wav", "top.wav"),
        ("no-extension", "mp3", "no-extension.mp3"),
        ("dir.v2/file", "wav", "dir.v2/file.wav"),
        (".wav", "mp3", ".wav.mp3"),
        ("a/b/c.d.wav", "mp3", "a/b/c.d.mp3"),
    ],
)
def test_output_key_keeps_folders_and_swaps_the_extension(key, fmt, expected):
    assert output_key(key, fmt) == expected


def test_result_is_copied_with_links_to_its_source_and_succeeded_is_published(account, lambda_context, audio_files):
    url = account.vendor.serve_file("results/r1.mp3", audio_files["mp3"])
    result = deliver_result.handler(completed_state(url), lambda_context)

    assert result == {
        "output": {
            "bucket": OUTPUT_BUCKET,
            "key": "calls/monday call.mp3",
            "size": len(audio_files["mp3"]),
            "format": "mp3",
        }
    }
    stored = account.s3.get_object(Bucket=OUTPUT_BUCKET, Key="calls/monday call.mp3")
    assert stored["Body"].read() == audio_files["mp3"]
    assert stored["ContentType"] == "audio/mpeg"
    assert stored["Metadata"] == {
        "source-bucket": INPUT_BUCKET,
        "source-key": "calls/monday%20call.wav",
        "source-version-id": "v1",
        "task-id": "t-9",
    }
    (note,) = account.notifications()
    assert note["status_attribute"] == {"Type": "String", "Value": "SUCCEEDED"}
    message = note["message"]
    assert message["schema_version"] == "1.0"
    assert message["status"] == "SUCCEEDED"
    assert message["output"] == result["output"]
    assert message["input"] == {
        "bucket": INPUT_BUCKET,
        "key": "calls/monday call.wav",
        "version_id": "v1",
        "size": 123,
        "md5": "0" * 32,
        "duration_s": 2,
        "format": "wav",
    }
    assert message["task"] == {
        "id": "t-9",
        "remote_status": 3,
        "polls": 4,
        "parameters": {"detection_mult": 8.0, "click_len": 10, "output_format": "mp3", "priority": 5},
    }
    assert "error" not in message
    assert message["timestamps"]["uploaded_at"] == "2026-11-25T09:00:00.000Z"
    assert message["timestamps"]["submitted_at"] == "2026-11-25T09:00:05Z"
    assert message["timestamps"]["notified_at"].endswith("Z")


def test_a_result_larger_than_one_part_is_streamed_in_multipart(account, lambda_context, audio_files):
    big = audio_files["wav"][:44] + bytes(9 * 1024 * 1024)  # over the 8 MiB multipart threshold
    url = account.vendor.serve_file("big.wav", big)
    result = deliver_result.handler(completed_state(url, output_format="wav"), lambda_context)
    assert result["output"]["size"] == len(big)
    stored = account.s3.head_object(Bucket=OUTPUT_BUCKET, Key="calls/monday call.wav")
    assert stored["ContentLength"] == len(big)
    assert "-" in stored["ETag"]  # a multipart ETag


def test_retried_delivery_does_not_notify_twice(account, lambda_context, audio_files):
    url = account.vendor.serve_file("r.mp3", audio_files["mp3"])
    first = deliver_result.handler(completed_state(url), lambda_context)
    second = deliver_result.handler(completed_state(url), lambda_context)
    assert first == second
    assert len(account.notifications()) == 1
    assert len(account.vendor.received("GET", "/files/")) == 1


@pytest.mark.parametrize(
    ("served", "requested"),
    [("wav", "mp3"), ("mp3", "wav"), ("flac", "wav")],
)
def test_result_in_another_format_is_refused(account, lambda_context, audio_files, served, requested):
    url = account.vendor.serve_file(f"r.{served}", audio_files[served])
    with pytest.raises(ResultFormatError, match=requested.upper()):
        deliver_result.handler(completed_state(url, output_format=requested), lambda_context)
    assert account.s3.list_objects_v2(Bucket=OUTPUT_BUCKET).get("KeyCount") == 0
    assert account.notifications() == []


def test_result_that_is_not_audio_is_refused(account, lambda_context):
    url = account.vendor.serve_file("r.mp3", b"<html>Access denied</html>" * 10)
    with pytest.raises(ResultFormatError, match="not recognisable audio"):
        deliver_result.handler(completed_state(url), lambda_context)


def test_empty_result_is_refused(account, lambda_context):
    url = account.vendor.serve_file("r.mp3", b"")
    with pytest.raises(ResultFormatError, match="empty"):
        deliver_result.handler(completed_state(url), lambda_context)


def test_missing_result_url_is_refused(account, lambda_context):
    with pytest.raises(ResultMissingError):
        deliver_result.handler(completed_state(None), lambda_context)


def test_loopback_url_not_on_the_allow_list_is_refused_without_connecting(
    account, lambda_context, audio_files, monkeypatch
):
    monkeypatch.setenv("DOWNLOAD_ALLOWED_HOSTS", "")
    runtime.reset()
    url = account.vendor.serve_file("r.mp3", audio_files["mp3"])
    with pytest.raises(ResultUrlRefusedError, match="refusing"):
        deliver_result.handler(completed_state(url), lambda_context)
    assert account.vendor.requests == []


@pytest.mark.parametrize(
    "url",
    [
        "http://results.vendor.example/r.mp3",
        "https://10.0.0.8/r.mp3",
        "https://169.254.169.254/latest/meta-data",
        "file:///etc/passwd",
    ],
)
def test_plain_http_and_private_addresses_are_refused(account, lambda_context, url):
    with pytest.raises(ResultUrlRefusedError):
        deliver_result.handler(completed_state(url), lambda_context)


def test_result_server_errors_are_transient_and_404_is_not(account, lambda_context, audio_files):
    with pytest.raises(ResultDownloadRefusedError, match="404"):
        deliver_result.handler(completed_state(account.vendor.file_url("nothing.mp3")), lambda_context)
    # a delivery that failed leaves no idempotency record behind: the retry really runs
    url = account.vendor.serve_file("nothing.mp3", audio_files["mp3"])
    assert deliver_result.handler(completed_state(url), lambda_context)["output"]["size"] == len(audio_files["mp3"])


def test_result_over_the_download_limit_is_refused(account, lambda_context, audio_files, monkeypatch):
    monkeypatch.setenv("DOWNLOAD_MAX_BYTES", "1000")
    runtime.reset()
    url = account.vendor.serve_file("r.mp3", audio_files["mp3"])
    with pytest.raises(ResultDownloadRefusedError, match="limit"):
        deliver_result.handler(completed_state(url), lambda_context)


def test_unreachable_result_host_is_transient(account, lambda_context, monkeypatch):
    import socket

    with socket.socket() as probe:  # a loopback port with nobody listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("DOWNLOAD_ALLOWED_HOSTS", f"127.0.0.1:{port}")
    runtime.reset()
    with pytest.raises(ResultDownloadError):
        deliver_result.handler(completed_state(f"http://127.0.0.1:{port}/r.mp3"), lambda_context)


def test_success_metrics(account, lambda_context, audio_files, capsys):
    import json

    url = account.vendor.serve_file("r.mp3", audio_files["mp3"])
    deliver_result.handler(completed_state(url), lambda_context)
    emf = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    (metrics,) = [record for record in emf if "Succeeded" in record]
    assert metrics["Succeeded"] == [1.0]
    # The notification's own record, by status and reason (the dashboard's outcome graphs).
    (outcome,) = [record for record in emf if "Notifications" in record]
    assert (outcome["status"], outcome["reason"], outcome["Notifications"]) == ("SUCCEEDED", "OK", [1.0])
    (seconds,) = metrics["SecondsFromUploadToResult"]
    assert seconds > 0  # uploaded_at is in the past


def test_a_result_trickled_past_the_time_limit_is_cut_off_and_transient(account, lambda_context, monkeypatch):
    import time

    from tests.support.slow_server import TrickleServer

    limit = 1
    with TrickleServer("body") as server:
        monkeypatch.setenv("DOWNLOAD_TIMEOUT_SECONDS", str(limit))
        monkeypatch.setenv("DOWNLOAD_ALLOWED_HOSTS", server.host)
        runtime.reset()
        started = time.monotonic()
        with pytest.raises(ResultDownloadError, match="time limit"):
            deliver_result.handler(completed_state(server.url()), lambda_context)
        elapsed = time.monotonic() - started
    assert elapsed < limit + 5, elapsed  # the server would trickle for 20 s
    assert not list(account.s3.list_objects_v2(Bucket=OUTPUT_BUCKET).get("Contents", []))
