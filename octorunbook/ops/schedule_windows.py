"""The daily renewal as a Windows Scheduled Task, through the shipped PowerShell scripts.

``register-renewal-task.ps1`` registers ``\\octorunbook\\<name>`` as SYSTEM (ServiceAccount logon: "run
whether user is logged on or not", no stored password), highest privileges, daily at ``--at``; the
task starts ``run-renewal-task.ps1``, which runs ``octorunbook renew PARAMS`` and exits with its code.

Every secret the parameters name (the PFX password of a drop file, the EAB HMAC key of an ACME
account, the Apprise URLs of ``notify_env``: :func:`~octorunbook.ops.schedule.secret_variables`) is
needed when nobody is there. They travel exactly once, as one JSON object ``{variable: value}``, from
the operator's environment to the register script's *environment* (``OCTORUNBOOK_SCHEDULE_SECRET``,
through the command seam's ``secret_env``); the script protects it with DPAPI for the machine and
writes ``%ProgramData%\\octorunbook\\secrets\\<name>.secrets.dpapi``; the launcher puts each value
back into the variable of the same name in the renewal's own environment. Never in argv, never in
the task's definition.

Before anything is registered, every path the run uses must be one SYSTEM can reach
(:mod:`octorunbook.ops.schedule_paths`; the script refuses network drive letters); after, the task is
started once with ``--dry-run`` as a twin task with the same account and action
(``test-renewal-task.ps1``): the preflight runs *as the task's account*, and its Last Run Result is
reported (``SCHEDULE_DRY_RUN_FAILED`` when it is not 0).

LocalMachine DPAPI lets any local process unprotect the file, so its ACL is the secret's only lock.
The ``secrets`` folder is made (or proven) SYSTEM + Administrators only by the state folder guard
first, the script creates the file with that ACL from its first byte, and the ACL it reads back is
judged here: an install whose secret another account could read is ``SCHEDULE_SECRET_NOT_PROTECTED``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from octorunbook.commands import CommandRunner
from octorunbook.emit import refuse, task_argument
from octorunbook.findings import InputError, TargetError
from octorunbook.ops.schedule import RENEW_SUBCOMMAND, Schedule
from octorunbook.redaction import Secret, secret_from_env
from octorunbook.targets.windows import default_state_dir, windows_state_guard
from octorunbook.targets.windows.powershell import not_elevated, run_script, script_failure
from octorunbook.targets.windows.state_acl import SecurityFacts, private_problems

SECRET_ENV = "OCTORUNBOOK_SCHEDULE_SECRET"
TASK_PATH = "\\octorunbook\\"
DRY_RUN_WAIT_SECONDS = 900  # a dry run reads the CA's directory and answers nothing: minutes at most
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# Task Scheduler result codes that are not an exit code (winerror.h, SCHED_S_*).
TASK_RUNNING = 0x41301
TASK_HAS_NOT_RUN = 0x41303


def secret_path(name: str, state_dir: Path | None = None) -> Path:
    return (state_dir or default_state_dir()) / "secrets" / f"{name}.secrets.dpapi"


def legacy_secret_path(name: str, state_dir: Path | None = None) -> Path:
    """Where a task registered before every secret was kept held its PFX password alone."""
    return (state_dir or default_state_dir()) / "secrets" / f"{name}.pfx-password.dpapi"


def register_argv(
    schedule: Schedule, secret: Path | None, local_paths: Sequence[str] = (), legacy: Path | None = None
) -> list[str]:
    """The named arguments of ``register-renewal-task.ps1`` (paths and variable names: never a secret).

    The script writes the task's arguments as ``-ParamsPath "VALUE"``; each value is checked here for that
    place first (:func:`octorunbook.emit.task_argument`: no ``"``, no ``%``, no trailing backslash)."""
    values = [("octorunbook command", schedule.octorunbook), ("subcommand", RENEW_SUBCOMMAND)]
    values.append(("parameter file path", str(schedule.params_path)))
    if secret is not None:
        values.append(("secret path", str(secret)))
        for name in schedule.secret_envs:
            if not _ENV_NAME.fullmatch(name):
                refuse(
                    "a Scheduled Task's arguments", "secret variable name", name, "it is not a variable name"
                )
    for what, value in values:
        task_argument(value, what)
    for value in local_paths:
        if "|" in value or "\n" in value:
            refuse("the register script's path list", "path", value, "it holds | or a line break")
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
        arguments += ["-SecretPath", str(secret), "-SecretNames", ",".join(schedule.secret_envs)]
    if local_paths:  # | cannot occur in a Windows path: the one separator -File can carry
        arguments += ["-LocalPaths", "|".join(local_paths)]
    if legacy is not None:
        task_argument(str(legacy), "legacy secret path")
        arguments += ["-LegacySecretPath", str(legacy)]
    return arguments


def _checked(data: dict[str, Any], result: Any, script: str, what: str, allowed: tuple[str, ...]) -> None:
    status = data.get("status")
    if status == "not_elevated":
        raise not_elevated(result, data, what)
    if status == "network_path":
        raise TargetError(
            "SCHEDULE_PATH_UNUSABLE",
            f"{data.get('path')} is on a network drive ({data.get('drive')}) of this logon session: the "
            "task runs as SYSTEM, which does not see mapped drives.",
            "Copy the file to a local disk, or write the path as UNC (\\\\server\\share\\...) on a share "
            "the computer account may read, and install again. Nothing was registered.",
            details={"path": str(data.get("path") or ""), "drive": str(data.get("drive") or "")},
        )
    if status not in allowed:
        raise script_failure(data, result, script, "SCHEDULE_FAILED")


def gather_secrets(schedule: Schedule) -> Secret | None:
    """Every secret variable the parameters name, read from this session as one JSON object."""
    values: dict[str, str] = {}
    missing = []
    for name in schedule.secret_envs:
        secret = secret_from_env(name)
        if secret is None:
            missing.append(name)
        else:
            values[name] = secret.reveal()
    if missing:
        raise InputError(
            "SCHEDULE_PASSWORD_MISSING",
            f"The scheduled renewal runs with nobody there and needs the secret in {', '.join(missing)}, "
            "which is not set in this session.",
            f"Set {', '.join(missing)} in this (elevated) session and run the install again; each secret the "
            "parameters name is protected for this machine with DPAPI, never written in clear. "
            "Nothing was registered.",
            details={"missing": missing},
        )
    return Secret(json.dumps(values, separators=(",", ":"))) if values else None


def install_task(
    schedule: Schedule,
    runner: CommandRunner,
    secrets: Secret | None,
    *,
    state_dir: Path | None = None,
    local_paths: Sequence[str] = (),
) -> dict[str, Any]:
    """Register (or replace) the task; protect the secrets first when the parameters name any."""
    secret = secret_path(schedule.name, state_dir) if schedule.secret_envs else None
    if secret is not None and secrets is None:
        secrets = gather_secrets(schedule)
    legacy = legacy_secret_path(schedule.name, state_dir)
    arguments = register_argv(
        schedule, secret, local_paths, legacy
    )  # refused before the secrets folder is touched
    if secret is not None:
        windows_state_guard(runner).protect(secret.parent)
    data, result = run_script(
        runner,
        "register-renewal-task.ps1",
        arguments,
        label="register the scheduled renewal task",
        mutating=True,
        secret_env={SECRET_ENV: secrets} if secret is not None and secrets is not None else None,
    )
    _checked(data, result, "register-renewal-task.ps1", "registering the scheduled task", ("ok",))
    if secret is not None:
        _check_secret_protected(data)
    return data


def dry_run_task(
    name: str, runner: CommandRunner, *, wait_seconds: int = DRY_RUN_WAIT_SECONDS
) -> dict[str, Any]:
    """Start the task's twin once with ``--dry-run`` as the same account; its Last Run Result, judged.

    The twin (``\\octorunbook\\<name>-dry-run``, no trigger) has the task's principal and action plus
    ``-DryRun``; the script waits for it to end, reads Get-ScheduledTaskInfo and unregisters it."""
    data, result = run_script(
        runner,
        "test-renewal-task.ps1",
        ["-TaskName", name, "-WaitSeconds", str(wait_seconds)],
        label="start the renewal task once with --dry-run (as SYSTEM)",
        mutating=True,
        timeout=wait_seconds + 60,
    )
    _checked(data, result, "test-renewal-task.ps1", "starting the scheduled task once", ("ok",))
    code = data.get("last_task_result")
    if not isinstance(code, int) or isinstance(code, bool):
        code = None
    code = code & 0xFFFFFFFF if code is not None else None
    data["last_task_result"] = code
    if code == 0:
        return data
    if code in (TASK_RUNNING, TASK_HAS_NOT_RUN) or code is None or data.get("finished") is not True:
        why = f"it had not ended after {wait_seconds} s (Last Run Result {_hex(code)})"
    else:
        why = f"it ended with Last Run Result {_hex(code)} (the renewal's exit code: 1 failed, 2 bad parameters)"
    raise TargetError(
        "SCHEDULE_DRY_RUN_FAILED",
        f"The task is registered, but its dry run as {data.get('user_id') or 'SYSTEM'} did not succeed: {why}. "
        "The nightly renewal would fail the same way.",
        "Read the dry run's record (`octorunbook audit list` in the audit_dir of the parameter file): what "
        "the task's account lacks is named there (a secret variable, a path, a module on its PATH). Fix it "
        "and run `octorunbook schedule install` again, or `octorunbook schedule remove`.",
        details={"last_task_result": code, "last_run_time": str(data.get("last_run_time") or "")},
    )


def _hex(code: int | None) -> str:
    return "unknown" if code is None else f"0x{code:X}"


def _check_secret_protected(data: dict[str, Any]) -> None:
    """The script wrote the secret; the ACL it read back must be SYSTEM + Administrators only."""
    problems: list[str] = []
    if data.get("secret_protected") is not True:
        problems = ["the script did not confirm it protected the secrets"]
    else:
        try:
            problems = private_problems(SecurityFacts.from_json(data.get("secret_acl")))
        except ValueError as exc:
            problems = [f"the secret file's ACL could not be read back ({exc})"]
    if problems:
        raise TargetError(
            "SCHEDULE_SECRET_NOT_PROTECTED",
            "The task was registered but its secrets file is not private to SYSTEM and "
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
        [
            *("-TaskName", name, "-SecretPath", str(secret_path(name, state_dir))),
            *("-LegacySecretPath", str(legacy_secret_path(name, state_dir))),
        ],
        label="remove the renewal task",
        mutating=True,
    )
    _checked(data, result, "remove-renewal-task.ps1", "removing the scheduled task", ("ok", "not_found"))
    return data if data["status"] == "ok" else None
