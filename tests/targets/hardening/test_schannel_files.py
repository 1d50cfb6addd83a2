"""Red team: the SCHANNEL plan and its export live in the state home's private ``schannel/`` folder. A link
planted where either is written is replaced, never followed; a loose or linked folder stops the run before
the registry is touched; an export altered or swapped for a link after the change is refused
(``STATE_UNTRUSTED``, quarantined) before a rollback would apply it."""

from __future__ import annotations

import json
import os
import stat
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from octorunbook.commands import CommandRunner
from octorunbook.findings import OctorunbookError
from octorunbook.targets.hardening import apply_schannel, plan_schannel, read_schannel, rollback_schannel
from octorunbook.targets.hardening import windows as hardening_windows
from octorunbook.targets.state import StateHome

from .test_hardening import ORDER, TLS10, registry, seed

try:
    from fakes import FakeWindows
except ImportError:  # tests/ is a package
    from tests.fakes import FakeWindows

pytestmark = [pytest.mark.windows, pytest.mark.skipif(os.name == "nt", reason="POSIX links and modes")]
NOW = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
STAMP = "20260102T030405Z"


class _Frozen:
    @staticmethod
    def now(tz: Any = None) -> datetime:
        return NOW


@pytest.fixture
def windows(fake: FakeWindows) -> FakeWindows:
    """The shared stand-ins, with powershell answering the SCHANNEL scripts (tests/fakes/schannel.py)."""
    wrapper = fake.bin / "powershell"
    program = Path(__file__).resolve().parents[2] / "fakes" / "schannel.py"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{program}" "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    return fake


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> StateHome:
    monkeypatch.setattr(hardening_windows, "datetime", _Frozen)
    return StateHome.open(tmp_path / "state", "windows/octopusserver")


def _weak(fake: FakeWindows) -> None:
    seed(
        fake, {(TLS10, "Enabled"): ("DWord", 1), (ORDER, "Functions"): ("String", "TLS_RSA_WITH_RC4_128_SHA")}
    )


def _set_calls(fake: FakeWindows) -> list[list[str]]:
    return [a for a in fake.argvs("powershell") if a[5].endswith("set-schannel.ps1")]


@pytest.mark.parametrize("name", [f"schannel-plan-{STAMP}.json", f"schannel-backup-{STAMP}.json"])
def test_a_link_planted_at_the_plan_or_the_backup_is_replaced_and_what_it_points_at_is_unchanged(
    windows: FakeWindows, runner: CommandRunner, home: StateHome, tmp_path: Path, name: str
) -> None:
    _weak(windows)
    victim = tmp_path / "victim.json"
    victim.write_text('{"changes": []}')
    folder = home.folder("schannel")
    (folder / name).symlink_to(victim)
    applied = apply_schannel(runner, plan_schannel(read_schannel(runner)), home)
    assert victim.read_text() == '{"changes": []}'
    assert not (folder / name).is_symlink()
    assert json.loads((folder / name).read_text())["changes"]
    assert registry(windows)[TLS10.lower()]["Enabled"]["value"] == 0
    assert applied.backup_path == folder / f"schannel-backup-{STAMP}.json"


def test_a_linked_or_loose_schannel_folder_stops_the_change_before_the_registry_is_touched(
    windows: FakeWindows, runner: CommandRunner, home: StateHome, tmp_path: Path
) -> None:
    _weak(windows)
    plan = plan_schannel(read_schannel(runner))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    (home.root / "schannel").symlink_to(elsewhere)
    with pytest.raises(OctorunbookError) as caught:
        apply_schannel(runner, plan, home)
    assert caught.value.code == "STATE_DIR_UNSAFE"
    (home.root / "schannel").unlink()
    (home.root / "schannel").mkdir(mode=0o700)
    (home.root / "schannel").chmod(0o770)
    with pytest.raises(OctorunbookError) as caught:
        apply_schannel(runner, plan, home)
    assert caught.value.code == "STATE_DIR_UNSAFE"
    assert os.listdir(elsewhere) == [] and os.listdir(home.root / "schannel") == []
    assert _set_calls(windows) == []
    assert registry(windows)[TLS10.lower()]["Enabled"]["value"] == 1


def test_an_export_altered_after_the_change_is_refused_before_the_rollback_applies_it(
    windows: FakeWindows, runner: CommandRunner, home: StateHome
) -> None:
    _weak(windows)
    applied = apply_schannel(runner, plan_schannel(read_schannel(runner)), home)
    hardened = registry(windows)
    document = json.loads(applied.backup_path.read_text())
    document["changes"][0]["value"] = 12345  # a value the script never reported
    applied.backup_path.write_text(json.dumps(document))
    with pytest.raises(OctorunbookError) as caught:
        rollback_schannel(runner, applied, home)
    assert caught.value.code == "STATE_UNTRUSTED" and "reported" in caught.value.message
    assert not applied.backup_path.exists() and home.quarantined()
    assert len(_set_calls(windows)) == 1 and registry(windows) == hardened


def test_an_export_naming_another_registry_value_is_refused(
    windows: FakeWindows, runner: CommandRunner, home: StateHome
) -> None:
    _weak(windows)
    applied = apply_schannel(runner, plan_schannel(read_schannel(runner)), home)
    document = json.loads(applied.backup_path.read_text())
    document["changes"].append(
        {"path": r"HKLM:\SYSTEM\CurrentControlSet\Services\X", "name": "Start", "type": "DWord", "value": 4}
    )
    applied.backup_path.write_text(json.dumps(document))
    with pytest.raises(OctorunbookError, match="does not change") as caught:
        rollback_schannel(runner, applied, home)
    assert caught.value.code == "STATE_UNTRUSTED" and len(_set_calls(windows)) == 1


def test_an_export_swapped_for_a_link_is_refused_and_never_followed(
    windows: FakeWindows, runner: CommandRunner, home: StateHome, tmp_path: Path
) -> None:
    _weak(windows)
    applied = apply_schannel(runner, plan_schannel(read_schannel(runner)), home)
    victim = tmp_path / "victim.json"
    victim.write_text(applied.backup_path.read_text())  # even the same content: a link is not ours
    applied.backup_path.unlink()
    applied.backup_path.symlink_to(victim)
    with pytest.raises(OctorunbookError, match="link") as caught:
        rollback_schannel(runner, applied, home)
    assert caught.value.code == "STATE_UNTRUSTED"
    assert not os.path.lexists(applied.backup_path) and victim.is_file()
    assert len(_set_calls(windows)) == 1


def test_the_rollback_of_an_intact_export_restores_the_registry(
    windows: FakeWindows, runner: CommandRunner, home: StateHome
) -> None:
    _weak(windows)
    before = registry(windows)
    applied = apply_schannel(runner, plan_schannel(read_schannel(runner)), home)
    undone = rollback_schannel(runner, applied, home)
    assert {k: v for k, v in registry(windows).items() if v} == before
    assert undone.backup_path.name == f"schannel-backup-{STAMP}-undo.json"
    assert oct(undone.backup_path.stat().st_mode & 0o777) == "0o600"
