"""Certificates, pure: load, generate, inspect, judge and export with cryptography alone, knowing no target.

Judged the way Windows and browsers will. Everything here is pure (``cryptography`` only: no
subprocess, no IPython), so the notebooks, the CLI and the tests see the same verdict before anything
touches a target. The flow is::

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

One module per responsibility, each importing only those above it in this list (and ``findings``,
``redaction``, ``files`` outside)::

    codes     the finding codes, severities and remedies
    info      LoadedCertificate, CertificateInfo, inspect, thumbprints
    load      PFX and PEM files -> LoadedCertificate
    generate  the self-signed certificate, the DNS-name rule
    export    LoadedCertificate -> PFX for a given Windows build
    judging   judge, check_file, card_text

Callers import from the package (``from octorunbook import certificates``); the names below are the API.
"""

from __future__ import annotations

from ..findings import Finding
from .codes import CODES
from .export import (
    AES_MIN_WINDOWS_BUILD,
    ONE_TIME_PFX_KDF_ROUNDS,
    PFX_KDF_ROUNDS,
    PfxEncryption,
    choose_pfx_encryption,
    export_pfx,
)
from .generate import CLOCK_SKEW, KeyType, check_dns_name, generate_self_signed, new_key
from .info import CertificateInfo, LoadedCertificate, inspect, normalize_thumbprint, thumbprint_of
from .judging import EXPIRY_WARNING_DAYS, MAX_VALIDITY_DAYS, card_text, check_file, hostname_matches, judge
from .load import load_pem_pair, load_pfx, load_pfx_file

__all__ = [
    "AES_MIN_WINDOWS_BUILD",
    "CLOCK_SKEW",
    "CODES",
    "CertificateInfo",
    "EXPIRY_WARNING_DAYS",
    "Finding",
    "KeyType",
    "LoadedCertificate",
    "MAX_VALIDITY_DAYS",
    "ONE_TIME_PFX_KDF_ROUNDS",
    "PFX_KDF_ROUNDS",
    "PfxEncryption",
    "card_text",
    "check_dns_name",
    "check_file",
    "choose_pfx_encryption",
    "export_pfx",
    "generate_self_signed",
    "hostname_matches",
    "inspect",
    "judge",
    "load_pem_pair",
    "load_pfx",
    "load_pfx_file",
    "new_key",
    "normalize_thumbprint",
    "thumbprint_of",
]
