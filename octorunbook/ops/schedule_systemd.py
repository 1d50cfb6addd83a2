"""The daily renewal on Linux: a systemd timer, or a crontab line where systemd is not running.

Two units named after the schedule (``octorunbook-renew.service`` + ``.timer``)::

    --user (default when not root)  ~/.config/systemd/user  ($XDG_CONFIG_HOME), systemctl --user
    system (when root)               /etc/systemd/system,      systemctl

The timer fires daily at ``--at`` (``OnCalendar``), catches up a run missed while the machine was off
(``Persistent=true``) and spreads fleets over 15 minutes (``RandomizedDelaySec``); the service is a
``oneshot`` of the one renewal command. A user timer runs only while that user has a session unless
lingering is on (``loginctl enable-linger``): install prints that hint.

Where systemd is not PID 1 (containers, WSL without systemd) nothing is installed: install prints the
crontab line to add, marked with ``# octorunbook:<name>`` so show and remove can find it.

No secret is ever written here: parameters that name a secret variable (the PFX password of a drop-file
source, the EAB HMAC key, ``notify_env``) are refused with ``SCHEDULE_SECRET_UNSUPPORTED`` before any unit
is written or crontab line printed (the value would have to sit in a unit, an environment file or the
crontab, and without it every run fails its preflight).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from octorunbook.commands import CommandRunner
from octorunbook.emit import cron_line, systemd_exec, systemd_path, systemd_text
from octorunbook.findings import InputError, TargetError
from octorunbook.ops.schedule import Schedule
from octorunbook.ops.schedule import (
    systemd_running as systemd_running,  # it decides `auto`, so it lives in schedule
)

RANDOMIZED_DELAY = "15min"


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def unit_dir(system: bool) -> Path:
    if system:
        return Path("/etc/systemd/system")
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "systemd" / "user"


def refuse_secret(schedule: Schedule) -> None:
    """Refuse every secret variable the parameters name, before anything is written or printed.

    A unit, an environment file or a crontab line would hold the value in clear, and a timer or cron
    starts the renewal without the operator's environment: without the value every run fails its
    preflight (``ACME_EAB_HMAC_MISSING``, a PFX without its password, a silent notification). Only the
    variable *names* are shown, never a value."""
    names = schedule.secret_envs or ((schedule.password_env,) if schedule.password_env else ())
    if not names:
        return
    shown = ", ".join(names)
    raise InputError(
        "SCHEDULE_SECRET_UNSUPPORTED",
        f"The parameters read secrets from {shown}: on Linux a timer or cron job would need "
        f"{'that value' if len(names) == 1 else 'those values'} in a unit, an environment file or the "
        "crontab, which octorunbook never writes; nothing was installed.",
        "Schedule parameters that name no secret variable (a PEM pair readable only by the service's user "
        "instead of a PFX; acme_eab_kid/acme_eab_hmac_env left out once an "
        "interactive run as the same user has registered the ACME account; notify_env left out), run the renewal from a scheduler that injects secrets itself, or "
        "schedule it on the Windows server, where they are protected with DPAPI.",
    )


@dataclass(frozen=True)
class Units:
    service_name: str
    service: str
    timer_name: str
    timer: str


def unit_texts(schedule: Schedule) -> Units:
    """Both unit files; every value through :mod:`octorunbook.emit`, so a path with a line break is
    ``RENDER_UNSAFE`` instead of a second ``ExecStart=``; a schedule that needs a secret is refused."""
    refuse_secret(schedule)
    command = systemd_exec(schedule.command, "scheduled command")
    folder = systemd_path(str(schedule.params_path.parent), "parameter file's folder")
    name = systemd_text(schedule.name, "schedule name")
    service = (
        "[Unit]\n"
        f"Description=octorunbook: renew the Octopus portal certificate ({name})\n"
        "Wants=network-online.target\n"
        "After=network-online.target\n"
        "\n"
        "[Service]\n"
        "Type=oneshot\n"
        f"WorkingDirectory={folder}\n"
        f"ExecStart={command}\n"
    )
    timer = (
        "[Unit]\n"
        f"Description={'Daily' if schedule.runs_per_day == 1 else 'Twice-daily'} renewal of the Octopus "
        f"portal certificate ({name})\n"
        "\n"
        "[Timer]\n"
        + "".join(f"OnCalendar=*-*-* {systemd_text(at, 'time of day')}:00\n" for at in schedule.times)
        + "Persistent=true\n"
        f"RandomizedDelaySec={RANDOMIZED_DELAY}\n"
        f"Unit={name}.service\n"
        "\n"
        "[Install]\n"
        "WantedBy=timers.target\n"
    )
    return Units(f"{schedule.name}.service", service, f"{schedule.name}.timer", timer)


def crontab_line(schedule: Schedule) -> str:
    """``17 3 * * * cd DIR && octorunbook renew PARAMS  # octorunbook:NAME`` (a path with % is refused:
    cron reads it as a line break; a schedule that needs a secret is refused)."""
    refuse_secret(schedule)
    return cron_line(
        schedule.minute,
        schedule.hours,
        schedule.command,
        cwd=str(schedule.params_path.parent),
        comment=f"octorunbook:{schedule.name}",
    )


def _systemctl(system: bool, *args: str) -> list[str]:
    return ["systemctl", *(() if system else ("--user",)), *args]


def install_units(
    schedule: Schedule,
    runner: CommandRunner,
    *,
    system: bool,
    folder: Path | None = None,
    enable: bool = True,
) -> list[Path]:
    """Write both units (0644, atomically) and, with ``enable``, ``daemon-reload`` + ``enable --now`` the timer."""
    refuse_secret(schedule)
    units = unit_texts(schedule)
    target = folder or unit_dir(system)
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in ((units.service_name, units.service), (units.timer_name, units.timer)):
        path = target / name
        tmp = path.with_name(f".{name}.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.chmod(0o644)
        tmp.replace(path)
        written.append(path)
    if enable:
        for args in (("daemon-reload",), ("enable", "--now", units.timer_name)):
            result = runner.run(_systemctl(system, *args), mutating=True, label="systemctl " + args[0])
            if not result.ok:
                raise TargetError(
                    "SYSTEMCTL_FAILED",
                    f"{' '.join(result.argv)} failed (exit {result.exit_code}): {result.output[-400:]}",
                    "Read systemctl's message; for a --user timer a user session (or lingering) is needed.",
                )
    return written


def remove_units(
    schedule_name: str, runner: CommandRunner, *, system: bool, folder: Path | None = None
) -> list[Path]:
    """Disable the timer (when systemd runs) and delete both unit files; the files removed."""
    target = folder or unit_dir(system)
    paths = [target / f"{schedule_name}.timer", target / f"{schedule_name}.service"]
    present = [p for p in paths if p.exists()]
    if present and systemd_running():
        runner.run(
            _systemctl(system, "disable", "--now", paths[0].name), mutating=True, label="systemctl disable"
        )
    for path in present:
        path.unlink()
    if present and systemd_running():
        runner.run(_systemctl(system, "daemon-reload"), mutating=True, label="systemctl daemon-reload")
    return present


def installed_units(schedule_name: str, *, system: bool, folder: Path | None = None) -> dict[str, str]:
    target = folder or unit_dir(system)
    found = {}
    for suffix in (".timer", ".service"):
        path = target / f"{schedule_name}{suffix}"
        if path.is_file():
            found[str(path)] = path.read_text(encoding="utf-8")
    return found


def crontab_entry(schedule_name: str, runner: CommandRunner) -> str | None:
    """The marked line in this user's crontab, if cron is here and has it."""
    if shutil.which("crontab") is None:
        return None
    result = runner.run(["crontab", "-l"], label="read crontab")
    marker = f"# octorunbook:{schedule_name}"
    return next((line for line in result.stdout.splitlines() if line.rstrip().endswith(marker)), None)
