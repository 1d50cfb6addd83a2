"""The dead man's switch: ``check --audit-dir`` is CRITICAL when the newest successful renewal record is
older than twice the schedule's cadence (48 hours daily; 24 hours for certificates under 10 days)."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from octorunbook.evidence.check import CRITICAL, OK
from octorunbook.evidence.renewals import last_renewal, renewals_stopped
from tests.evidence.test_check import bind, lived

BIN = Path(sys.executable).parent


def check(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "octorunbook"), "check", *args], capture_output=True, text=True, check=False, timeout=120
    )


# Among the 20 slowest (--durations, issue 28), by design: a real `octorunbook renew` (kernel, swap, proof)
# is what leaves the record the check reads.
def test_renewals_stopped_after_twice_the_cadence(sandbox: Any, tmp_path: Path) -> None:
    bind(sandbox, tmp_path, lived(90, left=dt.timedelta(days=80)))
    audit = tmp_path / "audit"
    port = sandbox.status()["port_map"][443]
    url = ("--url", f"https://127.0.0.1:{port}/", "--hostname", "localhost")
    audit.mkdir()
    done = check(*url, "--audit-dir", str(audit), "--json")
    assert done.returncode == CRITICAL, done.stdout
    assert any("NOT_AN_AUDIT_DIR" in r for r in json.loads(done.stdout)["reasons"])  # nothing ever ran

    params = tmp_path / "params.yaml"  # what the schedule runs: `octorunbook renew PARAMS`
    params.write_text(yaml.safe_dump({"sandbox_dir": str(sandbox.root), "audit_dir": str(audit)}))
    renewed = subprocess.run(
        [str(BIN / "octorunbook"), "renew", str(params)], capture_output=True, text=True, timeout=600
    )
    assert renewed.returncode == 0, renewed.stdout + renewed.stderr
    last = last_renewal(audit)
    assert last is not None
    done = check(*url, "--audit-dir", str(audit))
    assert done.returncode == OK, done.stdout

    assert renewals_stopped(audit, 90, now=last + dt.timedelta(hours=47)) is None
    stale = renewals_stopped(audit, 90, now=last + dt.timedelta(hours=49))
    assert stale is not None and "twice the 24-hour schedule" in stale
    short = renewals_stopped(audit, 160 / 24, now=last + dt.timedelta(hours=25))  # twice a day: 24 hours
    assert short is not None and "twice the 12-hour schedule" in short
