"""The optional sslyze backend (AGPLv3, opt-in extra): its suite judgement always, a real scan only where installed."""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from octorunbook.evidence.posture import SUITES
from octorunbook.evidence.posture.sslyze import weak_reason

try:
    from tlsserver import HOST, loopback_servers
except ImportError:  # tests/ is a package
    from tests.tlsserver import HOST, loopback_servers


def test_sslyze_suites_are_judged_like_the_fixed_list() -> None:
    for suite in SUITES:
        assert bool(weak_reason(suite.iana)) == suite.weak, suite.iana
    assert weak_reason("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256") == ""
    assert weak_reason("TLS_DH_anon_WITH_AES_128_CBC_SHA") == "no server authentication"
    assert weak_reason("TLS_AES_128_GCM_SHA256") == ""


# `make test` runs these again in .venv-sslyze (the extra installed), with OCTORUNBOOK_REQUIRE_SSLYZE=1:
# there a missing sslyze is a failure, not a skip.
SSLYZE = pytest.mark.skipif(
    importlib.util.find_spec("sslyze") is None and not os.environ.get("OCTORUNBOOK_REQUIRE_SSLYZE"),
    reason="sslyze is not installed here (optional AGPLv3 extra: pip install 'octorunbook[sslyze]'); "
    "`make test` runs these in .venv-sslyze",
)


@pytest.fixture
def serve() -> Iterator[Callable[..., Any]]:
    with loopback_servers() as start:
        yield start


@SSLYZE
def test_sslyze_backend_reports_a_hardened_endpoint(serve: Any) -> None:
    from octorunbook.evidence.posture import scan

    server = serve(ciphers="ECDHE+AESGCM:ECDHE+CHACHA20")
    report = scan(("127.0.0.1", server.port), HOST, backend="sslyze")
    rows = {r.check: r for r in report.rows}
    assert report.backend == "sslyze"
    assert rows["protocol TLS 1.0"].seen == "rejected" and rows["protocol TLS 1.1"].seen == "rejected"
    assert rows["protocol TLS 1.2"].seen.startswith("accepted") and rows["protocol TLS 1.3"].seen.startswith(
        "accepted"
    )
    assert rows["Heartbleed (CVE-2014-0160)"].seen == "not vulnerable"
    assert "TLS_LEGACY_PROTOCOL" not in report.codes() and "TLS_WEAK_CIPHER" not in report.codes()
    assert "hostname in subjectAltName" in rows and "HSTS header" in rows  # still the default backend's rows


@SSLYZE
def test_sslyze_backend_finds_legacy_protocols_and_weak_suites(serve: Any) -> None:
    import ssl
    import warnings

    from octorunbook.evidence.posture import scan

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        server = serve(minimum=ssl.TLSVersion.TLSv1, ciphers="ALL:@SECLEVEL=0")
    report = scan(("127.0.0.1", server.port), HOST, backend="sslyze")
    legacy = next(f for f in report.findings if f.code == "TLS_LEGACY_PROTOCOL")
    assert legacy.details["protocols"] == ["TLS 1.0", "TLS 1.1"]
    weak = next(f for f in report.findings if f.code == "TLS_WEAK_CIPHER")
    assert "TLS_RSA_WITH_AES_128_CBC_SHA" in weak.details["suites"]
