"""The Windows ACME HTTP-01 responder (``protocols.ChallengeResponder``): one ``System.Net.HttpListener``
on ``http://+:80/.well-known/acme-challenge/`` beside Octopus, serving every token of the run.

HTTP.sys routes by URL prefix (strong wildcard ``+`` first, then the longest path), so this second
registration receives exactly the challenge requests while Octopus keeps every other URL: no service
restart, no downtime (win-acme's "self-hosting" validation).

HTTP.sys takes one registration of a prefix at a time — a second ``HttpListener`` on the same prefix fails
with error 183 — so an order for two or more names is served by **one** listener: the first ``serving``
starts ``serve-acme-challenge.ps1`` (a background call through the one command seam) and the last one to
end stops it. The script reads each request's token from a file in its token folder, so the tokens never
go on its command line (a token may begin with ``-``, which ``-File`` would read as a parameter name):

    <private temp folder>\\tokens\\           created by the script with its final ACL (SYSTEM,
                                             Administrators and the running account only)
        listener.ready                       written by the script once the prefix is registered
        listener.stop                        written here when the last ``with`` ends
        <token>                              the key authorisation, one file per open ``with``

A token names a file only when it is base64url (``require_acme_token``); it is written under a name that
is not one (``.<token>.part``) and renamed, so the script never reads half a file.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...findings import OctorunbookError, TargetError
from ..protocols import require_acme_token
from .powershell import parse_result, script_argv

if TYPE_CHECKING:
    from ...commands import CommandRunner

CHALLENGE_PREFIX = "http://+:80/.well-known/acme-challenge/"
SERVE_SCRIPT = "serve-acme-challenge.ps1"
READY_FILE = "listener.ready"
STOP_FILE = "listener.stop"


def _listen_seconds() -> int:
    try:
        return int(float(os.environ.get("OCTORUNBOOK_ACME_LISTEN_SECONDS", 300)))
    except ValueError:
        return 300


def windows_listener_argv(token_folder: Path, timeout: int) -> list[str]:
    """The exact argv of the HttpListener script: no token and no key authorisation, only the folder."""
    return script_argv(
        SERVE_SCRIPT,
        "-Prefix",
        CHALLENGE_PREFIX,
        "-TokenFolder",
        str(token_folder),
        "-TimeoutSeconds",
        str(timeout),
    )


def _listener_failed(said: str) -> TargetError:
    return TargetError(
        "ACME_LISTENER_FAILED",
        f"Could not register {CHALLENGE_PREFIX} with HTTP.sys to answer the HTTP-01 challenge{said}.",
        "Run as Administrator (or reserve the prefix with netsh http add urlacl); or use dns-01.",
    )


class _Listener:
    """One run of ``serve-acme-challenge.ps1``: its folder, its background call, its report."""

    def __init__(self, runner: CommandRunner) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix="octorunbook-acme-"))  # 0700 where POSIX modes apply
        self.tokens = self.workdir / "tokens"  # created by the script, with its final ACL
        self.outcome: dict[str, object] = {}
        self.argv = windows_listener_argv(self.tokens, _listen_seconds())
        timeout = _listen_seconds() + 30

        def serve() -> None:
            try:
                result = runner.run(self.argv, mutating=True, label="acme http-01 listener", timeout=timeout)
                self.outcome["data"] = parse_result(result, SERVE_SCRIPT)
            except OctorunbookError as exc:
                self.outcome["error"] = exc

        self.thread = threading.Thread(target=serve, daemon=True)

    def start(self) -> None:
        """Start the script and wait until it listens; ``ACME_LISTENER_FAILED`` (or the seam's error)
        when it does not, with nothing left behind."""
        self.thread.start()
        ready = self.tokens / READY_FILE
        deadline = time.monotonic() + 30
        while not ready.exists() and self.thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        if ready.exists():
            return
        report = self.stop()
        error = self.outcome.get("error")
        if isinstance(error, OctorunbookError):
            raise error
        said = f": {report['message']}" if report.get("message") else ""
        raise _listener_failed(said)

    def alive(self) -> bool:
        return self.thread.is_alive()

    def add(self, token: str, key_authorization: str) -> Path:
        path = self.tokens / token
        part = self.tokens / f".{token}.part"  # not base64url: the script never serves it
        part.unlink(missing_ok=True)
        flags = (
            os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
        )
        fd = os.open(part, flags, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(key_authorization.encode("ascii"))
        os.replace(part, path)
        return path

    def stop(self) -> dict[str, Any]:
        """Ask the script to stop, wait for it, remove the folder; what the script reported."""
        with suppress(OSError):
            if self.tokens.is_dir():
                (self.tokens / STOP_FILE).write_text("stop")
        if self.thread.ident is not None:  # started
            self.thread.join(timeout=15)
        with suppress(OSError):
            for folder in (self.tokens, self.workdir):
                if folder.is_dir():
                    for path in folder.iterdir():
                        path.unlink()
                    folder.rmdir()
        data = self.outcome.get("data")
        return dict(data) if isinstance(data, dict) else {"status": "no report"}


class HttpListenerResponder:
    """HTTP-01 through a second HTTP.sys URL registration, served by one ``serve-acme-challenge.ps1``
    for every ``with`` open at once."""

    kind = "httplistener"

    def __init__(self, runner: CommandRunner) -> None:
        self.runner = runner
        self._listener: _Listener | None = None
        self._open = 0

    @contextmanager
    def serving(self, token: str, key_authorization: str) -> Iterator[dict[str, Any]]:
        """Serve ``token`` inside the ``with``: the first one starts the listener, the last one to end
        stops it; that one's dict holds what the script reported once it had stopped."""
        require_acme_token(token)
        listener = self._listener
        if listener is None:
            listener = _Listener(self.runner)
            listener.start()
            self._listener = listener
        elif not listener.alive():
            raise _listener_failed(": the listener of this run stopped before every challenge was answered")
        report: dict[str, Any] = {}
        self._open += 1
        try:
            path = listener.add(token, key_authorization)
            try:
                yield report
            finally:
                path.unlink(missing_ok=True)
        finally:
            self._open -= 1
            if self._open == 0:
                self._listener = None
                report.update(listener.stop())


__all__ = ["CHALLENGE_PREFIX", "HttpListenerResponder", "READY_FILE", "STOP_FILE", "windows_listener_argv"]
