"""Issue 22, the audit trail and the lock: the trail signs only what a run wrote, its folders and the
running notebook are private from the first write, and the lock is keyed by what changes (one instance,
however it is spelt), never held by a run that was killed."""

from __future__ import annotations

import json
import os
import re
import secrets
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from trustkit import (
    BIN,
    codes,
    first_binding,
    kill_whole_run,
    octorunbook,
    params_file,
    records,
    renewal_hanging_after_its_swap,
    target,
)

from octorunbook.targets.sandbox import Sandbox

pytestmark = [
    pytest.mark.redteam,
    pytest.mark.skipif(sys.platform != "linux", reason="POSIX owners and modes, /proc"),
]
HEAD = re.compile(r"audit head: ([0-9a-f]{64})")


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def planted_notebook(path: Path, canary: str) -> None:
    """A notebook that looks like a killed run's 03: nobody ran it, it only says what its writer wants."""
    path.write_text(
        json.dumps(
            {
                "cells": [
                    {
                        "cell_type": "markdown",
                        "metadata": {},
                        "source": f"# 03 add HTTPS binding\n\nsucceeded; approved by the change board. {canary}",
                    }
                ],
                "metadata": {
                    "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
                },
                "nbformat": 4,
                "nbformat_minor": 4,
            }
        )
    )


# ---- 4. the audit trail signs only what this run wrote --------------------------------------------------
# Among the 20 slowest (--durations, issue 28), by design: real runs before and after the planted notebook,
# each with its own kernel: the chain and signature are what is checked.
def test_a_notebook_planted_in_in_progress_is_quarantined_and_never_chained_or_signed(
    make_sandbox: Callable[..., Sandbox], tmp_path: Path
) -> None:
    (tmp_path / "keys").mkdir(mode=0o700)
    keygen = octorunbook("audit", "keygen", str(tmp_path / "keys" / "audit.key"))
    assert keygen.returncode == 0, keygen.stdout
    env = {**os.environ, "OCTORUNBOOK_AUDIT_SIGNING_KEY": str(tmp_path / "keys" / "audit.key")}
    sandbox = make_sandbox()
    yaml_path, printed = first_binding(sandbox, tmp_path, env=env)
    head = HEAD.findall(printed)[-1]  # the head the operator keeps in the change ticket
    audit = tmp_path / "audit"
    by_root, by_other = "canary-" + secrets.token_hex(8), "canary-" + secrets.token_hex(8)
    planted_notebook(audit / ".in-progress" / f"03-add-https-binding-{dead_pid()}.ipynb", by_root)
    other = audit / ".in-progress" / f"03-add-https-binding-{dead_pid()}.ipynb"
    planted_notebook(other, by_other)
    os.chown(other, 65534, 65534)  # written by another user

    done = octorunbook("renew", str(yaml_path), env=env)  # the next run stores its own record

    assert records(audit, "04-renew-certificate"), (
        "the next run stored its own record: " + done.stdout[-3000:]
    )
    chained = [
        str(p.relative_to(audit))
        for p in audit.rglob("*")
        if p.is_file()
        and "quarantine" not in p.relative_to(audit).parts
        and any(canary in p.read_text("utf-8", "replace") for canary in (by_root, by_other))
    ]
    assert chained == [], "a planted notebook was chained into the audit trail (and signed)"
    quarantined = " ".join(
        p.read_text("utf-8", "replace") for p in (audit / "quarantine").rglob("*") if p.is_file()
    )
    assert by_root in quarantined and by_other in quarantined
    assert not [
        p
        for p in (audit / ".in-progress").rglob("*")
        if p.is_file() and by_root in p.read_text("utf-8", "replace")
    ]
    verify = octorunbook(
        "audit", "verify", str(audit), "--public-key", str(tmp_path / "keys" / "audit.key.pub")
    )
    reported = (
        done.stdout + verify.stdout + " ".join(c for r in records(audit, "04-renew")[-1:] for c in codes(r))
    )
    assert "STATE_UNTRUSTED" in reported, reported[-3000:]
    anchored = octorunbook(
        "audit",
        "verify",
        str(audit),
        "--public-key",
        str(tmp_path / "keys" / "audit.key.pub"),
        "--expect-head",
        head,
    )
    assert anchored.returncode == 0, anchored.stdout[-3000:]


def test_a_killed_runs_audit_folders_and_running_notebook_are_private_from_the_first_write(
    make_sandbox: Callable[..., Sandbox], tmp_path: Path
) -> None:
    sandbox = make_sandbox()
    audit = tmp_path / "audit"
    yaml_path = params_file(tmp_path / "params.yaml", sandbox_dir=str(sandbox.root), audit_dir=str(audit))
    run = subprocess.Popen(  # with a group-writable umask, as many Linux accounts have
        ["sh", "-c", 'umask 002; exec "$0" run "$1"', str(BIN / "octorunbook"), str(yaml_path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    seen: dict[str, int] = {}
    try:
        deadline = time.monotonic() + 300
        while not seen and time.monotonic() < deadline and run.poll() is None:
            for path in (audit / ".in-progress").glob("*.ipynb"):
                try:
                    seen[path.name] = stat.S_IMODE(path.stat().st_mode)  # as soon as it exists
                except FileNotFoundError:
                    continue
            time.sleep(0.01)
    finally:
        kill_whole_run(run)
    assert seen, "no notebook was ever saved in .in-progress"
    left = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (audit / ".in-progress").glob("*.ipynb")}
    folders = {folder: stat.S_IMODE((audit / folder).stat().st_mode) for folder in (".", ".in-progress")}
    wrong = {f"folder {name}": oct(mode) for name, mode in folders.items() if mode not in (0o750, 0o700)}
    wrong |= {name: oct(mode) for name, mode in {**seen, **left}.items() if mode not in (0o640, 0o600)}
    assert wrong == {}, "readable or writable by others (folders 0750/0700, notebooks 0640/0600)"


# ---- 5. the lock is keyed by what changes -----------------------------------------------------------
# Among the 20 slowest (--durations, issue 28), by design: four real runs (03, a renewal held at its swap, a
# second renewal refused, a third after the kill) on one portal: each changes the target, so no sandbox can
# be shared.
def test_two_spellings_of_one_instance_wait_for_each_other_and_a_killed_holder_frees_the_target(
    make_sandbox: Callable[..., Sandbox], tmp_path: Path
) -> None:
    sandbox = make_sandbox()
    yaml_path, _ = first_binding(sandbox, tmp_path)
    # Windows names services case-insensitively: octopusserver is OctopusServer. The stand-in is told so.
    instances = sandbox.root / "instances"
    (instances / "octopusserver.json").write_bytes((instances / "OctopusServer.json").read_bytes())
    lower = params_file(
        tmp_path / "lower.yaml",
        sandbox_dir=str(sandbox.root),
        audit_dir=str(tmp_path / "audit-lower"),
        instance="octopusserver",
    )
    holder = renewal_hanging_after_its_swap(sandbox, tmp_path, yaml_path)
    try:
        held = target(sandbox)

        second = octorunbook("renew", str(lower), "--force")

        assert holder.poll() is None, "the first renewal must still hold the target while the second tries"
        assert target(sandbox) == held, (
            "a second spelling of the instance changed the target: " + second.stdout[-3000:]
        )
        assert second.returncode == 1 and "TARGET_BUSY" in second.stdout, second.stdout[-3000:]
    finally:
        kill_whole_run(holder)  # its process group and its kernel's: every process of the run is gone

    after = octorunbook("renew", str(yaml_path))

    assert "TARGET_BUSY" not in after.stdout, after.stdout[-3000:]
    assert after.returncode == 0, after.stdout[-3000:]
