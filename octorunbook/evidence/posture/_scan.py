"""``scan()``: every posture question asked of one endpoint, answered as rows and findings."""

from __future__ import annotations

import http.client
import ipaddress
import re
import ssl
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

from cryptography import x509

from octorunbook.certificates import hostname_matches
from octorunbook.evidence.deadline import Deadline, DeadlineExceeded
from octorunbook.evidence.posture._probe import (
    PROTOCOLS,
    SUITES,
    ProbeResult,
    Suite,
    handshake,
    protocol_context,
    reason,
    suite_context,
    trust_context,
)
from octorunbook.evidence.posture._report import (
    NOT_TESTABLE,
    ONE_YEAR,
    Front,
    PostureMode,
    PostureReport,
    PostureRow,
    RowSeverity,
    finding_for,
)
from octorunbook.evidence.tls import http_get, tls_handshake, unverified_context
from octorunbook.files import read_limited
from octorunbook.findings import Finding, InputError, TargetError
from octorunbook.params.core import hostname_ok

Endpoint = tuple[str, int] | str


def parse_endpoint(endpoint: Endpoint) -> tuple[str, int]:
    """``("127.0.0.1", 8443)``, ``"127.0.0.1:8443"`` or ``"https://host:port/"`` -> (address, port)."""
    if isinstance(endpoint, tuple):
        address, port = endpoint
    else:
        text = endpoint.strip()
        parts = urlsplit(text if "://" in text else f"https://{text}")
        if parts.scheme != "https" or not parts.hostname:
            raise InputError(
                "ENDPOINT_INVALID",
                f"{endpoint!r} is not an https:// URL or host:port.",
                "Give the portal's HTTPS address, e.g. https://127.0.0.1:443 (the hostname goes in --hostname).",
            )
        try:
            port = parts.port or 443
        except ValueError:
            port = 0
        address = parts.hostname
    if not isinstance(port, int) or not 1 <= port <= 65535:
        raise InputError("ENDPOINT_INVALID", f"Port {port!r} is not between 1 and 65535.", "Check the URL.")
    return address, port


def _check_bundle(ca_bundle: str | Path | None) -> str | None:
    if ca_bundle is None:
        return None
    path = Path(ca_bundle)
    try:
        pem = read_limited(path, what="CA bundle").decode("ascii")
    except InputError as exc:
        raise InputError(exc.code, exc.message, "Give a PEM file of CA certificates.") from None
    except UnicodeDecodeError:
        pem = ""  # not PEM: refused below, as OpenSSL would
    try:
        ssl.create_default_context(cadata=pem)
    except (ssl.SSLError, OSError, ValueError) as exc:
        raise InputError(
            "CA_BUNDLE_UNREADABLE",
            f"{str(path)!r} holds no PEM certificate OpenSSL can read ({exc}).",
            "Give the chain or CA certificates your clients trust, as PEM (-----BEGIN CERTIFICATE-----).",
        ) from None
    return pem


def _covers(der: bytes, hostname: str) -> tuple[bool, str]:
    cert = x509.load_der_x509_certificate(der)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False, "no subjectAltName"
    names = san.get_values_for_type(x509.DNSName)
    addresses = [str(a) for a in san.get_values_for_type(x509.IPAddress)]
    try:
        wanted = str(ipaddress.ip_address(hostname))
        ok = wanted in addresses
    except ValueError:
        ok = any(hostname_matches(name, hostname) for name in names)
    return ok, ", ".join([*names, *addresses]) or "no names"


def _hsts(max_age_header: str | None) -> tuple[int | None, bool]:
    """(max-age, includeSubDomains) from a Strict-Transport-Security value (RFC 6797 6.1); None: no valid max-age."""
    if max_age_header is None:
        return None, False
    max_age: int | None = None
    subdomains = False
    for directive in max_age_header.split(";"):
        name, _, value = directive.strip().partition("=")
        if name.strip().lower() == "max-age":
            match = re.fullmatch(r'\s*"?(\d+)"?\s*', value)
            max_age = int(match.group(1)) if match else None
        elif name.strip().lower() == "includesubdomains":
            subdomains = True
    return max_age, subdomains


class _Scan:
    def __init__(self, posture: PostureMode, front: Front | None) -> None:
        self.posture = posture
        self.front = front
        self.rows: list[PostureRow] = []
        self.findings: list[Finding] = []
        self.bad: RowSeverity = "error" if posture == "strict" else "warning"

    def row(self, check: str, expected: str, seen: str, severity: RowSeverity, code: str = "") -> None:
        self.rows.append(PostureRow(check, expected, seen, severity, code))

    def find(self, code: str, message: str, **details: object) -> None:
        self.findings.append(finding_for(code, message, self.posture, self.front, **details))

    def protocols(self, address: str, port: int, sni: str, timeout: float | Deadline) -> bytes | None:
        legacy: list[str] = []
        der: bytes | None = None
        for protocol in PROTOCOLS:
            result = handshake(address, port, sni, protocol_context(protocol), timeout)
            der = der or result.der
            expected = "rejected" if protocol.legacy else "accepted"
            if result.outcome == "untestable":
                self.row(f"protocol {protocol.label}", expected, f"{NOT_TESTABLE}: {result.detail}", "info")
            elif protocol.legacy and result.outcome == "accepted":
                legacy.append(protocol.label)
                self.row(
                    f"protocol {protocol.label}",
                    expected,
                    f"accepted ({result.detail})",
                    self.bad,
                    "TLS_LEGACY_PROTOCOL",
                )
            else:
                self.row(
                    f"protocol {protocol.label}",
                    expected,
                    _seen(result),
                    "ok" if result.outcome == expected else "info",
                )
        if legacy:
            self.find(
                "TLS_LEGACY_PROTOCOL",
                f"The portal accepts {' and '.join(legacy)}, deprecated since 2021 (RFC 8996).",
                protocols=legacy,
            )
        return der

    def suites(
        self, address: str, port: int, sni: str, timeout: float | Deadline, suites: Sequence[Suite]
    ) -> None:
        weak: list[str] = []
        for suite in suites:
            try:
                result = handshake(address, port, sni, suite_context(suite), timeout)
            except ssl.SSLError as exc:
                result = ProbeResult("untestable", f"the local OpenSSL has no such suite ({reason(exc)})")
            check = f"TLS 1.2 suite {suite.iana}"
            expected = f"rejected ({suite.why})" if suite.weak else "accepted"
            if result.outcome == "untestable":
                self.row(check, expected, f"{NOT_TESTABLE}: {result.detail}", "info")
            elif suite.weak and result.outcome == "accepted":
                weak.append(suite.iana)
                self.row(check, expected, "accepted", self.bad, "TLS_WEAK_CIPHER")
            else:
                self.row(
                    check,
                    expected,
                    _seen(result),
                    "ok" if suite.weak or result.outcome == "accepted" else "info",
                )
        if weak:
            self.find(
                "TLS_WEAK_CIPHER",
                f"The portal accepts {len(weak)} weak TLS 1.2 cipher suite(s): {', '.join(weak)}.",
                suites=weak,
            )

    def chain(self, address: str, port: int, sni: str, timeout: float | Deadline, bundle: str | None) -> None:
        system = handshake(address, port, sni, trust_context(None), timeout)
        system_ok = system.outcome == "accepted"
        provided_ok = False
        if bundle is not None:
            provided = handshake(address, port, sni, trust_context(bundle), timeout)
            provided_ok = provided.outcome == "accepted"
            self.row(
                "chain against the operator's CA bundle",
                "validates",
                "validates" if provided_ok else f"does not validate: {provided.detail}",
                "ok" if provided_ok else self.bad,
                "" if provided_ok else "CHAIN_UNTRUSTED_FOR_CLIENTS",
            )
        # An internal CA that the operator's clients trust is a legitimate choice: the system store failing
        # is then information, not a finding -- the bundle is the operator's statement of what clients trust.
        system_severity: RowSeverity = "ok" if system_ok else ("info" if provided_ok else self.bad)
        self.row(
            "chain against the system trust store",
            "validates",
            "validates" if system_ok else f"does not validate: {system.detail}",
            system_severity,
            "CHAIN_UNTRUSTED_FOR_CLIENTS" if system_severity == self.bad else "",
        )
        if not system_ok and not provided_ok:
            against = "the system trust store" + (" or the CA bundle given" if bundle else "")
            self.find(
                "CHAIN_UNTRUSTED_FOR_CLIENTS",
                f"The served chain does not validate against {against}: {system.detail}.",
            )

    def hostname(self, der: bytes | None, hostname: str) -> None:
        if der is None:
            self.row("hostname in subjectAltName", hostname, "no certificate received", "info")
            return
        ok, names = _covers(der, hostname)
        self.row(
            "hostname in subjectAltName",
            hostname,
            names,
            "ok" if ok else self.bad,
            "" if ok else "HOSTNAME_MISMATCH",
        )
        if not ok:
            self.find("HOSTNAME_MISMATCH", f"The served certificate covers {names} but not {hostname}.")

    def hsts(self, address: str, port: int, hostname: str, timeout: float | Deadline, min_age: int) -> None:
        host_header = hostname if port == 443 else f"{hostname}:{port}"
        expected = f"max-age ≥ {min_age}"
        try:
            answer = http_get("https", address, port, host_header, path="/", timeout=timeout)
        except DeadlineExceeded as exc:
            if isinstance(timeout, Deadline):  # the whole scan's budget is spent
                raise
            self.row("HSTS header", expected, f"{NOT_TESTABLE}: GET / failed ({exc.message})", "info")
            return
        except (OSError, ssl.SSLError, http.client.HTTPException) as exc:
            self.row("HSTS header", expected, f"{NOT_TESTABLE}: GET / failed ({exc})", "info")
            return
        header = answer.header("Strict-Transport-Security")
        max_age, subdomains = _hsts(header)
        if header is None or not max_age:
            seen = "absent" if header is None else f"{header!r} (no usable max-age)"
            self.row("HSTS header", expected, f"{seen} (HTTP {answer.status})", self.bad, "HSTS_MISSING")
            self.find(
                "HSTS_MISSING",
                f"GET / over HTTPS answered {answer.status} without a usable "
                "Strict-Transport-Security header.",
                header=header or "",
            )
        elif max_age < min_age:
            self.row("HSTS header", expected, f"max-age={max_age}", self.bad, "HSTS_TOO_SHORT")
            self.find(
                "HSTS_TOO_SHORT",
                f"HSTS max-age is {max_age} s; at least {min_age} s is expected.",
                max_age=max_age,
            )
        else:
            self.row("HSTS header", expected, f"max-age={max_age}", "ok")
        if header is not None:
            self.row(
                "HSTS includeSubDomains",
                "present when every subdomain serves HTTPS",
                "present" if subdomains else "absent",
                "info",
            )


def _check_options(hostname: str, posture: str, backend: str, front: str | None, hsts_min_age: int) -> None:
    """Refuse bad options before anything is probed."""
    problems = [
        (
            "HOSTNAME_INVALID",
            not hostname.strip() or any(c.isspace() for c in hostname) or not hostname_ok(hostname),
            f"{hostname!r} is not a host name.",
            "Give the name operators browse to, e.g. octopus.example.com.",
        ),
        (
            "POSTURE_INVALID",
            posture not in ("default", "strict"),
            f"posture must be 'default' or 'strict', got {posture!r}.",
            "Use posture: default (findings are warnings) or strict (findings are errors).",
        ),
        (
            "POSTURE_BACKEND_INVALID",
            backend not in ("ssl", "sslyze"),
            f"backend must be 'ssl' or 'sslyze', got {backend!r}.",
            "Use ssl (built in) or sslyze (the optional extra).",
        ),
        (
            "POSTURE_FRONT_INVALID",
            front not in (None, "httpsys", "nginx"),
            f"front must be 'httpsys' or 'nginx', got {front!r}.",
            "Use httpsys (Windows) or nginx, or leave it out for both remedies.",
        ),
        (
            "HSTS_MIN_AGE_INVALID",
            hsts_min_age < 0,
            f"hsts_min_age must be 0 or more seconds, got {hsts_min_age}.",
            "Use a number of seconds; one year (31536000) is the usual floor.",
        ),
    ]
    for code, bad, message, remedy in problems:
        if bad:
            raise InputError(code, message, remedy)


def _seen(result: ProbeResult) -> str:
    return f"{result.outcome} ({result.detail})" if result.detail else result.outcome


def scan(
    endpoint: Endpoint,
    hostname: str,
    *,
    ca_bundle: str | Path | None = None,
    posture: PostureMode = "default",
    front: Front | None = None,
    backend: str = "ssl",
    timeout: float | Deadline = 5.0,
    hsts_min_age: int = ONE_YEAR,
    suites: Sequence[Suite] = SUITES,
) -> PostureReport:
    """Ask ``endpoint`` (a loopback or explicit address) what it accepts, sending ``hostname`` as SNI and Host.

    ``timeout``: seconds for each handshake and for the HSTS request (each whole, not per read), or one
    :class:`Deadline` for the whole scan, whose end raises ``NETWORK_TIMEOUT`` (a ``TargetError``).

    Raises InputError for a bad endpoint or CA bundle (nothing was probed), and TargetError
    ``ENDPOINT_UNREACHABLE`` when not even a default TLS handshake succeeds. Everything else -- including
    a probe this machine cannot make -- is a row in the report.
    """
    _check_options(hostname, posture, backend, front, hsts_min_age)
    address, port = parse_endpoint(endpoint)
    bundle = _check_bundle(ca_bundle)
    started = time.monotonic()
    try:
        served = tls_handshake(address, port, hostname, timeout=timeout)
    except DeadlineExceeded:
        raise
    except (OSError, ssl.SSLError) as exc:
        raise TargetError(
            "ENDPOINT_UNREACHABLE",
            f"No TLS handshake with {address}:{port} (SNI {hostname}): {exc}.",
            "Check the address and port, that the portal runs, and that a firewall lets this machine in.",
        ) from None
    state = _Scan(posture, front)
    state.row(
        "served certificate", "the bound certificate", f"{served.thumbprint} ({served.tls_version})", "info"
    )
    if backend == "sslyze":
        from octorunbook.evidence.posture.sslyze import (
            scan_into,  # optional, AGPLv3: imported only when asked for
        )

        scan_into(state, address, port, hostname, _seconds(timeout))
        der = None
    else:
        der = state.protocols(address, port, hostname, timeout)
        state.suites(address, port, hostname, timeout, suites)
    state.chain(address, port, hostname, timeout, bundle)
    state.hostname(der or _leaf(address, port, hostname, timeout), hostname)
    state.hsts(address, port, hostname, timeout, hsts_min_age)
    return PostureReport(
        endpoint=f"{address}:{port}",
        hostname=hostname,
        posture=posture,
        backend=backend,
        rows=tuple(state.rows),
        findings=tuple(state.findings),
        seconds=time.monotonic() - started,
        environment={"openssl": ssl.OPENSSL_VERSION, "python": sys.version.split()[0]},
    )


def _leaf(address: str, port: int, hostname: str, timeout: float | Deadline) -> bytes | None:
    return handshake(address, port, hostname, unverified_context(), timeout).der


def _seconds(timeout: float | Deadline) -> float:
    return timeout.left() if isinstance(timeout, Deadline) else timeout
