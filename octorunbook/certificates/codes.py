"""Every certificate finding code, its severity and its usual remedy, in one table.

The codes are stable (operators script against them); the reasons in :data:`CODES` go into the result
record beside each finding. Kept apart from the code that raises them so ``load``, ``generate``,
``export`` and ``judge`` share one severity rule and one wording, and so the run record can read the
reasons without importing anything that touches a file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..findings import Finding, InputError

if TYPE_CHECKING:
    from ..findings import Severity

__all__ = ["CODES", "error_for", "finding_for"]

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
    "LIFETIME_OVER_BASELINE": "a publicly trusted certificate valid longer than CA/Browser Forum ballot SC-081 "
    "allows for its issue date (398 days; 200 from 2026-03-15, 100 from 2027-03-15, 47 from 2029-03-15)",
    "CLIENT_AUTH_EKU": "a publicly trusted server certificate that also carries the client-auth EKU, which "
    "public CAs no longer issue",
    "INTERMEDIATE_RETIRED": "the file's chain holds an intermediate that has expired or that its CA no longer "
    "issues from",
    "KEY_USAGE_MISSING_DIGITAL_SIGNATURE": "Key Usage without digitalSignature; ECDHE and TLS 1.3 need it",
    "THUMBPRINT_INVALID": "not 40 hexadecimal characters",
    "HOSTNAME_INVALID": "not a valid DNS host name",
    "VALIDITY_INVALID": "validity_days outside 1..825",
    "KEY_TYPE_INVALID": "an unknown key_type",
    "PFX_ENCRYPTION_INVALID": "an unknown pfx_encryption",
}


_WARNINGS = {
    "CERT_EXPIRES_SOON",
    "CA_CERTIFICATE",
    "SELF_SIGNED",
    "CHAIN_INCOMPLETE",
    "VALIDITY_TOO_LONG",
    "CLIENT_AUTH_EKU",
    "INTERMEDIATE_RETIRED",
}


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
    "LIFETIME_OVER_BASELINE": "Get a certificate of the lifetime the CA issues today (ACME renews it on "
    "its own: certificate_source acme); `octorunbook check` and 04 follow the shorter lifetime by themselves.",
    "CLIENT_AUTH_EKU": "Nothing to do for the portal; give anything that used this certificate to "
    "authenticate as a client a client certificate of its own.",
    "INTERMEDIATE_RETIRED": "Take the chain from the CA with each new certificate (ACME does); remove the "
    "stale intermediate from the file and never pin an intermediate.",
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


def finding_for(code: str, message: str, remedy: str | None = None, **details: Any) -> Finding:
    """The finding for ``code``, its severity and usual remedy from the tables above.

    Every certificate module reports through this one door, so a code has one severity and one remedy
    wherever it is found (``load`` refuses, ``judge`` lists, both say the same)."""
    severity: Severity = "warning" if code in _WARNINGS else "error"
    return Finding(
        code, severity, message, _REMEDIES.get(code, "") if remedy is None else remedy, details=details
    )


def error_for(code: str, message: str, remedy: str | None = None) -> InputError:
    """The :class:`InputError` for ``code``: :func:`finding_for` raised, for input that cannot be used at all."""
    finding = finding_for(code, message, remedy)
    return InputError(finding.code, finding.message, finding.remedy)
