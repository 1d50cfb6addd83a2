"""Runbook 01 judges first: an error finding refuses the import, records every finding, changes nothing."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from octorunbook.headless.inline import run_inline


def _cert(tmp_path: Path, *, days_ago: int, days: int, san: bool = True) -> tuple[Path, Path, Path]:
    key = rsa.generate_private_key(65537, 2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=days_ago)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=days))
    )
    if san:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False
        )
    cert = builder.sign(key, hashes.SHA256())
    pem, key_pem, pfx = tmp_path / "c.pem", tmp_path / "k.pem", tmp_path / "c.pfx"
    pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    pfx.write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"x", key, cert, None, serialization.BestAvailableEncryption(b"pw-12345")
        )
    )
    return pem, key_pem, pfx


def _store_files(sandbox: Any) -> list[str]:
    return sorted(
        str(p.relative_to(sandbox.stores_dir)) for p in sandbox.stores_dir.rglob("*") if p.is_file()
    )


@pytest.mark.parametrize(
    ("days_ago", "days", "san", "code"),
    [(400, 30, True, "CERT_EXPIRED"), (1, 90, False, "NO_SAN")],
)
def test_import_refuses_a_certificate_with_an_error_finding_and_changes_nothing(
    sandbox: Any,
    params_for: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    days_ago: int,
    days: int,
    san: bool,
    code: str,
) -> None:
    _, _, pfx = _cert(tmp_path, days_ago=days_ago, days=days, san=san)
    monkeypatch.setenv("OCTORUNBOOK_PFX_PASSWORD", "pw-12345")
    before = _store_files(sandbox)
    record = run_inline(
        "01-import-certificate", params_for(sandbox, certificate_source="pfx", pfx_path=str(pfx))
    )
    assert record["status"] == "failed"
    codes = [f["code"] for f in record["findings"]]
    assert code in codes and "SELF_SIGNED" in codes  # every finding is recorded, not only the blocking one
    assert record["certificate"]["thumbprint"]
    assert [c for c in record["commands"] if c["mutating"]] == [] and record["changes"] == []
    assert _store_files(sandbox) == before


def test_import_refuses_a_pem_pair_whose_key_belongs_to_another_certificate(
    sandbox: Any, params_for: Any, tmp_path: Path
) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    cert_pem, _, _ = _cert(one, days_ago=1, days=90)
    _, other_key, _ = _cert(two, days_ago=1, days=90)
    record = run_inline(
        "01-import-certificate",
        params_for(
            sandbox, certificate_source="pem", pem_cert_path=str(cert_pem), pem_key_path=str(other_key)
        ),
    )
    assert record["status"] == "failed" and record["findings"][-1]["code"] == "KEY_MISMATCH"
    assert _store_files(sandbox) == []


def test_pfx_without_password_variable_is_pfx_password_missing(
    sandbox: Any, params_for: Any, tmp_path: Path
) -> None:
    _, _, pfx = _cert(tmp_path, days_ago=1, days=90)
    record = run_inline(
        "01-import-certificate",
        params_for(
            sandbox,
            certificate_source="pfx",
            pfx_path=str(pfx),
            pfx_password_env="OCTORUNBOOK_UNSET_VARIABLE",
        ),
    )
    assert record["status"] == "failed" and record["findings"][-1]["code"] == "PFX_PASSWORD_MISSING"


def test_webhosting_missing_stops_with_store_missing(make_sandbox: Any, params_for: Any) -> None:
    sandbox = make_sandbox(webhosting=False)
    record = run_inline("01-import-certificate", params_for(sandbox, store="WebHosting"))
    assert record["status"] == "failed" and record["findings"][-1]["code"] == "STORE_MISSING"
    assert not (sandbox.stores_dir / "WebHosting").exists()


def test_verify_reports_certificate_in_the_other_store(sandbox: Any, params_for: Any) -> None:
    assert (
        run_inline("01-import-certificate", params_for(sandbox, store="WebHosting"))["status"] == "succeeded"
    )
    record = run_inline("02-verify-certificate", params_for(sandbox, store="My"))
    assert record["status"] == "failed" and record["findings"][-1]["code"] == "CERT_IN_OTHER_STORE"


def test_verify_proves_the_key_is_usable_and_catches_a_lost_key(sandbox: Any, params_for: Any) -> None:
    first = run_inline("01-import-certificate", params_for(sandbox))
    ok = run_inline("02-verify-certificate", params_for(sandbox))
    assert ok["status"] == "succeeded"
    assert {c["check"] for c in ok["verification"]} >= {
        "present",
        "scope",
        "store",
        "private key present",
        "private key usable",
    }
    (sandbox.stores_dir / "My" / f"{first['certificate']['thumbprint']}.key").unlink()
    lost = run_inline("02-verify-certificate", params_for(sandbox))
    assert lost["status"] == "failed" and lost["findings"][-1]["code"] == "PFX_NO_PRIVATE_KEY"
