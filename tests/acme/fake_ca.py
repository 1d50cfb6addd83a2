"""A scripted ACME CA on loopback TLS (trustme) for what pebble 2.6 cannot be made to do: answer a chosen
renewal window or ``Retry-After``, list ``meta.profiles``, refuse ``replaces`` with ``alreadyReplaced``.

It counts every ``renewalInfo`` GET and keeps every new-order JWS payload, so a test can say how often the
CA was asked and what the order carried. Only the directory, nonces, ``renewalInfo`` and ``newOrder`` exist.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import trustme

from tests.tlsserver import serving


@dataclass
class FakeCa:
    """The script (answers to give) and the log (what was asked) of one fake CA."""

    directory: str = ""
    bundle: str = ""
    profiles: dict[str, str] = field(default_factory=dict)
    # renewalInfo answers in order: (status, body, headers); the last one repeats
    renewal_answers: list[tuple[int, Any, dict[str, str]]] = field(default_factory=list)
    renewal_gets: int = 0
    refuse_replaces: bool = False
    # the problem a replacing order is refused with: (HTTP status, ACME error type, detail)
    replaces_problem: tuple[int, str, str] = (
        409,
        "alreadyReplaced",
        "the certificate has already been replaced",
    )
    orders: list[dict[str, Any]] = field(default_factory=list)
    nonces: int = 0

    def window(self, start: datetime, end: datetime, headers: dict[str, str] | None = None) -> None:
        """Answer every renewalInfo GET with this window."""
        body = {"suggestedWindow": {"start": _z(start), "end": _z(end)}}
        self.renewal_answers = [(200, body, headers or {})]


def _z(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _payload(jws: bytes) -> dict[str, Any]:
    body = json.loads(jws)
    text = base64.urlsafe_b64decode(body["payload"] + "=" * (-len(body["payload"]) % 4))
    return json.loads(text) if text else {}


@contextmanager
def fake_ca(tmp_path: Path) -> Iterator[FakeCa]:
    ca = FakeCa()
    tls = trustme.CA()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

        def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            data = b"" if body is None else json.dumps(body).encode()
            headers = dict(headers or {})
            ca.nonces += 1
            self.send_response(status)
            self.send_header("Content-Type", headers.pop("Content-Type", "application/json"))
            self.send_header("Content-Length", str(len(data)))
            self.send_header("Replay-Nonce", f"nonce-{ca.nonces:08d}")
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def do_HEAD(self) -> None:  # noqa: N802
            self._send(200, None)

        def do_GET(self) -> None:  # noqa: N802
            base = f"https://127.0.0.1:{self.server.server_address[1]}"
            if self.path == "/dir":
                directory: dict[str, Any] = {
                    "newNonce": f"{base}/nonce",
                    "newAccount": f"{base}/account",
                    "newOrder": f"{base}/new-order",
                    "renewalInfo": f"{base}/ri",
                }
                if ca.profiles:
                    directory["meta"] = {"profiles": ca.profiles}
                self._send(200, directory)
            elif self.path.startswith("/ri/"):
                ca.renewal_gets += 1
                answers = ca.renewal_answers or [(404, {"type": "urn:ietf:params:acme:error:malformed"}, {})]
                status, body, headers = answers[min(ca.renewal_gets, len(answers)) - 1]
                self._send(status, body, headers)
            else:
                self._send(200, None)

        def do_POST(self) -> None:  # noqa: N802
            base = f"https://127.0.0.1:{self.server.server_address[1]}"
            payload = _payload(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
            if self.path != "/new-order":
                self._send(404, {"type": "urn:ietf:params:acme:error:malformed", "detail": "not here"})
                return
            ca.orders.append(payload)
            if payload.get("replaces") and ca.refuse_replaces:
                status, kind, detail = ca.replaces_problem
                problem = {"type": f"urn:ietf:params:acme:error:{kind}", "detail": detail, "status": status}
                self._send(status, problem, {"Content-Type": "application/problem+json"})
                return
            order = {
                "status": "pending",
                "identifiers": payload.get("identifiers", []),
                "authorizations": [],
                "finalize": f"{base}/finalize/{len(ca.orders)}",
            }
            self._send(201, order, {"Location": f"{base}/order/{len(ca.orders)}"})

    with serving(Handler, tls) as server:
        bundle = tmp_path / "fake-ca.pem"
        tls.cert_pem.write_to_path(str(bundle))
        ca.directory, ca.bundle = f"https://127.0.0.1:{server.server_address[1]}/dir", str(bundle)
        yield ca
