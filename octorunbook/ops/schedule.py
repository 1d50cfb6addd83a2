"""``octorunbook schedule``: run the renewal (runbook 04) every day, unattended, with the same parameters.

What the scheduler runs is one command line, :data:`RENEW_SUBCOMMAND` of the ``octorunbook`` next to
this interpreter with the absolute path of the parameter file::

    /opt/octorunbook/.venv/bin/octorunbook renew /etc/octorunbook/params.yaml

``octorunbook renew`` arrives with runbook 04 (``notebooks/04-renew-certificate.ipynb``); a renewal
with nothing to do ends ``unchanged`` and exit 0, so a daily run is cheap. Each run is an audited
record in ``audit_dir`` like any other (``octorunbook audit list``).

Where it is registered:

* **Windows** — a Scheduled Task in ``\\octorunbook\\`` running as SYSTEM ("run whether user is logged
  on or not", highest privileges), through ``register-renewal-task.ps1`` (see
  :mod:`octorunbook.ops.schedule_windows`). A PFX drop-file source needs its password at 03:17 with
  nobody there: it is protected with DPAPI for the *machine* (``LocalMachine`` scope, a file readable by
  SYSTEM and Administrators only) and handed to the renewal in its environment by the task's launcher —
  never in argv, never in the task's command line.
* **Linux** — a systemd timer (``--user`` unless run as root) or, where systemd is not running, a
  printed crontab line (see :mod:`octorunbook.ops.schedule_systemd`).
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from octorunbook.evidence.lifetime import days_text
from octorunbook.findings import InputError, TargetError

if TYPE_CHECKING:
    from octorunbook.params.core import Parameters

RENEW_SUBCOMMAND = "renew"  # the one place the scheduled subcommand is named (runbook 04's command)
DEFAULT_AT = "03:17"  # off the hour: thousands of servers renewing at 03:00 sharp hit a CA together
DEFAULT_NAME = "octorunbook-renew"
PLATFORMS = ("auto", "windows", "systemd", "cron")

_AT = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True)
class Schedule:
    """One daily renewal: its name, the time of day, and the command the scheduler runs."""

    name: str
    at: str
    params_path: Path
    octorunbook: str
    password_env: str = ""  # set when the source is a PFX drop file: the variable 04 reads it from
    secret_envs: tuple[str, ...] = ()  # every variable the parameters name that holds a secret
    runs_per_day: int = 1  # 2 for certificates under 10 days of lifetime (evidence.lifetime.runs_per_day)
    lifetime_days: float | None = None  # the served/bound certificate's lifetime the cadence fits

    @property
    def times(self) -> tuple[str, ...]:
        """``("03:17",)`` daily, or ``("03:17", "15:17")``: the same minute, spread evenly over the day."""
        step = 24 // self.runs_per_day
        return tuple(f"{(self.hour + i * step) % 24:02d}:{self.minute:02d}" for i in range(self.runs_per_day))

    @property
    def hours(self) -> tuple[int, ...]:
        return tuple(sorted(int(t.split(":")[0]) for t in self.times))

    @property
    def cadence_hours(self) -> int:
        """Hours between two runs (24 daily, 12 twice a day): what the dead man's switch measures."""
        return 24 // self.runs_per_day

    def when(self) -> str:
        """``daily at 03:17`` or ``twice a day at 03:17 and 15:17``."""
        times = " and ".join(self.times)
        return f"daily at {times}" if self.runs_per_day == 1 else f"twice a day at {times}"

    def cadence_text(self) -> str:
        """:meth:`when`, and why: the lifetime it fits."""
        text = self.when()
        if self.lifetime_days is None:
            return text + " (the certificate's lifetime could not be read)"
        return text + f" (the certificate lives {days_text(self.lifetime_days)} days)"

    @property
    def command(self) -> tuple[str, ...]:
        return (self.octorunbook, RENEW_SUBCOMMAND, str(self.params_path))

    @property
    def hour(self) -> int:
        return int(self.at.split(":")[0])

    @property
    def minute(self) -> int:
        return int(self.at.split(":")[1])


def check_name(name: str) -> str:
    if not _NAME.match(name):
        raise InputError(
            "SCHEDULE_NAME_INVALID",
            f"{name!r} is not a usable schedule name.",
            "Use letters, digits, '-', '_' or '.', at most 64 characters (it names a task, a unit and a file).",
        )
    return name


def check_at(at: str) -> str:
    if not _AT.match(at.strip()):
        raise InputError(
            "SCHEDULE_TIME_INVALID",
            f"--at {at!r} is not a time of day as HH:MM (24-hour).",
            f"Give e.g. --at {DEFAULT_AT}.",
        )
    return at.strip()


def octorunbook_executable() -> str:
    """The ``octorunbook`` console script of this installation (beside the interpreter, else on PATH)."""
    here = Path(sys.executable).parent
    names = ("octorunbook.exe", "octorunbook") if os.name == "nt" else ("octorunbook",)
    for folder in (here, here / "Scripts"):
        for name in names:
            if (folder / name).is_file():
                return str((folder / name).absolute())
    found = shutil.which("octorunbook")
    if found:
        return str(Path(found).absolute())
    raise TargetError(
        "SCHEDULE_OCTORUNBOOK_NOT_FOUND",
        "Cannot find the octorunbook command of this installation to schedule.",
        "Install octorunbook (pip install -e .) into the environment you run this from.",
    )


def build_schedule(
    params_path: str | Path,
    params: Parameters,
    *,
    at: str,
    name: str,
    runs_per_day: int = 1,
    lifetime_days: float | None = None,
) -> Schedule:
    """Validate once, here: a bad time or name is refused before anything is registered."""
    path = Path(params_path).expanduser().absolute()
    return Schedule(
        runs_per_day=runs_per_day if runs_per_day in (1, 2) else 1,
        lifetime_days=lifetime_days,
        name=check_name(name),
        at=check_at(at),
        params_path=path,
        octorunbook=octorunbook_executable(),
        password_env=params.pfx_password_env if params.certificate_source == "pfx" else "",
        secret_envs=secret_variables(params),
    )


def secret_variables(params: Parameters) -> tuple[str, ...]:
    """The environment variables a run with ``params`` reads a secret from, each once.

    An unattended run has nobody to ask: the PFX password (a drop-file source), the EAB HMAC key (an
    ACME account with external account binding) and the Apprise URLs of ``notify_env`` (they carry
    tokens) must all be handed over, or the run fails its preflight every night."""
    names = []
    if params.certificate_source == "pfx":
        names.append(params.pfx_password_env)
    if params.certificate_source == "acme" and params.acme_eab_hmac_env:
        names.append(params.acme_eab_hmac_env)
    if params.notify_env:
        names.append(params.notify_env)
    return tuple(dict.fromkeys(n for n in names if n))


def systemd_running() -> bool:
    """sd_booted(): systemd is PID 1 exactly when /run/systemd/system exists."""
    return Path("/run/systemd/system").is_dir() and shutil.which("systemctl") is not None


def resolve_platform(choice: str) -> str:
    """``auto``: Windows on Windows; elsewhere systemd when it runs, else cron."""
    if choice not in PLATFORMS:
        raise InputError(
            "SCHEDULE_PLATFORM_INVALID",
            f"Unknown platform {choice!r}.",
            f"Use one of {', '.join(PLATFORMS)}.",
        )
    if choice != "auto":
        return choice
    if os.name == "nt":
        return "windows"
    return "systemd" if systemd_running() else "cron"


def require_platform_fits(params: Parameters, platform: str) -> None:
    if params.target == "windows" and platform != "windows":
        raise TargetError(
            "SCHEDULE_TARGET_ELSEWHERE",
            "target is 'windows': the renewal must run on the Octopus server itself, not on this machine.",
            "Run `octorunbook schedule install` on the Octopus server (it registers a Scheduled Task there).",
        )
