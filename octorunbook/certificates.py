"""Certificates: load, generate, inspect and judge them the way Windows and browsers will.

Everything here is pure (``cryptography`` only: no subprocess, no IPython), so the notebooks, the CLI
and the tests see the same verdict before anything touches a target. The flow is::

    load_pfx / load_pem_pair / generate_self_signed  ->  LoadedCertificate
    judge(loaded, hostname)                          ->  [Finding, ...]   (empty list: good to import)
    export_pfx(loaded, password, encryption)         ->  PFX bytes Windows can import

Finding codes (stable; operators script against them, see :data:`CODES`)::

    PFX_PASSWORD_MISSING  PFX_WRONG_PASSWORD  PFX_UNREADABLE  PFX_NO_PRIVATE_KEY  KEY_MISMATCH
    PEM_UNREADABLE  FILE_NOT_FOUND  FILE_UNREADABLE  CERT_NOT_FOUND (store lookups, raised elsewhere)
    CERT_EXPIRED  CERT_NOT_YET_VALID  CERT_EXPIRES_SOON  NO_SAN  HOSTNAME_MISMATCH  NO_SERVER_AUTH_EKU
    WEAK_KEY  WEAK_SIGNATURE  CA_CERTIFICATE  SELF_SIGNED  CHAIN_INCOMPLETE  VALIDITY_TOO_LONG
    KEY_USAGE_MISSING_DIGITAL_SIGNATURE

Input errors (bad parameters, unreadable files) raise :class:`InputError`; :func:`check_file` turns
them into findings instead, so a caller that wants a report never sees an exception.
"""

from __future__ import annotations

import ipaddress
import os
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, SignatureAlgorithmOID

from ._files import read_limited
from .findings import Finding, InputError, Severity, errors
from .redaction import SECRETS, Secret, secret_from_env, shown_env_name

KeyType = Literal["rsa2048", "rsa3072", "rsa4096", "ecdsa-p256", "ecdsa-p384"]
PfxEncryption = Literal["compatible", "aes", "auto"]

CODES: dict[str, str] = {
    "PFX_PASSWORD_MISSING": "the PFX is password-protected and the password environment variable is not set",
    "PFX_WRONG_PASSWORD": "wrong PFX password, or an encryption this machine cannot read (legacy RC2)",
    "PFX_UNREADABLE": "not a PKCS#12 file (truncated, PEM, DER certificate, random bytes)",
    "PFX_NO_PRIVATE_KEY": "the file holds certificate(s) but no private key",
    "KEY_MISMATCH": "the private key does not belong to the certificate",
    "PEM_UNREADABLE": "the PEM certificate or key file cannot be parsed (or its key cannot be decrypted)",
    "FILE_NOT_FOUND": "the given file does not exist",
    "FILE_UNREADABLE": "the given path cannot be read (a folder, permissions)",
    "CERT_NOT_FOUND": "no certificate with that thumbprint in the chosen store",
    "CERT_EXPIRED": "the certificate's notAfter is in the past",
    "CERT_NOT_YET_VALID": "the certificate's notBefore is in the future",
    "CERT_EXPIRES_SOON": "the certificate expires in less than 30 days",
    "NO_SAN": "no subjectAltName names; browsers ignore the subject CN",
    "HOSTNAME_MISMATCH": "the portal hostname is not covered by the subjectAltName",
    "NO_SERVER_AUTH_EKU": "an Extended Key Usage extension without serverAuth",
    "WEAK_KEY": "RSA under 2048 bits, DSA, or a key type or curve browsers reject",
    "WEAK_SIGNATURE": "the certificate is signed with SHA-1 or MD5",
    "CA_CERTIFICATE": "basicConstraints CA=true on the server certificate",
    "SELF_SIGNED": "self-signed: browsers warn until it is trusted on each client",
    "CHAIN_INCOMPLETE": "the issuing CA certificate is neither the certificate itself nor in the file",
    "VALIDITY_TOO_LONG": "lifetime over 398 days; public CAs and Apple devices refuse it",
    "KEY_USAGE_MISSING_DIGITAL_SIGNATURE": "Key Usage without digitalSignature; ECDHE and TLS 1.3 need it",
    "THUMBPRINT_INVALID": "not 40 hexadecimal characters",
    "HOSTNAME_INVALID": "not a valid DNS host name",
    "VALIDITY_INVALID": "validity_days outside 1..825",
    "KEY_TYPE_INVALID": "an unknown key_type",
    "PFX_ENCRYPTION_INVALID": "an unknown pfx_encryption",
}
_WARNINGS = {"CERT_EXPIRES_SOON", "CA_CERTIFICATE", "SELF_SIGNED", "CHAIN_INCOMPLETE", "VALIDITY_TOO_LONG"}
_REMEDIES: dict[str, str] = {
    "PFX_WRONG_PASSWORD": "Check the password in the environment variable. If it is right, export the PFX again "
    "with AES-256 or TripleDES-SHA1 encryption (or unset CRYPTOGRAPHY_OPENSSL_NO_LEGACY).",
    "PFX_UNREADABLE": "Export the certificate with its private key as a .pfx (Windows: 'Yes, export the "
    "private key'), or give a PEM certificate with its key file.",
    "PFX_NO_PRIVATE_KEY": "Export again with the private key included (PFX), or give the PEM key file.",
    "KEY_MISMATCH": "Export the certificate again together with its own private key, or pick the key file "
    "that was generated with the certificate's request.",
    "PEM_UNREADABLE": "Give PEM files ('-----BEGIN ...' blocks) and, for an encrypted key, its passphrase "
    "in the password environment variable.",
    "FILE_NOT_FOUND": "Check the path.",
    "FILE_UNREADABLE": "Give the path of a readable file (not a folder) and check its permissions.",
    "CERT_EXPIRED": "Renew the certificate and use the new one.",
    "CERT_NOT_YET_VALID": "Check this machine's clock, or issue a certificate valid from now.",
    "CERT_EXPIRES_SOON": "Plan the renewal now; the portal stops being reachable over HTTPS on that date.",
    "NO_SAN": "Issue a certificate with the portal's host name as a Subject Alternative Name (DNS name).",
    "HOSTNAME_MISMATCH": "Use a certificate whose Subject Alternative Name includes the portal's host name, "
    "or browse to one of the names it covers.",
    "NO_SERVER_AUTH_EKU": "Issue it from a web server template (EKU Server Authentication).",
    "WEAK_KEY": "Issue a new certificate with an RSA 2048+ or ECDSA P-256 key.",
    "WEAK_SIGNATURE": "Have it re-issued with a SHA-256 signature.",
    "CA_CERTIFICATE": "Use a server (end-entity) certificate issued by this CA instead.",
    "SELF_SIGNED": "Put it in the clients' Trusted Root store (e.g. by group policy), or use a CA-issued one.",
    "CHAIN_INCOMPLETE": "Include the intermediate CA certificate(s) in the PFX, or import them into the "
    "Intermediate Certification Authorities store.",
    "VALIDITY_TOO_LONG": "Fine for a private CA trusted by Windows clients only; otherwise use 397 days or less.",
    "KEY_USAGE_MISSING_DIGITAL_SIGNATURE": "Issue it with Key Usage Digital Signature (and Key Encipherment "
    "for RSA).",
    "THUMBPRINT_INVALID": "Copy the Thumbprint field from the certificate's Details tab or from "
    "Get-ChildItem Cert:\\LocalMachine\\My.",
    "HOSTNAME_INVALID": "Use the name operators type in the browser, e.g. octopus.example.com; give "
    "international names in their xn-- form.",
    "VALIDITY_INVALID": "Use 397 (the longest lifetime all browsers accept) unless you have a reason.",
    "KEY_TYPE_INVALID": "Use one of rsa2048, rsa3072, rsa4096, ecdsa-p256, ecdsa-p384.",
    "PFX_ENCRYPTION_INVALID": "Use compatible, aes or auto.",
}


def _finding(code: str, message: str, remedy: str | None = None, **details: Any) -> Finding:
    """A finding whose severity and usual remedy come from the tables above."""
    severity: Severity = "warning" if code in _WARNINGS else "error"
    return Finding(
        code, severity, message, _REMEDIES.get(code, "") if remedy is None else remedy, details=details
    )


def _error(code: str, message: str, remedy: str | None = None) -> InputError:
    finding = _finding(code, message, remedy)
    return InputError(finding.code, finding.message, finding.remedy)


EXPIRY_WARNING_DAYS = 30
MAX_VALIDITY_DAYS = 398  # Apple (support.apple.com/102028) and CA/B Forum BR 6.3.2 before 2026-03-15
CLOCK_SKEW = timedelta(minutes=5)
AES_MIN_WINDOWS_BUILD = 17763  # Windows Server 2019; 2016 (14393) cannot import PBES2/AES PFX files
PFX_KDF_ROUNDS = 50000

_INVISIBLE = dict.fromkeys(map(ord, "\u200e\u200f\u200b\u200c\u200d\u2060\ufeff \t\r\n:"), None)
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")
_BROWSER_CURVES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}
_WEAK_SIGNATURES = {
    SignatureAlgorithmOID.RSA_WITH_MD5,
    SignatureAlgorithmOID.RSA_WITH_SHA1,
    SignatureAlgorithmOID._RSA_WITH_SHA1,
    SignatureAlgorithmOID.ECDSA_WITH_SHA1,
    SignatureAlgorithmOID.DSA_WITH_SHA1,
}
_ExtensionT = TypeVar("_ExtensionT", bound=x509.ExtensionType)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _now(now: datetime | None) -> datetime:
    return datetime.now(UTC) if now is None else now.astimezone(UTC)


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
        return int((self.not_after - _now(now)).total_seconds() // 86400)

    def to_record(self, store: str | None = None) -> dict[str, Any]:
        return {
            "thumbprint": self.thumbprint,
            "subject": self.subject,
            "issuer": self.issuer,
            "dns_names": list(self.dns_names),
            "not_before": _iso(self.not_before),
            "not_after": _iso(self.not_after),
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


# --- inspecting ---------------------------------------------------------------------------------------


def normalize_thumbprint(text: str) -> str:
    """The 40-character upper-case hex thumbprint in ``text``.

    Operators paste thumbprints from MMC, which prefixes an invisible U+200E (left-to-right mark) that
    makes an exact match fail with no visible reason; PowerShell and certutil show them with spaces,
    colons or in lower case. All of those forms name the same certificate, so all are accepted.
    """
    cleaned = text.translate(_INVISIBLE)
    if not re.fullmatch(r"[0-9A-Fa-f]{40}", cleaned):
        raise _error(
            "THUMBPRINT_INVALID",
            f"{text!r} is not a certificate thumbprint: expected 40 hexadecimal characters, got {len(cleaned)}.",
        )
    return cleaned.upper()


def thumbprint_of(cert: x509.Certificate) -> str:
    """SHA-1 of the DER encoding, upper-case hex: the value Windows, netsh and certutil show."""
    return cert.fingerprint(hashes.SHA1()).hex().upper()


def _extension(cert: x509.Certificate, kind: type[_ExtensionT]) -> _ExtensionT | None:
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def _key_description(key: object) -> str:
    if isinstance(key, rsa.RSAPublicKey | dsa.DSAPublicKey):
        return f"{'RSA' if isinstance(key, rsa.RSAPublicKey) else 'DSA'} {key.key_size}"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"ECDSA {_BROWSER_CURVES.get(key.curve.name, key.curve.name)}"
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
    san = _extension(cert, x509.SubjectAlternativeName)
    eku = _extension(cert, x509.ExtendedKeyUsage)
    basic = _extension(cert, x509.BasicConstraints)
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


# --- loading ------------------------------------------------------------------------------------------


def _key_matches(key: PrivateKeyTypes, cert: x509.Certificate) -> bool:
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    try:
        return key.public_key().public_bytes(*spki) == cert.public_key().public_bytes(*spki)
    except Exception:  # key types without a SubjectPublicKeyInfo form are no TLS server key anyway
        return False


def _key_mismatch(cert: x509.Certificate) -> InputError:
    return _error(
        "KEY_MISMATCH",
        f"The private key does not belong to the certificate {cert.subject.rfc4514_string()} "
        f"({thumbprint_of(cert)}).",
    )


def _no_private_key(cert: x509.Certificate) -> InputError:
    return _error(
        "PFX_NO_PRIVATE_KEY",
        f"The file holds the certificate {cert.subject.rfc4514_string()} but no private key, "
        "so HTTP.sys could not use it.",
    )


def _read_pfx(data: bytes, password: Secret | None) -> LoadedCertificate:
    """Parse a PFX; the private key may be missing (the caller decides whether that is fatal).

    cryptography says "Invalid password" both for a wrong password and for an encryption it cannot
    read (RC2-40 with CRYPTOGRAPHY_OPENSSL_NO_LEGACY set), so the message names both causes.
    """
    secret = password.reveal().encode("utf-8") if password is not None else None
    try:
        with warnings.catch_warnings():  # "parsed as BER" is for developers; operators see the outcome
            warnings.simplefilter("ignore")
            key, cert, extra = pkcs12.load_key_and_certificates(data, secret)
    except Exception as exc:  # the boundary: no byte string may escape as a traceback
        if "password" in str(exc).lower():
            legacy_off = ", and CRYPTOGRAPHY_OPENSSL_NO_LEGACY is set here" if _legacy_disabled() else ""
            raise _error(
                "PFX_WRONG_PASSWORD",
                "The PFX could not be opened with the given password. Either the password is wrong, or the "
                "file uses an encryption this machine cannot read (legacy RC2-40, which OpenSSL 3 reads only "
                f"with its legacy provider{legacy_off}).",
            ) from None
        raise _error(
            "PFX_UNREADABLE",
            "The file is not a PKCS#12 (PFX) file: it may be truncated, a PEM or DER certificate, or "
            "something else entirely.",
        ) from None
    if cert is None and not extra:
        raise _error("PFX_UNREADABLE", "The PFX holds no certificate.")
    if cert is None:
        # cryptography returns the certificate that matches the key; with a key and no match the file was
        # assembled wrongly, and without a key the leaf lands among the "additional" certificates.
        if key is not None:
            raise _key_mismatch(extra[0])
        cert, extra = extra[0], extra[1:]
    return LoadedCertificate(cert, key, tuple(extra), "pfx")


def _legacy_disabled() -> bool:
    return bool(os.environ.get("CRYPTOGRAPHY_OPENSSL_NO_LEGACY"))


def load_pfx(data: bytes, password: Secret | None) -> LoadedCertificate:
    """A PFX that holds a certificate and its private key; every failure is an InputError."""
    loaded = _read_pfx(data, password)
    if loaded.private_key is None:
        raise _no_private_key(loaded.certificate)
    return loaded


def _read_file(path: str | Path) -> bytes:
    """A regular file of at most 1 MiB (``_files.read_limited``): never /dev/zero, a FIFO or 2 GB."""
    return read_limited(path, what="certificate file")


def load_pfx_file(path: str | Path, password: Secret | None) -> LoadedCertificate:
    return load_pfx(_read_file(path), password)


def _read_pem_certs(path: str | Path, data: bytes) -> list[x509.Certificate]:
    try:
        return x509.load_pem_x509_certificates(data)
    except Exception:
        raise _error("PEM_UNREADABLE", f"{str(path)!r} holds no readable PEM certificate.") from None


def _read_pem_key(path: str | Path, password: Secret | None) -> PrivateKeyTypes:
    data, secret = _read_file(path), password.reveal().encode("utf-8") if password else None
    try:
        try:
            return serialization.load_pem_private_key(data, secret)
        except TypeError as exc:  # a password was given (perhaps meant for a PFX) but the key is plain
            if secret is None or "not encrypted" not in str(exc):
                raise
            return serialization.load_pem_private_key(data, None)
    except Exception as exc:
        encrypted = "password" in str(exc).lower() or "decrypt" in str(exc).lower()
        why = (
            "is encrypted and the given password (or none) does not open it" if encrypted else "is unreadable"
        )
        raise _error("PEM_UNREADABLE", f"The PEM private key in {str(path)!r} {why}.") from None


def load_pem_pair(
    cert_path: str | Path, key_path: str | Path, key_password: Secret | None = None
) -> LoadedCertificate:
    """A PEM certificate file (the certificate matching the key is the leaf, the others become the
    chain) and its PEM private key, which may be the same file."""
    certs = _read_pem_certs(cert_path, _read_file(cert_path))
    key = _read_pem_key(key_path, key_password)
    leaf = next((c for c in certs if _key_matches(key, c)), None)
    if leaf is None:
        raise _key_mismatch(certs[0])
    return LoadedCertificate(leaf, key, tuple(c for c in certs if c is not leaf), "pem")


# --- generating and exporting -------------------------------------------------------------------------


def _check_dns_name(name: str, *, wildcard: bool) -> str:
    """A lower-case DNS name, or InputError. International names must come in their xn-- form because
    the SAN holds A-labels and that is what a browser compares."""
    lowered = name.strip().lower().rstrip(".")
    labels = lowered.split(".")
    if wildcard and labels[0] == "*" and len(labels) >= 3:
        labels = labels[1:]
    if len(lowered) > 253 or not all(_LABEL.fullmatch(label) for label in labels):
        allowed = "; a wildcard only as '*.' before two or more labels" if wildcard else ""
        raise _error(
            "HOSTNAME_INVALID",
            f"{name!r} is not a valid DNS host name (letters, digits and hyphens in dot-separated labels{allowed}).",
        )
    return lowered


def _ip(name: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(name.strip().strip("[]"))
    except ValueError:
        return None


def _new_key(key_type: KeyType) -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
    if key_type.startswith("rsa"):
        return rsa.generate_private_key(public_exponent=65537, key_size=int(key_type[3:]))
    return ec.generate_private_key(ec.SECP256R1() if key_type == "ecdsa-p256" else ec.SECP384R1())


def _san_entries(hostname: str, extra_dns_names: Sequence[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for i, raw in enumerate([hostname, *extra_dns_names]):
        address = _ip(raw)
        entry = x509.IPAddress(address) if address else x509.DNSName(_check_dns_name(raw, wildcard=i > 0))
        if entry not in names:
            names.append(entry)
    return names


def generate_self_signed(
    hostname: str,
    extra_dns_names: Sequence[str] = (),
    key_type: KeyType = "rsa2048",
    validity_days: int = 397,
    now: datetime | None = None,
) -> LoadedCertificate:
    """A self-signed server certificate for the portal, shaped so browsers accept it once trusted.

    The names go in the SAN because browsers ignore the subject CN (Chrome 58, Firefox 48, Apple since
    iOS 13); CN=hostname is still set for people reading MMC, unless it is over the 64 characters a CN
    may hold. EKU serverAuth is there because Apple requires it. KeyUsage keyEncipherment is set only
    for RSA keys: RSA key exchange uses it, and RFC 5480 does not allow it on ECDSA keys. 397 days is
    the longest lifetime every browser accepts; notBefore lies five minutes back so a client whose
    clock runs slow does not reject a certificate made a moment ago.
    """
    if key_type not in get_args(KeyType):
        raise _error("KEY_TYPE_INVALID", f"Unknown key type {key_type!r}.")
    if isinstance(validity_days, bool) or not isinstance(validity_days, int) or not 1 <= validity_days <= 825:
        raise _error("VALIDITY_INVALID", f"validity_days must be between 1 and 825, got {validity_days!r}.")
    names = _san_entries(hostname, extra_dns_names)
    key = _new_key(key_type)
    common_name = hostname.strip().lower()
    subject = x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, common_name)] if len(common_name) <= 64 else []
    )
    not_before = _now(now) - CLOCK_SKEW
    is_rsa = isinstance(key, rsa.RSAPrivateKey)
    usage = dict.fromkeys(
        ("content_commitment", "data_encipherment", "key_agreement", "key_cert_sign"), False
    )
    usage.update(crl_sign=False, encipher_only=False, decipher_only=False)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_before + timedelta(days=validity_days))
        .add_extension(x509.SubjectAlternativeName(names), critical=not subject)  # RFC 5280: empty subject
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_encipherment=is_rsa, **usage), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return LoadedCertificate(cert, key, (), "self-signed")


def choose_pfx_encryption(setting: PfxEncryption, windows_build: int | None) -> Literal["compatible", "aes"]:
    """``auto`` picks AES only where Windows is known to import it (build 17763, Server 2019, and up),
    as win-acme does: older Windows reports an AES PFX as a *wrong password*, which misleads everyone."""
    if setting == "compatible" or setting == "aes":
        return setting
    if setting != "auto":
        raise _error("PFX_ENCRYPTION_INVALID", f"Unknown PFX encryption {setting!r}.")
    return "aes" if windows_build is not None and windows_build >= AES_MIN_WINDOWS_BUILD else "compatible"


def export_pfx(
    loaded: LoadedCertificate,
    password: Secret,
    encryption: Literal["compatible", "aes"],
    friendly_name: str = "octorunbook",
) -> bytes:
    """The certificate, its key and its chain as a PFX.

    ``compatible`` is 3DES with a SHA-1 MAC: what ``Export-PfxCertificate`` writes and every Windows
    imports. ``aes`` is PBES2/AES-256 with a SHA-256 MAC, for Windows Server 2019 and later only.
    An empty password is refused: Windows ties a password-less PFX to the user who exported it.
    """
    key = loaded.private_key
    pkcs12_keys = (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, dsa.DSAPrivateKey)
    if not isinstance(key, pkcs12_keys + (ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey)):
        raise _no_private_key(loaded.certificate)
    if not password:
        raise _error(
            "PFX_PASSWORD_MISSING", "A PFX needs a non-empty password.", "Set the password variable."
        )
    if encryption not in ("compatible", "aes"):
        raise _error("PFX_ENCRYPTION_INVALID", f"Unknown PFX encryption {encryption!r}.")
    builder = serialization.PrivateFormat.PKCS12.encryption_builder().kdf_rounds(PFX_KDF_ROUNDS)
    if encryption == "compatible":
        builder = builder.key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC).hmac_hash(
            hashes.SHA1()
        )
    else:
        builder = builder.key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC).hmac_hash(hashes.SHA256())
    protection = builder.build(password.reveal().encode("utf-8"))
    chain = list(loaded.chain) or None
    return pkcs12.serialize_key_and_certificates(
        friendly_name.encode(), key, loaded.certificate, chain, protection
    )


# --- judging ------------------------------------------------------------------------------------------


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
    if _ip(hostname) is not None or not pattern.startswith("*.") or "*" in pattern[1:]:
        return False
    suffix = pattern[2:]
    head, _, rest = hostname.partition(".")
    return "." in suffix and bool(head) and rest == suffix


def _validity_findings(info: CertificateInfo, now: datetime) -> list[Finding]:
    found: list[Finding] = []
    days = info.days_left(now)
    if now < info.not_before:
        message = (
            f"The certificate becomes valid only on {_iso(info.not_before)}; browsers reject it until then."
        )
        found.append(_finding("CERT_NOT_YET_VALID", message))
    if now > info.not_after:
        found.append(
            _finding("CERT_EXPIRED", f"The certificate expired on {_iso(info.not_after)} ({-days} days ago).")
        )
    elif days < EXPIRY_WARNING_DAYS:
        found.append(
            _finding(
                "CERT_EXPIRES_SOON", f"The certificate expires on {_iso(info.not_after)}, in {days} days."
            )
        )
    lifetime = info.not_after - info.not_before
    if lifetime > timedelta(days=MAX_VALIDITY_DAYS):
        message = f"The certificate is valid for {lifetime.days} days; Apple devices and public CAs refuse over 398."
        found.append(_finding("VALIDITY_TOO_LONG", message))
    return found


def _name_findings(cert: x509.Certificate, info: CertificateInfo, hostname: str | None) -> list[Finding]:
    """NO_SAN, or HOSTNAME_MISMATCH: browsers match only SAN entries, never the subject CN, so a
    certificate without a SAN is one finding (not two)."""
    san = _extension(cert, x509.SubjectAlternativeName)
    names = [*info.dns_names, *(str(a) for a in san.get_values_for_type(x509.IPAddress))] if san else []
    if not names:
        cns = [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
        seen = f"names {', '.join(cns)} only in its subject CN" if cns else "no host names"
        message = f"The certificate has {seen} and no subjectAltName; browsers ignore the CN since 2017."
        return [_finding("NO_SAN", message)]
    if hostname is None:
        return []
    address = _ip(hostname)
    if address is not None and str(address) in names:
        return []
    if address is None and any(hostname_matches(pattern, hostname) for pattern in info.dns_names):
        return []
    message = f"The certificate covers {', '.join(names)} but not {hostname}."
    return [_finding("HOSTNAME_MISMATCH", message, hostname=hostname, names=names)]


def _key_findings(cert: x509.Certificate, info: CertificateInfo) -> list[Finding]:
    """WEAK_KEY covers everything browsers refuse: small RSA, DSA, EdDSA and curves other than P-256,
    P-384 and P-521 (CA/B Forum BR 6.1.5), not only what is cryptographically weak."""
    found: list[Finding] = []
    key = cert.public_key()
    strong = (isinstance(key, rsa.RSAPublicKey) and key.key_size >= 2048) or (
        isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name in _BROWSER_CURVES
    )
    if not strong:
        message = (
            f"The certificate's key is {info.key_description}; browsers accept only RSA of 2048 bits or "
            "more and ECDSA on P-256, P-384 or P-521."
        )
        found.append(_finding("WEAK_KEY", message))
    if cert.signature_algorithm_oid in _WEAK_SIGNATURES:
        message = (
            f"The certificate is signed with {info.signature_algorithm}; browsers reject SHA-1 and MD5 "
            "signatures (NET::ERR_CERT_WEAK_SIGNATURE_ALGORITHM), even from a private CA."
        )
        found.append(_finding("WEAK_SIGNATURE", message))
    return found


def _usage_findings(cert: x509.Certificate, info: CertificateInfo) -> list[Finding]:
    """EKU, KeyUsage, basicConstraints. An EKU holding anyExtendedKeyUsage but not serverAuth is
    NO_SERVER_AUTH_EKU: the CA/B Forum forbids anyExtendedKeyUsage on server certificates and Apple
    requires the explicit id-kp-serverAuth OID, so it cannot be relied on."""
    found: list[Finding] = []
    if info.eku_oids and ExtendedKeyUsageOID.SERVER_AUTH.dotted_string not in info.eku_oids:
        message = (
            f"The certificate's Extended Key Usage lists {', '.join(info.eku_oids)} but not Server "
            "Authentication (1.3.6.1.5.5.7.3.1); browsers refuse it for a web site."
        )
        found.append(_finding("NO_SERVER_AUTH_EKU", message))
    usage = _extension(cert, x509.KeyUsage)
    if usage is not None and not usage.digital_signature:
        message = (
            "The certificate's Key Usage lacks Digital Signature, which every ECDHE and TLS 1.3 handshake "
            "needs; browsers will fail the handshake."
        )
        found.append(_finding("KEY_USAGE_MISSING_DIGITAL_SIGNATURE", message))
    if info.is_ca:
        message = "The certificate is a CA certificate (basicConstraints CA=true), not a server certificate."
        found.append(_finding("CA_CERTIFICATE", message))
    return found


def _trust_findings(loaded: LoadedCertificate, info: CertificateInfo) -> list[Finding]:
    """CHAIN_INCOMPLETE looks only for the direct issuer: HTTP.sys sends the chain the Windows store
    can build, and the root need not be sent (clients must trust it on their own anyway)."""
    if info.self_signed:
        return [
            _finding(
                "SELF_SIGNED", "The certificate is self-signed; browsers warn until each client trusts it."
            )
        ]
    if not any(c.subject == loaded.certificate.issuer for c in loaded.chain):
        message = (
            f"The issuer {info.issuer} is not in the file; clients without that CA certificate will "
            "fail unless the Windows store already holds it."
        )
        return [_finding("CHAIN_INCOMPLETE", message)]
    return []


def judge(loaded: LoadedCertificate, hostname: str | None, now: datetime | None = None) -> list[Finding]:
    """Every problem Windows or a browser would have with this certificate; an empty list means good."""
    cert, info = loaded.certificate, loaded.info
    found: list[Finding] = []
    if loaded.private_key is not None and not _key_matches(loaded.private_key, cert):
        found.append(_key_mismatch(cert).finding)
    found += _validity_findings(info, _now(now))
    found += _name_findings(cert, info, hostname)
    found += _key_findings(cert, info)
    found += _usage_findings(cert, info)
    found += _trust_findings(loaded, info)
    return found


def _load_any(
    data: bytes, path: str | Path, key_path: str | Path | None, password: Secret | None
) -> LoadedCertificate:
    if not data.lstrip().startswith(b"-----BEGIN"):
        return _read_pfx(data, password)
    if key_path is None and b"PRIVATE KEY-----" not in data:
        certs = _read_pem_certs(path, data)
        return LoadedCertificate(certs[0], None, tuple(certs[1:]), "pem")
    return load_pem_pair(path, key_path or path, password)


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
        loaded = _load_any(_read_file(path), path, key_path, password)
    except InputError as exc:
        if exc.code == "PFX_WRONG_PASSWORD" and password is None:
            message = f"The PFX is password-protected and the environment variable {shown_env_name(password_env)} is not set."
            remedy = (
                f"Set {shown_env_name(password_env)} to the PFX password (never pass it on the command line)."
            )
            return None, [_finding("PFX_PASSWORD_MISSING", message, remedy)]
        return None, [exc.finding]
    found = judge(loaded, hostname, now)
    if loaded.private_key is None:
        found.insert(0, _no_private_key(loaded.certificate).finding)
    return loaded, found


def card_text(info: CertificateInfo, findings: Sequence[Finding], now: datetime | None = None) -> str:
    """A plain-text certificate card and findings list, readable at a glance in a terminal or a log."""
    days = info.days_left(now)
    left = f"{days} days left" if days >= 0 else f"expired {-days} days ago"
    rows = [
        ("Subject", info.subject or "(empty)"),
        ("DNS names", ", ".join(info.dns_names) or "(none)"),
        ("Issuer", info.issuer + ("  (self-signed)" if info.self_signed else "")),
        ("Valid", f"{_iso(info.not_before)} to {_iso(info.not_after)} ({left})"),
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
