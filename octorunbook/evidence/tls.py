"""Evidence that the portal serves what it should: a real TLS handshake, real HTTP requests.

We connect to the target's loopback endpoint and send the portal hostname as SNI and ``Host``, so the
check proves this server's own HTTP.sys binding. Certificate *trust* is not checked here (a
self-signed certificate is a legitimate choice); what is checked is *which* certificate is served:
its SHA-1 thumbprint must equal the one we bound.
"""

from __future__ import annotations

import hashlib
import http.client
import inspect
import json
import ssl
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from cryptography import x509

# the handshake helpers live beside Deadline (``octorunbook check`` imports them without this module)
from octorunbook.evidence.deadline import Deadline, http_request, sni_for, unverified_context

__all__ = [
    "Check",
    "Evidence",
    "HttpAnswer",
    "TlsEvidence",
    "http_get",
    "served_chain_validates",
    "sni_for",
    "tls_handshake",
    "unverified_context",
    "wait_for_portal",
]


@dataclass(frozen=True)
class TlsEvidence:
    thumbprint: str
    subject: str
    chain_subjects: tuple[str, ...]
    tls_version: str
    cipher: str
    not_after: str = ""  # ISO 8601, UTC: when the served certificate expires

    def to_record(self) -> dict[str, Any]:
        data = asdict(self)
        data["chain_subjects"] = list(self.chain_subjects)
        return data


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    headers: dict[str, str]
    body: bytes = b""

    def header(self, name: str) -> str | None:
        for key, value in self.headers.items():
            if key.lower() == name.lower():
                return value
        return None

    def json(self) -> dict[str, Any] | None:
        try:
            data = json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return None
        return data if isinstance(data, dict) else None


@dataclass(frozen=True)
class Check:
    """One row of verification evidence: what was expected, what was seen."""

    check: str
    expected: str
    seen: str
    ok: bool
    code: str = ""

    def to_record(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Evidence:
    checks: list[Check] = field(default_factory=list)
    tls: TlsEvidence | None = None
    octopus_version: str = ""

    def add(self, check: str, expected: str, seen: str, ok: bool, code: str = "") -> Check:
        row = Check(check, expected, seen, ok, code)
        self.checks.append(row)
        return row

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def failures(self) -> list[Check]:
        return [c for c in self.checks if not c.ok]


def tls_handshake(host: str, port: int, sni: str, timeout: float | Deadline = 5.0) -> TlsEvidence:
    """Handshake with SNI ``sni`` and report the served leaf (and chain, where Python exposes it).

    Connect and handshake together end at ``timeout`` (seconds, or the caller's :class:`Deadline`)."""
    deadline = Deadline.of(timeout, f"the TLS handshake with {host}:{port}")
    with deadline.connect(host, port) as raw:
        with deadline.wrap(unverified_context(), raw, sni_for(sni)) as tls:
            der = tls.getpeercert(binary_form=True)
            if der is None:
                raise ssl.SSLError("the server sent no certificate")
            chain_subjects: tuple[str, ...] = ()
            get_chain = getattr(tls, "get_unverified_chain", None)  # Python 3.13+
            leaf = x509.load_der_x509_certificate(der)
            if get_chain is not None:
                try:
                    chain_subjects = tuple(
                        x509.load_der_x509_certificate(c).subject.rfc4514_string() for c in get_chain()
                    )
                except Exception:  # pragma: no cover - best effort on newer Pythons
                    chain_subjects = ()
            if not chain_subjects:
                chain_subjects = (leaf.subject.rfc4514_string(),)
            cipher = tls.cipher()
            return TlsEvidence(
                thumbprint=hashlib.sha1(der).hexdigest().upper(),  # noqa: S324 - Windows thumbprint
                subject=leaf.subject.rfc4514_string(),
                chain_subjects=chain_subjects,
                tls_version=tls.version() or "",
                cipher=cipher[0] if cipher else "",
                not_after=leaf.not_valid_after_utc.isoformat(),
            )


def http_get(
    scheme: str,
    host: str,
    port: int,
    host_header: str,
    path: str = "/api",
    timeout: float | Deadline = 5.0,
) -> HttpAnswer:
    """One GET without following redirects (a redirect is evidence, not a detour).

    We connect to ``host:port`` (loopback) but send ``host_header`` as the Host header and, for HTTPS,
    its name as SNI: HTTP.sys routes by both. Connect, handshake, request and the whole answer end at
    ``timeout`` (seconds, or the caller's :class:`Deadline`): ``NETWORK_TIMEOUT`` then.
    """
    deadline = Deadline.of(timeout, f"GET {path} from {host}:{port}")
    name = host_header.rsplit(":", 1)[0] if not host_header.startswith("[") else host_header
    reply = http_request(
        "GET",
        scheme,
        host,
        port,
        path,
        deadline,
        headers={"Host": host_header, "Accept": "application/json"},
        context=unverified_context(),
        server_hostname=sni_for(name),
    )
    return HttpAnswer(reply.status, dict(reply.headers), reply.body)


def wait_for_portal(
    probe: Callable[..., HttpAnswer],
    *,
    timeout: float = 60.0,
    interval: float = 0.5,
    progress: Callable[[float, float, str], None] | None = None,
    probe_timeout: float = 5.0,
) -> tuple[HttpAnswer | None, str]:
    """Poll until the portal answers (any HTTP status), for at most ``timeout`` seconds.

    OctopusDSC waits up to five minutes after a start; the runbook default is shorter and visible.
    Returns the answer (or None) and the last error seen. A probe that takes a :class:`Deadline` (one
    positional parameter) is given this one, capped at ``probe_timeout`` for each try, so a slow answer
    cannot carry the wait past ``timeout``.
    """
    deadline = Deadline(timeout, "waiting for the portal")
    takes_deadline = _takes_argument(probe)
    started = time.monotonic()
    last_error = ""
    while True:
        elapsed = time.monotonic() - started
        try:
            return (probe(deadline.capped(probe_timeout)) if takes_deadline else probe()), ""
        except (OSError, ssl.SSLError, http.client.HTTPException) as exc:
            last_error = f"{type(exc).__name__}: {exc}"
        if progress is not None:
            progress(min(elapsed, timeout), timeout, last_error)
        if deadline.expired:
            return None, last_error
        time.sleep(min(interval, deadline.left()))


def _takes_argument(probe: Callable[..., Any]) -> bool:
    try:
        parameters = inspect.signature(probe).parameters.values()
    except (TypeError, ValueError):
        return False
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return any(p.kind in positional and p.default is inspect.Parameter.empty for p in parameters)


def served_chain_validates(
    host: str, port: int, sni: str, anchor_pem: str, timeout: float | Deadline = 5.0
) -> tuple[bool, str]:
    """Does what the portal sends validate up to ``anchor_pem`` alone (the top issuer the PFX carried)?

    Only that one certificate is trusted, so an intermediate the server does not send cannot be filled in
    from a local store: the proof is of the chain *served*. A non-self-signed anchor is trusted as a
    partial chain (OpenSSL ``X509_V_FLAG_PARTIAL_CHAIN``).
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False  # the name is checked by its own row; this row is about the chain
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(cadata=anchor_pem)
    anchor = x509.load_pem_x509_certificate(anchor_pem.encode())
    if anchor.subject != anchor.issuer:
        context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    deadline = Deadline.of(timeout, f"the TLS handshake with {host}:{port}")
    try:
        with deadline.connect(host, port) as raw:
            with deadline.wrap(context, raw, sni_for(sni)):
                return True, f"validates to {anchor.subject.rfc4514_string()}"
    except ssl.SSLCertVerificationError as exc:
        return False, f"does not validate: {exc.verify_message}"
    except OSError as exc:
        return False, f"handshake failed: {exc}"
