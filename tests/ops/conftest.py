"""Fixtures of the ``ops`` tests: the stand-in Windows answering the scheduled-renewal scripts."""

from __future__ import annotations

import stat
import sys
from pathlib import Path
from typing import Any

import pytest

FAKES = Path(__file__).resolve().parents[1] / "fakes"


@pytest.fixture
def win(fake: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The stand-in Windows, with powershell answering the scheduled-renewal scripts."""
    wrapper = fake.bin / "powershell-schedule"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKES / "schedule_powershell.py"}" "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("OCTORUNBOOK_POWERSHELL", str(wrapper))
    monkeypatch.setenv("ProgramData", str(tmp_path / "ProgramData"))
    monkeypatch.setenv("FAKE_TASK_OCTORUNBOOK", str(task_probe(tmp_path)))
    fake.wrapper = wrapper
    fake.probe_seen = tmp_path / "task-probe.json"
    return fake


def task_probe(tmp_path: Path) -> Path:
    """What the task's dry run starts instead of octorunbook: it records argv, folder and the variables
    (names, and each value's SHA-256) it was started with, and fails like the renewal's preflight
    (exit 1) when a secret variable the parameter file names is not set, or without --dry-run (exit 3)."""
    probe = tmp_path / "task-probe"
    probe.write_text(
        f"#!{sys.executable}\n"
        "import hashlib, json, os, sys, yaml\n"
        "env = {k: hashlib.sha256(v.encode()).hexdigest() for k, v in os.environ.items()}\n"
        f"open({str(tmp_path / 'task-probe.json')!r}, 'w').write(json.dumps("
        "{'argv': sys.argv[1:], 'cwd': os.getcwd(), 'env': env}))\n"
        "p = yaml.safe_load(open(sys.argv[2]))\n"
        "names = [p.get(k) for k in ('pfx_password_env', 'acme_eab_hmac_env', 'notify_env') if p.get(k)]\n"
        "sys.exit(3 if '--dry-run' not in sys.argv else 1 if any(n not in os.environ for n in names) else 0)\n"
    )
    probe.chmod(0o755)
    return probe
