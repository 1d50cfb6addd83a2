"""A real 6-day certificate (160 hours, Let's Encrypt's ``shortlived``) from pebble 2.6, whose
``certificateValidityPeriod`` is set to that: issued by 01, bound by 03, and — once the CA's window says
"now" (the certificate revoked through ACME) — replaced by 04 with zero failed requests from a client
probing every 20 ms, the new order naming the old certificate in ``replaces``."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pebble_ca import Pebble

from octorunbook.headless.inline import run_inline
from octorunbook.targets.sandbox import Sandbox
from tests.acme.test_ari import _revoke, _served_pem, ari_ca
from tests.acme.test_client import acme_params, served_chain
from tests.runbooks.test_renew import Prober

SHORTLIVED_SECONDS = 160 * 3600


@ari_ca
def test_a_six_day_certificate_is_renewed_by_04_with_zero_failed_requests(
    sandbox: Sandbox, make_pebble: Any, params_for: Any
) -> None:
    pebble: Pebble = make_pebble(sandbox.status()["port_map"][80], validity_seconds=SHORTLIVED_SECONDS)
    params = acme_params(params_for, sandbox, pebble)
    first = run_inline("01-import-certificate", params)
    assert first["status"] == "succeeded", first["findings"]
    assert run_inline("03-add-https-binding", params)["status"] == "succeeded"
    served = served_chain(sandbox)
    assert served.thumbprint == first["certificate"]["thumbprint"]
    kept = run_inline("04-renew-certificate", params)  # fresh: the CA's window is days ahead
    assert kept["status"] == "unchanged", kept["findings"]
    assert kept["state"]["before"]["lifetime_days"] == 6.7  # 160 hours

    old = served.thumbprint
    _revoke(sandbox, pebble, _served_pem(sandbox))
    with Prober(sandbox.status()["port_map"][443]) as probe:
        record = run_inline("04-renew-certificate", params)
    assert record["status"] == "succeeded", record["findings"]
    assert record["ari"]["due"] is True and record["acme"]["replaces"] == record["ari"]["id"]
    new = record["tls"]["thumbprint"]
    assert new != old
    assert probe.failures == [], probe.failures
    switch = probe.seen.index(new)
    assert set(probe.seen[:switch]) == {old} and set(probe.seen[switch:]) == {new}
    left = dt.datetime.fromisoformat(served_chain(sandbox).not_after) - dt.datetime.now(dt.UTC)
    assert dt.timedelta(days=6.5) < left <= dt.timedelta(hours=160), "the new certificate is a 6-day one too"
