"""03's proof includes the chain: what the portal *sends* must validate to the top issuer the PFX carried
(issue 11 §1). Only that issuer is trusted, so a missing intermediate cannot be filled in from elsewhere."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12

from octorunbook.headless.inline import run_inline
from octorunbook.targets.sandbox import Sandbox

PASSWORD_ENV = "OCTORUNBOOK_TEST_CHAIN_PASSWORD"
PASSWORD = "chain-proof-password"


@pytest.fixture
def chain_pfx(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root_ca = trustme.CA()
    issued = root_ca.create_child_ca().issue_cert("localhost")
    leaf, intermediate = (x509.load_pem_x509_certificate(b.bytes()) for b in issued.cert_chain_pems[:2])
    root = x509.load_pem_x509_certificate(root_ca.cert_pem.bytes())
    key = serialization.load_pem_private_key(issued.private_key_pem.bytes(), None)
    path = tmp_path / "chain.pfx"
    path.write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"portal",
            key,
            leaf,
            [intermediate, root],
            BestAvailableEncryption(PASSWORD.encode()),  # type: ignore[arg-type]
        )
    )
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    return path


def params(sandbox: Sandbox, params_for: Any, pfx: Path) -> Any:
    return params_for(sandbox, certificate_source="pfx", pfx_path=str(pfx), pfx_password_env=PASSWORD_ENV)


def chain_row(record: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in record["verification"] if c["check"].startswith("served chain validates"))


def test_03_proves_the_served_chain_validates_to_the_pfx_root(
    sandbox: Sandbox, params_for: Any, chain_pfx: Path
) -> None:
    p = params(sandbox, params_for, chain_pfx)
    assert run_inline("01-import-certificate", p)["status"] == "succeeded"
    record = run_inline("03-add-https-binding", p)
    assert record["status"] == "succeeded", record["findings"]
    assert chain_row(record)["ok"] and "validates to" in chain_row(record)["seen"]


def test_03_rolls_back_when_the_intermediate_is_not_served(
    sandbox: Sandbox, params_for: Any, chain_pfx: Path
) -> None:
    p = params(sandbox, params_for, chain_pfx)
    assert run_inline("01-import-certificate", p)["status"] == "succeeded"
    for intermediate in (sandbox.stores_dir / "CA").glob("*.pem"):
        intermediate.unlink()  # as on a server where LocalMachine\CA lacks it: HTTP.sys sends the leaf only
    record = run_inline("03-add-https-binding", p)
    assert record["status"] == "failed"
    assert not chain_row(record)["ok"]
    assert [f["code"] for f in record["findings"] if f["severity"] == "error"][
        -1
    ] == "SERVED_CHAIN_INCOMPLETE"
    assert any(c["check"].startswith("after rollback") and c["ok"] for c in record["verification"])
