"""Never half-changed: a change killed mid-apply is restored by the next run, from a durable journal."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import nbformat
import pytest
import yaml

from octorunbook.audit.records import extract_result
from octorunbook.evidence.tls import http_get, tls_handshake
from octorunbook.headless.inline import run_inline
from octorunbook.params.core import Parameters
from octorunbook.runbooks.restore_parts import observed, topology
from octorunbook.runbooks.undo import Checkpoint, checkpoint_name, read_checkpoint
from octorunbook.targets.protocols import PortalIntent
from octorunbook.targets.sandbox import Sandbox
from tests.drivers import octopus_of
from tests.runbooks.test_bind import import_and_verify, snapshot

JOURNAL = checkpoint_name("OctopusServer")


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _records(audit: Path) -> list[dict[str, Any]]:
    found = []
    for path in sorted(audit.glob("*.ipynb")):
        record = extract_result(nbformat.read(str(path), as_version=4))
        assert record is not None
        found.append(record)
    return found


# Among the 20 slowest (--durations, issue 28), by design: a real run killed mid-apply and the real run that
# restores it.
@pytest.mark.skipif(sys.platform != "linux", reason="finds the kernel through /proc")
def test_kill_9_mid_apply_is_reported_and_restored_by_the_next_run_and_the_old_prefix_answers(
    sandbox: Sandbox, params_for: Any, tmp_path: Path
) -> None:
    # Before: HTTPS already served with certificate A (a real TLS listener on loopback).
    params = params_for(sandbox)
    old = import_and_verify(sandbox, params)
    assert run_inline("03-add-https-binding", params)["status"] == "succeeded"
    before = snapshot(sandbox)
    https_port = sandbox.map_port(443)
    http_port = sandbox.map_port(80)

    # A new certificate B, applied with the portal hanging on restart: kill -9 while 03 waits for it.
    subprocess.run(
        [
            sys.executable,
            "-m",
            "octorunbook.cli.main",
            "sandbox",
            "init",
            str(sandbox.root),
            "--fail",
            "hang",
        ],
        check=True,
    )
    audit = tmp_path / "audit-killed"
    killed_yaml = tmp_path / "killed.yaml"
    # HSTS too: a certificate-only change needs no restart (HTTP.sys reads the binding per handshake), so the
    # configuration changes as well and the portal is restarted into the hang.
    killed_yaml.write_text(
        yaml.safe_dump({"sandbox_dir": str(sandbox.root), "audit_dir": str(audit), "hsts_max_age": 3600})
    )
    env = {**os.environ, "OCTORUNBOOK_WAIT_SECONDS": "120"}
    run = subprocess.Popen(
        [sys.executable, "-m", "octorunbook.cli.main", "run", str(killed_yaml)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    journal_file = sandbox.root / "state" / JOURNAL
    try:
        deadline = time.monotonic() + 180
        while "hang" not in sandbox.meta().get("fired", []) and time.monotonic() < deadline:
            assert run.poll() is None, "the run ended before the drill fired"
            time.sleep(0.1)
        time.sleep(1.0)  # 03 is now waiting for the hung portal
        journal = json.loads(journal_file.read_text())["body"]
        kernels = _children(run.pid)
        for pid in kernels:
            os.kill(pid, signal.SIGKILL)
        os.killpg(run.pid, signal.SIGKILL)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
        run.wait()
    assert kernels, "no kernel was running"
    assert journal["phase"] == "applying"
    # 03's journal is written by the one loop over the parts: each part's snapshot under its kind
    assert journal["kind"] == "parts"
    assert journal["implementations"]["front"] == "httpsys"
    assert journal["snapshot"]["httpsys"]["thumbprint"] == old
    prefixes = before["config"]["Octopus"]["WebPortal"]["ListenPrefixes"]
    assert ",".join(journal["snapshot"]["octopus-server"]["listen_prefixes"]) == prefixes
    # Half-changed: B is bound, the portal does not answer, and the partial record stays in .in-progress.
    half = json.loads(sandbox.httpsys_path.read_text())["0.0.0.0:443"]["hash"]
    assert half != old
    with pytest.raises(OSError):
        http_get("http", "127.0.0.1", http_port, "localhost", timeout=1.0)
    assert list((audit / ".in-progress").glob("03-add-https-binding-*.ipynb"))

    # The next run: INTERRUPTED_CHANGE first, the snapshot restored before anything new is planned.
    restoring = tmp_path / "restore.yaml"
    restoring.write_text(
        yaml.safe_dump(
            {
                "sandbox_dir": str(sandbox.root),
                "audit_dir": str(tmp_path / "audit-next"),
                "certificate_source": "store",
                "thumbprint": old,
            }
        )
    )
    done = subprocess.run(
        [sys.executable, "-m", "octorunbook.cli.main", "run", str(restoring)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    first, _, bind = _records(tmp_path / "audit-next")
    assert first["findings"][0]["code"] == "INTERRUPTED_CHANGE"
    assert first["interrupted_change"]["snapshot"]["httpsys"]["thumbprint"] == old
    # in reverse order: the instance's configuration (then its restart), then the binding
    assert [c["action"] for c in first["changes"]][:3] == [
        "restore interrupted change: configure",
        "restore interrupted change: service restart",
        "restore interrupted change: restore binding",
    ]
    proof = next(
        c for c in first["verification"] if c["check"].startswith("after restore interrupted change")
    )
    assert proof["ok"]
    assert bind["status"] == "unchanged"  # 03 planned from the restored state: nothing left to do
    assert not journal_file.exists()
    # The old prefixes answer: A over real TLS, /api over HTTPS and HTTP.
    assert tls_handshake("127.0.0.1", https_port, "localhost").thumbprint == old
    assert http_get("https", "127.0.0.1", https_port, "localhost").status == 200
    assert http_get("http", "127.0.0.1", http_port, "localhost").status == 200
    assert snapshot(sandbox)["bindings"] == before["bindings"]
    assert snapshot(sandbox)["config"] == before["config"]


def _leave_journal(sandbox: Sandbox, params: Parameters, *, port: int = 443) -> Checkpoint:
    """A checkpoint as a killed 03 leaves it, for the current (good) state as the snapshot."""
    from octorunbook.runbooks.run import Run, TextReporter

    run = Run("03-add-https-binding", params, TextReporter())
    run.open()
    parts = topology(run)
    where = PortalIntent.location(params.hostname, port)
    snapshot = {part.kind: part.read(where).to_record() for part in (parts.front, parts.instance)}
    journal = Checkpoint.begin(run, "parts", port, snapshot, [], observed(run, [port]))
    run.finish()
    return journal


def test_a_dry_run_reports_the_interrupted_change_and_restores_nothing(
    sandbox: Sandbox, params_for: Any
) -> None:
    params = params_for(sandbox)
    import_and_verify(sandbox, params)
    journal = _leave_journal(sandbox, params)
    before = snapshot(sandbox)
    record = run_inline("03-add-https-binding", params_for(sandbox, dry_run=True))
    assert record["status"] == "planned"
    assert record["findings"][0]["code"] == "INTERRUPTED_CHANGE"
    assert "NOT restored" in record["findings"][0]["message"]
    assert snapshot(sandbox) == before and journal.path.exists()


def test_rollback_false_refuses_to_plan_over_an_interrupted_change(sandbox: Sandbox, params_for: Any) -> None:
    params = params_for(sandbox)
    import_and_verify(sandbox, params)
    journal = _leave_journal(sandbox, params)
    record = run_inline("03-add-https-binding", params_for(sandbox, rollback=False))
    assert record["status"] == "failed"
    assert record["findings"][-1]["code"] == "INTERRUPTED_CHANGE"
    assert "plan" not in record and journal.path.exists()


def test_a_restore_that_fails_keeps_the_journal_and_plans_nothing(sandbox: Sandbox, params_for: Any) -> None:
    params = params_for(sandbox)
    import_and_verify(sandbox, params)
    journal = _leave_journal(sandbox, params)
    target = journal_target(sandbox, params)
    config = octopus_of(target).show_configuration()
    octopus_of(target).configure_to(
        dataclasses.replace(config, hsts_enabled=not config.hsts_enabled)
    )  # half-done
    Sandbox(sandbox.root).init(fail="service-start", start=False)  # the restore's restart fails once
    record = run_inline("03-add-https-binding", params)
    assert record["status"] == "failed"
    assert record["findings"][-1]["code"] == "INTERRUPTED_RESTORE_FAILED"
    assert "plan" not in record
    assert read_checkpoint(journal_target(sandbox, params)) is not None
    # the next run tries again, and this time the restore succeeds before 03 plans
    again = run_inline("03-add-https-binding", params)
    assert again["status"] == "succeeded", again["findings"]
    assert again["findings"][0]["code"] == "INTERRUPTED_CHANGE" and not journal.path.exists()


def journal_target(sandbox: Sandbox, params: Parameters) -> Any:
    from octorunbook.commands import CommandRunner
    from octorunbook.targets import open_target

    return open_target(params, CommandRunner())


def test_the_journal_is_written_durably_and_removed_after_a_proven_change(
    sandbox: Sandbox, params_for: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from octorunbook.targets import state as journal_module

    params = params_for(sandbox)
    import_and_verify(sandbox, params)
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(journal_module.os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd))[1])
    record = run_inline("03-add-https-binding", params)
    assert record["status"] == "succeeded"
    assert synced, "the journal was never fsync'd"
    assert not (sandbox.root / "state" / JOURNAL).exists()
    assert not (sandbox.root / "state" / (JOURNAL + ".tmp")).exists()
