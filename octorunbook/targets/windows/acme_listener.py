"""The Windows ACME HTTP-01 responder (``protocols.ChallengeResponder``): a ``System.Net.HttpListener``
on ``http://+:80/.well-known/acme-challenge/`` beside Octopus.

HTTP.sys routes by URL prefix (strong wildcard ``+`` first, then the longest path), so this second
registration receives exactly the challenge requests while Octopus keeps every other URL: no service
restart, no downtime (win-acme's "self-hosting" validation). ``serve-acme-challenge.ps1`` runs for the
duration of the validation — a background call through the one command seam — and unregisters in a
``finally``; it stops when the stop file appears or after its timeout, whichever is first.
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
from .powershell import parse_result, script_argv

if TYPE_CHECKING:
    from ...commands import CommandRunner

CHALLENGE_PREFIX = "http://+:80/.well-known/acme-challenge/"
SERVE_SCRIPT = "serve-acme-challenge.ps1"


def _listen_seconds() -> int:
    try:
        return int(float(os.environ.get("OCTORUNBOOK_ACME_LISTEN_SECONDS", 300)))
    except ValueError:
        return 300


def windows_listener_argv(token: str, key_authorization: str, stop_file: Path, timeout: int) -> list[str]:
    """The exact argv of the HttpListener script (the key authorisation is public: the CA fetches it)."""
    return script_argv(
        SERVE_SCRIPT,
        "-Prefix",
        CHALLENGE_PREFIX,
        "-Token",
        token,
        "-KeyAuthorization",
        key_authorization,
        "-StopFile",
        str(stop_file),
        "-TimeoutSeconds",
        str(timeout),
    )


class HttpListenerResponder:
    """HTTP-01 through a second HTTP.sys URL registration, served by ``serve-acme-challenge.ps1``."""

    kind = "httplistener"

    def __init__(self, runner: CommandRunner) -> None:
        self.runner = runner

    @contextmanager
    def serving(self, token: str, key_authorization: str) -> Iterator[dict[str, Any]]:
        """Start the listener script in a background thread, wait until it listens, stop it afterwards;
        the dict holds what the script reported once it has stopped."""
        workdir = Path(tempfile.mkdtemp(prefix="octorunbook-acme-"))
        stop_file = workdir / "stop"
        timeout = _listen_seconds()
        argv = windows_listener_argv(token, key_authorization, stop_file, timeout)
        outcome: dict[str, object] = {}
        report: dict[str, Any] = {}

        def serve() -> None:
            try:
                result = self.runner.run(
                    argv, mutating=True, label="acme http-01 listener", timeout=timeout + 30
                )
                outcome["data"] = parse_result(result, SERVE_SCRIPT)
            except OctorunbookError as exc:
                outcome["error"] = exc

        thread = threading.Thread(target=serve, daemon=True)
        thread.start()
        ready = workdir / "stop.ready"  # the script writes <StopFile>.ready once the prefix is registered
        deadline = time.monotonic() + 30
        while not ready.exists() and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        try:
            if not ready.exists():
                error = outcome.get("error")
                if isinstance(error, OctorunbookError):
                    raise error
                data = outcome.get("data")
                said = f": {data.get('message')}" if isinstance(data, dict) and data.get("message") else ""
                raise TargetError(
                    "ACME_LISTENER_FAILED",
                    f"Could not register {CHALLENGE_PREFIX} with HTTP.sys to answer the HTTP-01 challenge{said}.",
                    "Run as Administrator (or reserve the prefix with netsh http add urlacl); or use dns-01.",
                )
            yield report
        finally:
            stop_file.write_text("stop")
            thread.join(timeout=15)
            with suppress(OSError):
                for path in workdir.iterdir():
                    path.unlink()
                workdir.rmdir()
            data = outcome.get("data")
            report.update(data if isinstance(data, dict) else {"status": "no report"})


__all__ = ["CHALLENGE_PREFIX", "HttpListenerResponder", "windows_listener_argv"]
