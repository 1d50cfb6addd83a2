"""``octorunbook schedule install`` picks a cadence from the served certificate's lifetime (issue 26): at
least twice a day under 10 days, daily otherwise, and says so — systemd (two ``OnCalendar=``), cron (two
hours on one line) and the Scheduled Task (two daily triggers), every value through the one writer."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml

from octorunbook.ops.schedule import octorunbook_executable
from tests.evidence.test_check import bind, leaf
from tests.ops.test_schedule import ps_argv, run_cli  # noqa: F401 - fixtures (win: tests/ops/conftest.py)

NOW = dt.datetime.now(dt.UTC)


def served_for(sandbox: Any, tmp_path: Path, lifetime: float) -> Path:
    """The sandbox portal serving a certificate of ``lifetime`` days (half of it left); its params file."""
    end = NOW + dt.timedelta(days=lifetime / 2)
    bind(sandbox, tmp_path, leaf(not_before=end - dt.timedelta(days=lifetime), not_after=end))
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"sandbox_dir": str(sandbox.root), "hostname": "localhost"}))
    return path


def test_a_six_day_certificate_is_renewed_twice_a_day_by_systemd_and_cron(
    sandbox: Any,
    tmp_path: Path,
    run_cli: Any,  # noqa: F811
) -> None:
    params = served_for(sandbox, tmp_path, 160 / 24)
    done = run_cli("install", str(params), "--platform", "systemd", "--user", "--at", "04:05")
    assert done.returncode == 0, done.stderr
    assert "cadence: twice a day at 04:05 and 16:05 (the certificate lives 6.7 days)" in done.stdout
    timer = (tmp_path / "xdg" / "systemd" / "user" / "octorunbook-renew.timer").read_text()
    assert "OnCalendar=*-*-* 04:05:00\nOnCalendar=*-*-* 16:05:00\nPersistent=true\n" in timer
    cron = run_cli("install", str(params), "--platform", "cron", "--at", "04:05")
    assert cron.returncode == 0, cron.stderr
    assert f"5 4,16 * * * cd {tmp_path} && {octorunbook_executable()} renew {params}" in cron.stdout


def test_a_ninety_day_certificate_is_renewed_daily_and_the_choice_can_be_forced(
    sandbox: Any,
    tmp_path: Path,
    run_cli: Any,  # noqa: F811
) -> None:
    params = served_for(sandbox, tmp_path, 90)
    done = run_cli("install", str(params), "--platform", "cron", "--at", "04:05")
    assert "cadence: daily at 04:05 (the certificate lives 90 days)" in done.stdout
    assert "5 4 * * * cd" in done.stdout
    forced = run_cli(
        "install", str(params), "--platform", "cron", "--at", "23:30", "--cadence", "twice-daily"
    )
    assert "twice a day at 23:30 and 11:30" in forced.stdout and "30 11,23 * * * cd" in forced.stdout


def test_an_unreadable_certificate_is_scheduled_daily_and_says_why(tmp_path: Path, run_cli: Any) -> None:  # noqa: F811
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"sandbox_dir": str(tmp_path / "none"), "hostname": "localhost"}))
    done = run_cli("install", str(params), "--platform", "cron")
    assert done.returncode == 0, done.stderr
    assert "cadence: daily at 03:17 (the certificate's lifetime could not be read); daily until it can" in (
        done.stdout
    )


@pytest.mark.windows
def test_the_scheduled_task_gets_two_daily_triggers(win: Any, tmp_path: Path, run_cli: Any) -> None:  # noqa: F811
    params = tmp_path / "params.yaml"
    values = {"target": "windows", "hostname": "octopus.example.com", "audit_dir": str(tmp_path / "audit")}
    params.write_text(yaml.safe_dump(values))
    done = run_cli("install", str(params), "--platform", "windows", "--cadence", "twice-daily")
    assert done.returncode == 0, done.stderr
    assert "twice a day at 03:17 and 15:17" in done.stdout
    argv = win.argvs("powershell")[0]
    assert argv[argv.index("-At") + 1] == "03:17,15:17"
    assert argv[: len(ps_argv(win, "register-renewal-task.ps1"))] == ps_argv(win, "register-renewal-task.ps1")


def test_the_shortlived_profile_is_renewed_twice_a_day_before_its_first_certificate_is_served(
    sandbox: Any,
    tmp_path: Path,
    run_cli: Any,  # noqa: F811
) -> None:
    params = served_for(sandbox, tmp_path, 90)  # still the 90-day certificate from before the switch
    values = yaml.safe_load(params.read_text())
    values.update(certificate_source="acme", acme_profile="shortlived", acme_email="ops@example.com")
    params.write_text(yaml.safe_dump(values))
    done = run_cli("install", str(params), "--platform", "cron", "--at", "04:05")
    assert done.returncode == 0, done.stderr
    assert "twice a day at 04:05 and 16:05 (the certificate lives 90 days); twice a day all the same: " in (
        done.stdout
    )
    assert "acme_profile is shortlived" in done.stdout and "5 4,16 * * * cd" in done.stdout
