"""A task's whole life on a real server with real workers: submit, poll, download; and each way it fails."""

from __future__ import annotations

import hashlib
import io
import socket
from urllib.parse import urlsplit

import numpy as np
import pytest
import soundfile as sf

from declick.engine import DeclickParams, clean_file

from .conftest import body_for, make_audio, result, submit, wait_for

FINAL = {"3", "4", "5", "6"}


@pytest.fixture(scope="module")
def service(start_service):
    return start_service(workers=2)


@pytest.mark.parametrize("out_fmt", ["wav", "mp3"])
@pytest.mark.parametrize("in_fmt", ["wav", "mp3"])
def test_life_cycle(service, files, tmp_path, in_fmt, out_fmt):
    handle, client = service
    data = make_audio(in_fmt, seconds=1.5, seed=1)
    link = files.serve(f"life-{in_fmt}-{out_fmt}.{in_fmt}", data)
    task_id = submit(client, body_for(link, data, in_fmt, file_ext=out_fmt))

    first = result(client, task_id)
    assert first["status"] in {"1", "2", "3"}
    assert first["wait_time"].isdigit()

    done = wait_for(client, task_id, FINAL)
    assert done["status"] == "3", done
    assert done["wait_time"] == "0"
    assert done["reason"] == ""
    url = urlsplit(done["voice_result"])
    assert f"{url.scheme}://{url.netloc}" == handle.url
    token = url.path.split("/")[2]
    assert len(token) >= 40  # 256 random bits
    assert url.path.endswith(f"/{task_id}.{out_fmt}")

    download = client.get(done["voice_result"], auth=None)  # the link itself is the credential
    assert download.status_code == 200
    assert download.headers["content-type"] == {"wav": "audio/wav", "mp3": "audio/mpeg"}[out_fmt]
    cleaned, rate = sf.read(io.BytesIO(download.content))
    info = sf.info(io.BytesIO(download.content))
    assert info.format == {"wav": "WAV", "mp3": "MP3"}[out_fmt]
    original, original_rate = sf.read(io.BytesIO(data))
    assert rate == original_rate
    assert abs(len(cleaned) - len(original)) <= 0.05 * rate
    if out_fmt == "wav":  # WAV output is deterministic: it must be exactly what the engine makes of the input
        expected = _clean_locally(tmp_path, data, in_fmt, DeclickParams(detection_mult=8.0, click_len_ms=10.0))
        assert np.array_equal(cleaned, expected)
        assert not np.array_equal(expected, original)  # and the engine did change something


def _clean_locally(tmp_path, data: bytes, in_fmt: str, params) -> np.ndarray:
    src, dst = tmp_path / f"local-in.{in_fmt}", tmp_path / "local-out.wav"
    src.write_bytes(data)
    summary = clean_file(src, dst, params, out_format="wav")
    assert summary.clicks_repaired > 0
    return sf.read(dst)[0]


def test_the_task_parameters_reach_the_engine(service, files, tmp_path):
    _, client = service
    data = make_audio("wav", seconds=1.5, seed=11)
    body = body_for(files.serve("params.wav", data), data, "wav", detection_mult=6.5, click_len=30)
    done = wait_for(client, submit(client, body), FINAL)
    assert done["status"] == "3", done
    cleaned = sf.read(io.BytesIO(client.get(done["voice_result"]).content))[0]
    wanted = _clean_locally(tmp_path, data, "wav", DeclickParams(detection_mult=6.5, click_len_ms=30.0))
    default = _clean_locally(tmp_path, data, "wav", DeclickParams(detection_mult=8.0, click_len_ms=10.0))
    assert not np.array_equal(wanted, default)
    assert np.array_equal(cleaned, wanted)


def test_output_format_defaults_to_mp3(service, files):
    _, client = service
    data = make_audio("wav", seed=2)
    body = body_for(files.serve("default.wav", data), data, "wav")
    del body["file_ext"]
    done = wait_for(client, submit(client, body), FINAL)
    assert done["status"] == "3", done
    assert done["voice_result"].endswith(".mp3")
    assert sf.info(io.BytesIO(client.get(done["voice_result"]).content)).format == "MP3"


def test_a_result_link_only_works_exactly(service, files):
    _, client = service
    data = make_audio("wav", seed=3)
    done = wait_for(client, submit(client, body_for(files.serve("exact.wav", data), data, "wav")), FINAL)
    url = done["voice_result"]
    assert client.get(url).status_code == 200
    assert client.get(url.replace(".wav", ".mp3")).status_code == 404
    base, name = url.rsplit("/", 1)
    assert client.get(base[:-1] + ("A" if base[-1] != "A" else "B") + "/" + name).status_code == 404


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _fails_with(client, body, code: int) -> dict:
    done = wait_for(client, submit(client, body), FINAL)
    assert done["status"] == "4", done
    assert done["voice_result"] == ""
    assert done["wait_time"] == "0"
    assert done["reason"].endswith(f"(code {code})"), done["reason"]
    return done


def test_md5_mismatch(service, files):
    _, client = service
    data = make_audio("wav", seed=4)
    body = body_for(files.serve("md5.wav", data), data, "wav")
    body["file_info"]["file_md5"] = hashlib.md5(data + b"x").hexdigest()  # noqa: S324
    assert "md5" in _fails_with(client, body, 1006)["reason"]


def test_size_mismatch(service, files):
    _, client = service
    data = make_audio("wav", seed=5)
    body = body_for(files.serve("size.wav", data), data, "wav")
    body["file_info"]["file_size"] = len(data) + 1
    assert "file_size" in _fails_with(client, body, 1006)["reason"]


def test_unreachable_file_link(service, files):
    handle, client = service
    data = make_audio("wav", seed=6)
    port = _free_port()  # nothing listens there
    body = body_for(f"http://{files.host}/x.wav", data, "wav")
    body["file_link"] = f"http://127.0.0.1:{port}/x.wav"
    # Only the file server's host:port is allowed for plain http, so this one is refused up front...
    refused = client.post("/v3/pic/ecr/batch", json=body).json()
    assert refused["code"] == 1002
    # ...while an allowed host that does not answer fails the task with a download error.
    body["file_link"] = files.serve("missing-placeholder.wav", data).replace("missing-placeholder", "absent")
    assert "HTTP 404" in _fails_with(client, body, 1005)["reason"]
    assert files.requested("absent.wav") == 1  # a 404 is not worth retrying


def test_transient_download_errors_are_retried(service, files):
    _, client = service
    data = make_audio("wav", seed=12)
    link = files.serve("flaky.wav", data)
    files.fail_first("flaky.wav", 2)
    assert wait_for(client, submit(client, body_for(link, data, "wav")), FINAL)["status"] == "3"
    assert files.requested("flaky.wav") == 3
    link = files.serve("down.wav", data)
    files.fail_first("down.wav", 10)
    assert "HTTP 503" in _fails_with(client, body_for(link, data, "wav"), 1005)["reason"]
    assert files.requested("down.wav") == 3  # the first try and the two configured retries


def test_closed_port_on_an_allowed_host(start_service, files):
    port = _free_port()
    _, client = start_service(allowed_hosts=frozenset({files.host, f"127.0.0.1:{port}"}))
    data = make_audio("wav", seed=7)
    done = _fails_with(client, body_for(f"http://127.0.0.1:{port}/x.wav", data, "wav"), 1005)
    assert "download failed" in done["reason"]


def test_declared_format_must_match_the_file(service, files):
    _, client = service
    data = make_audio("mp3", seed=8)
    assert "file is mp3" in _fails_with(client, body_for(files.serve("liar.wav", data), data, "wav"), 1007)["reason"]


def test_undecodable_file(service, files):
    _, client = service
    data = b"RIFF but not really a wave file" * 40
    _fails_with(client, body_for(files.serve("garbage.wav", data), data, "wav"), 1007)


def test_duration_must_match_file_time(service, files):
    _, client = service
    data = make_audio("wav", seconds=1.5, seed=9)
    body = body_for(files.serve("duration.wav", data), data, "wav", seconds=30)
    assert "file_time" in _fails_with(client, body, 1008)["reason"]


def test_download_larger_than_the_limit(start_service, files):
    _, client = start_service(max_input_bytes=20_000)
    data = make_audio("wav", seconds=1.5, seed=10)  # ~48 kB
    assert len(data) > 20_000
    body = body_for(files.serve("big.wav", data), data, "wav")
    body["file_info"]["file_size"] = 10_000  # the claim is small, the file is not
    _fails_with(client, body, 1004)
