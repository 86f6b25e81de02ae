"""Shared pieces for the service tests: a real file server for `file_link`, real audio, real services.

Everything talks over loopback HTTP: the service under test runs in uvicorn on a free port with
its spawned worker processes, and downloads its inputs from `FileServer`, which can hold a
download back until the test releases it (that is how tests freeze the queue in a known state).
"""

from __future__ import annotations

import hashlib
import io
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import numpy as np
import pytest
import soundfile as sf

from declick.service import ServiceSettings, run_in_thread

APPKEY, APPSECRET = "test-key", "test-secret"
OTHER_KEY, OTHER_SECRET = "other-key", "other-secret"


def make_audio(fmt: str, seconds: float = 1.5, sample_rate: int = 16000, seed: int = 0) -> bytes:
    """A tone with noise and six keyboard-like clicks (decaying noise bursts), encoded as `fmt`."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    audio = 0.2 * np.sin(2 * np.pi * 220 * t) + 0.01 * rng.standard_normal(t.size)
    n = np.arange(int(0.004 * sample_rate))
    for position in np.linspace(sample_rate // 10, t.size - sample_rate // 10, 6).astype(int):
        burst = rng.standard_normal(n.size) * np.exp(-n / (0.0006 * sample_rate))
        audio[position : position + n.size] += 0.6 * burst / np.max(np.abs(burst))
    buffer = io.BytesIO()
    if fmt == "wav":
        sf.write(buffer, audio.astype(np.float32), sample_rate, format="WAV", subtype="PCM_16")
    else:
        sf.write(buffer, audio.astype(np.float32), sample_rate, format="MP3")
    return buffer.getvalue()


class FileServer:
    """Loopback HTTP server for `file_link`s; records the order of requests; can gate downloads."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.gates: dict[str, threading.Event] = {}
        self.failures: dict[str, int] = {}  # name -> how many more requests answer 503
        self.requests: list[str] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                name = self.path.lstrip("/")
                with server._lock:
                    server.requests.append(name)
                with server._lock:
                    failing = server.failures.get(name, 0) > 0
                    if failing:
                        server.failures[name] -= 1
                if failing:
                    self.send_error(503)
                    return
                gate = server.gates.get(name)
                if gate is not None:
                    gate.wait(60)
                data = server.files.get(name)
                if data is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/octet-stream")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data)
                except OSError:
                    pass

            def log_message(self, *args) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self.host = f"127.0.0.1:{self._httpd.server_address[1]}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    def serve(self, name: str, data: bytes, gated: bool = False) -> str:
        self.files[name] = data
        if gated:
            self.gates[name] = threading.Event()
        return f"http://{self.host}/{name}"

    def fail_first(self, name: str, times: int) -> None:
        self.failures[name] = times

    def release(self, name: str) -> None:
        self.gates[name].set()

    def requested(self, name: str) -> int:
        with self._lock:
            return self.requests.count(name)

    def close(self) -> None:
        for gate in self.gates.values():
            gate.set()
        self._httpd.shutdown()
        self._httpd.server_close()


@pytest.fixture(scope="module")
def files() -> Iterator[FileServer]:
    server = FileServer()
    yield server
    server.close()


def base_settings(tmp_path, files: FileServer, **overrides) -> ServiceSettings:
    values = {
        "db_path": tmp_path / "tasks.sqlite3",
        "credentials": {APPKEY: APPSECRET, OTHER_KEY: OTHER_SECRET},
        "allowed_hosts": frozenset({files.host}),
        "workers": 1,
        "min_wait_seconds": 1,
        "download_timeout_seconds": 30,
        "download_retry_delay_seconds": 0.05,
        "log_level": "WARNING",
    }
    values.update(overrides)
    return ServiceSettings(**values)


@pytest.fixture(scope="module")
def start_service(tmp_path_factory, files) -> Iterator[Callable]:
    """`start_service(**settings)` → (handle, client); everything started is stopped at the end."""
    started: list = []

    def start(tmp_path=None, start_workers: bool = True, **overrides):
        tmp_path = tmp_path or tmp_path_factory.mktemp("service")
        handle = run_in_thread(base_settings(tmp_path, files, **overrides), start_workers=start_workers)
        client = httpx.Client(base_url=handle.url, auth=(APPKEY, APPSECRET), timeout=15)
        started.append((handle, client))
        return handle, client

    yield start
    for handle, client in started:
        client.close()
        handle.stop()


def body_for(link: str, data: bytes, fmt: str, seconds: float = 1.5, **changes) -> dict:
    body = {
        "file_link": link,
        "file_ext": "wav",
        "file_info": {
            "file_size": len(data),
            "file_md5": hashlib.md5(data).hexdigest(),  # noqa: S324 - the API's checksum
            "file_time": round(seconds),
            "file_ext": fmt,
        },
        "detection_mult": 8,
        "click_len": 10,
        "priority": 5,
    }
    body.update(changes)
    return body


def submit(client: httpx.Client, body: dict) -> str:
    response = client.post("/v3/pic/ecr/batch", json=body)
    assert response.status_code == 200, response.text
    payload = response.json()
    assert payload["code"] == 0, payload
    return payload["data"]["task_id"]


def result(client: httpx.Client, task_id: str) -> dict:
    response = client.get(f"/v3/pic/ecr/result/{task_id}")
    assert response.status_code == 200, response.text
    payload = response.json()
    assert payload["code"] == 0, payload
    return payload["data"]


def wait_for(client: httpx.Client, task_id: str, statuses: set[str], timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        data = result(client, task_id)
        if data["status"] in statuses:
            return data
        if time.monotonic() > deadline:
            raise AssertionError(f"task {task_id} stayed at {data} instead of reaching {statuses}")
        time.sleep(0.05)
