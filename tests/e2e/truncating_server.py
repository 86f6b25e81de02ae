"""An HTTP server on loopback that promises more bytes than it sends, then hangs up.

The fake vendor always answers consistently; a download cut short is a different failure
(`Content-Length` not reached) and needs a server that misbehaves at the socket level.
"""

from __future__ import annotations

import socket
import threading


class TruncatingServer:
    def __init__(self, body: bytes, declared: int):
        self.body = body
        self.declared = declared
        self.hits = 0
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="truncating-server", daemon=True)

    @property
    def host_port(self) -> str:
        host, port = self._sock.getsockname()[:2]
        return f"{host}:{port}"

    def url(self, name: str) -> str:
        return f"http://{self.host_port}/{name}"

    def __enter__(self) -> TruncatingServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(2)
                try:
                    conn.recv(65536)
                    self.hits += 1
                    head = (
                        "HTTP/1.1 200 OK\r\nContent-Type: audio/mpeg\r\n"
                        f"Content-Length: {self.declared}\r\nConnection: close\r\n\r\n"
                    )
                    conn.sendall(head.encode() + self.body)
                except OSError:
                    continue
