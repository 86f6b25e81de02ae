"""Download a URL handed to us by a third party without letting it aim us at our own network.

The remote API gives us `voice_result`, and a self-hosted service is given `file_link`: both are
URLs we did not choose. Fetching them naively is a server-side request forgery hole (the Lambda
runtime API listens on loopback, a VPC has private ranges, clouds have link-local metadata).
So a URL is fetched only over https, only to addresses that are globally routable, and the
address that was checked is the address we connect to (the IP is pinned, so a DNS answer that
changes between check and connect cannot redirect us). Redirects are followed by hand and every
hop is checked again. Size and time are capped while streaming.

The time limit bounds the whole transfer whatever the server's pace: a socket timeout only
bounds each read, and a server trickling one byte per read would never trip it. So every socket
a download opens is also watched by a timer that shuts it down at the deadline, which ends any
read in progress (TLS handshake, headers or body), and the error then says the time ran out.
Name lookups count too: each runs in a thread that is waited for only until the deadline.

Hosts listed in `DownloadPolicy.allowed_hosts` (`host` or `host:port`) skip the scheme and
address rules: this is how local runs reach a service on 127.0.0.1. In AWS the list is empty.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import certifi
import urllib3

Resolver = Callable[..., list]

_REDIRECT_CODES = frozenset({301, 302, 303, 307, 308})


class UnsafeUrlError(ValueError):
    """The URL may not be fetched at all (scheme, address or redirect rule). Never transient."""


class DownloadError(RuntimeError):
    """The fetch was allowed but failed. `transient` says whether trying again may help."""

    def __init__(self, message: str, *, status: int | None = None, transient: bool = False):
        super().__init__(message)
        self.status = status
        self.transient = transient


class DownloadTooLargeError(DownloadError):
    """The body is (or declares itself) larger than the policy allows."""


@dataclass(frozen=True)
class DownloadPolicy:
    max_bytes: int
    timeout_seconds: float
    allowed_hosts: frozenset[str] = frozenset()
    max_redirects: int = 3
    ca_certs: str | None = None  # a CA bundle path; None means certifi's public CAs

    def exempts(self, host: str, port: int) -> bool:
        host = host.lower()
        return host in self.allowed_hosts or f"{host}:{port}" in self.allowed_hosts


@dataclass(frozen=True)
class Link:
    """A URL that passed every rule that needs no DNS answer."""

    scheme: str
    host: str
    port: int
    path: str
    exempt: bool


@dataclass(frozen=True)
class Target:
    """A checked URL: where to connect (`address`) and what to call the host (SNI, Host header)."""

    scheme: str
    host: str
    port: int
    address: str
    path: str
    exempt: bool


def parse_allowed_hosts(value: str | None) -> frozenset[str]:
    """`"127.0.0.1:8080, localhost"` → frozenset; empty or None → no exemptions."""
    if not value:
        return frozenset()
    return frozenset(item.strip().lower() for item in value.split(",") if item.strip())


def is_public_address(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def check_link(url: str, policy: DownloadPolicy) -> Link:
    """The rules `check_url` applies before resolving: scheme, credentials, port, literal addresses.

    A service can refuse a bad `file_link` with these when the task is created, with no network
    access, and the download re-checks everything (with DNS) when it happens.
    """
    parts = urlsplit(url)
    scheme = (parts.scheme or "").lower()
    if scheme not in ("http", "https"):
        raise UnsafeUrlError(f"refusing URL with scheme {scheme or '(none)'!r}: only https is allowed")
    if parts.username or parts.password:
        raise UnsafeUrlError("refusing URL with credentials in it")
    host = (parts.hostname or "").lower()
    if not host:
        raise UnsafeUrlError("refusing URL without a host")
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError as exc:
        raise UnsafeUrlError(f"refusing URL with a bad port: {exc}") from exc
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    exempt = policy.exempts(host, port)
    if not exempt and scheme != "https":
        raise UnsafeUrlError(f"refusing {scheme}:// URL for host {host!r}: only https is allowed")
    if not exempt:
        try:
            literal = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        if literal is not None and not is_public_address(str(literal)):
            raise UnsafeUrlError(f"refusing host {host!r}: it is a non-public address")
    return Link(scheme=scheme, host=host, port=port, path=path, exempt=exempt)


def check_url(url: str, policy: DownloadPolicy, resolver: Resolver = socket.getaddrinfo) -> Target:
    """Decide whether `url` may be fetched, resolving its host but never connecting to it."""
    link = check_link(url, policy)
    scheme, host, port, path, exempt = link.scheme, link.host, link.port, link.path, link.exempt
    try:
        infos = resolver(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise DownloadError(f"cannot resolve host {host!r}: {exc}", transient=True) from exc
    addresses = [info[4][0] for info in infos]
    if not addresses:
        raise DownloadError(f"host {host!r} has no address", transient=True)
    if not exempt:
        bad = sorted({a for a in addresses if not is_public_address(a)})
        if bad:
            raise UnsafeUrlError(f"refusing host {host!r}: it resolves to non-public address(es) {', '.join(bad)}")
    return Target(scheme=scheme, host=host, port=port, address=addresses[0], path=path, exempt=exempt)


class _Deadline:
    """Shuts down every socket of one download when its time is up, from a timer thread.

    Each socket is watched through a duplicate of its descriptor that we own, so the shutdown
    reaches the connection (shutdown acts on the socket, not on one descriptor) without racing
    urllib3 closing or reusing its own descriptor; TLS sockets are shut down underneath the TLS
    layer, so no `SSLSocket` state is touched from this thread.
    """

    def __init__(self, seconds: float):
        self.at = time.monotonic() + seconds
        self.expired = False
        self._lock = threading.Lock()
        self._watched: list[socket.socket] = []
        self._timer = threading.Timer(max(seconds, 0.0), self._expire)
        self._timer.daemon = True
        self._timer.start()

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            copy = sock.dup()
            self._watched.append(copy)
            if self.expired:
                _shut(copy)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for copy in self._watched:
                _shut(copy)

    def close(self) -> None:
        self._timer.cancel()
        with self._lock:
            for copy in self._watched:
                copy.close()
            self._watched.clear()

    def check(self) -> float:
        """Seconds left; raise the timeout error once there are none (or the timer fired)."""
        left = self.at - time.monotonic()
        if left <= 0 or self.expired:
            raise DownloadError("download took longer than the time limit", transient=True)
        return left


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:  # already disconnected
        pass


def _watched(connection_class: type, deadline: _Deadline) -> type:
    class WatchedConnection(connection_class):
        def _new_conn(self) -> socket.socket:
            sock = super()._new_conn()
            deadline.watch(sock)
            return sock

    return WatchedConnection


def _open(target: Target, timeout: urllib3.Timeout, ca_certs: str | None, deadline: _Deadline) -> urllib3.HTTPResponse:
    headers = {"Host": target.host if target.port in (80, 443) else f"{target.host}:{target.port}"}
    if target.scheme == "https":
        pool: urllib3.HTTPConnectionPool = urllib3.HTTPSConnectionPool(
            target.address,
            target.port,
            timeout=timeout,
            retries=False,
            server_hostname=target.host,
            assert_hostname=target.host,
            cert_reqs="CERT_REQUIRED",
            ca_certs=ca_certs or certifi.where(),
        )
    else:
        pool = urllib3.HTTPConnectionPool(target.address, target.port, timeout=timeout, retries=False)
    pool.ConnectionCls = _watched(pool.ConnectionCls, deadline)
    return pool.urlopen(
        "GET", target.path, headers=headers, redirect=False, preload_content=False, assert_same_host=False
    )


@contextmanager
def stream_download(
    url: str,
    policy: DownloadPolicy,
    *,
    chunk_size: int = 1 << 20,
    resolver: Resolver = socket.getaddrinfo,
) -> Iterator[Iterator[bytes]]:
    """Yield an iterator of body chunks; raise `UnsafeUrlError` or `DownloadError`.

    The time limit covers the whole download (connect, redirects, headers and body, however
    slowly the server sends them), not each read; it includes the time the caller spends
    between chunks.
    """
    deadline = _Deadline(policy.timeout_seconds)
    try:
        response = _follow(url, policy, deadline, resolver)
        try:
            length = response.headers.get("Content-Length")
            if length and length.isdigit() and int(length) > policy.max_bytes:
                raise DownloadTooLargeError(f"download is {int(length)} bytes, over the {policy.max_bytes}-byte limit")
            yield _chunks(response, policy, deadline, chunk_size)
        finally:
            response.release_conn()
            response.close()
    finally:
        deadline.close()


def _within(deadline: _Deadline, resolver: Resolver) -> Resolver:
    """The resolver, bounded by the download's deadline.

    `getaddrinfo` takes no timeout and a slow or hostile name server can hold it for minutes, so
    each lookup runs in a daemon thread that we stop waiting for at the deadline (the thread
    itself ends when the lookup does; nothing is connected to in the meantime).
    """

    def resolve(*args, **kwargs) -> list:
        left = deadline.check()
        result: dict[str, object] = {}
        done = threading.Event()

        def lookup() -> None:
            try:
                result["value"] = resolver(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - re-raised below, in the thread that waits
                result["error"] = exc
            finally:
                done.set()

        threading.Thread(target=lookup, name="declick-resolve", daemon=True).start()
        if not done.wait(left):
            raise DownloadError("download took longer than the time limit (name lookup)", transient=True)
        if "error" in result:
            raise result["error"]  # type: ignore[misc]
        return result["value"]  # type: ignore[return-value]

    return resolve


def _follow(url: str, policy: DownloadPolicy, deadline: _Deadline, resolver: Resolver) -> urllib3.HTTPResponse:
    bounded = _within(deadline, resolver)
    for _ in range(policy.max_redirects + 1):
        target = check_url(url, policy, bounded)
        left = deadline.check()
        try:
            response = _open(target, urllib3.Timeout(connect=min(left, 10.0), read=left), policy.ca_certs, deadline)
        except urllib3.exceptions.HTTPError as exc:
            deadline.check()  # cut off by the deadline: say so, not "connection reset"
            raise DownloadError(f"cannot fetch from {target.host}: {exc.__class__.__name__}", transient=True) from exc
        if response.status in _REDIRECT_CODES:
            location = response.headers.get("Location")
            response.release_conn()
            if not location:
                raise DownloadError(f"redirect {response.status} without a Location")
            url = urljoin(url, location)
            continue
        if response.status >= 400:
            response.release_conn()
            transient = response.status >= 500 or response.status == 429
            raise DownloadError(
                f"download failed with HTTP {response.status}", status=response.status, transient=transient
            )
        return response
    raise DownloadError(f"more than {policy.max_redirects} redirects")


def _chunks(
    response: urllib3.HTTPResponse, policy: DownloadPolicy, deadline: _Deadline, chunk_size: int
) -> Iterator[bytes]:
    received = 0
    declared = response.headers.get("Content-Length")
    try:
        for chunk in response.stream(chunk_size, decode_content=True):
            received += len(chunk)
            if received > policy.max_bytes:
                raise DownloadTooLargeError(f"download exceeded the {policy.max_bytes}-byte limit")
            deadline.check()
            yield chunk
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        deadline.check()
        raise DownloadError(f"download interrupted: {exc.__class__.__name__}", transient=True) from exc
    # A socket shut down at the deadline reads as the end of a body of unknown length.
    deadline.check()
    if declared and declared.isdigit() and received != int(declared):
        raise DownloadError(f"download truncated: got {received} of {declared} bytes", transient=True)
