"""The download guard: refusals are checked on `check_url` itself, never by connecting."""

from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from declick_contract.safe_download import (
    DownloadError,
    DownloadPolicy,
    DownloadTooLargeError,
    UnsafeUrlError,
    check_link,
    check_url,
    parse_allowed_hosts,
    stream_download,
)
from tests.support.slow_server import TrickleServer, self_signed_certificate

STRICT = DownloadPolicy(max_bytes=1000, timeout_seconds=5)


def resolver_to(*addresses: str):
    """A resolver that answers without DNS, so no test depends on (or sends) real traffic."""

    def resolve(host, port, type=0):  # noqa: A002 - mirrors socket.getaddrinfo
        family = socket.AF_INET6 if ":" in addresses[0] else socket.AF_INET
        return [(family, socket.SOCK_STREAM, 6, "", (a, port)) for a in addresses]

    return resolve


@pytest.mark.parametrize(
    "address",
    [
        "10.0.0.1",
        "172.16.5.4",
        "172.31.255.255",
        "192.168.1.1",
        "127.0.0.1",
        "127.0.0.2",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.1",
        "::1",
        "fe80::1",
        "fc00::1",
        "::ffff:10.0.0.1",
    ],
)
def test_non_public_addresses_are_refused_without_connecting(address):
    with pytest.raises(UnsafeUrlError, match="non-public"):
        check_url("https://results.vendor.example/a.mp3", STRICT, resolver=resolver_to(address))


def test_ip_literal_urls_are_checked_too():
    with pytest.raises(UnsafeUrlError, match="non-public"):
        check_url("https://10.1.2.3/a.mp3", STRICT)
    with pytest.raises(UnsafeUrlError, match="non-public"):
        check_url("https://[fd00::1]/a.mp3", STRICT)


def test_one_private_answer_among_public_ones_is_enough_to_refuse():
    with pytest.raises(UnsafeUrlError, match="10.0.0.7"):
        check_url("https://cdn.example/a", STRICT, resolver=resolver_to("93.184.216.34", "10.0.0.7"))


def test_public_https_url_is_accepted_and_pinned_to_the_checked_address():
    target = check_url("https://cdn.example:8443/r/a.mp3?sig=x", STRICT, resolver=resolver_to("93.184.216.34"))
    assert (target.scheme, target.host, target.port, target.address) == ("https", "cdn.example", 8443, "93.184.216.34")
    assert target.path == "/r/a.mp3?sig=x"
    assert not target.exempt


@pytest.mark.parametrize("url", ["http://cdn.example/a.mp3", "ftp://cdn.example/a", "file:///etc/passwd", "a.mp3"])
def test_only_https_is_allowed(url):
    with pytest.raises(UnsafeUrlError):
        check_url(url, STRICT, resolver=resolver_to("93.184.216.34"))


def test_credentials_in_url_are_refused():
    with pytest.raises(UnsafeUrlError, match="credentials"):
        check_url("https://u:p@cdn.example/a", STRICT, resolver=resolver_to("93.184.216.34"))


def test_allow_list_exempts_exactly_the_listed_host_and_port():
    policy = DownloadPolicy(max_bytes=10, timeout_seconds=1, allowed_hosts=parse_allowed_hosts("127.0.0.1:8080"))
    assert check_url("http://127.0.0.1:8080/x", policy).exempt
    with pytest.raises(UnsafeUrlError):
        check_url("http://127.0.0.1:8081/x", policy)
    with pytest.raises(UnsafeUrlError):
        check_url("http://127.0.0.2:8080/x", policy)


def test_parse_allowed_hosts():
    assert parse_allowed_hosts("") == frozenset()
    assert parse_allowed_hosts(None) == frozenset()
    assert parse_allowed_hosts(" LocalHost:1 , 127.0.0.1") == {"localhost:1", "127.0.0.1"}


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):
        port = self.server.server_address[1]
        routes = {
            "/ok": (200, {}, b"x" * 500),
            "/big": (200, {}, b"x" * 5000),
            "/missing": (404, {}, b"no"),
            "/broken": (503, {}, b"later"),
            "/hop": (302, {"Location": "/ok"}, b""),
            "/to-private": (302, {"Location": "http://10.0.0.1/secret"}, b""),
            "/to-other-loopback": (302, {"Location": f"http://127.0.0.2:{port}/ok"}, b""),
            "/loop": (302, {"Location": "/loop"}, b""),
        }
        if self.path == "/truncated":
            self.send_response(200)
            self.send_header("Content-Length", "900")
            self.end_headers()
            self.wfile.write(b"y" * 100)
            self.wfile.flush()
            self.close_connection = True
            return
        if self.path == "/unsized-big":
            self.send_response(200)
            self.end_headers()
            self.close_connection = True
            self.wfile.write(b"z" * 5000)
            return
        status, headers, body = routes.get(self.path, (404, {}, b""))
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def local(server):
    host, port = server.server_address
    policy = DownloadPolicy(max_bytes=1000, timeout_seconds=5, allowed_hosts=frozenset({f"{host}:{port}"}))
    return f"http://{host}:{port}", policy


def _fetch(url, policy):
    with stream_download(url, policy) as chunks:
        return b"".join(chunks)


def test_streams_an_allowed_loopback_url(local):
    base, policy = local
    assert _fetch(f"{base}/ok", policy) == b"x" * 500


def test_follows_a_redirect_and_checks_each_hop(local):
    base, policy = local
    assert _fetch(f"{base}/hop", policy) == b"x" * 500
    with pytest.raises(UnsafeUrlError, match="10.0.0.1"):
        _fetch(f"{base}/to-private", policy)
    with pytest.raises(UnsafeUrlError):
        _fetch(f"{base}/to-other-loopback", policy)
    with pytest.raises(DownloadError, match="redirects"):
        _fetch(f"{base}/loop", policy)


def test_size_limit_by_header_and_by_counting(local):
    base, policy = local
    with pytest.raises(DownloadTooLargeError, match="limit"):
        _fetch(f"{base}/big", policy)
    with pytest.raises(DownloadTooLargeError, match="limit"):
        _fetch(f"{base}/unsized-big", policy)


def test_http_errors_say_whether_a_retry_can_help(local):
    base, policy = local
    with pytest.raises(DownloadError) as missing:
        _fetch(f"{base}/missing", policy)
    assert (missing.value.status, missing.value.transient) == (404, False)
    with pytest.raises(DownloadError) as broken:
        _fetch(f"{base}/broken", policy)
    assert (broken.value.status, broken.value.transient) == (503, True)


def test_truncated_body_is_an_error(local):
    base, policy = local
    with pytest.raises(DownloadError, match="truncated|interrupted"):
        _fetch(f"{base}/truncated", policy)


def test_loopback_not_on_the_allow_list_is_refused_before_connecting(server):
    host, port = server.server_address
    with pytest.raises(UnsafeUrlError):
        _fetch(f"http://{host}:{port}/ok", STRICT)


@pytest.mark.parametrize("cert_name, ok", [("results.local", True), ("someone-else.local", False)])
def test_https_connects_to_the_pinned_address_and_verifies_the_host_name(tmp_path, cert_name, ok):
    import ssl

    cert, key = self_signed_certificate(tmp_path, cert_name)
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    port = httpd.server_address[1]
    policy = DownloadPolicy(
        max_bytes=1000, timeout_seconds=5, allowed_hosts=frozenset({f"results.local:{port}"}), ca_certs=cert
    )
    try:
        with stream_download(f"https://results.local:{port}/ok", policy, resolver=resolver_to("127.0.0.1")) as chunks:
            if ok:
                assert b"".join(chunks) == b"x" * 500
    except DownloadError:
        assert not ok
    else:
        assert ok
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.mark.parametrize("part", ["body", "unsized-body", "headers"])
def test_the_time_limit_bounds_the_whole_transfer_of_a_trickling_https_server(tmp_path, part):
    """One byte every 50 ms: each read arrives in time, but the download must still end at the limit."""
    cert, key = self_signed_certificate(tmp_path, "results.local")
    limit = 1.0
    with TrickleServer(part, certificate=(cert, key)) as server:
        policy = DownloadPolicy(
            max_bytes=50_000_000,
            timeout_seconds=limit,
            allowed_hosts=frozenset({f"results.local:{server.port}"}),
            ca_certs=cert,
        )
        started = time.monotonic()
        with pytest.raises(DownloadError, match="longer than the time limit") as refused:
            _fetch_via(server.url(host="results.local"), policy)
        elapsed = time.monotonic() - started
    assert refused.value.transient
    # The server would go on for give_up_after (20 s); the limit plus scheduling slack is far less.
    assert limit <= elapsed < limit + 5, elapsed


def test_the_time_limit_includes_time_spent_between_chunks(server):
    host, port = server.server_address
    policy = DownloadPolicy(max_bytes=1000, timeout_seconds=1, allowed_hosts=frozenset({f"{host}:{port}"}))
    with pytest.raises(DownloadError, match="time limit"):
        with stream_download(f"http://{host}:{port}/ok", policy, chunk_size=100) as chunks:
            for _ in chunks:
                time.sleep(0.3)


def _fetch_via(url, policy):
    with stream_download(url, policy, resolver=resolver_to("127.0.0.1")) as chunks:
        return b"".join(chunks)
@pytest.mark.parametrize(
    "url",
    [
        "https://10.0.0.1/a.wav",
        "https://[::1]/a.wav",
        "https://[::ffff:192.168.0.1]/a.wav",
        "https://169.254.169.254/latest",
        "http://example.com/a.wav",
        "https://user:pw@example.com/a.wav",
        "ftp://example.com/a.wav",
    ],
)
def test_check_link_refuses_without_any_lookup(url):
    """The service refuses these at task creation; `check_link` has no resolver to call at all."""
    with pytest.raises(UnsafeUrlError):
        check_link(url, STRICT)


def test_check_link_lets_names_and_listed_hosts_through_for_the_download_to_recheck():
    assert check_link("https://files.example.com/a.wav?x=1", STRICT).path == "/a.wav?x=1"
    local = DownloadPolicy(max_bytes=1, timeout_seconds=1, allowed_hosts=parse_allowed_hosts("127.0.0.1:8080"))
    assert check_link("http://127.0.0.1:8080/a.wav", local).exempt
    with pytest.raises(UnsafeUrlError):
        check_link("http://127.0.0.1:8081/a.wav", local)


def test_a_name_lookup_that_hangs_ends_at_the_time_limit():
    """getaddrinfo takes no timeout: a lookup held by a slow name server must not outlive the limit."""
    released = threading.Event()
    calls = []

    def hanging_resolver(host, port, type=0):  # noqa: A002 - mirrors socket.getaddrinfo
        calls.append(host)
        released.wait(30)  # a name server that does not answer
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port))]

    policy = DownloadPolicy(max_bytes=1000, timeout_seconds=0.5)
    started = time.monotonic()
    try:
        with pytest.raises(DownloadError, match="time limit \\(name lookup\\)") as info:
            with stream_download("https://cdn.example/a.wav", policy, resolver=hanging_resolver):
                pass
    finally:
        released.set()  # let the lookup thread finish; nothing was ever connected to
    assert info.value.transient
    assert calls == ["cdn.example"]
    assert time.monotonic() - started < 10  # ended by the limit, not by the resolver's 30 s


def test_a_lookup_error_still_reads_as_unresolvable_through_the_bounded_resolver():
    def failing_resolver(host, port, type=0):  # noqa: A002 - mirrors socket.getaddrinfo
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    with pytest.raises(DownloadError, match="cannot resolve host 'nowhere.example'"):
        with stream_download("https://nowhere.example/a.wav", STRICT, resolver=failing_resolver):
            pass
