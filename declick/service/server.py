"""Run the service inside the current process, on a background thread.

Tests and `declick local run` need a real HTTP server they can start and stop in one call. The
listening socket is bound before the app is built, so the port is known (no race on "find a
free port, then bind it") and `voice_result` links point at the right place.
"""

from __future__ import annotations

import socket
import threading
import time

from declick.service.settings import ServiceSettings


class ServiceHandle:
    """A running service: `.url`, `.stop()`; also a context manager."""

    def __init__(self, server, thread: threading.Thread, url: str, app, sock: socket.socket):
        self._server = server
        self._thread = thread
        self._sock = sock
        self.url = url
        self.app = app

    @property
    def settings(self) -> ServiceSettings:
        return self.app.state.service.settings

    def stop(self, timeout: float = 20.0) -> None:
        """Stop accepting requests, stop the workers (a running task goes back to the queue)."""
        self._server.should_exit = True
        self._thread.join(timeout)
        if self._thread.is_alive():
            self._server.force_exit = True
            self._thread.join(timeout)
        self._sock.close()

    def __enter__(self) -> ServiceHandle:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def run_in_thread(
    settings: ServiceSettings,
    host: str = "127.0.0.1",
    startup_timeout: float = 30.0,
    *,
    start_workers: bool = True,
) -> ServiceHandle:
    """Serve on a free port of `host`; `start_workers=False` accepts tasks but never runs them."""
    import uvicorn

    from declick.service.app import create_app
    from declick.service.limits import uvicorn_options

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    url = f"http://{host}:{port}"
    if settings.public_url is None:
        settings = settings.with_(public_url=url)
    app = create_app(settings, start_workers=start_workers)
    config = uvicorn.Config(
        app,
        log_config=None,
        log_level="warning",
        lifespan="on",
        access_log=False,
        **uvicorn_options(settings.max_header_bytes),
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="declick-service", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            thread.join(5)
            sock.close()
            raise RuntimeError("the service did not start")
        time.sleep(0.01)
    return ServiceHandle(server, thread, url, app, sock)
