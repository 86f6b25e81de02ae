"""An HTTP server on loopback that hands each request to a Lambda as API Gateway would.

`declick local run --backend engine` serves the engine backend's API this way: the request
becomes an HTTP API payload-2.0 event, the API function (running in the emulator) answers, and
its `{statusCode, headers, body, isBase64Encoded}` becomes the HTTP response. Only what API
Gateway's HTTP API puts in an event that our handler reads is reproduced: method, raw path and
query, headers (lower-cased), body (base64 when not UTF-8 text), a request context.
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

Invoke = Callable[[dict[str, Any]], tuple[bytes, str | None]]
# API Gateway refuses larger payloads with 413 before any Lambda runs.
MAX_PAYLOAD_BYTES = 10 * 1024 * 1024


def api_gateway_event(method: str, target: str, headers: dict[str, str], body: bytes, source_ip: str) -> dict[str, Any]:
    parts = urlsplit(target)
    try:
        text, encoded = body.decode("utf-8"), False
    except UnicodeDecodeError:
        text, encoded = base64.b64encode(body).decode("ascii"), True
    now = time.time()
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": parts.path,
        "rawQueryString": parts.query,
        "headers": {name.lower(): value for name, value in headers.items()},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": headers.get("Host", "127.0.0.1"),
            "domainPrefix": "local",
            "http": {
                "method": method,
                "path": parts.path,
                "protocol": "HTTP/1.1",
                "sourceIp": source_ip,
                "userAgent": headers.get("User-Agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": "$default",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "body": text if body else None,
        "isBase64Encoded": encoded,
    }


class ApiGatewayServer:
    """`invoke(event) -> (payload, error_type)` is the function behind the API (the emulator's runtime)."""

    def __init__(self, invoke: Invoke, port: int, host: str = "127.0.0.1"):
        self._invoke = invoke
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length > MAX_PAYLOAD_BYTES:
                    self._send(413, {"content-type": "application/json"}, b'{"message":"Request Entity Too Large"}')
                    return
                body = self.rfile.read(length) if length else b""
                event = api_gateway_event(self.command, self.path, dict(self.headers), body, self.client_address[0])
                payload, error_type = outer._invoke(event)
                if error_type is not None:
                    # What API Gateway answers when the integration fails.
                    self._send(500, {"content-type": "application/json"}, b'{"message":"Internal Server Error"}')
                    return
                response = json.loads(payload)
                data = response.get("body") or ""
                raw = base64.b64decode(data) if response.get("isBase64Encoded") else data.encode()
                self._send(int(response.get("statusCode", 200)), response.get("headers") or {}, raw)

            def _send(self, status: int, headers: dict[str, str], body: bytes) -> None:
                self.send_response(status)
                for name, value in headers.items():
                    if name.lower() not in ("content-length", "connection"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle  # noqa: N815 - http.server's names

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
                return

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="api-gateway", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
