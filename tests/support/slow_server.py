"""A loopback server that answers every request one byte at a time, and a throw-away TLS certificate.

A per-read socket timeout never trips on a server like this (each read gets its byte in time),
so it is what proves a whole-download time limit. The server gives up by itself after
`give_up_after` seconds so that a download that ignores its limit fails the test instead of
hanging it.
"""

from __future__ import annotations

import datetime
import socket
import ssl
import threading
import time
from pathlib import Path

_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: audio/mpeg\r\nConnection: close\r\n"


def self_signed_certificate(folder: Path, name: str) -> tuple[str, str]:
    """A CA-less certificate for `name` (certificate path, key path), valid for an hour."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / f"{name}.pem", folder / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return str(cert_path), str(key_path)


class TrickleServer:
    """Sends its answer one byte every `interval` seconds on 127.0.0.1, over TLS when given a certificate.

    `part` is what trickles: `"body"` (headers at once, a declared 10 MB body), `"unsized-body"`
    (no Content-Length: the body ends when the connection does) or `"headers"` (the status line
    and headers themselves).
    """

    def __init__(
        self,
        part: str = "body",
        *,
        interval: float = 0.05,
        give_up_after: float = 20.0,
        certificate: tuple[str, str] | None = None,
    ):
        if part not in ("body", "unsized-body", "headers"):
            raise ValueError(part)
        self.part = part
        self.interval = interval
        self.give_up_after = give_up_after
        self.connections = 0
        self._context = None
        if certificate is not None:
            self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self._context.load_cert_chain(*certificate)
        self._stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.1)
        self.port = self._listener.getsockname()[1]
        self.host = f"127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def url(self, path: str = "/result.mp3", host: str = "127.0.0.1") -> str:
        scheme = "https" if self._context is not None else "http"
        return f"{scheme}://{host}:{self.port}{path}"

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            self.connections += 1
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        started = time.monotonic()
        try:
            conn.settimeout(5)
            if self._context is not None:
                conn = self._context.wrap_socket(conn, server_side=True)
            request = b""
            while b"\r\n\r\n" not in request:
                piece = conn.recv(4096)
                if not piece:
                    return
                request += piece
            if self.part == "body":
                head, slow = _HEAD + b"Content-Length: 10000000\r\n\r\n", b"\xff" * 10_000_000
            elif self.part == "unsized-body":
                head, slow = _HEAD + b"\r\n", b"\xff" * 10_000_000
            else:
                head, slow = b"", _HEAD + b"X-Padding: " + b"p" * 100_000 + b"\r\n\r\n"
            conn.sendall(head)
            for byte in slow:
                if self._stop.is_set() or time.monotonic() - started > self.give_up_after:
                    return
                conn.sendall(bytes([byte]))
                time.sleep(self.interval)
        except OSError:  # the client went away: that is the point
            return
        finally:
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._listener.close()

    def __enter__(self) -> TrickleServer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
