"""Loading a PFX or a PEM pair into a :class:`LoadedCertificate`; every failure is an ``InputError``.

This is the boundary for files operators bring: a file is read at most 1 MiB, and no byte string a
parser chokes on escapes as a traceback. The private key must belong to the certificate (``KEY_MISMATCH``).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import pkcs12

from octorunbook.files import read_limited

from ..findings import InputError
from ..redaction import Secret
from .codes import error_for
from .info import LoadedCertificate, thumbprint_of

__all__ = [
    "key_matches",
    "key_mismatch_error",
    "load_any_file",
    "load_pem_pair",
    "load_pfx",
    "load_pfx_file",
    "no_private_key_error",
]


def key_matches(key: PrivateKeyTypes, cert: x509.Certificate) -> bool:
    """Does ``key`` belong to ``cert`` (the same public key)? Loading a PEM pair picks the leaf with it, and
    ``judge`` lists ``KEY_MISMATCH`` with it: HTTP.sys would bind such a pair and fail every handshake."""
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    try:
        return key.public_key().public_bytes(*spki) == cert.public_key().public_bytes(*spki)
    except Exception:  # key types without a SubjectPublicKeyInfo form are no TLS server key anyway
        return False


def key_mismatch_error(cert: x509.Certificate) -> InputError:
    """``KEY_MISMATCH`` for ``cert``, in the one wording loading raises and judging lists."""
    return error_for(
        "KEY_MISMATCH",
        f"The private key does not belong to the certificate {cert.subject.rfc4514_string()} "
        f"({thumbprint_of(cert)}).",
    )


def no_private_key_error(cert: x509.Certificate) -> InputError:
    """``PFX_NO_PRIVATE_KEY`` for ``cert``: loading and exporting refuse with it, ``check_file`` lists it first."""
    return error_for(
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
            raise error_for(
                "PFX_WRONG_PASSWORD",
                "The PFX could not be opened with the given password. Either the password is wrong, or the "
                "file uses an encryption this machine cannot read (legacy RC2-40, which OpenSSL 3 reads only "
                f"with its legacy provider{legacy_off}).",
            ) from None
        raise error_for(
            "PFX_UNREADABLE",
            "The file is not a PKCS#12 (PFX) file: it may be truncated, a PEM or DER certificate, or "
            "something else entirely.",
        ) from None
    if cert is None and not extra:
        raise error_for("PFX_UNREADABLE", "The PFX holds no certificate.")
    if cert is None:
        # cryptography returns the certificate that matches the key; with a key and no match the file was
        # assembled wrongly, and without a key the leaf lands among the "additional" certificates.
        if key is not None:
            raise key_mismatch_error(extra[0])
        cert, extra = extra[0], extra[1:]
    return LoadedCertificate(cert, key, tuple(extra), "pfx")


def _legacy_disabled() -> bool:
    return bool(os.environ.get("CRYPTOGRAPHY_OPENSSL_NO_LEGACY"))


def load_pfx(data: bytes, password: Secret | None) -> LoadedCertificate:
    """A PFX that holds a certificate and its private key; every failure is an InputError."""
    loaded = _read_pfx(data, password)
    if loaded.private_key is None:
        raise no_private_key_error(loaded.certificate)
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
        raise error_for("PEM_UNREADABLE", f"{str(path)!r} holds no readable PEM certificate.") from None


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
        # From the PEM itself, not the library's message: a wrong password can decrypt to bytes whose
        # padding happens to be valid, and then the error speaks of key data, not of a password.
        encrypted = (
            b"ENCRYPTED PRIVATE KEY" in data
            or b"Proc-Type: 4,ENCRYPTED" in data
            or "password" in str(exc).lower()
            or "decrypt" in str(exc).lower()
        )
        why = (
            "is encrypted and the given password (or none) does not open it" if encrypted else "is unreadable"
        )
        raise error_for("PEM_UNREADABLE", f"The PEM private key in {str(path)!r} {why}.") from None


def load_any_file(
    path: str | Path, key_path: str | Path | None = None, password: Secret | None = None
) -> LoadedCertificate:
    """``path`` as a PFX, or as PEM when it starts with ``-----BEGIN``; the private key may be missing.

    For a caller that judges whatever it is given (``check_file``), unlike :func:`load_pfx` and
    :func:`load_pem_pair`, which need a usable key: a certificate without its key is still worth a verdict,
    so the operator sees every problem at once. Every failure is an ``InputError``.
    """
    data = _read_file(path)
    if not data.lstrip().startswith(b"-----BEGIN"):
        return _read_pfx(data, password)
    if key_path is None and b"PRIVATE KEY-----" not in data:
        certs = _read_pem_certs(path, data)
        return LoadedCertificate(certs[0], None, tuple(certs[1:]), "pem")
    return load_pem_pair(path, key_path or path, password)


def load_pem_pair(
    cert_path: str | Path, key_path: str | Path, key_password: Secret | None = None
) -> LoadedCertificate:
    """A PEM certificate file (the certificate matching the key is the leaf, the others become the
    chain) and its PEM private key, which may be the same file."""
    certs = _read_pem_certs(cert_path, _read_file(cert_path))
    key = _read_pem_key(key_path, key_password)
    leaf = next((c for c in certs if key_matches(key, c)), None)
    if leaf is None:
        raise key_mismatch_error(certs[0])
    return LoadedCertificate(leaf, key, tuple(c for c in certs if c is not leaf), "pem")
