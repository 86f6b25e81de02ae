"""A scriptable stand-in for the vendor's click-removal API, on a real loopback HTTP server.

Our own service (`declick engine serve`) answers like a well-behaved vendor; this one answers
exactly what it is told, so the pipeline's handling of the vendor's bad days (503s, malformed
replies, failed or vanished tasks, a 50 MB result) can be rehearsed on one machine with
`LocalPipeline(api_url=vendor.url, ...)`: the test suites and `bench/pipeline_bench.py` do.

    with FakeVendor() as vendor:                       # appkey "test-key", appsecret "test-secret"
        vendor.script_create(Reply.http(503, retry_after="1"), Reply.created("task-1"))
        vendor.script_task("task-1", Reply.result(2, wait_time="7"),
                                     Reply.result(3, voice_result=vendor.file_url("out.mp3")))
        vendor.serve_file("out.mp3", mp3_bytes)
        ... point API_BASE_URL at vendor.url ...
        vendor.requests                                # every request received, in order

Creation replies are consumed in order; when none are scripted the vendor creates a task with a
fresh id (`task-1`, `task-2`, ...). Result replies are consumed per task id and the last one
repeats. An unscripted task answers `code` 1004 "task not found", unless `script_any_task`
gave replies for every task not scripted on its own. A request with a wrong `Authorization`
header gets HTTP 401 (and is recorded). Files are served under /files/<name>.

`FakeVendor(rate_limit=20)` answers API calls beyond 20 in any one-second window with HTTP 429
and `Retry-After: 1`, as a rate-limited vendor would; `api_calls` has the time of every API call
(served or refused) and `max_calls_in_window()` the busiest second.
"""

from __future__ import annotations

import base64
import bisect
import itertools
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

CREATE_PATH = "/v3/pic/ecr/batch"
RESULT_PREFIX = "/v3/pic/ecr/result/"
FILES_PREFIX = "/files/"

MISSING = object()  # leave a field out of the reply body altogether


@dataclass(frozen=True)
class Reply:
    """One scripted HTTP answer. `body` is JSON-encoded unless it is `str`/`bytes` (sent raw)."""

    status: int = 200
    body: Any = None
    headers: tuple[tuple[str, str], ...] = ()
    delay_seconds: float = 0.0  # wait this long before answering (client read timeouts)

    @staticmethod
    def created(task_id: str) -> Reply:
        return Reply(body={"code": 0, "msg": "", "data": {"task_id": task_id}})

    @staticmethod
    def result(
        status: Any,
        *,
        wait_time: Any = "10",
        voice_result: Any = "",
        reason: Any = "",
        code: Any = 0,
        msg: str = "",
    ) -> Reply:
        """A result reply; pass `MISSING` to leave a field out, numbers or strings as the vendor might."""
        data = {"status": status, "wait_time": wait_time, "voice_result": voice_result, "reason": reason}
        data = {name: value for name, value in data.items() if value is not MISSING}
        return Reply(body={"code": code, "msg": msg, "data": data})

    @staticmethod
    def error(code: int, msg: str, status: int = 200) -> Reply:
        return Reply(status=status, body={"code": code, "msg": msg, "data": {}})

    @staticmethod
    def http(status: int, *, retry_after: str | None = None, body: Any = "") -> Reply:
        headers = (("Retry-After", retry_after),) if retry_after is not None else ()
        return Reply(status=status, body=body, headers=headers)

    @staticmethod
    def raw(text: str, status: int = 200) -> Reply:
        return Reply(status=status, body=text)

    def delayed(self, seconds: float) -> Reply:
        return replace(self, delay_seconds=seconds)


@dataclass
class ReceivedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    json: Any = field(default=None)


class FakeVendor:
    def __init__(
        self,
        appkey: str = "test-key",
        appsecret: str = "test-secret",
        host: str = "127.0.0.1",
        rate_limit: int | None = None,
    ):
        self.appkey = appkey
        self.appsecret = appsecret
        self.rate_limit = rate_limit
        self.requests: list[ReceivedRequest] = []
        self.api_calls: list[float] = []  # monotonic time of every API call, served or refused
        self.served_calls: list[float] = []  # ... of those not refused by the rate limit
        self.rate_limited = 0
        self._served: deque[float] = deque()  # served API calls of the last second
        self._any_task: tuple[Reply, ...] = ()
        self._lock = threading.Lock()
        self._create_replies: deque[Reply] = deque()
        self._task_replies: dict[str, deque[Reply]] = {}
        self._files: dict[str, tuple[bytes, str]] = {}
        self._ids = itertools.count(1)
        self._server = ThreadingHTTPServer((host, 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    # lifecycle -------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def host_port(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{host}:{port}"

    def start(self) -> FakeVendor:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-vendor", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeVendor:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    # scripting -------------------------------------------------------------------------------
    @property
    def authorization(self) -> str:
        token = base64.b64encode(f"{self.appkey}:{self.appsecret}".encode()).decode()
        return f"Basic {token}"

    @property
    def secret(self) -> dict[str, str]:
        """The Secrets Manager value the pipeline expects for these credentials."""
        return {"appkey": self.appkey, "appsecret": self.appsecret}

    def script_create(self, *replies: Reply) -> None:
        with self._lock:
            self._create_replies.extend(replies)

    def script_task(self, task_id: str, *replies: Reply) -> None:
        with self._lock:
            self._task_replies.setdefault(task_id, deque()).extend(replies)

    def script_any_task(self, *replies: Reply) -> None:
        """Replies for every task that has none of its own (each task goes through them in order)."""
        with self._lock:
            self._any_task = replies

    def serve_file(self, name: str, data: bytes, content_type: str = "application/octet-stream") -> str:
        with self._lock:
            self._files[name] = (data, content_type)
        return self.file_url(name)

    def file_url(self, name: str) -> str:
        return f"{self.url}{FILES_PREFIX}{name}"

    # inspection ------------------------------------------------------------------------------
    def received(self, method: str | None = None, path_prefix: str = "") -> list[ReceivedRequest]:
        with self._lock:
            return [
                r for r in self.requests if (method is None or r.method == method) and r.path.startswith(path_prefix)
            ]

    def created_tasks(self) -> list[ReceivedRequest]:
        return self.received("POST", CREATE_PATH)

    def max_calls_in_window(self, window_seconds: float = 1.0, *, served_only: bool = False) -> int:
        """The most API calls (served or refused, or only served) that arrived within any `window_seconds`."""
        with self._lock:
            times = sorted(self.served_calls if served_only else self.api_calls)
        return max((bisect.bisect_right(times, t + window_seconds) - i for i, t in enumerate(times)), default=0)

    def _over_rate_limit(self) -> bool:
        """Called with the lock held, for an API call: count it, and tell whether it must be refused."""
        now = time.monotonic()
        self.api_calls.append(now)
        if self.rate_limit is None:
            self.served_calls.append(now)
            return False
        while self._served and self._served[0] <= now - 1.0:
            self._served.popleft()
        if len(self._served) >= self.rate_limit:
            self.rate_limited += 1
            return True
        self._served.append(now)
        self.served_calls.append(now)
        return False

    # serving ---------------------------------------------------------------------------------
    def _reply_for(self, request: ReceivedRequest) -> Reply:
        with self._lock:
            self.requests.append(request)
            if request.path.startswith(FILES_PREFIX):
                name = unquote(request.path[len(FILES_PREFIX) :].split("?", 1)[0])
                if name not in self._files:
                    return Reply.http(404)
                data, content_type = self._files[name]
                return Reply(body=data, headers=(("Content-Type", content_type),))
            if self._over_rate_limit():
                return Reply(
                    status=429,
                    body={"code": 429, "msg": "too many requests", "data": {}},
                    headers=(("Retry-After", "1"),),
                )
            if request.headers.get("authorization") != self.authorization:
                return Reply(status=401, body={"code": 401, "msg": "unauthorized", "data": {}})
            if request.method == "POST" and request.path == CREATE_PATH:
                if self._create_replies:
                    return self._create_replies.popleft()
                return Reply.created(f"task-{next(self._ids)}")
            if request.method == "GET" and request.path.startswith(RESULT_PREFIX):
                task_id = unquote(request.path[len(RESULT_PREFIX) :])
                queue = self._task_replies.get(task_id)
                if queue is None and self._any_task:
                    queue = self._task_replies[task_id] = deque(self._any_task)
                if not queue:
                    return Reply.error(1004, "task not found")
                return queue.popleft() if len(queue) > 1 else queue[0]
            return Reply.http(404)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        vendor = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - silence the default stderr log
                return

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                try:
                    parsed = json.loads(body) if body else None
                except ValueError:
                    parsed = None
                request = ReceivedRequest(
                    method=self.command,
                    path=self.path,
                    headers={name.lower(): value for name, value in self.headers.items()},
                    body=body,
                    json=parsed,
                )
                reply = vendor._reply_for(request)
                if reply.delay_seconds:
                    time.sleep(reply.delay_seconds)
                if isinstance(reply.body, bytes):
                    payload = reply.body
                    content_type = "application/octet-stream"
                elif isinstance(reply.body, str):
                    payload = reply.body.encode()
                    content_type = "text/plain"
                else:
                    payload = json.dumps(reply.body).encode()
                    content_type = "application/json"
                self.send_response(reply.status)
                headers = dict(reply.headers)
                headers.setdefault("Content-Type", content_type)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = _serve
            do_POST = _serve

        return Handler
