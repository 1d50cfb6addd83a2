"""The optional sslyze backend (AGPLv3, opt-in extra): its suite judgement always, a real scan only where installed."""

from __future__ import annotations

import importlib.util
from typing import Any

import pytest

from octorunbook.posture import SUITES
from octorunbook.posture_sslyze import weak_reason


def test_sslyze_suites_are_judged_like_the_fixed_list() -> None:
    for suite in SUITES:
        assert bool(weak_reason(suite.iana)) == suite.weak, suite.iana
    assert weak_reason("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256") == ""
    assert weak_reason("TLS_DH_anon_WITH_AES_128_CBC_SHA") == "no server authentication"
    assert weak_reason("TLS_AES_128_GCM_SHA256") == ""


@pytest.mark.skipif(
    importlib.util.find_spec("sslyze") is None,
    reason="sslyze is not installed (optional AGPLv3 extra: pip install 'octorunbook[sslyze]')",
)
def test_sslyze_backend_reports_the_hardened_sandbox_portal(sandbox: Any, params_for: Any) -> None:
    from octorunbook.posture import scan
    from octorunbook.steps import run_inline

    params = params_for(sandbox, hostname="localhost", hsts_max_age=31536000)
    for runbook in ("01-import-certificate", "03-add-https-binding"):
        assert run_inline(runbook, params)["status"] == "succeeded"
    port = sandbox.status()["port_map"][443]
    report = scan(("127.0.0.1", port), "localhost", backend="sslyze")
    rows = {r.check: r for r in report.rows}
    assert rows["protocol TLS 1.0"].seen == "rejected"
    assert rows["protocol TLS 1.2"].seen.startswith("accepted")
    assert "TLS_LEGACY_PROTOCOL" not in report.codes()
    assert rows["Heartbleed (CVE-2014-0160)"].seen == "not vulnerable"
