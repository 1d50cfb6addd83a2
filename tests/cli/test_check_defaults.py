"""``octorunbook check PARAMS.yaml`` opens the doors the parameter file implies: its ``audit_dir`` (the dead
man's switch without ``--audit-dir``, relative to the file's folder as the scheduled run sees it, once a
renewal has left a record there) and, for ``certificate_source: acme``, its CA's renewal window (without
``--acme-directory``, and without asking again while a recorded Retry-After stands). ``--no-audit-dir`` and
``--no-acme-directory`` opt out."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from octorunbook.evidence.check import CRITICAL, OK, WARNING
from octorunbook.params.core import Parameters
from octorunbook.runbooks.run import Run, TextReporter
from tests.acme.fake_ca import fake_ca
from tests.evidence.test_check import bind, check, lived, params_file


def a_renewal_record(audit: Path, status: str, ari: dict[str, Any] | None = None) -> None:
    """A renewal (04) record in ``audit``, as a run leaves it."""
    from octorunbook.audit.store import prepare_audit_dir, store_record
    from octorunbook.headless.runner import record_notebook

    run = Run("04-renew-certificate", Parameters(audit_dir=str(audit)), TextReporter())
    run.status = status
    if ari is not None:
        run.extra["ari"] = ari
    prepare_audit_dir(audit)
    store_record(audit, record_notebook(run.record()), html=False)


def test_the_params_audit_dir_is_read_without_the_flag_once_a_renewal_ran(
    sandbox: Any, tmp_path: Path
) -> None:
    bind(sandbox, tmp_path, lived(90, left=dt.timedelta(days=80)))
    params = params_file(tmp_path, sandbox, audit_dir="audit")  # relative: the params file's folder
    (tmp_path / "audit").mkdir()
    assert check(str(params)).returncode == OK  # 01 → 03 alone is no schedule: nothing can have stopped
    a_renewal_record(tmp_path / "audit", "failed")
    done = check(str(params), "--json")
    assert done.returncode == CRITICAL, done.stdout
    assert any("renewals have stopped" in r for r in json.loads(done.stdout)["reasons"])
    assert check(str(params), "--no-audit-dir").returncode == OK


def test_an_acme_portals_ca_is_asked_without_the_flag_unless_a_recorded_answer_stands(
    sandbox: Any, tmp_path: Path
) -> None:
    from cryptography import x509

    from octorunbook.acme.ari import ari_id

    cert = lived(90, left=dt.timedelta(days=80))
    bind(sandbox, tmp_path, cert)
    now = dt.datetime.now(dt.UTC)
    with fake_ca(tmp_path) as ca:
        ca.window(now - dt.timedelta(hours=1), now + dt.timedelta(hours=47))
        acme = {"certificate_source": "acme", "acme_directory": ca.directory, "acme_ca_bundle": ca.bundle}
        params = params_file(tmp_path, sandbox, audit_dir=str(tmp_path / "audit"), **acme)
        done = check(str(params), "--json")
        assert done.returncode == WARNING, done.stdout + done.stderr
        assert any("is open" in r and "the CA at" in r for r in json.loads(done.stdout)["reasons"])
        assert ca.renewal_gets == 1
        assert check(str(params), "--no-acme-directory").returncode == OK and ca.renewal_gets == 1

        cert_id = ari_id(x509.load_pem_x509_certificate(cert.cert_chain_pems[0].bytes()))
        window = {
            "start": (now + dt.timedelta(days=20)).isoformat(),
            "end": (now + dt.timedelta(days=22)).isoformat(),
        }
        ahead = (now + dt.timedelta(hours=6)).isoformat()
        answer = {"id": cert_id, "window": window, "next_check": ahead, "retry_after_given": True}
        a_renewal_record(tmp_path / "audit", "succeeded", {**answer, "retry_after_seconds": 6 * 3600})
        assert check(str(params)).returncode == OK
        assert ca.renewal_gets == 1, "the recorded answer stands until its next_check"


def _plant(audit: Path, name: str, ari: dict[str, Any], *, line: bool) -> Path:
    """A renewal record written by someone else into the audit folder: a notebook, and with ``line`` a
    manifest line for it that names it but is not linked into the chain (red team, issue 26)."""
    from octorunbook.headless.runner import record_notebook

    run = Run("04-renew-certificate", Parameters(audit_dir=str(audit)), TextReporter())
    run.status = "unchanged"
    run.extra["ari"] = ari
    path = audit / name
    path.write_text(json.dumps(record_notebook(run.record())), encoding="utf-8")
    if line:
        entry = {"seq": 99, "record": name, "runbook": "04-renew-certificate", "status": "succeeded"}
        entry.update(when="9999-12-31T00:00:00Z", sha256="0" * 64, prev="0" * 64, line_hash="0" * 64)
        with (audit / "manifest.jsonl").open("a", encoding="utf-8") as manifest:
            manifest.write(json.dumps(entry) + "\n")
    return path


def test_a_planted_renewal_record_silences_neither_the_dead_mans_switch_nor_the_cas_window(
    sandbox: Any, tmp_path: Path
) -> None:
    """Files octorunbook wrote earlier are data it checks: a notebook planted in the audit folder (with or
    without a manifest line of its own) claiming a renewal in 9999 and a Retry-After to the end of time
    neither stops "renewals have stopped" nor keeps the check from asking the CA."""
    from cryptography import x509

    from octorunbook.acme.ari import ari_id

    cert = lived(90, left=dt.timedelta(days=19))
    bind(sandbox, tmp_path, cert)
    audit = tmp_path / "audit"
    a_renewal_record(audit, "failed")  # a schedule that ran once, long enough ago to matter
    cert_id = ari_id(x509.load_pem_x509_certificate(cert.cert_chain_pems[0].bytes()))
    far = {"start": "9999-01-01T00:00:00+00:00", "end": "9999-12-30T00:00:00+00:00"}
    ari = {"id": cert_id, "status": 200, "window": far, "next_check": "9999-12-31T00:00:00+00:00"}
    ari.update(retry_after_given=True, retry_after_seconds=31622400)
    now = dt.datetime.now(dt.UTC)
    with fake_ca(tmp_path) as ca:
        ca.window(now - dt.timedelta(hours=1), now + dt.timedelta(hours=47))
        acme = {"certificate_source": "acme", "acme_directory": ca.directory, "acme_ca_bundle": ca.bundle}
        params = params_file(tmp_path, sandbox, audit_dir=str(audit), **acme)
        for line in (False, True):
            _plant(audit, "9999-12-31T000000Z_04-renew-certificate_localhost.ipynb", ari, line=line)
            gets = ca.renewal_gets
            done = check(str(params), "--json")
            reasons = json.loads(done.stdout)["reasons"]
            assert done.returncode == CRITICAL, done.stdout + done.stderr
            assert any("renewals have stopped" in r for r in reasons), reasons
            assert ca.renewal_gets == gets + 1, "the CA was not asked"
            assert any("is open" in r for r in reasons), reasons


def test_a_recorded_answer_is_the_cas_own_only_once_and_never_beyond_its_retry_after(tmp_path: Path) -> None:
    """A record's next_check is honoured only as the CA gave it: not past the record's time plus the
    Retry-After sent with it, and not when a run reused it from an earlier record (``recorded_in``)."""
    from octorunbook.evidence.check_alarms import _asked_not_before

    made = dt.datetime(2026, 12, 6, tzinfo=dt.UTC)
    given = {"retry_after_given": True, "retry_after_seconds": 6 * 3600}
    inside = (made + dt.timedelta(hours=6)).isoformat()
    assert _asked_not_before({**given, "next_check": inside}, made) is not None
    beyond = (made + dt.timedelta(hours=7)).isoformat()
    assert _asked_not_before({**given, "next_check": beyond}, made) is None
    assert _asked_not_before({**given, "next_check": inside, "recorded_in": "/a/04.ipynb"}, made) is None
    assert _asked_not_before({"retry_after_seconds": 6 * 3600, "next_check": inside}, made) is None
    year = {
        "retry_after_given": True,
        "retry_after_seconds": 10**9,
        "next_check": "9999-12-31T00:00:00+00:00",
    }
    assert _asked_not_before(year, made) is None


def test_an_implied_audit_folder_that_cannot_be_read_is_said_not_skipped(
    sandbox: Any, tmp_path: Path
) -> None:
    """Red team: a manifest that cannot be read (here a FIFO in its place) used to drop the implied audit
    folder silently, and the check said OK; the dead man's switch now says it cannot read the folder."""
    import os

    bind(sandbox, tmp_path, lived(90, left=dt.timedelta(days=80)))
    params = params_file(tmp_path, sandbox, audit_dir="audit")
    (tmp_path / "audit").mkdir()
    os.mkfifo(tmp_path / "audit" / "manifest.jsonl")
    done = check(str(params), "--json")
    assert done.returncode == CRITICAL, done.stdout + done.stderr
    assert any("cannot read the audit folder" in r for r in json.loads(done.stdout)["reasons"]), done.stdout
