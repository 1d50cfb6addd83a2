"""The posture report: rows an auditor reads, findings with stable codes, and their renderings.

A row is one observation (``check``, ``expected``, ``seen``, ``severity``); a finding is what an operator
must act on. Rows are never hidden: a probe this machine could not make is a row saying so
(``info``, "not testable here"), never a silent pass and never a "rejected".
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from octorunbook.findings import Finding

if TYPE_CHECKING:
    from octorunbook.findings import Severity
from octorunbook.render import Panel, Row

RowSeverity = Literal["ok", "info", "warning", "error"]
PostureMode = Literal["default", "strict"]
Front = Literal["httpsys", "nginx"]

NOT_TESTABLE = "not testable here"
ONE_YEAR = 31_536_000

# Stable codes (operators script against them) and why each matters, recorded as the finding's reason.
CODES: dict[str, str] = {
    "TLS_LEGACY_PROTOCOL": "TLS 1.0 and 1.1 are deprecated (RFC 8996); PCI DSS and every browser have dropped them",
    "TLS_WEAK_CIPHER": "a suite without forward secrecy, or with CBC and SHA-1, lets a recorded session be "
    "decrypted later or invites padding-oracle attacks",
    "CHAIN_UNTRUSTED_FOR_CLIENTS": "browsers and API clients validate the chain against their trust store; an "
    "untrusted chain trains people to click through certificate warnings",
    "HSTS_MISSING": "without the header browsers keep allowing plain HTTP",
    "HSTS_TOO_SHORT": "a short max-age lets the browser forget HTTPS-only between visits",
    "HOSTNAME_MISMATCH": "the portal hostname is not covered by the subjectAltName",
}

_REMEDIES: dict[str, dict[Front, str]] = {
    "TLS_LEGACY_PROTOCOL": {
        "httpsys": "On Windows Server 2019+ (build 17763): netsh http update sslcert ipport=0.0.0.0:<port> ... "
        "disablelegacytls=enable for the portal's binding (no reboot). Older Windows: set SCHANNEL\\Protocols\\"
        "TLS 1.0 and TLS 1.1\\Server Enabled=0, DisabledByDefault=1 and reboot (runbook 05 plans both).",
        "nginx": "In the portal's server block: ssl_protocols TLSv1.2 TLSv1.3; then nginx -t and reload.",
    },
    "TLS_WEAK_CIPHER": {
        "httpsys": "Set the SSL Cipher Suite Order policy to ECDHE with AES-GCM only (runbook 05 plans it; a reboot "
        "is needed), or use disablelegacytls=enable on Windows Server 2019+, which also sets a cipher floor.",
        "nginx": "In the portal's server block: ssl_ciphers with ECDHE+AES-GCM/CHACHA20 only (runbook 05's list); "
        "ssl_prefer_server_ciphers off; then nginx -t and reload.",
    },
    "CHAIN_UNTRUSTED_FOR_CLIENTS": {
        "httpsys": "Bind a certificate from a CA the clients trust, with its intermediates in LocalMachine\\CA "
        "(HTTP.sys sends the chain Windows builds), or deploy your internal root to every client.",
        "nginx": "Use a certificate from a CA the clients trust and put the full chain (leaf, then intermediates) "
        "in ssl_certificate, or deploy your internal root to every client.",
    },
    "HSTS_MISSING": {
        "httpsys": "Octopus.Server.exe configure --hstsEnabled=true --hstsMaxAge=3600, raised once HTTPS is proven "
        "(runbook 03's hsts_max_age).",
        "nginx": 'add_header Strict-Transport-Security "max-age=31536000" always; in the server block.',
    },
    "HSTS_TOO_SHORT": {
        "httpsys": "Raise it once HTTPS has been stable for a while: Octopus.Server.exe configure "
        "--hstsMaxAge=31536000 (Octopus recommends starting at 3600).",
        "nginx": 'add_header Strict-Transport-Security "max-age=31536000" always;',
    },
    "HOSTNAME_MISMATCH": {
        "httpsys": "Bind a certificate whose subjectAltName covers the hostname (01 judges it before import).",
        "nginx": "Use a certificate whose subjectAltName covers the hostname.",
    },
}


def remedy_for(code: str, front: Front | None = None) -> str:
    """The remedy for ``code`` on one TLS front, or for both when the front is not known."""
    options = _REMEDIES.get(code, {})
    if front is not None:
        return options.get(front, "")
    return " ".join(f"{'HTTP.sys/SCHANNEL' if k == 'httpsys' else 'nginx'}: {v}" for k, v in options.items())


@dataclass(frozen=True)
class PostureRow:
    """One observation: what was checked, what a hardened portal shows, what this one showed."""

    check: str
    expected: str
    seen: str
    severity: RowSeverity
    code: str = ""

    def to_record(self) -> dict[str, Any]:
        data = asdict(self)
        if not data["code"]:
            del data["code"]
        return data


@dataclass(frozen=True)
class PostureReport:
    """What the endpoint accepts, as rows and findings; ``to_record()`` is the audit record's posture section."""

    endpoint: str
    hostname: str
    posture: PostureMode
    backend: str
    rows: tuple[PostureRow, ...]
    findings: tuple[Finding, ...]
    seconds: float = 0.0
    environment: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """No error finding (only ``posture="strict"`` makes posture findings errors)."""
        return not any(f.severity == "error" for f in self.findings)

    def codes(self) -> list[str]:
        return [f.code for f in self.findings]

    def to_record(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "hostname": self.hostname,
            "posture": self.posture,
            "backend": self.backend,
            "seconds": round(self.seconds, 3),
            "environment": dict(self.environment),
            "rows": [r.to_record() for r in self.rows],
            "findings": [f.to_dict() for f in self.findings],
        }

    @classmethod
    def from_record(cls, data: Any) -> PostureReport | None:
        """A record's posture section read back for showing it, or None when it is not one: a record is
        data, so a row or a finding of the wrong shape is left out rather than trusted."""
        if not isinstance(data, dict) or not isinstance(data.get("rows"), list):
            return None
        rows = tuple(
            PostureRow(
                str(r.get("check", "")),
                str(r.get("expected", "")),
                str(r.get("seen", "")),
                r["severity"],
                str(r.get("code", "")),
            )
            for r in data["rows"]
            if isinstance(r, dict) and r.get("severity") in ("ok", "info", "warning", "error")
        )
        findings: list[Finding] = []
        for item in data.get("findings") or []:
            with contextlib.suppress(KeyError, TypeError, ValueError):
                findings.append(Finding.from_dict(item))
        mode: PostureMode = "strict" if data.get("posture") == "strict" else "default"
        return cls(
            str(data.get("endpoint", "")),
            str(data.get("hostname", "")),
            mode,
            str(data.get("backend", "")),
            rows,
            tuple(findings),
        )


def finding_for(
    code: str, message: str, posture: PostureMode, front: Front | None, **details: Any
) -> Finding:
    """Posture findings are warnings by default: the portal worked before, and posture does not fail a
    binding run. ``posture="strict"`` makes them errors for those who want the run to stop."""
    severity: Severity = "error" if posture == "strict" else "warning"
    return Finding(code, severity, message, remedy_for(code, front), CODES.get(code, ""), dict(details))


def text_table(report: PostureReport) -> str:
    """The rows as a fixed-width table for a terminal, then the findings with their remedies."""
    header = ("", "check", "expected", "seen")
    symbols = {"ok": "✔", "info": "ℹ", "warning": "⚠", "error": "✖"}
    lines = [(symbols[r.severity], r.check, r.expected, r.seen) for r in report.rows]
    widths = [max(len(line[i]) for line in [header, *lines]) for i in range(3)]
    out = [f"TLS posture of {report.endpoint} (SNI {report.hostname}, backend {report.backend})"]
    for line in [header, *lines]:
        out.append("  " + "  ".join(line[i].ljust(widths[i]) for i in range(3)) + "  " + line[3])
    if report.findings:
        out.append("")
    for f in report.findings:
        out.append(f"{f.symbol} {f.code}: {f.message}")
        if f.remedy:
            out.append(f"    remedy: {f.remedy}")
    if not report.findings:
        out.append("\n✔ nothing to harden")
    return "\n".join(out)


def posture_panel(report: PostureReport) -> Panel:
    """The same rows as a notebook panel (HTML through :class:`render.Panel`)."""
    severities = {f.severity for f in report.findings}
    worst = "error" if "error" in severities else "warning" if severities else "ok"
    rows: list[Row] = [Row(r.severity, r.check, f"expected {r.expected}; seen {r.seen}") for r in report.rows]
    rows += [
        Row("error" if f.severity == "error" else "warning", f.code, f.message, f.remedy)
        for f in report.findings
    ]
    title = f"TLS posture of {report.hostname} ({report.endpoint})"
    note = "Each row is one handshake or request; 'not testable here' means this machine's OpenSSL cannot offer it."
    return Panel(title, worst, tuple(rows), note)


def summarise(rows: Sequence[PostureRow]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in rows:
        counts[r.severity] = counts.get(r.severity, 0) + 1
    return counts
