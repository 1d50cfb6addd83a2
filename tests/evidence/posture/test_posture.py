"""The posture scan against real TLS servers on loopback (trustme certificates, Python's ssl server side).

Each fixture server is configured the way a portal might be -- legacy-friendly, hardened, untrusted,
with or without HSTS -- and the scan must report exactly what it accepts.
"""

from __future__ import annotations

import socket
import ssl
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme

from octorunbook.evidence.posture import NOT_TESTABLE, PostureReport, scan, text_table
from octorunbook.evidence.posture._probe import PROTOCOLS, local_refusal, protocol_context
from octorunbook.evidence.posture._scan import _hsts
from octorunbook.findings import InputError, TargetError

try:
    from tlsserver import HOST, Server, loopback_servers
except ImportError:  # tests/ is a package
    from tests.tlsserver import HOST, Server, loopback_servers


@pytest.fixture
def serve() -> Iterator[Callable[..., Server]]:
    with loopback_servers() as start:
        yield start


def _row(report: PostureReport, check: str) -> Any:
    return next(r for r in report.rows if r.check == check)


def _legacy_testable() -> str:
    """'' when this OpenSSL can offer TLS 1.0 and 1.1 at SECLEVEL=0, else why not."""
    return " ".join(filter(None, (local_refusal(protocol_context(p)) for p in PROTOCOLS[:2])))


LEGACY_CIPHERS = "ALL:@SECLEVEL=0"
HARDENED_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20"


def test_scan_reports_tls_1_0_and_1_1_accepted_as_legacy_protocol(serve: Any) -> None:
    if _legacy_testable():
        pytest.skip(f"this OpenSSL cannot offer TLS 1.0/1.1 even at SECLEVEL=0: {_legacy_testable()}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        server = serve(minimum=ssl.TLSVersion.TLSv1, ciphers=LEGACY_CIPHERS)
    report = scan(("127.0.0.1", server.port), HOST)
    assert _row(report, "protocol TLS 1.0").seen.startswith("accepted (TLSv1 ")
    assert _row(report, "protocol TLS 1.1").seen.startswith("accepted (TLSv1.1 ")
    assert _row(report, "protocol TLS 1.0").severity == "warning"
    legacy = next(f for f in report.findings if f.code == "TLS_LEGACY_PROTOCOL")
    assert legacy.severity == "warning" and legacy.details["protocols"] == ["TLS 1.0", "TLS 1.1"]
    assert "disablelegacytls=enable" in legacy.remedy and "ssl_protocols TLSv1.2 TLSv1.3" in legacy.remedy
    weak = next(f for f in report.findings if f.code == "TLS_WEAK_CIPHER")
    assert "TLS_RSA_WITH_AES_128_CBC_SHA" in weak.details["suites"]
    assert "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA" in weak.details["suites"]
    assert report.ok  # warnings only: posture does not fail a run by default


def test_strict_posture_turns_the_same_findings_into_errors(serve: Any) -> None:
    server = serve(ciphers="ECDHE+AESGCM:AES128-SHA:@SECLEVEL=0", hsts=None)
    report = scan(f"https://127.0.0.1:{server.port}/", HOST, posture="strict")
    assert {f.code for f in report.findings} >= {"TLS_WEAK_CIPHER", "HSTS_MISSING"}
    assert all(f.severity == "error" for f in report.findings)
    assert not report.ok
    assert _row(report, "TLS 1.2 suite TLS_RSA_WITH_AES_128_CBC_SHA").severity == "error"


def test_hardened_server_shows_no_protocol_or_cipher_finding(serve: Any, tmp_path: Path) -> None:
    server = serve(ciphers=HARDENED_CIPHERS)
    report = scan(("127.0.0.1", server.port), HOST, ca_bundle=server.ca_bundle(tmp_path))
    assert report.codes() == []
    for label in ("TLS 1.0", "TLS 1.1"):
        row = _row(report, f"protocol {label}")
        assert row.expected == "rejected"
        assert row.seen.startswith(("rejected", NOT_TESTABLE)), row
    assert _row(report, "protocol TLS 1.2").seen.startswith("accepted (TLSv1.2 ECDHE-RSA-AES")
    assert _row(report, "protocol TLS 1.3").seen.startswith("accepted (TLSv1.3")
    assert _row(report, "TLS 1.2 suite TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256").seen.startswith("accepted")
    assert _row(report, "TLS 1.2 suite TLS_RSA_WITH_AES_128_CBC_SHA").seen.startswith("rejected")
    assert _row(report, "chain against the operator's CA bundle").seen == "validates"
    # The trustme root is in no system store: with a bundle that validates, that is information only.
    assert _row(report, "chain against the system trust store").severity == "info"
    assert _row(report, "HSTS header").seen == "max-age=31536000"
    assert _row(report, "HSTS includeSubDomains").seen == "present"
    assert _row(report, "hostname in subjectAltName").severity == "ok"
    record = report.to_record()
    assert record["rows"][0].keys() >= {"check", "expected", "seen", "severity"}
    assert record["findings"] == [] and record["environment"]["openssl"] == ssl.OPENSSL_VERSION


def test_untrusted_chain_is_reported_for_clients(serve: Any, tmp_path: Path) -> None:
    server = serve(ciphers=HARDENED_CIPHERS)
    other = trustme.CA()
    bundle = tmp_path / "other-ca.pem"
    other.cert_pem.write_to_path(str(bundle))
    report = scan(("127.0.0.1", server.port), HOST, ca_bundle=bundle, front="nginx")
    chain = next(f for f in report.findings if f.code == "CHAIN_UNTRUSTED_FOR_CLIENTS")
    assert "system trust store or the CA bundle given" in chain.message
    assert "unable to get local issuer certificate" in chain.message
    assert chain.remedy.startswith("Use a certificate from a CA the clients trust")  # nginx remedy only
    assert _row(report, "chain against the operator's CA bundle").severity == "warning"
    no_bundle = scan(("127.0.0.1", server.port), HOST)
    assert "CHAIN_UNTRUSTED_FOR_CLIENTS" in no_bundle.codes()


def test_hostname_not_in_the_certificate_is_a_mismatch(serve: Any) -> None:
    server = serve(ciphers=HARDENED_CIPHERS, names=("other.example.com",))
    report = scan(("127.0.0.1", server.port), HOST)
    assert "HOSTNAME_MISMATCH" in report.codes()
    assert _row(report, "hostname in subjectAltName").seen == "other.example.com"


@pytest.mark.parametrize(
    ("header", "code", "seen"),
    [
        (None, "HSTS_MISSING", "absent (HTTP 200)"),
        ("max-age=0", "HSTS_MISSING", "'max-age=0' (no usable max-age) (HTTP 200)"),
        ("max-age=3600", "HSTS_TOO_SHORT", "max-age=3600"),
        ('max-age="31536000"; includeSubDomains; preload', None, "max-age=31536000"),
    ],
)
def test_hsts_header_is_judged_by_its_max_age(
    serve: Any, header: str | None, code: str | None, seen: str
) -> None:
    server = serve(ciphers=HARDENED_CIPHERS, hsts=header)
    report = scan(("127.0.0.1", server.port), HOST)
    hsts_codes = [c for c in report.codes() if c.startswith("HSTS")]
    assert hsts_codes == ([code] if code else [])
    assert _row(report, "HSTS header").seen == seen


def test_hsts_parser_follows_rfc_6797() -> None:
    assert _hsts(None) == (None, False)
    assert _hsts("max-age=600") == (600, False)
    # names are case-insensitive and RFC 2616's implied LWS allows spaces around '='
    assert _hsts(' MAX-AGE = "86400" ; includesubdomains') == (86400, True)
    assert _hsts("max-age=1h") == (None, False)
    assert _hsts('max-age="86400"; includeSubDomains') == (86400, True)
    assert _hsts("includeSubDomains") == (None, True)


def test_a_version_the_local_openssl_cannot_offer_is_not_testable_never_rejected(
    serve: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from octorunbook.evidence.posture import _probe

    server = serve(ciphers=HARDENED_CIPHERS)
    real = _probe.local_refusal

    def no_tls10(context: ssl.SSLContext) -> str:
        if context.maximum_version == PROTOCOLS[0].version:
            return "the local OpenSSL (test) cannot offer it: NO_PROTOCOLS_AVAILABLE"
        return real(context)

    monkeypatch.setattr(_probe, "local_refusal", no_tls10)
    report = scan(("127.0.0.1", server.port), HOST)
    row = _row(report, "protocol TLS 1.0")
    assert row.seen.startswith(NOT_TESTABLE) and row.severity == "info"
    assert "TLS_LEGACY_PROTOCOL" not in report.codes()


def test_suites_missing_from_the_local_openssl_are_not_testable(serve: Any) -> None:
    server = serve(ciphers=HARDENED_CIPHERS)
    report = scan(("127.0.0.1", server.port), HOST)
    rc4 = _row(report, "TLS 1.2 suite TLS_RSA_WITH_RC4_128_SHA")
    try:
        ssl.create_default_context().set_ciphers("RC4-SHA:@SECLEVEL=0")
    except ssl.SSLError:
        assert rc4.seen.startswith(NOT_TESTABLE) and rc4.severity == "info"
    else:
        assert rc4.seen.startswith("rejected")


def test_unreachable_endpoint_is_a_target_error_and_bad_input_changes_nothing(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(TargetError, match="^ENDPOINT_UNREACHABLE:"):
        scan(("127.0.0.1", port), HOST, timeout=2)
    with pytest.raises(InputError, match="^ENDPOINT_INVALID:"):
        scan("http://127.0.0.1:80", HOST)
    with pytest.raises(InputError, match="^HOSTNAME_INVALID:"):
        scan(("127.0.0.1", port), " ")
    with pytest.raises(InputError, match="^POSTURE_INVALID:"):
        scan(("127.0.0.1", port), HOST, posture="lenient")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="^FILE_NOT_FOUND:"):
        scan(("127.0.0.1", port), HOST, ca_bundle=tmp_path / "missing.pem")
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    with pytest.raises(InputError, match="^CA_BUNDLE_UNREADABLE:"):
        scan(("127.0.0.1", port), HOST, ca_bundle=junk)


def test_text_table_lists_every_row_and_the_remedies(serve: Any) -> None:
    server = serve(ciphers=HARDENED_CIPHERS, hsts="max-age=60")
    report = scan(("127.0.0.1", server.port), HOST, front="httpsys")
    text = text_table(report)
    for row in report.rows:
        assert row.check in text
    assert "⚠ HSTS_TOO_SHORT: HSTS max-age is 60 s" in text
    assert "remedy: Raise it once HTTPS has been stable" in text


def test_posture_panel_shows_rows_and_findings_for_the_notebook(serve: Any) -> None:
    from octorunbook.evidence.posture import posture_panel

    server = serve(ciphers=HARDENED_CIPHERS, hsts=None)
    warned = posture_panel(scan(("127.0.0.1", server.port), HOST))
    assert warned.status == "warning"
    html = warned.html()
    assert "protocol TLS 1.3" in html and "HSTS_MISSING" in html and "octorunbook-warning" in html
    strict = posture_panel(scan(("127.0.0.1", server.port), HOST, posture="strict"))
    assert strict.status == "error"


def test_a_records_posture_section_reads_back_as_the_same_report_and_a_malformed_one_as_none(
    serve: Any,
) -> None:
    """The operator page shows 05's posture from its record: the same rows and findings, and a section
    of the wrong shape is not shown rather than trusted."""
    server = serve(ciphers=HARDENED_CIPHERS, hsts=None)
    report = scan(("127.0.0.1", server.port), HOST)
    again = PostureReport.from_record(report.to_record())
    assert again is not None
    assert again.rows == report.rows and again.codes() == report.codes()
    assert PostureReport.from_record(None) is None
    assert PostureReport.from_record({"rows": "not rows"}) is None
    kept = PostureReport.from_record({"rows": [{"check": "x", "severity": "fatal"}], "findings": [{}]})
    assert kept is not None and kept.rows == () and kept.findings == ()
