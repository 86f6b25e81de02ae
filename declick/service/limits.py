"""Bounds on what a client can make the server hold: request body and header size.

The body limit is an ASGI middleware outside everything else (routing, authentication, JSON
parsing), so an oversized body costs at most the limit in memory whoever sends it. It counts
the bytes as they arrive, so a chunked body (no Content-Length) is cut off as soon as it goes
over. A refused body is read on and thrown away up to `DRAIN_BYTES` before the 413 is sent:
a client still writing its body when the server closes sees a connection reset instead of the
answer, and a slightly-too-large request deserves to read why. Past that bound the connection
is closed at once. Bodies within the limit (the create body is a few hundred bytes) are buffered
and replayed to the app unchanged.

The header limit is enforced twice. uvicorn's h11 parser stops buffering an incomplete request
head past `h11_max_incomplete_event_size` (HTTP 400, before the app sees anything): that bounds
memory while a head trickles in, but a head that arrives whole in one read is not measured by
it, so the middleware also measures the parsed target and headers exactly (HTTP 431). The
parser is pinned to h11 so that installing httptools does not silently drop the first bound.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from declick.service.codes import MESSAGES, Code

log = logging.getLogger("declick.service")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Code 1002 (a request error, like an unparsable body) with HTTP 413 or 431; see docs/service.md.
TOO_LARGE_CODE = Code.BAD_PARAMETERS
# How much of a refused body is read and discarded (never kept) so that the client reads the answer.
DRAIN_BYTES = 256 * 1024


def uvicorn_options(max_header_bytes: int) -> dict[str, Any]:
    """Keyword arguments for `uvicorn.Config` / `uvicorn.run` that bound the request head."""
    return {"http": "h11", "h11_max_incomplete_event_size": max_header_bytes}


class RequestLimits:
    """Refuse heads over `max_header_bytes` (HTTP 431) and bodies over `max_body_bytes` (HTTP 413,
    while streaming), in the API's envelope."""

    def __init__(self, app: ASGIApp, max_body_bytes: int, max_header_bytes: int):
        self.app = app
        self.max_bytes = max_body_bytes
        self.max_header_bytes = max_header_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if _head_size(scope) > self.max_header_bytes:
            await _refuse(scope, send, 431, f"request line and headers over {self.max_header_bytes} bytes")
            return
        declared = _content_length(scope)
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            if declared.isdigit() and int(declared) <= DRAIN_BYTES:
                await _discard(receive, DRAIN_BYTES)
            await _refuse(scope, send, 413, f"request body over {self.max_bytes} bytes")
            return
        received: list[Message] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away before sending it all
                return
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                received.clear()
                if message.get("more_body", False):
                    await _discard(receive, DRAIN_BYTES - size)
                await _refuse(scope, send, 413, f"request body over {self.max_bytes} bytes")
                return
            received.append(message)
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return received.pop(0) if received else await receive()

        await self.app(scope, replay, send)


async def _discard(receive: Receive, budget: int) -> None:
    """Read and drop the rest of a refused body, at most `budget` bytes."""
    while budget > 0:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            return
        budget -= len(message.get("body", b""))


async def _refuse(scope: Scope, send: Send, status: int, detail: str) -> None:
    log.warning("request too large", extra={"path": str(scope.get("path", ""))[:200], "detail": detail})
    code = TOO_LARGE_CODE
    body = json.dumps({"code": int(code), "msg": f"{MESSAGES[code]}: {detail}", "data": {}}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),  # the rest of the request is never read
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _content_length(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            return value.decode("latin-1").strip()
    return None


def _head_size(scope: Scope) -> int:
    """Bytes of the request line and headers as sent (near enough: separators counted, not spaces)."""
    target = len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"")
    return target + sum(len(name) + len(value) + 4 for name, value in scope.get("headers", []))
