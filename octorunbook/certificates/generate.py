"""Generating the self-signed portal certificate (the sandbox's and a first install's).

Also the one DNS-name rule (:func:`check_dns_name`) the parameters and the form use, so a name the
form accepts is a name 01 can put in a certificate.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Literal, get_args

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ..params.hostnames import dns_name
from .codes import error_for
from .info import LoadedCertificate, ip_address_of, utc_now

__all__ = ["CLOCK_SKEW", "KeyType", "check_dns_name", "generate_self_signed", "new_key"]

KeyType = Literal["rsa2048", "rsa3072", "rsa4096", "ecdsa-p256", "ecdsa-p384"]
CLOCK_SKEW = timedelta(minutes=5)


def check_dns_name(name: str, *, wildcard: bool) -> str:
    """A lower-case DNS name, or InputError. International names must come in their xn-- form because
    the SAN holds A-labels and that is what a browser compares.

    The one DNS-name rule: the parameters and the form ask it too, so a name they accept is a name the
    generator can put in a certificate."""
    lowered = dns_name(name, wildcard=wildcard)  # the rule itself: in params, standard library only
    if lowered is None:
        allowed = "; a wildcard only as '*.' before two or more labels" if wildcard else ""
        raise error_for(
            "HOSTNAME_INVALID",
            f"{name!r} is not a valid DNS host name (letters, digits and hyphens in dot-separated labels{allowed}).",
        )
    return lowered


def new_key(key_type: KeyType) -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
    """A fresh private key of ``key_type``: the self-signed certificate's, and the one an ACME order's CSR
    carries, so the ``key_type`` parameter means the same key whichever source makes the certificate."""
    if key_type.startswith("rsa"):
        return rsa.generate_private_key(public_exponent=65537, key_size=int(key_type[3:]))
    return ec.generate_private_key(ec.SECP256R1() if key_type == "ecdsa-p256" else ec.SECP384R1())


def _san_entries(hostname: str, extra_dns_names: Sequence[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for i, raw in enumerate([hostname, *extra_dns_names]):
        address = ip_address_of(raw)
        entry = x509.IPAddress(address) if address else x509.DNSName(check_dns_name(raw, wildcard=i > 0))
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
        raise error_for("KEY_TYPE_INVALID", f"Unknown key type {key_type!r}.")
    if isinstance(validity_days, bool) or not isinstance(validity_days, int) or not 1 <= validity_days <= 825:
        raise error_for(
            "VALIDITY_INVALID", f"validity_days must be between 1 and 825, got {validity_days!r}."
        )
    names = _san_entries(hostname, extra_dns_names)
    key = new_key(key_type)
    common_name = hostname.strip().lower()
    subject = x509.Name(
        [x509.NameAttribute(NameOID.COMMON_NAME, common_name)] if len(common_name) <= 64 else []
    )
    not_before = utc_now(now) - CLOCK_SKEW
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
