"""What a certificate *is*, as plain values: thumbprints, names, key, validity, the loaded triple.

:class:`LoadedCertificate` (certificate, private key, chain) is what every other module hands around;
:func:`inspect` turns a certificate into the :class:`CertificateInfo` an operator reads on the card and
in the record. Nothing here judges; ``judge`` does.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Any, TypeVar

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import dsa, ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from ..redaction import SECRETS
from .codes import error_for

__all__ = [
    "BROWSER_CURVES",
    "CertificateInfo",
    "LoadedCertificate",
    "extension_value",
    "inspect",
    "ip_address_of",
    "iso_utc",
    "normalize_thumbprint",
    "thumbprint_of",
    "utc_now",
]

_INVISIBLE = dict.fromkeys(map(ord, "\u200e\u200f\u200b\u200c\u200d\u2060\ufeff \t\r\n:"), None)
# The curves browsers accept (CA/B Forum BR 6.1.5), by the names operators know: ``inspect`` names a key's
# curve with it and ``judge`` refuses any curve not in it, so the card and the verdict cannot disagree.
BROWSER_CURVES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}
_ExtensionT = TypeVar("_ExtensionT", bound=x509.ExtensionType)


def iso_utc(moment: datetime) -> str:
    """``2026-11-26T18:30:00Z``: the one way a certificate's dates are written, on the card and in the record."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def utc_now(now: datetime | None) -> datetime:
    """``now`` in UTC, or the clock's: every date rule here takes an injectable moment, so a test (and a
    card printed beside a verdict) sees the same instant the judgement used."""
    return datetime.now(UTC) if now is None else now.astimezone(UTC)


def ip_address_of(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The IP address ``name`` spells (brackets allowed), else None. An address belongs in an iPAddress
    SAN entry and is never matched as a DNS name, so generating and judging a certificate both ask first."""
    try:
        return ipaddress.ip_address(name.strip().strip("[]"))
    except ValueError:
        return None


@dataclass(frozen=True)
class CertificateInfo:
    """What an operator needs to know about a certificate, as plain values (the card, the record)."""

    thumbprint: str
    subject: str
    issuer: str
    dns_names: tuple[str, ...]
    not_before: datetime
    not_after: datetime
    serial_number: str
    key_description: str
    signature_algorithm: str
    self_signed: bool
    is_ca: bool
    eku_oids: tuple[str, ...]

    def __post_init__(self) -> None:
        # Produced values: a password that happens to occur in a name is never masked inside it.
        SECRETS.add_public([self.subject, self.issuer, *self.dns_names, self.key_description])

    def days_left(self, now: datetime | None = None) -> int:
        """Whole days until notAfter (negative once expired), as an operator counts them."""
        return int((self.not_after - utc_now(now)).total_seconds() // 86400)

    def to_record(self, store: str | None = None) -> dict[str, Any]:
        return {
            "thumbprint": self.thumbprint,
            "subject": self.subject,
            "issuer": self.issuer,
            "dns_names": list(self.dns_names),
            "not_before": iso_utc(self.not_before),
            "not_after": iso_utc(self.not_after),
            "store": store,
            "serial_number": self.serial_number,
            "key": self.key_description,
            "signature": self.signature_algorithm,
            "self_signed": self.self_signed,
            "is_ca": self.is_ca,
            "eku_oids": list(self.eku_oids),
            "days_left": self.days_left(),
        }


@dataclass(frozen=True)
class LoadedCertificate:
    """A server certificate with its private key (when we have it) and the rest of its chain."""

    certificate: x509.Certificate
    private_key: PrivateKeyTypes | None
    chain: tuple[x509.Certificate, ...]
    source: str  # "pfx" | "pem" | "self-signed" | "store"

    @cached_property
    def info(self) -> CertificateInfo:
        return inspect(self.certificate)


def normalize_thumbprint(text: str) -> str:
    """The 40-character upper-case hex thumbprint in ``text``.

    Operators paste thumbprints from MMC, which prefixes an invisible U+200E (left-to-right mark) that
    makes an exact match fail with no visible reason; PowerShell and certutil show them with spaces,
    colons or in lower case. All of those forms name the same certificate, so all are accepted.
    """
    cleaned = text.translate(_INVISIBLE)
    if not re.fullmatch(r"[0-9A-Fa-f]{40}", cleaned):
        raise error_for(
            "THUMBPRINT_INVALID",
            f"{text!r} is not a certificate thumbprint: expected 40 hexadecimal characters, got {len(cleaned)}.",
        )
    return cleaned.upper()


def thumbprint_of(cert: x509.Certificate) -> str:
    """SHA-1 of the DER encoding, upper-case hex: the value Windows, netsh and certutil show."""
    return cert.fingerprint(hashes.SHA1()).hex().upper()


def extension_value(cert: x509.Certificate, kind: type[_ExtensionT]) -> _ExtensionT | None:
    """The value of ``cert``'s extension of type ``kind``, or None: a missing extension is an answer
    (no SAN, no EKU), not an error, for the inspector and the judge alike."""
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def _key_description(key: object) -> str:
    if isinstance(key, rsa.RSAPublicKey | dsa.DSAPublicKey):
        return f"{'RSA' if isinstance(key, rsa.RSAPublicKey) else 'DSA'} {key.key_size}"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"ECDSA {BROWSER_CURVES.get(key.curve.name, key.curve.name)}"
    return type(key).__name__.removeprefix("_").removesuffix("PublicKey")


def _is_self_signed(cert: x509.Certificate) -> bool:
    """Windows calls a certificate self-signed when subject equals issuer; the signature is checked too
    where possible, so a leaf that merely carries its CA's name is not taken for a root."""
    if cert.subject != cert.issuer:
        return False
    try:
        cert.verify_directly_issued_by(cert)
    except InvalidSignature:
        return False
    except Exception:  # an algorithm that cannot be verified here (MD5, ...): the names decide
        return True
    return True


def inspect(cert: x509.Certificate) -> CertificateInfo:
    san = extension_value(cert, x509.SubjectAlternativeName)
    eku = extension_value(cert, x509.ExtendedKeyUsage)
    basic = extension_value(cert, x509.BasicConstraints)
    oid = cert.signature_algorithm_oid
    signature = getattr(oid, "_name", "Unknown OID")
    return CertificateInfo(
        thumbprint=thumbprint_of(cert),
        subject=cert.subject.rfc4514_string(),
        issuer=cert.issuer.rfc4514_string(),
        dns_names=tuple(san.get_values_for_type(x509.DNSName)) if san else (),
        not_before=cert.not_valid_before_utc,
        not_after=cert.not_valid_after_utc,
        serial_number=format(cert.serial_number, "X"),
        key_description=_key_description(cert.public_key()),
        signature_algorithm=oid.dotted_string if signature == "Unknown OID" else signature,
        self_signed=_is_self_signed(cert),
        is_ca=bool(basic and basic.ca),
        eku_oids=tuple(o.dotted_string for o in eku) if eku else (),
    )
