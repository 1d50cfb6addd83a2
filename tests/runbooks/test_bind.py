"""Safe change on the sandbox: plan, idempotent apply, proof over TLS, rollback for every failure drill."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from octorunbook.evidence.tls import http_get
from octorunbook.headless.inline import run_inline
from octorunbook.targets.lock import holder_name
from octorunbook.targets.sandbox import DRILLS, Sandbox


def snapshot(sandbox: Sandbox) -> dict[str, Any]:
    """Everything a run may touch: instance configuration, HTTP.sys bindings, store contents."""
    return {
        "config": json.loads(sandbox.instance_path("OctopusServer").read_text()),
        "bindings": json.loads(sandbox.httpsys_path.read_text()),
        "stores": sorted(
            str(p.relative_to(sandbox.stores_dir)) for p in sandbox.stores_dir.rglob("*") if p.is_file()
        ),
    }


def import_and_verify(sandbox: Sandbox, params: Any) -> str:
    first = run_inline("01-import-certificate", params)
    assert first["status"] == "succeeded", first["findings"]
    assert run_inline("02-verify-certificate", params)["status"] == "succeeded"
    return str(first["certificate"]["thumbprint"])


def mutating(record: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in record["commands"] if c["mutating"]]


def test_full_procedure_serves_imported_thumbprint_over_tls(sandbox: Sandbox, params_for: Any) -> None:
    params = params_for(sandbox, hsts_max_age=3600, force_ssl=True)
    thumbprint = import_and_verify(sandbox, params)
    record = run_inline("03-add-https-binding", params)
    assert record["status"] == "succeeded", record["findings"]
    assert record["tls"]["thumbprint"] == thumbprint
    checks = {c["check"]: c for c in record["verification"]}
    assert checks["served certificate (SHA-1 thumbprint)"]["seen"] == thumbprint
    assert checks["HSTS header"]["ok"] and checks["HTTP redirects to HTTPS"]["ok"]
    assert record["octopus_version"]


def test_dry_run_plans_and_changes_nothing(sandbox: Sandbox, params_for: Any) -> None:
    thumbprint = import_and_verify(sandbox, params_for(sandbox))
    before = snapshot(sandbox)
    record = run_inline("03-add-https-binding", params_for(sandbox, dry_run=True))
    assert record["status"] == "planned"
    assert mutating(record) == []
    assert snapshot(sandbox) == before
    assert any(
        row["setting"].startswith("HTTP.sys binding") and row["desired"].startswith(thumbprint)
        for row in record["plan"]
    )


def test_second_identical_run_is_unchanged_with_no_mutating_command(
    sandbox: Sandbox, params_for: Any
) -> None:
    params = params_for(sandbox)
    import_and_verify(sandbox, params)
    assert run_inline("03-add-https-binding", params)["status"] == "succeeded"
    again = run_inline("03-add-https-binding", params)
    assert again["status"] == "unchanged"
    assert mutating(again) == []
    assert all(c["ok"] for c in again["verification"])
    assert (
        run_inline(
            "01-import-certificate",
            params_for(sandbox, thumbprint=again["certificate"]["thumbprint"], certificate_source="store"),
        )["status"]
        == "unchanged"
    )


def test_certificate_swap_on_existing_binding_is_a_planned_change(sandbox: Sandbox, params_for: Any) -> None:
    params = params_for(sandbox)
    old = import_and_verify(sandbox, params)
    assert run_inline("03-add-https-binding", params)["status"] == "succeeded"
    new = import_and_verify(sandbox, params)  # a renewed certificate
    assert new != old
    record = run_inline("03-add-https-binding", params)
    assert record["status"] == "succeeded"
    binding_row = next(r for r in record["plan"] if r["setting"].startswith("HTTP.sys binding"))
    assert binding_row["current"].startswith(old) and binding_row["desired"].startswith(new)
    assert record["tls"]["thumbprint"] == new


EXPECTED_CODES = {
    "configure": "CONFIGURE_FAILED",
    "ssl-certificate": "KEY_NOT_USABLE_BY_HTTPSYS",
    "service-start": "PORT_IN_USE",
    "wrong-certificate": "SERVED_WRONG_CERTIFICATE",
    "hang": "PORTAL_NOT_ANSWERING",
    "port-in-use": "PORT_IN_USE",
    "swap": "KEY_NOT_USABLE_BY_HTTPSYS",
}


# legacy-tls is not a failure: it models a server whose SCHANNEL still accepts TLS 1.0/1.1
# (runbooks/test_harden.py); hang-after-swap neither: it holds a renewal between swap and proof to be killed
# (runbooks/test_restore_renewal.py)
@pytest.mark.parametrize("drill", [d for d in DRILLS if d not in {"legacy-tls", "hang-after-swap"}])
def test_every_drill_fails_with_its_code_and_rolls_back(
    make_sandbox: Any, params_for: Any, drill: str
) -> None:
    sandbox = make_sandbox()
    params = params_for(sandbox)
    import_and_verify(sandbox, params)
    if drill == "swap":  # fires on a re-binding only: bind one certificate, then 03 with a renewed one
        assert run_inline("03-add-https-binding", params)["status"] == "succeeded"
        import_and_verify(sandbox, params)
    Sandbox(sandbox.root).init(fail=drill, start=False)
    before = snapshot(sandbox)
    record = run_inline("03-add-https-binding", params)
    assert record["status"] == "failed"
    errors = [f["code"] for f in record["findings"] if f["severity"] == "error"]
    assert errors[-1] == EXPECTED_CODES[drill], record["findings"]
    assert snapshot(sandbox) == before
    old_http = sandbox.status()["port_map"][80]
    assert http_get("http", "127.0.0.1", old_http, "localhost").status == 200
    if drill != "port-in-use":
        assert any(c["action"].startswith("rollback") for c in record["changes"])
        assert any(c["check"].startswith("after rollback") and c["ok"] for c in record["verification"])


def test_rollback_false_leaves_the_broken_state_and_says_so(make_sandbox: Any, params_for: Any) -> None:
    sandbox = make_sandbox()
    params = params_for(sandbox, rollback=False)
    import_and_verify(sandbox, params)
    Sandbox(sandbox.root).init(fail="wrong-certificate", start=False)
    before = snapshot(sandbox)
    record = run_inline("03-add-https-binding", params)
    assert record["status"] == "failed"
    assert "ROLLBACK_SKIPPED" in [f["code"] for f in record["findings"]]
    assert snapshot(sandbox) != before


_RACER = """
import json, sys, time
from pathlib import Path
from octorunbook.params.core import Parameters
from octorunbook.headless.inline import run_inline
go = Path(sys.argv[2])
while not go.exists():
    time.sleep(0.001)
record = run_inline("03-add-https-binding", Parameters(**json.loads(sys.argv[1])))
print(json.dumps({"status": record["status"], "codes": [f["code"] for f in record["findings"]],
                  "mutating": sum(1 for c in record["commands"] if c["mutating"])}))
"""


def test_two_runs_at_once_one_proceeds_the_other_gets_target_busy(
    sandbox: Sandbox, params_for: Any, tmp_path: Path
) -> None:
    import subprocess
    import sys

    params = params_for(sandbox)
    thumbprint = import_and_verify(sandbox, params)
    go = tmp_path / "go"
    argv = [sys.executable, "-c", _RACER, json.dumps(params.to_record()), str(go)]
    racers = [
        subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) for _ in range(2)
    ]
    go.touch()
    outputs = [json.loads(r.communicate(timeout=120)[0].strip().splitlines()[-1]) for r in racers]
    statuses = sorted(o["status"] for o in outputs)
    assert statuses == ["failed", "succeeded"], outputs
    loser = next(o for o in outputs if o["status"] == "failed")
    assert loser["codes"][-1] == "TARGET_BUSY" and loser["mutating"] == 0
    bindings = json.loads(sandbox.httpsys_path.read_text())
    assert bindings["0.0.0.0:443"]["hash"] == thumbprint
    assert not (sandbox.root / "state" / holder_name("OctopusServer")).exists()


_HOLDER = """
import sys, time
from pathlib import Path
from octorunbook.runbooks.run import TargetLock
lock = TargetLock.for_instance(Path(sys.argv[1]), "OctopusServer", "03-add-https-binding")
lock.acquire()
print("held", flush=True)
time.sleep(120)
"""


def test_lock_held_by_live_process_is_target_busy_and_dead_one_is_explained(
    sandbox: Sandbox, params_for: Any
) -> None:
    import subprocess
    import sys

    params = params_for(sandbox)
    import_and_verify(sandbox, params)
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(sandbox.root / "state")], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        before = snapshot(sandbox)
        busy = run_inline("03-add-https-binding", params)
        assert busy["status"] == "failed" and busy["findings"][-1]["code"] == "TARGET_BUSY"
        assert f"pid {holder.pid}" in busy["findings"][-1]["message"]
        assert mutating(busy) == [] and snapshot(sandbox) == before
    finally:
        holder.kill()  # a killed run: the OS drops its lock, its note stays behind
        holder.wait()
    stale = run_inline("03-add-https-binding", params)
    assert stale["status"] == "succeeded"
    assert "STALE_LOCK_REMOVED" in [f["code"] for f in stale["findings"]]
