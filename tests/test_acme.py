"""certificate_source: acme against a real ACME server (pebble): account, order, HTTP-01 through the
sandbox portal's own port 80, DNS-01 through a hook, finalise, download, import, bind, prove; renewal by
04 with no failed request. Pebble's default badNonce rejections stay on in every test here."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from pebble_ca import SKIP_REASON, Pebble, start_pebble

from octorunbook.steps import run_inline
from octorunbook.targets.sandbox import Sandbox
from octorunbook.verify import tls_handshake

pytestmark = pytest.mark.skipif(bool(SKIP_REASON), reason=SKIP_REASON)


@pytest.fixture
def pebble(sandbox: Sandbox, tmp_path: Path) -> Iterator[Pebble]:
    """Pebble validating HTTP-01 on the port the sandbox portal's http://localhost:80/ really uses."""
    ca = start_pebble(tmp_path / "pebble", sandbox.status()["port_map"][80])
    try:
        yield ca
    finally:
        ca.stop()


def acme_params(params_for: Any, sandbox: Sandbox, pebble: Pebble, **extra: Any) -> Any:
    return params_for(
        sandbox,
        certificate_source="acme",
        acme_directory=pebble.directory,
        acme_ca_bundle=str(pebble.bundle),
        acme_email="ops@example.com",
        **extra,
    )


def errors(record: dict[str, Any]) -> list[str]:
    return [f["code"] for f in record["findings"] if f["severity"] == "error"]


def served_chain(sandbox: Sandbox) -> Any:
    return tls_handshake("127.0.0.1", sandbox.status()["port_map"][443], "localhost")


def test_http01_order_end_to_end_imports_binds_and_serves_a_certificate_chaining_to_pebbles_root(
    sandbox: Sandbox, pebble: Pebble, params_for: Any
) -> None:
    params = acme_params(params_for, sandbox, pebble)
    first = run_inline("01-import-certificate", params)
    assert first["status"] == "succeeded", first["findings"]
    acme = first["acme"]
    assert acme["challenge"] == "http-01" and acme["order_url"].startswith("https://127.0.0.1:")
    assert acme["account"]["reused"] is False and acme["account"]["terms_of_service"]
    assert [a["identifier"] for a in acme["authorizations"]] == ["localhost"]
    assert acme["authorizations"][0]["status"] == "valid"
    assert acme["authorizations"][0]["preflight"] == "ok"
    assert not list((sandbox.run_dir / "acme-challenge").iterdir()), "challenge unregistered afterwards"
    bound = run_inline("03-add-https-binding", params)
    assert bound["status"] == "succeeded", bound["findings"]
    served = served_chain(sandbox)
    assert served.thumbprint == first["certificate"]["thumbprint"]
    # the served certificate chains to the root pebble generated at this start
    leaf = x509.load_pem_x509_certificate(
        (sandbox.stores_dir / "My" / f"{served.thumbprint}.pem").read_bytes()
    )
    chain = x509.load_pem_x509_certificates(
        (sandbox.stores_dir / "My" / f"{served.thumbprint}.pem").read_bytes()
    )
    root = x509.load_pem_x509_certificate(pebble.root_pem())
    intermediates = [c for c in chain[1:]] or _store_ca(sandbox)
    assert intermediates, "the chain came with the certificate"
    leaf.verify_directly_issued_by(intermediates[0])
    intermediates[0].verify_directly_issued_by(root)
    record_text = json.dumps([first, bound])
    key = (next(Path(sandbox.root / "state" / "acme").iterdir()) / "account.key").read_text()
    assert key.split("\n")[1] not in record_text, "the account key never reaches the record"


def _store_ca(sandbox: Sandbox) -> list[x509.Certificate]:
    found = []
    for path in sandbox.stores_dir.rglob("*.pem"):
        cert = x509.load_pem_x509_certificate(path.read_bytes())
        basic = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
        if basic.ca:
            found.append(cert)
    return found
