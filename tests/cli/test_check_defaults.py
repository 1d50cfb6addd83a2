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
        a_renewal_record(
            tmp_path / "audit", "succeeded", {"id": cert_id, "window": window, "next_check": ahead}
        )
        assert check(str(params)).returncode == OK
        assert ca.renewal_gets == 1, "the recorded answer stands until its next_check"
