"""Judging a certificate the way Windows and browsers will: every problem as a finding, at once.

:func:`judge` returns an empty list for a certificate that is good to import; :func:`check_file` loads and
judges a file without ever raising for bad input (a load failure is its finding); :func:`card_text` is
the plain-text card a terminal or a log shows.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, SignatureAlgorithmOID

from ..findings import Finding, InputError, errors
from ..redaction import secret_from_env, shown_env_name
from .baseline import regime_findings
from .codes import finding_for
from .info import (
    BROWSER_CURVES,
    CertificateInfo,
    LoadedCertificate,
    extension_value,
    ip_address_of,
    iso_utc,
    utc_now,
)
from .load import key_matches, key_mismatch_error, load_any_file, no_private_key_error

EXPIRY_WARNING_DAYS = 30
MAX_VALIDITY_DAYS = 398  # Apple (support.apple.com/102028) and CA/B Forum BR 6.3.2 before 2026-03-15


_WEAK_SIGNATURES = {
    SignatureAlgorithmOID.RSA_WITH_MD5,
    SignatureAlgorithmOID.RSA_WITH_SHA1,
    SignatureAlgorithmOID._RSA_WITH_SHA1,
    SignatureAlgorithmOID.ECDSA_WITH_SHA1,
    SignatureAlgorithmOID.DSA_WITH_SHA1,
}


def hostname_matches(pattern: str, hostname: str) -> bool:
    """Does SAN entry ``pattern`` cover ``hostname`` as browsers decide (RFC 6125 as Chrome applies it)?

    Case-insensitive, trailing dot ignored. A wildcard counts only as the whole left-most label and
    stands for exactly one label (``*.example.com`` covers ``a.example.com``, not ``example.com`` nor
    ``a.b.example.com``). Partial wildcards (``w*.example.com``), wildcards against IP addresses and
    wildcards over fewer than two labels (``*.com``) match nothing.
    """
    pattern, hostname = pattern.strip().lower().rstrip("."), hostname.strip().lower().rstrip(".")
    if "*" not in pattern:
        return bool(pattern) and pattern == hostname
    if ip_address_of(hostname) is not None or not pattern.startswith("*.") or "*" in pattern[1:]:
        return False
    suffix = pattern[2:]
    head, _, rest = hostname.partition(".")
    return "." in suffix and bool(head) and rest == suffix


def _validity_findings(info: CertificateInfo, now: datetime) -> list[Finding]:
    found: list[Finding] = []
    days = info.days_left(now)
    if now < info.not_before:
        message = f"The certificate becomes valid only on {iso_utc(info.not_before)}; browsers reject it until then."
        found.append(finding_for("CERT_NOT_YET_VALID", message))
    if now > info.not_after:
        found.append(
            finding_for(
                "CERT_EXPIRED", f"The certificate expired on {iso_utc(info.not_after)} ({-days} days ago)."
            )
        )
    elif days < EXPIRY_WARNING_DAYS:
        found.append(
            finding_for(
                "CERT_EXPIRES_SOON", f"The certificate expires on {iso_utc(info.not_after)}, in {days} days."
            )
        )
    lifetime = info.not_after - info.not_before
    if lifetime > timedelta(days=MAX_VALIDITY_DAYS):
        message = f"The certificate is valid for {lifetime.days} days; Apple devices and public CAs refuse over 398."
        found.append(finding_for("VALIDITY_TOO_LONG", message))
    return found


def _name_findings(cert: x509.Certificate, info: CertificateInfo, hostname: str | None) -> list[Finding]:
    """NO_SAN, or HOSTNAME_MISMATCH: browsers match only SAN entries, never the subject CN, so a
    certificate without a SAN is one finding (not two)."""
    san = extension_value(cert, x509.SubjectAlternativeName)
    names = [*info.dns_names, *(str(a) for a in san.get_values_for_type(x509.IPAddress))] if san else []
    if not names:
        cns = [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
        seen = f"names {', '.join(cns)} only in its subject CN" if cns else "no host names"
        message = f"The certificate has {seen} and no subjectAltName; browsers ignore the CN since 2017."
        return [finding_for("NO_SAN", message)]
    if hostname is None:
        return []
    address = ip_address_of(hostname)
    if address is not None and str(address) in names:
        return []
    if address is None and any(hostname_matches(pattern, hostname) for pattern in info.dns_names):
        return []
    message = f"The certificate covers {', '.join(names)} but not {hostname}."
    return [finding_for("HOSTNAME_MISMATCH", message, hostname=hostname, names=names)]


def _key_findings(cert: x509.Certificate, info: CertificateInfo) -> list[Finding]:
    """WEAK_KEY covers everything browsers refuse: small RSA, DSA, EdDSA and curves other than P-256,
    P-384 and P-521 (CA/B Forum BR 6.1.5), not only what is cryptographically weak."""
    found: list[Finding] = []
    key = cert.public_key()
    strong = (isinstance(key, rsa.RSAPublicKey) and key.key_size >= 2048) or (
        isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name in BROWSER_CURVES
    )
    if not strong:
        message = (
            f"The certificate's key is {info.key_description}; browsers accept only RSA of 2048 bits or "
            "more and ECDSA on P-256, P-384 or P-521."
        )
        found.append(finding_for("WEAK_KEY", message))
    if cert.signature_algorithm_oid in _WEAK_SIGNATURES:
        message = (
            f"The certificate is signed with {info.signature_algorithm}; browsers reject SHA-1 and MD5 "
            "signatures (NET::ERR_CERT_WEAK_SIGNATURE_ALGORITHM), even from a private CA."
        )
        found.append(finding_for("WEAK_SIGNATURE", message))
    return found


def _usage_findings(cert: x509.Certificate, info: CertificateInfo) -> list[Finding]:
    """EKU, KeyUsage, basicConstraints. An EKU holding anyExtendedKeyUsage but not serverAuth is
    NO_SERVER_AUTH_EKU: the CA/B Forum forbids anyExtendedKeyUsage on server certificates and Apple
    requires the explicit id-kp-serverAuth OID, so it cannot be relied on."""
    found: list[Finding] = []
    if info.eku_oids and ExtendedKeyUsageOID.SERVER_AUTH.dotted_string not in info.eku_oids:
        client = ExtendedKeyUsageOID.CLIENT_AUTH.dotted_string in info.eku_oids
        message = (
            f"The certificate's Extended Key Usage lists {', '.join(info.eku_oids)} but not Server "
            "Authentication (1.3.6.1.5.5.7.3.1); browsers refuse it for a web site."
            + (" It relies on Client Authentication: it is a client certificate." if client else "")
        )
        found.append(finding_for("NO_SERVER_AUTH_EKU", message))
    usage = extension_value(cert, x509.KeyUsage)
    if usage is not None and not usage.digital_signature:
        message = (
            "The certificate's Key Usage lacks Digital Signature, which every ECDHE and TLS 1.3 handshake "
            "needs; browsers will fail the handshake."
        )
        found.append(finding_for("KEY_USAGE_MISSING_DIGITAL_SIGNATURE", message))
    if info.is_ca:
        message = "The certificate is a CA certificate (basicConstraints CA=true), not a server certificate."
        found.append(finding_for("CA_CERTIFICATE", message))
    return found


def _trust_findings(loaded: LoadedCertificate, info: CertificateInfo) -> list[Finding]:
    """CHAIN_INCOMPLETE looks only for the direct issuer: HTTP.sys sends the chain the Windows store
    can build, and the root need not be sent (clients must trust it on their own anyway)."""
    if info.self_signed:
        return [
            finding_for(
                "SELF_SIGNED", "The certificate is self-signed; browsers warn until each client trusts it."
            )
        ]
    if not any(c.subject == loaded.certificate.issuer for c in loaded.chain):
        message = (
            f"The issuer {info.issuer} is not in the file; clients without that CA certificate will "
            "fail unless the Windows store already holds it."
        )
        return [finding_for("CHAIN_INCOMPLETE", message)]
    return []


def judge(loaded: LoadedCertificate, hostname: str | None, now: datetime | None = None) -> list[Finding]:
    """Every problem Windows or a browser would have with this certificate; an empty list means good."""
    cert, info = loaded.certificate, loaded.info
    found: list[Finding] = []
    if loaded.private_key is not None and not key_matches(loaded.private_key, cert):
        found.append(key_mismatch_error(cert).finding)
    found += _validity_findings(info, utc_now(now))
    found += _name_findings(cert, info, hostname)
    found += _key_findings(cert, info)
    found += _usage_findings(cert, info)
    found += _trust_findings(loaded, info)
    found += regime_findings(loaded, utc_now(now))
    return found


def check_file(
    path: str | Path,
    *,
    hostname: str | None,
    password_env: str = "OCTORUNBOOK_PFX_PASSWORD",
    key_path: str | Path | None = None,
    now: datetime | None = None,
) -> tuple[LoadedCertificate | None, list[Finding]]:
    """Load ``path`` (a PFX, or PEM when it starts with ``-----BEGIN``) and judge it. Never raises for
    bad input: a load failure is returned as its finding. A certificate without a private key is
    still judged, so the operator sees everything at once, with PFX_NO_PRIVATE_KEY first."""
    password = secret_from_env(password_env)
    try:
        loaded = load_any_file(path, key_path, password)
    except InputError as exc:
        if exc.code == "PFX_WRONG_PASSWORD" and password is None:
            message = f"The PFX is password-protected and the environment variable {shown_env_name(password_env)} is not set."
            remedy = (
                f"Set {shown_env_name(password_env)} to the PFX password (never pass it on the command line)."
            )
            return None, [finding_for("PFX_PASSWORD_MISSING", message, remedy)]
        return None, [exc.finding]
    found = judge(loaded, hostname, now)
    if loaded.private_key is None:
        found.insert(0, no_private_key_error(loaded.certificate).finding)
    return loaded, found


def card_text(info: CertificateInfo, findings: Sequence[Finding], now: datetime | None = None) -> str:
    """A plain-text certificate card and findings list, readable at a glance in a terminal or a log."""
    days = info.days_left(now)
    left = f"{days} days left" if days >= 0 else f"expired {-days} days ago"
    rows = [
        ("Subject", info.subject or "(empty)"),
        ("DNS names", ", ".join(info.dns_names) or "(none)"),
        ("Issuer", info.issuer + ("  (self-signed)" if info.self_signed else "")),
        ("Valid", f"{iso_utc(info.not_before)} to {iso_utc(info.not_after)} ({left})"),
        ("Key", info.key_description),
        ("Signature", info.signature_algorithm),
        ("Thumbprint", info.thumbprint),
    ]
    lines = ["Certificate", *(f"  {label:<11} {value}" for label, value in rows), "", "Findings"]
    if not findings:
        lines.append("  ✔ no problems found")
    for f in findings:
        lines.append(f"  {f.symbol} {f.code:<36} {f.message}")
        if f.remedy:
            lines.append(f"    {'':<36} → {f.remedy}")
    lines += ["", "Verdict: " + ("blocked by errors" if errors(findings) else "ready to import")]
    return "\n".join(lines)
