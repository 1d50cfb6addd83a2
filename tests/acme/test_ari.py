"""ARI (RFC 9773) and profiles against a CA that speaks ARI: Debian 13's pebble 2.6 (``.ci/run`` unpacks it).

A fresh certificate's window lies in the future: 04 ends ``unchanged`` and records the window. A certificate
revoked through ACME gets a window that is already open: 04 renews at once and its order names the old one
in ``replaces``. A profile the CA does not list is refused before an account or an order exists (pebble
2.6 lists none). The certID and the chosen time are checked offline against certbot's ``acme`` library.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pebble_ca import ARI_SKIP_REASON, SKIP_REASON, Pebble

from octorunbook.acme.ari import ari_id, renew_at, retry_after_seconds
from octorunbook.headless.inline import run_inline
from octorunbook.targets.sandbox import Sandbox
from tests.acme.test_client import acme_params, errors

ari_ca = pytest.mark.skipif(bool(ARI_SKIP_REASON), reason=ARI_SKIP_REASON)


def test_the_cert_id_is_the_one_certbots_library_computes() -> None:
    import trustme
    from acme.client import _renewal_info_path_component
    from cryptography import x509

    for _ in range(8):  # serials with and without the top bit set
        cert = x509.load_pem_x509_certificate(trustme.CA().issue_cert("a.example").cert_chain_pems[0].bytes())
        assert ari_id(cert) == _renewal_info_path_component(cert)


def test_the_renewal_time_lies_in_the_window_and_is_the_same_on_every_run() -> None:
    start = datetime(2026, 12, 1, tzinfo=UTC)
    end = start + timedelta(days=2)
    times = {renew_at(f"aki.serial{i}", start, end) for i in range(50)}
    assert all(start <= t <= end for t in times) and len(times) == 50
    assert renew_at("aki.serial1", start, end) == renew_at("aki.serial1", start, end)


def test_retry_after_is_read_as_seconds_or_as_an_http_date() -> None:
    now = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
    assert retry_after_seconds("21600", now) == 21600
    assert retry_after_seconds("Sat, 05 Dec 2026 13:00:00 GMT", now) == 3600
    assert retry_after_seconds("soon", now) is None and retry_after_seconds(None, now) is None


def _revoke(sandbox: Sandbox, pebble: Pebble, pem: bytes) -> None:
    """Revoke ``pem`` through ACME with the account octorunbook registered (its key from the state folder)."""
    from acme import client, messages
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from josepy.jwk import JWKRSA

    folder = next((sandbox.root / "state" / "acme").iterdir())
    key = JWKRSA(key=serialization.load_pem_private_key((folder / "account.key").read_bytes(), None))
    url = json.loads((folder / "account.json").read_text())["url"]
    net = client.ClientNetwork(key, verify_ssl=str(pebble.bundle))
    net.account = messages.RegistrationResource(uri=url, body=messages.Registration())
    acme = client.ClientV2(client.ClientV2.get_directory(pebble.directory, net), net)
    acme.revoke(x509.load_pem_x509_certificate(pem), 4)  # superseded


def _served_pem(sandbox: Sandbox) -> bytes:
    import ssl

    return ssl.get_server_certificate(("127.0.0.1", sandbox.status()["port_map"][443])).encode()


@ari_ca
def test_a_window_in_the_future_ends_unchanged_with_the_window_recorded(
    sandbox: Sandbox, pebble: Pebble, params_for: Any
) -> None:
    params = acme_params(params_for, sandbox, pebble)
    first = run_inline("01-import-certificate", params)
    assert run_inline("03-add-https-binding", params)["status"] == "succeeded"
    record = run_inline("04-renew-certificate", params)
    assert record["status"] == "unchanged", record["findings"]
    ari = record["ari"]
    assert ari["url"].startswith(pebble.directory.rsplit("/", 1)[0]) and "/renewalInfo/" in ari["url"]
    start, end = (datetime.fromisoformat(ari["window"][k]) for k in ("start", "end"))
    assert datetime.now(UTC) < start <= datetime.fromisoformat(ari["renew_at"]) <= end
    assert ari["due"] is False and ari["retry_after_seconds"] > 0
    assert record["state"]["after"]["bound"]["thumbprint"] == first["certificate"]["thumbprint"]
    again = run_inline("04-renew-certificate", params)  # another run picks the same time in the same window
    assert again["ari"]["renew_at"] == ari["renew_at"]


@ari_ca
def test_a_revoked_certificates_window_in_the_past_renews_now_and_the_order_replaces_it(
    sandbox: Sandbox, pebble: Pebble, params_for: Any
) -> None:
    params = acme_params(params_for, sandbox, pebble)
    first = run_inline("01-import-certificate", params)
    assert run_inline("03-add-https-binding", params)["status"] == "succeeded"
    old = first["certificate"]["thumbprint"]
    _revoke(sandbox, pebble, _served_pem(sandbox))
    record = run_inline("04-renew-certificate", params)
    assert record["status"] == "succeeded", record["findings"]
    assert record["ari"]["due"] is True
    # pebble 2.6 answers a revoked certificate with a window that has already ended (no simulation needed)
    assert datetime.fromisoformat(record["ari"]["window"]["end"]) <= datetime.now(UTC)
    assert record["acme"]["replaces"] == record["ari"]["id"]
    assert record["tls"]["thumbprint"] != old
    assert "ACME_ARI_WINDOW_PASSED" in [f["code"] for f in record["findings"]]


@pytest.mark.skipif(bool(SKIP_REASON), reason=SKIP_REASON)
def test_a_profile_the_ca_does_not_list_is_refused_before_any_account_or_order(
    sandbox: Sandbox, pebble: Pebble, params_for: Any
) -> None:
    record = run_inline(
        "01-import-certificate", acme_params(params_for, sandbox, pebble, acme_profile="shortlived")
    )
    assert errors(record) == ["ACME_PROFILE_UNSUPPORTED"]
    assert record["acme"]["profile"] == "shortlived" and "order_url" not in record["acme"]
    assert not (sandbox.root / "state" / "acme").exists(), "no account key, no account"
    assert not list((sandbox.stores_dir / "My").iterdir())
    assert not [c for c in record["changes"]]
    assert "acme account" not in Path(pebble.folder / "pebble.log").read_text(errors="replace")
