"""``octorunbook node drain`` never sends the API key to an origin the operator did not name.

Two real HTTP servers on loopback: the first answers every request with a redirect to the second, which
records the headers it is sent. The command runs as an operator runs it, in a fresh process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

KEY = "API-REDIRECTCANARY0123456789"
BIN = Path(sys.executable).parent


class _Recorder(BaseHTTPRequestHandler):
    seen: list[dict[str, str]]
    location: str = ""

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def _answer(self) -> None:
        self.seen.append(dict(self.headers.items()))
        if self.location:
            self.send_response(302)
            self.send_header("Location", self.location + self.path)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = b'{"Items": [{"Id": "OctopusServerNodes-1", "Name": "octo1"}]}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_PUT = _answer  # noqa: N815


def _serve(location: str = "") -> tuple[ThreadingHTTPServer, list[dict[str, str]]]:
    seen: list[dict[str, str]] = []
    handler = type("Handler", (_Recorder,), {"seen": seen, "location": location})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return server, seen


@pytest.fixture
def redirected() -> Iterator[tuple[str, str, list[dict[str, str]], list[dict[str, str]]]]:
    other, other_seen = _serve()
    other_url = f"http://127.0.0.1:{other.server_address[1]}"
    first, first_seen = _serve(location=other_url)
    try:
        yield f"http://127.0.0.1:{first.server_address[1]}", other_url, first_seen, other_seen
    finally:
        for server in (first, other):
            server.shutdown()
            server.server_close()


def test_drain_refuses_a_redirect_to_another_origin_and_the_key_stays_home(
    redirected: tuple[str, str, list[dict[str, str]], list[dict[str, str]]],
) -> None:
    url, other_url, first_seen, other_seen = redirected
    done = subprocess.run(
        [str(BIN / "octorunbook"), "node", "drain", "--server", url, "--node", "octo1", "--timeout", "5"],
        env={**os.environ, "OCTOPUS_API_KEY": KEY},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr  # the target answered in a way we cannot go on from
    assert "REDIRECT_REFUSED" in done.stderr, done.stderr
    assert other_url in done.stderr  # the Location is named
    assert first_seen and first_seen[0].get("X-Octopus-ApiKey") == KEY  # the named server got it
    assert other_seen == []  # the other one was never even asked
    assert KEY not in done.stdout + done.stderr


def test_the_named_server_itself_gets_the_key(
    redirected: tuple[str, str, list[dict[str, str]], list[dict[str, str]]],
) -> None:
    from octorunbook.ops.node_drain import NODES_PATH, Server

    _, other_url, _, other_seen = redirected
    status, page = Server(other_url).request("GET", NODES_PATH, KEY)
    assert status == 200 and isinstance(page, dict)
    assert other_seen[-1].get("X-Octopus-ApiKey") == KEY


def test_a_fifo_given_as_the_ca_bundle_is_refused_not_blocked_on(tmp_path: Path) -> None:
    """OpenSSL opening a FIFO as ``cafile`` blocks forever; the bounded reader refuses it first."""
    fifo = tmp_path / "ca.pem"
    os.mkfifo(fifo)
    done = subprocess.run(
        [str(BIN / "octorunbook"), "node", "wait", "--ping-url", "https://127.0.0.1:9", "--status", "200"]
        + ["--ca-bundle", str(fifo), "--timeout", "1"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode != 0
    assert "FILE_NOT_REGULAR" in done.stderr, done.stderr
