"""The optional sslyze backend: full cipher enumeration, Heartbleed, renegotiation, OCSP stapling.

sslyze and its nassl are licensed AGPLv3, while octorunbook is MIT: this module is the only place that
imports sslyze, it is imported only when ``scan(..., backend="sslyze")`` asks for it, and sslyze comes
only with the opt-in extra ``pip install octorunbook[sslyze]``. The chain, hostname and HSTS rows stay
with the default backend either way.

API used (sslyze 6): ``Scanner``, ``ServerScanRequest``, ``ServerNetworkLocation`` (``ip_address`` to
connect to a loopback or explicit address while sending the hostname as SNI) and ``ScanCommand``.
"""

from __future__ import annotations

from typing import Any, Protocol

from octorunbook.evidence.posture._report import RowSeverity
from octorunbook.findings import InputError, TargetError


class ScanState(Protocol):
    """The scan this backend adds rows and findings to (``posture._scan._Scan`` is one; ``_scan``
    imports this module, only when sslyze is asked for, so this module must not import ``_scan``)."""

    @property
    def bad(self) -> RowSeverity: ...

    def row(self, check: str, expected: str, seen: str, severity: RowSeverity, code: str = "") -> None: ...

    def find(self, code: str, message: str, **details: object) -> None: ...


VERSIONS = (
    ("TLS 1.0", "tls_1_0_cipher_suites", True),
    ("TLS 1.1", "tls_1_1_cipher_suites", True),
    ("TLS 1.2", "tls_1_2_cipher_suites", False),
    ("TLS 1.3", "tls_1_3_cipher_suites", False),
)


def weak_reason(iana_name: str) -> str:
    """Why a suite (by its RFC name) is weak, or "" when it is not: the same judgement as the fixed list."""
    name = iana_name.upper()
    for marker, why in (
        ("_NULL_", "no encryption at all"),
        ("_ANON_", "no server authentication"),
        ("EXPORT", "export-grade key"),
        ("RC4", "RC4 is broken (RFC 7465)"),
        ("3DES", "64-bit block cipher (Sweet32)"),
        ("_DES_", "56-bit DES"),
    ):
        if marker in name:
            return why
    if name.startswith("TLS_RSA_WITH_"):
        return "RSA key exchange: no forward secrecy"
    if "_CBC_" in name and name.endswith("_SHA"):
        return "CBC with SHA-1 (Lucky13 class)"
    return ""


def _modules() -> Any:
    try:
        import sslyze
    except ImportError:
        raise InputError(
            "SSLYZE_NOT_INSTALLED",
            "backend='sslyze' needs the optional sslyze package, which is not installed.",
            "pip install 'octorunbook[sslyze]' (sslyze is AGPLv3; see the README), or use the default backend.",
        ) from None
    return sslyze


def scan_into(state: ScanState, address: str, port: int, hostname: str, timeout: float) -> None:
    """Add sslyze's protocol, suite and vulnerability rows (and findings) to ``state``."""
    sslyze = _modules()
    command = sslyze.ScanCommand
    request = sslyze.ServerScanRequest(
        server_location=sslyze.ServerNetworkLocation(hostname=hostname, port=port, ip_address=address),
        scan_commands={
            command.TLS_1_0_CIPHER_SUITES,
            command.TLS_1_1_CIPHER_SUITES,
            command.TLS_1_2_CIPHER_SUITES,
            command.TLS_1_3_CIPHER_SUITES,
            command.HEARTBLEED,
            command.SESSION_RENEGOTIATION,
            command.CERTIFICATE_INFO,
        },
    )
    scanner = sslyze.Scanner()
    scanner.queue_scans([request])
    result = next(iter(scanner.get_results()))
    if result.scan_result is None:
        raise TargetError(
            "ENDPOINT_UNREACHABLE",
            f"sslyze could not connect to {address}:{port}: {result.connectivity_error_trace}",
            "Check the address and port.",
        )
    legacy: list[str] = []
    weak: list[str] = []
    for label, attribute, is_legacy in VERSIONS:
        attempt = getattr(result.scan_result, attribute)
        if attempt.result is None:
            state.row(
                f"protocol {label}", "rejected" if is_legacy else "accepted", "sslyze: scan failed", "info"
            )
            continue
        accepted = [s.cipher_suite.name for s in attempt.result.accepted_cipher_suites]
        if is_legacy and accepted:
            legacy.append(label)
        expected = "rejected" if is_legacy else "accepted"
        seen = f"accepted ({len(accepted)} suites)" if accepted else "rejected"
        bad = is_legacy and bool(accepted)
        state.row(
            f"protocol {label}",
            expected,
            seen,
            state.bad if bad else "ok",
            "TLS_LEGACY_PROTOCOL" if bad else "",
        )
        for name in accepted:
            why = weak_reason(name)
            if why and label == "TLS 1.2":
                weak.append(name)
                state.row(
                    f"TLS 1.2 suite {name}", f"rejected ({why})", "accepted", state.bad, "TLS_WEAK_CIPHER"
                )
    if legacy:
        state.find(
            "TLS_LEGACY_PROTOCOL", f"The portal accepts {' and '.join(legacy)} (sslyze).", protocols=legacy
        )
    if weak:
        state.find(
            "TLS_WEAK_CIPHER",
            f"The portal accepts {len(weak)} weak TLS 1.2 cipher suite(s): {', '.join(weak)} (sslyze).",
            suites=weak,
        )
    _extra_rows(state, result.scan_result)


def _extra_rows(state: ScanState, scan_result: Any) -> None:
    heartbleed = scan_result.heartbleed.result
    if heartbleed is not None:
        vulnerable = bool(heartbleed.is_vulnerable_to_heartbleed)
        state.row(
            "Heartbleed (CVE-2014-0160)",
            "not vulnerable",
            "VULNERABLE" if vulnerable else "not vulnerable",
            "error" if vulnerable else "ok",
        )
    renegotiation = scan_result.session_renegotiation.result
    if renegotiation is not None:
        dos = bool(renegotiation.is_vulnerable_to_client_renegotiation_dos)
        state.row(
            "client-initiated renegotiation",
            "refused",
            "accepted" if dos else "refused",
            state.bad if dos else "ok",
        )
        secure = bool(renegotiation.supports_secure_renegotiation)
        state.row(
            "secure renegotiation (RFC 5746)",
            "supported",
            "supported" if secure else "not supported",
            "ok" if secure else "info",
        )
    info = scan_result.certificate_info.result
    if info is not None and info.certificate_deployments:
        stapled = info.certificate_deployments[0].ocsp_response is not None
        state.row(
            "OCSP stapling", "stapled when the CA runs OCSP", "stapled" if stapled else "not stapled", "info"
        )
