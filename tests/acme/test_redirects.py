"""A signed ACME POST is never sent on to another origin: two real HTTP servers on loopback, the first
redirecting (307, which keeps the method and body) to the second, which records what it is sent."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from octorunbook.acme.errors import refuse_signed_redirects
from octorunbook.evidence.deadline import RedirectRefused

JWS = b'{"protected": "eyJ...", "payload": "eyJ...", "signature": "canary-signature"}'


def _server(location: str, seen: list[bytes]) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            seen.append(self.rfile.read(length))
            self.send_response(307 if location else 200)
            if location:
                self.send_header("Location", location + self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_GET = do_POST = _answer  # noqa: N815

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server


@pytest.fixture
def redirected() -> Iterator[tuple[str, str, list[bytes]]]:
    other_seen: list[bytes] = []
    other = _server("", other_seen)
    other_url = f"http://127.0.0.1:{other.server_address[1]}"
    first = _server(other_url, [])
    try:
        yield f"http://127.0.0.1:{first.server_address[1]}", other_url, other_seen
    finally:
        for server in (first, other):
            server.shutdown()
            server.server_close()


def test_a_signed_post_redirected_to_another_origin_is_refused(
    redirected: tuple[str, str, list[bytes]],
) -> None:
    url, other_url, other_seen = redirected
    session = requests.Session()
    refuse_signed_redirects(session)
    with pytest.raises(RedirectRefused) as caught:
        session.post(url + "/acme/new-order", data=JWS, timeout=10)
    assert caught.value.code == "REDIRECT_REFUSED" and other_url in caught.value.message
    assert other_seen == []


def test_an_unsigned_get_may_still_be_redirected(redirected: tuple[str, str, list[bytes]]) -> None:
    url, _, other_seen = redirected
    session = requests.Session()
    refuse_signed_redirects(session)
    assert session.get(url + "/directory", timeout=10).status_code == 200
    assert other_seen == [b""]
