"""One deadline for a whole network operation, against real slow servers on loopback.

The servers here complete TCP (and TLS) promptly and then answer one byte at a time: a socket timeout per
``recv`` would wait forever on them; the deadline ends the exchange at the time its caller gave.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from octorunbook.evidence.deadline import (
    Deadline,
    DeadlineExceeded,
    RedirectRefused,
    http_request,
    refuse_cross_origin,
)
from octorunbook.evidence.tls import http_get, wait_for_portal
from tests.tlsserver import HOST, loopback_servers

BIN = Path(sys.executable).parent
MARGIN = 8.0  # generous for a loaded 2-core machine; the failure this guards against is "never ends"


@pytest.fixture
def plain_drip() -> Iterator[int]:
    """A plain-HTTP server that accepts, reads the request and answers one byte every 0.2 s, forever."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            threading.Thread(target=drip, args=(conn,), daemon=True).start()

    def drip(conn: socket.socket) -> None:
        with conn:
            conn.recv(65536)
            payload = b"HTTP/1.1 200 OK\r\nX-Drip: "
            for index in range(10_000):
                if stop.is_set():
                    return
                time.sleep(0.2)
                try:
                    conn.sendall(payload[index : index + 1] or b"a")
                except OSError:
                    return

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield int(listener.getsockname()[1])
    finally:
        stop.set()
        thread.join(5)
        listener.close()


def test_a_deadline_counts_down_and_then_raises_a_coded_timeout() -> None:
    deadline = Deadline(0.05, "the test")
    assert 0 < deadline.remaining() <= 0.05
    time.sleep(0.06)
    assert deadline.expired and deadline.left() == 0.0
    with pytest.raises(DeadlineExceeded) as caught:
        deadline.remaining()
    assert caught.value.code == "NETWORK_TIMEOUT" and isinstance(caught.value, TimeoutError)
    assert Deadline.of(deadline) is deadline


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -1.0])
def test_a_deadline_needs_finite_seconds(bad: float) -> None:
    with pytest.raises(ValueError):
        Deadline(bad)


def test_a_dripping_http_answer_ends_at_the_deadline_not_per_recv(plain_drip: int) -> None:
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded) as caught:
        http_request("GET", "http", "127.0.0.1", plain_drip, "/", Deadline(1.0, "the drip GET"))
    elapsed = time.monotonic() - started
    assert caught.value.code == "NETWORK_TIMEOUT"
    assert 0.9 <= elapsed < 1.0 + MARGIN


def test_http_get_over_tls_to_a_dripping_server_ends_at_the_deadline(tmp_path: Path) -> None:
    with loopback_servers() as start:
        server = start(drip=0.2)
        started = time.monotonic()
        with pytest.raises(DeadlineExceeded):
            http_get("https", "127.0.0.1", server.port, HOST, path="/", timeout=1.0)
        assert time.monotonic() - started < 1.0 + MARGIN


def test_waiting_for_the_portal_shares_its_deadline_with_each_probe(plain_drip: int) -> None:
    started = time.monotonic()

    def probe(deadline: Deadline) -> object:
        return http_request("GET", "http", "127.0.0.1", plain_drip, "/", deadline)

    answer, error = wait_for_portal(probe, timeout=1.0, interval=0.1)  # type: ignore[arg-type]
    assert answer is None and "NETWORK_TIMEOUT" in error
    assert time.monotonic() - started < 1.0 + MARGIN


def test_check_posture_answers_unknown_at_its_timeout_against_a_dripping_portal() -> None:
    """The issue's case, through the door a monitoring system uses: a fresh ``octorunbook check``."""
    with loopback_servers() as start:
        server = start(drip=0.5)
        started = time.monotonic()
        done = subprocess.run(
            [str(BIN / "octorunbook"), "check", "--posture", "--timeout", "2"]
            + ["--url", f"https://127.0.0.1:{server.port}", "--hostname", HOST],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        elapsed = time.monotonic() - started
    assert done.returncode == 3, done.stdout + done.stderr
    assert done.stdout.startswith("CERT UNKNOWN - "), done.stdout
    assert "NETWORK_TIMEOUT" in done.stdout
    assert elapsed < 2.0 + MARGIN, elapsed


def test_a_redirect_is_followed_only_on_the_same_origin() -> None:
    base = "https://octopus.example.com/api/x"
    assert refuse_cross_origin(base, "/api/y") == "https://octopus.example.com/api/y"
    assert (
        refuse_cross_origin(base, "https://OCTOPUS.example.com:443/z") == "https://OCTOPUS.example.com:443/z"
    )
    for location in ("https://evil.example.net/api", "http://octopus.example.com/api", "//evil:8443/", None):
        with pytest.raises(RedirectRefused) as caught:
            refuse_cross_origin(base, location)
        assert caught.value.code == "REDIRECT_REFUSED"
        assert repr(location or "") in caught.value.message or str(location) in caught.value.message


def test_a_name_lookup_that_never_answers_ends_at_the_deadline(monkeypatch: pytest.MonkeyPatch) -> None:
    """The C resolver takes no timeout: a DNS server that never answers held a connect for as long as the
    system's resolver retried. The lookup now counts against the caller's deadline."""
    real = socket.getaddrinfo
    release = threading.Event()

    def hanging(host: str, *args: object, **kwargs: object) -> object:
        if host == "portal.hang.invalid":
            release.wait(60)
        return real(host, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", hanging)
    started = time.monotonic()
    try:
        with pytest.raises(DeadlineExceeded) as caught:
            Deadline(1.0, "the check").connect("portal.hang.invalid", 443)
    finally:
        release.set()
    assert caught.value.code == "NETWORK_TIMEOUT" and "looking up portal.hang.invalid" in caught.value.message
    assert time.monotonic() - started < 1.0 + MARGIN


def test_check_answers_unknown_at_its_timeout_when_the_name_lookup_hangs(tmp_path: Path) -> None:
    """Through the door a monitoring system uses: ``octorunbook check`` in a fresh process whose resolver
    never answers for the portal's name (a ``sitecustomize`` stands in for the silent DNS server)."""
    (tmp_path / "sitecustomize.py").write_text(
        "import socket, time\n"
        "_real = socket.getaddrinfo\n"
        "def _hang(host, *a, **k):\n"
        "    if host == 'portal.hang.invalid':\n"
        "        time.sleep(120)\n"
        "    return _real(host, *a, **k)\n"
        "socket.getaddrinfo = _hang\n"
    )
    started = time.monotonic()
    done = subprocess.run(
        [str(BIN / "octorunbook"), "check", "--timeout", "2", "--url", "https://portal.hang.invalid"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
    )
    elapsed = time.monotonic() - started
    assert done.returncode == 3, done.stdout + done.stderr
    assert done.stdout.startswith("CERT UNKNOWN - ") and "NETWORK_TIMEOUT" in done.stdout, done.stdout
    assert elapsed < 2.0 + MARGIN, elapsed


def test_a_name_dns_cannot_carry_is_an_error_not_a_crash_of_the_lookup() -> None:
    """A label over 63 characters makes the IDNA codec raise UnicodeError, not OSError: it was lost in
    the lookup thread and the check answered 'internal error: IndexError'."""
    with pytest.raises(OSError, match="not a host name DNS can look up"):
        Deadline(5.0, "the check").connect("a" * 64 + ".example.com", 443)
