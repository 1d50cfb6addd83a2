"""When 04 renews by the CA's word (RFC 9773) and when the operator or the calendar outranks it.

* The chosen time in the window counts as come when it falls before the next scheduled run (§4.2 step
  5): a day on, half a day for a certificate under 10 days.
* ARI's "not yet" loses to an explicit ``renew_before_days`` that has been reached (``RENEWAL_OVERRIDE``)
  and to a certificate with under ⅙ of its lifetime left (``ACME_ARI_LATE``): a wrong window must not let
  the portal lapse. Every renewal of a certificate the CA answered for names it in ``replaces``.
* A ``Retry-After`` the CA sent that reaches past the next scheduled run is honoured: that run reuses the
  recorded window and does not ask (``ACME_ARI_RECORDED``); a short one (a 503 with ``Retry-After: 2``) is waited for once.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from octorunbook.acme import ari
from octorunbook.acme.ari import ari_due, ari_id, renew_at
from octorunbook.params.core import Parameters
from octorunbook.runbooks import renewal_state
from octorunbook.runbooks.renewal_state import Current, renewal_decision
from octorunbook.runbooks.run import Run, TextReporter
from tests.acme.fake_ca import FakeCa, fake_ca

HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)
_CA_KEY = ec.generate_private_key(ec.SECP256R1())


def issued(lifetime_days: float, left: dt.timedelta) -> x509.Certificate:
    """A certificate of ``lifetime_days`` with ``left`` to run, with the Authority Key Identifier ARI needs."""
    end = dt.datetime.now(dt.UTC) + left
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "portal.example")])
    issuer = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Fake CA")])
    aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(_CA_KEY.public_key())
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(end - dt.timedelta(days=lifetime_days))
        .not_valid_after(end)
        .add_extension(aki, critical=False)
        .sign(_CA_KEY, hashes.SHA256())
    )


def a_run(tmp_path: Path, ca: FakeCa | None = None, **values: Any) -> Run:
    fields: dict[str, Any] = {"certificate_source": "acme", "audit_dir": str(tmp_path / "audit")}
    if ca is not None:
        fields.update(acme_directory=ca.directory, acme_ca_bundle=ca.bundle)
    else:
        fields.update(acme_directory="https://ca.invalid/dir")
    return Run("04-renew-certificate", Parameters(**{**fields, **values}), TextReporter())


def answering(monkeypatch: pytest.MonkeyPatch, start: dt.datetime, end: dt.datetime) -> list[str]:
    """Stub the CA's renewalInfo: every question answered with this window; the IDs asked are kept."""
    asked: list[str] = []

    def fetch(run: Run, cert_id: str) -> dict[str, Any]:
        asked.append(cert_id)
        window = {"start": start.isoformat(), "end": end.isoformat()}
        return {"id": cert_id, "status": 200, "window": window, "retry_after_seconds": 21600}

    monkeypatch.setattr(ari, "fetch_renewal_info", fetch)
    return asked


def codes(run: Run) -> list[str]:
    return [f.code for f in run.findings]


# ---- RFC 9773 §4.2 step 5: the chosen time against the next scheduled run --------------------------------


def test_an_open_window_whose_chosen_time_comes_before_the_next_run_is_due_now(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert = issued(90, left=40 * DAY)
    now = dt.datetime.now(dt.UTC)
    start, end = now - dt.timedelta(seconds=1), now + 20 * HOUR
    assert renew_at(str(ari_id(cert)), start, end) > now + dt.timedelta(minutes=1)  # not yet at the time
    answering(monkeypatch, start, end)
    run = a_run(tmp_path)
    assert ari_due(run, cert) is True
    assert run.state["acme_replaces"] == ari_id(cert)
    (finding,) = [f for f in run.findings if f.code == "ACME_ARI_RENEW"]
    assert "comes before the next scheduled run" in finding.message and finding.severity == "info"


def test_a_window_beyond_the_next_run_is_not_due(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    now = dt.datetime.now(dt.UTC)
    answering(monkeypatch, now + 2 * DAY, now + 4 * DAY)
    run = a_run(tmp_path)
    assert ari_due(run, issued(90, left=40 * DAY)) is False
    assert "acme_replaces" not in run.state and run.extra["ari"]["due"] is False


def test_a_short_lived_certificates_next_run_is_half_a_day_away(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = dt.datetime.now(dt.UTC)
    cert = issued(160 / 24, left=3 * DAY)  # twice a day: the next run is 12 hours away
    answering(monkeypatch, now + 13 * HOUR, now + 14 * HOUR)
    assert ari_due(a_run(tmp_path), cert) is False
    answering(monkeypatch, now + 11 * HOUR, now + 11.5 * HOUR)
    assert ari_due(a_run(tmp_path), cert) is True


def test_an_open_window_past_its_chosen_time_is_due_as_acme_ari_renew(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert = issued(90, left=40 * DAY)
    now = dt.datetime.now(dt.UTC)
    start, end = now - 10 * HOUR, now + dt.timedelta(seconds=2)
    assert renew_at(str(ari_id(cert)), start, end) < now
    answering(monkeypatch, start, end)
    run = a_run(tmp_path)
    assert ari_due(run, cert) is True
    (finding,) = [f for f in run.findings if f.code == "ACME_ARI_RENEW"]
    assert "is open: renewing now" in finding.message


# ---- renew_before_days and the safety net outrank ARI's "not yet" ----------------------------------------


def current_with(cert: x509.Certificate) -> Current:
    return Current("nginx:443", "AB" * 20, "My", {}, None, "", None, cert)


@pytest.fixture
def kept(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """``keep_current`` needs a target to prove the portal on; here it only says it was called."""
    headlines: list[str] = []
    monkeypatch.setattr(
        renewal_state, "keep_current", lambda run, current, headline: headlines.append(headline)
    )
    return headlines


def test_renew_before_days_reached_renews_although_the_window_is_ahead(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kept: list[str]
) -> None:
    now = dt.datetime.now(dt.UTC)
    answering(monkeypatch, now + 10 * DAY, now + 12 * DAY)
    cert = issued(90, left=25 * DAY)
    run = a_run(tmp_path, renew_before_days=30)
    assert renewal_decision(run, current_with(cert)) is True and not kept
    assert "RENEWAL_OVERRIDE" in codes(run) and "ACME_ARI_LATE" not in codes(run)
    assert run.state["acme_replaces"] == ari_id(cert)


def test_under_a_sixth_of_the_lifetime_left_renews_with_a_warning_whatever_the_window(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kept: list[str]
) -> None:
    now = dt.datetime.now(dt.UTC)
    answering(monkeypatch, now + 8 * DAY, now + 9 * DAY)  # after the certificate has expired
    cert = issued(90, left=10 * DAY)  # 1/6 of 90 days is 15
    run = a_run(tmp_path)
    assert renewal_decision(run, current_with(cert)) is True and not kept
    (late,) = [f for f in run.findings if f.code == "ACME_ARI_LATE"]
    assert late.severity == "warning" and "10 of the certificate's 90 days" in late.message
    assert run.state["acme_replaces"] == ari_id(cert)


def test_a_window_ahead_with_time_to_spare_keeps_the_certificate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kept: list[str]
) -> None:
    now = dt.datetime.now(dt.UTC)
    answering(monkeypatch, now + 10 * DAY, now + 12 * DAY)
    run = a_run(tmp_path, renew_before_days=20)
    assert renewal_decision(run, current_with(issued(90, left=25 * DAY))) is False
    assert len(kept) == 1 and "the CA suggests renewing between" in kept[0]
    assert "acme_replaces" not in run.state


def test_force_renew_without_an_ari_answer_names_no_replaced_certificate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kept: list[str]
) -> None:
    asked = answering(monkeypatch, dt.datetime.now(dt.UTC), dt.datetime.now(dt.UTC) + DAY)
    run = a_run(tmp_path, force_renew=True)
    assert renewal_decision(run, current_with(issued(90, left=60 * DAY))) is True
    assert not asked and "acme_replaces" not in run.state


# ---- Retry-After across runs, against a fake CA that counts its renewalInfo GETs ---------------------------


def store(run: Run) -> None:
    from octorunbook.audit.store import prepare_audit_dir, store_record
    from octorunbook.headless.runner import record_notebook

    run.status = "unchanged"
    prepare_audit_dir(run.params.audit_dir)
    store_record(run.params.audit_dir, record_notebook(run.record()), html=False)


def test_a_long_retry_after_is_honoured_by_the_next_run_without_asking_the_ca(
    tmp_path: Path, kept: list[str]
) -> None:
    cert = issued(90, left=60 * DAY)
    now = dt.datetime.now(dt.UTC)
    with fake_ca(tmp_path) as ca:
        ca.window(now + 20 * DAY, now + 22 * DAY, {"Retry-After": str(3 * 86400)})
        first = a_run(tmp_path, ca)
        assert ari_due(first, cert) is False and ca.renewal_gets == 1
        assert first.extra["ari"]["retry_after_given"] is True
        store(first)
        second = a_run(tmp_path, ca)
        assert renewal_decision(second, current_with(cert)) is False
        assert ca.renewal_gets == 1, "the CA asked not to be asked for three days"
        assert second.extra["ari"]["window"] == first.extra["ari"]["window"]
        assert second.extra["ari"]["renew_at"] == first.extra["ari"]["renew_at"]
        (said,) = [f for f in second.findings if f.code == "ACME_ARI_RECORDED"]
        assert "Retry-After" in said.message
        store(second)  # it reused the answer: the CA's own word is still the first record's
        third = a_run(tmp_path, ca)
        assert renewal_decision(third, current_with(cert)) is False
        assert ca.renewal_gets == 1, "a reused answer hid the CA's own from the third run"
        assert "ACME_ARI_RECORDED" in codes(third)
        other = a_run(tmp_path, ca)  # another certificate: its own question
        renewal_decision(other, current_with(issued(90, left=60 * DAY)))
        assert ca.renewal_gets == 2 and "ACME_ARI_RECORDED" not in codes(other)


@pytest.mark.parametrize("headers", [{}, {"Retry-After": "21600"}], ids=["none", "six-hours"])
def test_a_retry_after_the_schedule_honours_by_itself_lets_the_next_run_ask_again(
    tmp_path: Path, kept: list[str], headers: dict[str, str]
) -> None:
    cert = issued(90, left=60 * DAY)  # daily runs: six hours have passed by the next scheduled one
    now = dt.datetime.now(dt.UTC)
    with fake_ca(tmp_path) as ca:
        ca.window(now + 20 * DAY, now + 22 * DAY, headers)
        first = a_run(tmp_path, ca)
        ari_due(first, cert)
        store(first)
        renewal_decision(a_run(tmp_path, ca), current_with(cert))
        assert ca.renewal_gets == 2


def test_a_503_with_a_short_retry_after_is_asked_again_once(tmp_path: Path) -> None:
    cert = issued(90, left=60 * DAY)
    now = dt.datetime.now(dt.UTC)
    with fake_ca(tmp_path) as ca:
        ca.window(now + 20 * DAY, now + 22 * DAY)
        busy = (503, {"type": "urn:ietf:params:acme:error:serverInternal"}, {"Retry-After": "2"})
        ca.renewal_answers = [busy, *ca.renewal_answers]
        run = a_run(tmp_path, ca)
        assert ari_due(run, cert) is False
        assert ca.renewal_gets == 2 and run.extra["ari"]["status"] == 200
