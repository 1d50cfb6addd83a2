"""The daily renewal as a Windows Scheduled Task, through the shipped PowerShell scripts.

``register-renewal-task.ps1`` registers ``\\octorunbook\\<name>`` as SYSTEM (ServiceAccount logon: "run
whether user is logged on or not", no stored password), highest privileges, daily at ``--at``; the
task starts ``run-renewal-task.ps1``, which runs ``octorunbook renew PARAMS`` and exits with its code.

A PFX drop-file source needs its password when nobody is there. It travels exactly once, from the
operator's environment variable (``pfx_password_env``) to the register script's *environment*
(``OCTORUNBOOK_SCHEDULE_SECRET``, through the command seam's ``secret_env``); the script protects it
with DPAPI for the machine and writes ``%ProgramData%\\octorunbook\\secrets\\<name>.pfx-password.dpapi``.
It is never in argv, never in the task's definition.

LocalMachine DPAPI lets any local process unprotect the file, so its ACL is the secret's only lock.
The ``secrets`` folder is made (or proven) SYSTEM + Administrators only by the state folder guard
first, the script creates the file with that ACL from its first byte, and the ACL it reads back is
judged here: an install whose secret another account could read is ``SCHEDULE_SECRET_NOT_PROTECTED``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from octorunbook.commands import CommandRunner
from octorunbook.emit import refuse, task_argument
from octorunbook.findings import InputError, TargetError
from octorunbook.ops.schedule import RENEW_SUBCOMMAND, Schedule
from octorunbook.redaction import Secret
from octorunbook.targets.windows import default_state_dir, windows_state_guard
from octorunbook.targets.windows.powershell import not_elevated, run_script, script_failure
from octorunbook.targets.windows.state_acl import SecurityFacts, private_problems

SECRET_ENV = "OCTORUNBOOK_SCHEDULE_SECRET"
TASK_PATH = "\\octorunbook\\"
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def secret_path(name: str, state_dir: Path | None = None) -> Path:
    return (state_dir or default_state_dir()) / "secrets" / f"{name}.pfx-password.dpapi"


def register_argv(schedule: Schedule, secret: Path | None) -> list[str]:
    """The named arguments of ``register-renewal-task.ps1`` (paths only: never a secret).

    The script writes the task's arguments as ``-ParamsPath "VALUE"``; each value is checked here for that
    place first (:func:`octorunbook.emit.task_argument`: no ``"``, no ``%``, no trailing backslash)."""
    values = [("octorunbook command", schedule.octorunbook), ("subcommand", RENEW_SUBCOMMAND)]
    values.append(("parameter file path", str(schedule.params_path)))
    if secret is not None:
        values.append(("secret path", str(secret)))
        if not _ENV_NAME.fullmatch(schedule.password_env):
            refuse(
                "a Scheduled Task's arguments",
                "pfx_password_env",
                schedule.password_env,
                "it is not a variable name",
            )
    for what, value in values:
        task_argument(value, what)
    arguments = [
        "-TaskName",
        schedule.name,
        "-At",
        ",".join(schedule.times),  # one daily trigger per time: twice a day for short-lived certificates
        "-Octorunbook",
        schedule.octorunbook,
        "-Subcommand",
        RENEW_SUBCOMMAND,
        "-ParamsPath",
        str(schedule.params_path),
    ]
    if secret is not None:
        arguments += ["-SecretPath", str(secret), "-PasswordEnv", schedule.password_env]
    return arguments


def _checked(data: dict[str, Any], result: Any, script: str, what: str, allowed: tuple[str, ...]) -> None:
    status = data.get("status")
    if status == "not_elevated":
        raise not_elevated(result, data, what)
    if status not in allowed:
        raise script_failure(data, result, script, "SCHEDULE_FAILED")


def install_task(
    schedule: Schedule, runner: CommandRunner, password: Secret | None, *, state_dir: Path | None = None
) -> dict[str, Any]:
    """Register (or replace) the task; protect the PFX password first when the source needs one."""
    secret = None
    if schedule.password_env:
        if password is None:
            raise InputError(
                "SCHEDULE_PASSWORD_MISSING",
                f"certificate_source is pfx: the scheduled renewal needs the PFX password, and "
                f"{schedule.password_env} is not set in this session.",
                f"Set {schedule.password_env} to the drop file's password in this (elevated) session and run "
                "the install again; it is protected for this machine with DPAPI, never written in clear.",
            )
        secret = secret_path(schedule.name, state_dir)
    arguments = register_argv(schedule, secret)  # refused before the secrets folder is touched
    if secret is not None:
        windows_state_guard(runner).protect(secret.parent)
    data, result = run_script(
        runner,
        "register-renewal-task.ps1",
        arguments,
        label="register the scheduled renewal task",
        mutating=True,
        secret_env={SECRET_ENV: password} if secret is not None and password is not None else None,
    )
    _checked(data, result, "register-renewal-task.ps1", "registering the scheduled task", ("ok",))
    if secret is not None:
        _check_secret_protected(data)
    return data


def _check_secret_protected(data: dict[str, Any]) -> None:
    """The script wrote the secret; the ACL it read back must be SYSTEM + Administrators only."""
    problems: list[str] = []
    if data.get("secret_protected") is not True:
        problems = ["the script did not confirm it protected the PFX password"]
    else:
        try:
            problems = private_problems(SecurityFacts.from_json(data.get("secret_acl")))
        except ValueError as exc:
            problems = [f"the secret file's ACL could not be read back ({exc})"]
    if problems:
        raise TargetError(
            "SCHEDULE_SECRET_NOT_PROTECTED",
            "The task was registered but its PFX password file is not private to SYSTEM and "
            f"Administrators: {'; '.join(problems)}.",
            "Run `octorunbook schedule remove` (it deletes the file) and install again from an elevated "
            "session; check who owns %ProgramData%\\octorunbook\\secrets (`icacls`).",
            details={"secret_path": str(data.get("secret_path") or ""), "why": problems},
        )


def show_task(name: str, runner: CommandRunner) -> dict[str, Any] | None:
    data, result = run_script(
        runner, "show-renewal-task.ps1", ["-TaskName", name], label="read the renewal task"
    )
    _checked(data, result, "show-renewal-task.ps1", "reading the scheduled task", ("ok", "not_found"))
    return data if data["status"] == "ok" else None


def remove_task(name: str, runner: CommandRunner, *, state_dir: Path | None = None) -> dict[str, Any] | None:
    data, result = run_script(
        runner,
        "remove-renewal-task.ps1",
        ["-TaskName", name, "-SecretPath", str(secret_path(name, state_dir))],
        label="remove the renewal task",
        mutating=True,
    )
    _checked(data, result, "remove-renewal-task.ps1", "removing the scheduled task", ("ok", "not_found"))
    return data if data["status"] == "ok" else None
