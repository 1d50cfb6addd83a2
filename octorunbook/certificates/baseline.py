"""The 2026 certificate regime as findings: the SC-081 lifetime baseline, the client-auth EKU, retired
intermediates.

* ``LIFETIME_OVER_BASELINE`` (error): a **publicly trusted** certificate whose validity period exceeds the
  maximum CA/Browser Forum ballot SC-081 allows for its ``notBefore`` — 398 days before 2026-03-15, 200
  from then, 100 from 2027-03-15, 47 from 2029-03-15. The validity period is counted as the Baseline
  Requirements count it: ``notAfter - notBefore`` plus one second (both ends inclusive), and any part of a
  day over the limit counts as a day, which is why CAs issue 199/99/46-day certificates.
* ``CLIENT_AUTH_EKU`` (warning): a publicly trusted server certificate that also carries TLS Web Client
  Authentication. Public CAs stop issuing it (Let's Encrypt's ``classic`` profile dropped it on
  2026-02-11; its Generation Y intermediates cannot issue it), so anything that uses this certificate as a
  *client* certificate breaks at the next renewal. A certificate with client-auth and *no* server-auth is
  ``NO_SERVER_AUTH_EKU`` (an error, from :mod:`octorunbook.certificates.judging`).
* ``INTERMEDIATE_RETIRED`` (warning): an intermediate in the certificate's file that has expired (known
  from the certificate itself), or one its CA has stopped issuing from, by :data:`RETIRED_INTERMEDIATES`
  (a small dated table, each row with its source). Only what can be known offline is said: a CA that
  retires an intermediate early without a dated announcement in the table is not detected.

**Publicly trusted** is decided, not assumed: the certificate must chain — signatures checked, through the
certificates its file holds — to a root of a public root program: ``certifi``'s bundle (Mozilla's root store,
the list the CA/Browser Forum's rules are enforced through), or the PEM bundle ``OCTORUNBOOK_PUBLIC_ROOTS``
names (a newer copy of that list on an air-gapped server). **Not** this machine's own trust store: an
enterprise CA (Active Directory Certificate Services) has its root in every domain member's Windows ROOT store
and in many Linux bundles, and its two-year internal certificates are outside SC-081. A self-signed
certificate, a private CA's, or one whose file lacks the intermediate that would reach a public root is not
publicly trusted; for those the SC-081 limit does not apply (``VALIDITY_TOO_LONG`` still says what Apple
devices refuse). The root list is read only when a finding depends on it (a lifetime over the baseline, a
client-auth EKU); without certifi and without the variable nothing is called public.
"""

from __future__ import annotations

import os
import warnings
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from pathlib import Path

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ..findings import Finding
from .codes import finding_for
from .info import LoadedCertificate, iso_utc

SC081_SOURCE = "CA/Browser Forum ballot SC-081v3 (Baseline Requirements 6.3.2)"
# (in force from, maximum validity in days); the last row before a date is the one in force.
SC081_MAXIMUM: tuple[tuple[date, int], ...] = (
    (date.min, 398),
    (date(2026, 3, 15), 200),
    (date(2027, 3, 15), 100),
    (date(2029, 3, 15), 47),
)
LE_2024 = "https://letsencrypt.org/2024/04/12/changes-to-issuance-chains (issuance moved to R10-R14/E5-E9)"
LE_GEN_Y = (
    "https://letsencrypt.org/2025/11/24/gen-y-hierarchy.html; the date from a secondary source "
    "(https://www.krakenkey.io/blog/lets-encrypt-generation-y-transition): the classic profile moved to "
    "YR1-YR3/YE1-YE3"
)
# (organisation, common name) of an issuing intermediate -> (the day its CA stopped issuing from it, source)
RETIRED_INTERMEDIATES: dict[tuple[str, str], tuple[date, str]] = {
    **{("Let's Encrypt", name): (date(2024, 6, 6), LE_2024) for name in ("R3", "R4", "E1", "E2")},
    **{("Let's Encrypt", name): (date(2026, 5, 13), LE_GEN_Y) for name in ("R10", "R11", "E5", "E6")},
}
_SERVER, _CLIENT = (
    ExtendedKeyUsageOID.SERVER_AUTH.dotted_string,
    ExtendedKeyUsageOID.CLIENT_AUTH.dotted_string,
)
_MAX_PATH = 6


def baseline_days(not_before: datetime) -> int:
    """The SC-081 maximum validity, in days, for a certificate issued at ``not_before``."""
    day = not_before.astimezone(UTC).date()
    return [days for since, days in SC081_MAXIMUM if since <= day][-1]


def validity_period(cert: x509.Certificate) -> timedelta:
    """``notAfter - notBefore`` plus one second: the Baseline Requirements count both ends."""
    return cert.not_valid_after_utc - cert.not_valid_before_utc + timedelta(seconds=1)


PUBLIC_ROOTS_ENV = "OCTORUNBOOK_PUBLIC_ROOTS"


def _trust_files() -> tuple[tuple[str, float], ...]:
    """The public root program's bundle: ``OCTORUNBOOK_PUBLIC_ROOTS`` when set, else ``certifi``'s
    (never the machine's store, which holds enterprise roots too)."""
    path = os.environ.get(PUBLIC_ROOTS_ENV, "")
    if not path:
        try:
            import certifi
        except ImportError:  # no public root list: nothing is called public
            return ()
        path = certifi.where()
    try:
        return ((path, os.stat(path).st_mtime),)
    except OSError:
        return ()


@lru_cache(maxsize=4)
def _roots(files: tuple[tuple[str, float], ...]) -> dict[x509.Name, tuple[x509.Certificate, ...]]:
    found: list[x509.Certificate] = []
    for path, _ in files:
        try:
            with warnings.catch_warnings():  # a few old roots have serials RFC 5280 forbids: still roots
                warnings.simplefilter("ignore")
                found += x509.load_pem_x509_certificates(Path(path).read_bytes())
        except (OSError, ValueError):
            continue
    by_subject: dict[x509.Name, list[x509.Certificate]] = {}
    for cert in found:
        by_subject.setdefault(cert.subject, []).append(cert)
    return {name: tuple(certs) for name, certs in by_subject.items()}


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except Exception:  # noqa: BLE001 - a bad signature, or an algorithm this build cannot verify: not proven
        return False
    return True


def public_root(loaded: LoadedCertificate) -> str | None:
    """The trusted root the certificate chains to (its subject), or None: not publicly trusted as far as
    this machine can tell (self-signed, a private CA, or an intermediate missing from the file)."""
    if loaded.info.self_signed:
        return None
    roots = _roots(_trust_files())
    current = loaded.certificate
    for _ in range(_MAX_PATH):
        for root in roots.get(current.issuer, ()):
            if _issued_by(current, root):
                return root.subject.rfc4514_string()
        step = next(
            (
                c
                for c in loaded.chain
                if c.subject == current.issuer and c != current and _issued_by(current, c)
            ),
            None,
        )
        if step is None:
            return None
        current = step
    return None


def _name(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> str:
    values = cert.subject.get_attributes_for_oid(oid)
    return str(values[0].value) if values else ""


def _intermediate_findings(loaded: LoadedCertificate, now: datetime) -> list[Finding]:
    found: list[Finding] = []
    for ca in loaded.chain:
        if ca.subject == ca.issuer:
            continue  # a root in the file: trust stores decide about roots, not the file
        label = ca.subject.rfc4514_string()
        if ca.not_valid_after_utc < now:
            message = (
                f"The file's chain holds the intermediate {label}, which expired on "
                f"{iso_utc(ca.not_valid_after_utc)}; clients that build the chain the server sends fail."
            )
            found.append(finding_for("INTERMEDIATE_RETIRED", message, intermediate=label))
            continue
        retired = RETIRED_INTERMEDIATES.get(
            (_name(ca, NameOID.ORGANIZATION_NAME), _name(ca, NameOID.COMMON_NAME))
        )
        if retired is not None and retired[0] <= now.date():
            message = (
                f"The file's chain holds the intermediate {label}, from which its CA stopped issuing on "
                f"{retired[0].isoformat()} ({retired[1]}). This certificate stays valid, but its renewal "
                "comes from another intermediate: anything that pins this one (a fixed chain file, a pinned "
                "issuer in a client) breaks then."
            )
            found.append(finding_for("INTERMEDIATE_RETIRED", message, intermediate=label))
    return found


def regime_findings(loaded: LoadedCertificate, now: datetime) -> list[Finding]:
    """The 2026 regime's findings for ``loaded`` (empty for a certificate that meets it)."""
    cert, info = loaded.certificate, loaded.info
    found: list[Finding] = []
    period = validity_period(cert)
    limit = baseline_days(cert.not_valid_before_utc)
    over = period > timedelta(days=limit)
    client_auth = _CLIENT in info.eku_oids and _SERVER in info.eku_oids
    root = public_root(loaded) if over or client_auth else None
    if over and root is not None:
        days = period.total_seconds() / 86400
        message = (
            f"The certificate is valid for {days:.1f} days from {iso_utc(cert.not_valid_before_utc)}; "
            f"{SC081_SOURCE} allows at most {limit} days for a publicly trusted certificate issued then "
            f"(it chains to {root}). Clients that enforce the limit refuse it."
        )
        found.append(finding_for("LIFETIME_OVER_BASELINE", message, limit_days=limit, root=root))
    if client_auth and root is not None:
        message = (
            "The certificate carries TLS Web Client Authentication beside Server Authentication; public "
            "CAs stop issuing that (Let's Encrypt's classic profile since 2026-02-11), so anything that "
            "uses it as a client certificate breaks at its next renewal."
        )
        found.append(finding_for("CLIENT_AUTH_EKU", message))
    found += _intermediate_findings(loaded, now)
    return found


__all__ = [
    "RETIRED_INTERMEDIATES",
    "SC081_MAXIMUM",
    "baseline_days",
    "public_root",
    "regime_findings",
    "validity_period",
]
