"""The 2026 regime in the certificate judgement: SC-081's lifetime limit for publicly trusted certificates
only, the client-auth EKU, and retired intermediates — each decided from what can be known offline.

"Publicly trusted" means chaining to a root of the public root program (certifi's bundle, or the one
``OCTORUNBOOK_PUBLIC_ROOTS`` names) — not to any root this machine trusts. The tests make their own root and
name it in ``OCTORUNBOOK_PUBLIC_ROOTS``, so the same certificate is judged once as a public CA's and once as a
private CA's; an enterprise root is put in the machine's store (``SSL_CERT_FILE``) instead.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import certcorpus as cc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from octorunbook.certificates.baseline import baseline_days, public_root, validity_period
from octorunbook.certificates.info import LoadedCertificate
from octorunbook.certificates.judging import judge

HOST = "octopus.example.com"
NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


def _ca(
    name: x509.Name, key: Any, issuer: tuple[x509.Name, Any] | None, days: int = 3650
) -> x509.Certificate:
    issuer_name, issuer_key = issuer or (name, key)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(datetime(2024, 1, 1, tzinfo=UTC))
        .not_valid_after(datetime(2024, 1, 1, tzinfo=UTC) + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(issuer_key, hashes.SHA256())
    )


class Hierarchy:
    """A root, an intermediate it issued (named as asked), and leaves the intermediate issues."""

    def __init__(
        self, intermediate: str = "Test Issuing CA 1", org: str = "Test PKI", days: int = 3650
    ) -> None:
        self.root_key, self.int_key = cc.rsa_key(), cc.rsa_key()
        root_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test Root")])
        self.int_name = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
                x509.NameAttribute(NameOID.COMMON_NAME, intermediate),
            ]
        )
        self.root = _ca(root_name, self.root_key, None)
        self.intermediate = _ca(self.int_name, self.int_key, (root_name, self.root_key), days)

    def trust(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """Make this root one of the public root program's, as a public CA's root is."""
        bundle = tmp_path / "public-roots.pem"
        bundle.write_bytes(self.root.public_bytes(serialization.Encoding.PEM))
        monkeypatch.setenv("OCTORUNBOOK_PUBLIC_ROOTS", str(bundle))

    def trust_on_this_machine(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """Put this root in the machine's own trust store only, as Group Policy puts an enterprise root."""
        bundle = tmp_path / "machine-roots.pem"
        bundle.write_bytes(self.root.public_bytes(serialization.Encoding.PEM))
        monkeypatch.setenv("SSL_CERT_FILE", str(bundle))

    def leaf(
        self,
        not_before: datetime,
        days: float,
        eku: list[x509.ObjectIdentifier] | None = None,
        *,
        with_chain: bool = True,
    ) -> LoadedCertificate:
        key = cc.rsa_key()
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)]))
            .issuer_name(self.int_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_before + timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(HOST)]), critical=False)
            .add_extension(x509.ExtendedKeyUsage(eku or [ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(self.int_key, hashes.SHA256())
        )
        return LoadedCertificate(cert, key, (self.intermediate,) if with_chain else (), "pem")


def codes(loaded: LoadedCertificate, now: datetime = NOW) -> dict[str, str]:
    return {f.code: f.severity for f in judge(loaded, HOST, now)}


@pytest.mark.parametrize(
    ("issued", "days"),
    [
        (datetime(2026, 3, 14, 23, 59, tzinfo=UTC), 398),
        (datetime(2026, 3, 15, 0, 0, tzinfo=UTC), 200),
        (datetime(2027, 3, 14, tzinfo=UTC), 200),
        (datetime(2027, 3, 15, tzinfo=UTC), 100),
        (datetime(2029, 3, 15, tzinfo=UTC), 47),
        (datetime(2031, 1, 1, tzinfo=UTC), 47),
    ],
)
def test_the_sc081_maximum_follows_the_issue_date(issued: datetime, days: int) -> None:
    assert baseline_days(issued) == days


def test_a_public_certificate_over_the_limit_of_its_issue_date_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ca = Hierarchy()
    ca.trust(tmp_path, monkeypatch)
    over = ca.leaf(datetime(2026, 6, 1, tzinfo=UTC), 397)  # fine last year, not after 2026-03-15
    assert public_root(over) == "CN=Test Root"
    assert codes(over)["LIFETIME_OVER_BASELINE"] == "error"
    finding = next(f for f in judge(over, HOST, NOW) if f.code == "LIFETIME_OVER_BASELINE")
    assert "at most 200 days" in finding.message and finding.remedy
    assert "LIFETIME_OVER_BASELINE" not in codes(
        ca.leaf(datetime(2025, 6, 1, tzinfo=UTC), 397), datetime(2026, 1, 1, tzinfo=UTC)
    )
    assert "LIFETIME_OVER_BASELINE" not in codes(ca.leaf(datetime(2026, 6, 1, tzinfo=UTC), 199))


def test_the_validity_period_counts_both_ends_so_exactly_200_days_is_over() -> None:
    ca = Hierarchy()
    exactly = ca.leaf(datetime(2026, 6, 1, tzinfo=UTC), 200)
    assert validity_period(exactly.certificate) == timedelta(days=200, seconds=1)


def test_exactly_200_days_from_a_public_ca_is_over_the_baseline(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ca = Hierarchy()
    ca.trust(tmp_path, monkeypatch)
    assert "LIFETIME_OVER_BASELINE" in codes(ca.leaf(datetime(2026, 6, 1, tzinfo=UTC), 200))
    assert "LIFETIME_OVER_BASELINE" not in codes(ca.leaf(datetime(2026, 6, 1, tzinfo=UTC), 199.99))


def test_a_private_ca_or_self_signed_certificate_is_never_held_to_the_public_limit() -> None:
    private = Hierarchy().leaf(datetime(2026, 6, 1, tzinfo=UTC), 397)  # its root is in no trust store
    assert public_root(private) is None
    assert "LIFETIME_OVER_BASELINE" not in codes(private)
    key = cc.rsa_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)])
    own = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(datetime(2026, 6, 1, tzinfo=UTC))
        .not_valid_after(datetime(2028, 6, 1, tzinfo=UTC))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(HOST)]), critical=False)
        .sign(key, hashes.SHA256())
    )
    found = codes(LoadedCertificate(own, key, (), "pem"))
    assert "LIFETIME_OVER_BASELINE" not in found and found["SELF_SIGNED"] == "warning"


def test_a_file_without_the_intermediate_cannot_be_shown_public_so_it_is_not_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ca = Hierarchy()
    ca.trust(tmp_path, monkeypatch)
    bare = ca.leaf(datetime(2026, 6, 1, tzinfo=UTC), 397, with_chain=False)
    assert public_root(bare) is None
    found = codes(bare)
    assert "LIFETIME_OVER_BASELINE" not in found and "CHAIN_INCOMPLETE" in found


def test_client_auth_beside_server_auth_warns_only_for_a_public_certificate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    both = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
    ca = Hierarchy()
    assert "CLIENT_AUTH_EKU" not in codes(ca.leaf(datetime(2026, 10, 1, tzinfo=UTC), 90, both))
    ca.trust(tmp_path, monkeypatch)
    assert codes(ca.leaf(datetime(2026, 10, 1, tzinfo=UTC), 90, both))["CLIENT_AUTH_EKU"] == "warning"
    client_only = judge(
        ca.leaf(datetime(2026, 10, 1, tzinfo=UTC), 90, [ExtendedKeyUsageOID.CLIENT_AUTH]), HOST, NOW
    )
    finding = next(f for f in client_only if f.code == "NO_SERVER_AUTH_EKU")
    assert finding.severity == "error" and "client certificate" in finding.message


def test_an_expired_intermediate_in_the_file_is_reported() -> None:
    ca = Hierarchy(days=30)  # the intermediate expired on 2024-01-31
    found = judge(ca.leaf(datetime(2026, 10, 1, tzinfo=UTC), 90), HOST, NOW)
    retired = [f for f in found if f.code == "INTERMEDIATE_RETIRED"]
    assert (
        len(retired) == 1
        and retired[0].severity == "warning"
        and "expired on 2024-01-31" in retired[0].message
    )


def test_an_intermediate_its_ca_stopped_issuing_from_is_reported_from_that_date() -> None:
    ca = Hierarchy(intermediate="R11", org="Let's Encrypt")
    loaded = ca.leaf(datetime(2026, 4, 1, tzinfo=UTC), 90)
    assert "INTERMEDIATE_RETIRED" not in codes(loaded, datetime(2026, 5, 1, tzinfo=UTC))
    after = next(
        f for f in judge(loaded, HOST, datetime(2026, 5, 14, tzinfo=UTC)) if f.code == "INTERMEDIATE_RETIRED"
    )
    assert "2026-05-13" in after.message and "letsencrypt.org" in after.message and "pins" in after.message
    assert "INTERMEDIATE_RETIRED" not in codes(
        Hierarchy(intermediate="R11").leaf(datetime(2026, 4, 1, tzinfo=UTC), 90)
    )


def test_an_enterprise_root_the_machine_trusts_does_not_make_an_internal_certificate_public(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What Active Directory Certificate Services does on every domain member: its root in the machine's
    trust store, its 2-year web server certificates without Certificate Transparency SCTs."""
    corp = Hierarchy(intermediate="CORP Issuing CA", org="Corp")
    corp.trust_on_this_machine(tmp_path, monkeypatch)  # as Group Policy / update-ca-certificates does
    internal = corp.leaf(datetime(2026, 6, 1, tzinfo=UTC), 730)
    assert "LIFETIME_OVER_BASELINE" not in codes(internal)
