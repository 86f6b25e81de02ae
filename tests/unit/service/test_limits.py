"""Request bounds on a real uvicorn server: bodies (chunked too) and headers, with or without credentials.

Requests are written by hand on a socket: a chunked body has no Content-Length, which is exactly
what HTTP client libraries would add for us, and the test must see the server answer while the
body is still being sent.
"""

from __future__ import annotations

import base64
import json
import select
import socket
from urllib.parse import urlsplit

import pytest

from declick.service.codes import Code
from declick.service.settings import ServiceSettings

from .conftest import APPKEY, APPSECRET, body_for

AUTH = "Basic " + base64.b64encode(f"{APPKEY}:{APPSECRET}".encode()).decode()


@pytest.fixture(scope="module")
def default_service(start_service):
    return start_service(start_workers=False)  # no task it accepts is ever fetched


@pytest.fixture(scope="module")
def small_service(start_service):
    return start_service(start_workers=False, max_request_body_bytes=2048, max_header_bytes=4096)


def _connect(url: str) -> socket.socket:
    parts = urlsplit(url)
    return socket.create_connection((parts.hostname, parts.port), timeout=15)


def _head(path: str, auth: str | None, extra: str = "", chunked: bool = True) -> bytes:
    lines = [f"POST {path} HTTP/1.1", "Host: service.test", "Content-Type: application/json"]
    if chunked:
        lines.append("Transfer-Encoding: chunked")
    if auth:
        lines.append(f"Authorization: {auth}")
    if extra:
        lines.append(extra)
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def _read_response(sock: socket.socket) -> tuple[int, dict | str]:
    data = b""
    while True:
        try:
            piece = sock.recv(65536)
        except ConnectionResetError:
            break
        if not piece:
            break
        data += piece
        head, sep, body = data.partition(b"\r\n\r\n")
        if sep and b"content-length:" in head.lower():
            length = int(
                next(h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length:")).split(b":")[1]
            )
            if len(body) >= length:
                break
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    try:
        return status, json.loads(body)
    except ValueError:
        return status, body.decode("utf-8", "replace")


def send_chunked(url: str, payload: bytes, auth: str | None, piece: int = 16 * 1024) -> tuple[int, dict | str, int]:
    """POST `payload` as a chunked body; stop sending as soon as the server answers.

    Returns the HTTP status, the parsed answer and how many body bytes were sent before it came.
    """
    with _connect(url) as sock:
        sock.sendall(_head("/v3/pic/ecr/batch", auth))
        sent = 0
        answered = False
        for start in range(0, len(payload), piece):
            if select.select([sock], [], [], 0)[0]:
                answered = True
                break
            part = payload[start : start + piece]
            try:
                sock.sendall(f"{len(part):x}\r\n".encode() + part + b"\r\n")
            except (BrokenPipeError, ConnectionResetError):
                answered = True
                break
            sent += len(part)
        if not answered:
            sock.sendall(b"0\r\n\r\n")
        status, answer = _read_response(sock)
        return status, answer, sent


def _padded(body: dict, size: int) -> bytes:
    """Valid JSON of exactly `size` bytes: the body, then whitespace inside the object."""
    raw = json.dumps(body).encode()
    assert len(raw) <= size
    return raw[:-1] + b" " * (size - len(raw)) + b"}"


def _tasks(handle) -> int:
    return sum(handle.app.state.service.store.counts().values())


@pytest.mark.parametrize("auth", [AUTH, None, "Basic d3Jvbmc6d3Jvbmc="], ids=["valid", "none", "wrong"])
def test_a_large_chunked_body_is_refused_while_it_streams(default_service, files, auth):
    handle, _ = default_service
    before = _tasks(handle)
    payload = _padded(body_for(f"http://{files.host}/x.wav", b"x", "wav"), 32 * 1024 * 1024)
    status, answer, sent = send_chunked(handle.url, payload, auth)
    assert status == 413, answer
    assert answer["code"] == int(Code.BAD_PARAMETERS) and answer["data"] == {}
    assert "65536" in answer["msg"]
    # Answered once the limit (and the bounded drain) was passed, not after reading the 32 MB: what
    # is in flight is the kernel's socket buffers' worth (a few MB on loopback, whatever the load),
    # which is why the bound is well above the limit but far below the body.
    assert sent < 16 * 1024 * 1024, sent
    assert _tasks(handle) == before


def test_the_configured_body_limit_is_exact_for_chunked_and_sized_bodies(small_service, files):
    handle, client = small_service
    valid = body_for(f"http://{files.host}/x.wav", b"x", "wav")
    status, answer, _ = send_chunked(handle.url, _padded(valid, 2048), AUTH, piece=100)
    assert (status, answer["code"]) == (200, 0), answer
    status, answer, _ = send_chunked(handle.url, _padded(valid, 2049), AUTH, piece=100)
    assert (status, answer["code"]) == (413, int(Code.BAD_PARAMETERS)), answer
    response = client.post(
        "/v3/pic/ecr/batch", content=_padded(valid, 2049), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413 and response.json()["code"] == int(Code.BAD_PARAMETERS)
    assert client.post("/v3/pic/ecr/batch", json=valid).json()["code"] == 0


def test_a_lying_content_length_is_refused_before_the_body(small_service):
    handle, _ = small_service
    with _connect(handle.url) as sock:
        sock.sendall(_head("/v3/pic/ecr/batch", None, "Content-Length: 1000000000", chunked=False))
        status, answer = _read_response(sock)  # nothing of the body was sent
    assert status == 413 and answer["code"] == int(Code.BAD_PARAMETERS)


def test_oversized_headers_are_refused(small_service):
    handle, client = small_service
    assert client.get("/health", headers={"X-Padding": "p" * 2000}).status_code == 200
    # A head that arrives whole is measured exactly, and answered in the envelope...
    with _connect(handle.url) as sock:
        sock.sendall(f"GET /health HTTP/1.1\r\nHost: service.test\r\nX-Padding: {'p' * 5000}\r\n\r\n".encode())
        status, answer = _read_response(sock)
    assert status == 431 and answer["code"] == int(Code.BAD_PARAMETERS), answer
    # ...and one that keeps coming is cut off by the parser once its buffer passes the limit.
    with _connect(handle.url) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: service.test\r\n")
        try:
            for _ in range(200):  # 200 × 1 KB, far past the 4 KB limit
                sock.sendall(b"X-Padding: " + b"p" * 1000 + b"\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        status, _ = _read_response(sock)
    assert status == 400


def test_limits_are_settings_with_defaults():
    settings = ServiceSettings()
    assert (settings.max_request_body_bytes, settings.max_header_bytes) == (64 * 1024, 16 * 1024)


def test_a_file_link_trickling_past_the_download_time_limit_fails_the_task_in_time(start_service):
    import time

    from tests.support.slow_server import TrickleServer

    from .conftest import submit, wait_for

    limit, retries = 1.0, 1
    with TrickleServer("body") as slow:
        _, client = start_service(
            allowed_hosts=frozenset({slow.host}), download_timeout_seconds=limit, download_retries=retries
        )
        started = time.monotonic()
        task_id = submit(client, body_for(slow.url("/slow.wav"), b"x" * 1000, "wav"))
        # Each try is cut at the limit; the server alone would trickle for 20 s per try.
        bound = (retries + 1) * limit + 10
        done = wait_for(client, task_id, {"3", "4", "5", "6"}, timeout=bound)
        elapsed = time.monotonic() - started
        assert slow.connections == retries + 1
    assert done["status"] == "4", done
    assert done["reason"].endswith("(code 1005)") and "time limit" in done["reason"], done["reason"]
    assert (retries + 1) * limit <= elapsed < bound
