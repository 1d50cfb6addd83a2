"""One procedure, one lock: 01 → 02 → 03 hold the target lock together; nobody else walks in."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from octorunbook.headless.inline import run_inline
from octorunbook.runbooks import bind
from octorunbook.targets.lock import holder_name
from octorunbook.targets.sandbox import Sandbox
from tests.drivers import octopus_of
from tests.runbooks.test_bind import import_and_verify


def _cli(*args: str, **kwargs: Any) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "octorunbook.cli.main", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def test_second_concurrent_octorunbook_run_gets_target_busy_before_changing_anything(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    params = {"sandbox_dir": str(sandbox.root), "audit_dir": str(tmp_path / "audit-first")}
    first_yaml = tmp_path / "first.yaml"
    first_yaml.write_text(yaml.safe_dump(params))
    second_yaml = tmp_path / "second.yaml"
    second_yaml.write_text(yaml.safe_dump({**params, "audit_dir": str(tmp_path / "audit-second")}))
    lock_info = sandbox.root / "state" / holder_name("OctopusServer")

    first = _cli("run", str(first_yaml))
    try:
        deadline = time.monotonic() + 60
        while not lock_info.exists() and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert lock_info.exists(), "the first procedure never took the lock"
        second = _cli("run", str(second_yaml))
        second_out, second_err = second.communicate(timeout=120)
        assert first.poll() is None, "the first procedure must still be running while the second is refused"
        first_out, first_err = first.communicate(timeout=300)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()

    assert first.returncode == 0, first_out + first_err
    assert second.returncode == 1 and "TARGET_BUSY" in second_err, second_out + second_err
    assert "procedure from 01-import-certificate" in second_err
    # the loser changed nothing: no notebook ran, only the winner's certificate is in the store and bound
    assert not list((tmp_path / "audit-second").glob("*.ipynb"))
    bound = json.loads(sandbox.httpsys_path.read_text())["0.0.0.0:443"]["hash"]
    assert {p.stem for p in (sandbox.stores_dir / "My").iterdir()} == {bound}
    assert not lock_info.exists()


_HOLDER = r"""
import json, os, subprocess, sys
from pathlib import Path
from octorunbook.targets.lock import TOKEN_ENV, TargetLock, holder_name

state = Path(sys.argv[1])
JOIN = (
    "import sys\n"
    "from pathlib import Path\n"
    "from octorunbook.findings import TargetError\n"
    "from octorunbook.targets.lock import TargetLock\n"
    "lock = TargetLock.for_instance(Path(sys.argv[1]), 'OctopusServer', '02-verify-certificate')\n"
    "try:\n"
    "    lock.acquire()\n"
    "    print('joined' if lock.joined else 'took')\n"
    "except TargetError as exc:\n"
    "    print(exc.code)\n"
)

def child(token):
    env = {k: v for k, v in os.environ.items() if k != TOKEN_ENV}
    if token is not None:
        env[TOKEN_ENV] = token
    out = subprocess.run([sys.executable, "-c", JOIN, str(state)], env=env, capture_output=True, text=True)
    return out.stdout.strip()

seen = {}
first = TargetLock.for_instance(state, "OctopusServer", "procedure")
first.acquire(procedure=True, first="01-import-certificate")
old_token = first.token
seen["own child, current token"] = child(old_token)
seen["own child, no token"] = child(None)
seen["own child, forged token"] = child("x" * 43)
seen["token in lock file"] = old_token in (state / holder_name("OctopusServer")).read_text()
first.release()
second = TargetLock.for_instance(state, "OctopusServer", "procedure")
second.acquire(procedure=True)
seen["own child, stale token of an earlier procedure"] = child(old_token)
print(json.dumps({"seen": seen, "token": second.token}), flush=True)
sys.stdin.readline()  # hold the lock until the test is done
"""


def test_only_a_kernel_started_by_the_holding_procedure_with_its_current_token_joins_the_lock(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state"
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, str(state)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdin is not None
        report = json.loads(holder.stdout.readline())
        assert report["seen"] == {
            "own child, current token": "joined",
            "own child, no token": "TARGET_BUSY",
            "own child, forged token": "TARGET_BUSY",
            "token in lock file": False,
            "own child, stale token of an earlier procedure": "TARGET_BUSY",
        }
        # the right token in a process the procedure did not start (not its child) does not join either
        from octorunbook.findings import TargetError
        from octorunbook.targets.lock import TOKEN_ENV, TargetLock

        os.environ[TOKEN_ENV] = report["token"]
        try:
            with pytest.raises(TargetError) as refused:
                TargetLock.for_instance(state, "OctopusServer", "03-add-https-binding").acquire()
            assert refused.value.code == "TARGET_BUSY"
        finally:
            del os.environ[TOKEN_ENV]
        holder.stdin.write("\n")
        holder.stdin.flush()
    finally:
        holder.kill()
        holder.wait()


def test_03_fails_when_the_served_certificate_is_not_the_one_it_bound_at_the_end_of_the_run(
    sandbox: Sandbox, params_for: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    params = params_for(sandbox)
    ours = import_and_verify(sandbox, params)
    other = run_inline("01-import-certificate", params)["certificate"]["thumbprint"]
    real_verify = bind.prove_portal

    def verify_then_someone_rebinds(run: Any, intent: Any, http: Any) -> Any:
        evidence = real_verify(run, intent, http)  # our certificate is proven ...
        octopus = octopus_of(run.require_target())  # ... then another tool binds another one and restarts
        octopus.ssl_certificate(other, "My", port=443)
        octopus.service("restart")
        return evidence

    monkeypatch.setattr(bind, "prove_portal", verify_then_someone_rebinds)
    record = run_inline(
        "03-add-https-binding", params.__class__(**{**params.to_record(), "thumbprint": ours})
    )

    assert record["status"] == "failed"
    assert record["findings"][-1]["code"] == "SERVED_CERTIFICATE_CHANGED"
    final = next(
        c for c in record["verification"] if c["check"] == "served certificate at the end of the run"
    )
    assert final == {**final, "expected": ours, "seen": other, "ok": False}
