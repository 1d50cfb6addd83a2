"""Real TLS web servers on loopback for the posture tests: trustme certificates, Python's ssl server side."""

from __future__ import annotations

import itertools
import ssl
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import trustme

HOST = "octopus.example.com"


@dataclass
class Server:
    port: int
    ca: trustme.CA

    def ca_bundle(self, tmp_path: Path) -> str:
        path = tmp_path / "ca.pem"
        self.ca.cert_pem.write_to_path(str(path))
        return str(path)


def _handler(hsts: str | None, drip: float | None = None) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

        def do_GET(self) -> None:  # noqa: N802
            if drip is not None:  # the handshake was quick; the answer never ends, one byte at a time
                for byte in itertools.chain(b"HTTP/1.1 200 OK\r\nX-Drip: ", itertools.repeat(ord("a"))):
                    time.sleep(drip)
                    try:
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                    except OSError:
                        return
            self.send_response(200)
            self.send_header("Content-Length", "2")
            if hsts is not None:
                self.send_header("Strict-Transport-Security", hsts)
            self.end_headers()
            self.wfile.write(b"ok")

    return Handler


class _TLSServer(ThreadingHTTPServer):
    daemon_threads = True
    context: ssl.SSLContext

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a scanner hanging up mid-request is expected here, not a test failure

    def finish_request(self, request: Any, client_address: Any) -> None:
        try:
            tls = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return
        try:
            self.RequestHandlerClass(tls, client_address, self)  # type: ignore[arg-type]
        finally:
            tls.close()


@contextmanager
def loopback_servers() -> Iterator[Callable[..., Server]]:
    """Start TLS web servers on 127.0.0.1 with a given protocol floor, cipher list and HSTS header (or
    ``drip``: answer every GET one byte per ``drip`` seconds, forever); all are shut down when the block
    ends."""
    started: list[_TLSServer] = []

    def start(
        *,
        minimum: ssl.TLSVersion = ssl.TLSVersion.TLSv1_2,
        ciphers: str | None = None,
        hsts: str | None = "max-age=31536000; includeSubDomains",
        names: tuple[str, ...] = (HOST,),
        drip: float | None = None,
    ) -> Server:
        ca = trustme.CA(key_type=trustme.KeyType.RSA)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ca.issue_cert(*names, key_type=trustme.KeyType.RSA).configure_cert(context)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            context.minimum_version = minimum
        if ciphers:
            context.set_ciphers(ciphers)
        server = _TLSServer(("127.0.0.1", 0), _handler(hsts, drip))
        server.context = context
        started.append(server)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return Server(server.server_address[1], ca)

    try:
        yield start
    finally:
        for server in started:
            server.shutdown()
            server.server_close()


@contextmanager
def serving(handler: Any, ca: trustme.CA) -> Iterator[_TLSServer]:
    """One TLS server on 127.0.0.1 (an ephemeral port) answering with ``handler``, its certificate for
    127.0.0.1 issued by ``ca``; shut down when the block ends."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        server = _TLSServer(("127.0.0.1", 0), handler)
    server.context = context
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
