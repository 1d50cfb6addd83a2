"""The ACME session's requests end at their deadline as a whole: a real loopback server that answers one
byte every 0.1 s (a per-read timeout would never fire) is cut off with ``NETWORK_TIMEOUT``."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from octorunbook.acme.network import mount_deadline
from octorunbook.evidence.deadline import DeadlineExceeded

MARGIN = 8.0  # a loaded 2-core machine; the failure guarded against is "never ends"


@pytest.fixture
def drip() -> Iterator[int]:
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def answer(conn: socket.socket) -> None:
        with conn:
            conn.recv(65536)
            for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"a" * 100000:
                if stop.is_set():
                    return
                time.sleep(0.1)
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    return

    def serve() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            threading.Thread(target=answer, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stop.set()
        thread.join(5)
        listener.close()


def test_a_dripping_answer_is_cut_off_at_the_deadline(drip: int) -> None:
    session = requests.Session()
    mount_deadline(session, 1.0)
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded) as caught:
        session.get(f"http://127.0.0.1:{drip}/directory", timeout=45)  # acme's per-read timeout
    assert caught.value.code == "NETWORK_TIMEOUT"
    assert time.monotonic() - started < 1.0 + MARGIN


def test_a_prompt_answer_is_unchanged() -> None:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

        def do_GET(self) -> None:  # noqa: N802
            body = b'{"newNonce": "x"}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        session = requests.Session()
        mount_deadline(session, 10.0)
        for _ in range(3):  # the pooled connection is reused across requests
            answer = session.get(f"http://127.0.0.1:{server.server_address[1]}/directory", timeout=45)
            assert answer.status_code == 200 and answer.json() == {"newNonce": "x"}
    finally:
        server.shutdown()
        server.server_close()


def test_an_endless_answer_is_refused_by_size_before_its_deadline() -> None:
    """A server streaming fast and without end (chunked, no length) is refused at MAX_ANSWER bytes, long
    before the deadline: the renewal neither waits for it nor keeps it in memory."""
    from octorunbook.acme.network import MAX_ANSWER
    from octorunbook.findings import TargetError

    sent: list[int] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            chunk = b"a" * 65536
            total = 0
            try:
                while total < 8 * MAX_ANSWER:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    total += len(chunk)
            except OSError:
                pass
            sent.append(total)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        session = requests.Session()
        mount_deadline(session, 120.0)
        started = time.monotonic()
        with pytest.raises(TargetError) as caught:
            session.get(f"http://127.0.0.1:{server.server_address[1]}/directory", timeout=45)
        assert caught.value.code == "ACME_ANSWER_TOO_LARGE"
        assert "MiB" in caught.value.message and caught.value.remedy
        assert time.monotonic() - started < 120.0  # not the deadline: the size
    finally:
        server.shutdown()
        server.server_close()
    assert not sent or sent[0] < 8 * MAX_ANSWER, "the client read the whole stream"
