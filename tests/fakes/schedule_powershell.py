"""Stand-in ``powershell.exe`` for the scheduled-renewal scripts (register/show/remove/run-renewal-task.ps1).

Binds arguments against the real script's ``param()`` block exactly like ``powershell.py`` (whose
``bind`` and ``emit`` it reuses), and keeps the Task Scheduler in ``$FAKE_WINDOWS_DIR/tasks.json``
with what ``Register-ScheduledTask`` would store: principal, trigger, action (execute + argument string).

"DPAPI LocalMachine" is modelled by a reversible transformation whose output never contains the
plaintext (a magic header, then the UTF-8 bytes XOR 0xA5), so a test can prove the password went
from the installer's *environment* into a protected file and, at run time, into the renewal's
environment — and nowhere else. The secret file is written the way the script writes it (into a
folder that must already exist, with its protected ACL from creation: ``acl_powershell``), and the
ACL the script reads back is reported as ``secret_acl``; ``protect-state-folder.ps1`` answers too.

The secrets travel as one JSON object ``{variable: value}`` (``-SecretNames`` lists the variables).
``-LocalPaths`` is judged against ``network_drives.json`` (drive letters mapped in the operator's
session, e.g. ``["Z:"]``). ``test-renewal-task.ps1`` runs the registered action once with ``-DryRun``
the way the Task Scheduler would: as SYSTEM, in the action's environment only (``PATH``, ``ProgramData``
and the stand-ins' own variables; none of the operator's), and keeps its exit code as the twin's Last
Run Result. ``FAKE_TASK_OCTORUNBOOK``, when set, replaces the octorunbook command the action names (a
probe standing in for the renewal).
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import _state
from acl_powershell import protect_state_folder, write_private_file
from powershell import EXPECTED_OPTIONS, Refused, bind, emit

SECRET_ENV = "OCTORUNBOOK_SCHEDULE_SECRET"
DPAPI_MAGIC = b"FAKE-DPAPI-LocalMachine\x00"
TASK_PATH = "\\octorunbook\\"
POWERSHELL = "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe"


def protect(plain: str) -> bytes:
    return DPAPI_MAGIC + bytes(b ^ 0xA5 for b in plain.encode("utf-8"))


def unprotect(data: bytes) -> str:
    if not data.startswith(DPAPI_MAGIC):
        raise ValueError("Key not valid for use in specified state.")
    return bytes(b ^ 0xA5 for b in data[len(DPAPI_MAGIC) :]).decode("utf-8")


def tasks() -> dict[str, Any]:
    data = _state.read_json("tasks.json", {})
    return data if isinstance(data, dict) else {}


def register(p: dict[str, Any]) -> dict[str, Any]:
    if "not_elevated" in _state.scenarios():
        return {
            "status": "not_elevated",
            "phase": "register",
            "message": "Access is denied.",
            "hresult": -2147024891,
        }
    for path in (p.get("LocalPaths") or "").split("|"):
        drive = path[:2].upper()
        if path and drive in {str(d).upper() for d in _state.read_json("network_drives.json", [])}:
            return {"status": "network_path", "path": path, "drive": drive + "\\"}
    protected = False
    secret_acl: dict[str, Any] | None = None
    if p.get("SecretPath"):
        plain = os.environ.get(SECRET_ENV, "")
        if not plain:
            return {"status": "secret_missing", "message": "The secrets were not handed to this script."}
        path = Path(p["SecretPath"])
        if not path.parent.is_dir():
            return {
                "status": "error",
                "phase": "protect",
                "message": f"The secrets folder {path.parent} does not exist.",
                "hresult": -2147024893,
            }
        secret_acl = write_private_file(path, protect(plain))
        protected = True
    runner = Path(sys.argv[len(EXPECTED_OPTIONS) + 1]).parent / "run-renewal-task.ps1"
    arguments = (
        f'-NoProfile -NonInteractive -ExecutionPolicy Bypass -File "{runner}"'
        f' -Octorunbook "{p["Octorunbook"]}" -Subcommand "{p["Subcommand"]}" -ParamsPath "{p["ParamsPath"]}"'
    )
    if protected:
        arguments += f' -SecretPath "{p["SecretPath"]}" -SecretNames {p["SecretNames"]}'
    task = {
        "task_name": p["TaskName"],
        "task_path": TASK_PATH,
        "state": "Ready",
        "at": p["At"],
        "user_id": "SYSTEM",
        "logon_type": "ServiceAccount",
        "run_level": "Highest",
        "execute": POWERSHELL,
        "arguments": arguments,
        "secret_path": p.get("SecretPath", ""),
        "secret_protected": protected,
        "next_run_time": f"2026-11-29T{p['At'].split(',')[0]}:00.0000000Z",
        "working_directory": str(Path(p["ParamsPath"]).parent),
    }
    current = tasks()
    current[TASK_PATH + p["TaskName"]] = task
    _state.write_json("tasks.json", current)
    legacy = Path(p["LegacySecretPath"]) if p.get("LegacySecretPath") else None
    legacy_removed = bool(legacy and legacy.exists())
    if legacy is not None and legacy_removed:
        legacy.unlink()
    return {"status": "ok", **task, "secret_acl": secret_acl, "legacy_secret_removed": legacy_removed}


def show(p: dict[str, Any]) -> dict[str, Any]:
    task = tasks().get(TASK_PATH + p["TaskName"])
    if task is None:
        return {"status": "not_found", "task_name": p["TaskName"], "task_path": TASK_PATH}
    return {"status": "ok", **task, "last_run_time": "", "last_task_result": 267011}


def remove(p: dict[str, Any]) -> dict[str, Any]:
    current = tasks()
    task_removed = current.pop(TASK_PATH + p["TaskName"], None) is not None
    _state.write_json("tasks.json", current)
    secret_removed = False
    for name in ("SecretPath", "LegacySecretPath"):
        secret = Path(p[name]) if p.get(name) else None
        if secret is not None and secret.exists():
            secret.unlink()
            secret_removed = True
    if not (task_removed or secret_removed):
        return {"status": "not_found", "task_name": p["TaskName"], "task_path": TASK_PATH}
    return {
        "status": "ok",
        "task_name": p["TaskName"],
        "task_removed": task_removed,
        "secret_removed": secret_removed,
    }


def run_renewal(p: dict[str, Any], env: dict[str, str] | None = None) -> int:
    """What the task runs: the renewal command, the unprotected secrets in its environment only."""
    env = dict(os.environ if env is None else env)
    if p.get("SecretPath"):
        text = unprotect(Path(p["SecretPath"]).read_bytes())
        if p.get("SecretNames"):
            values = json.loads(text)
            for name in p["SecretNames"].split(","):
                env[name] = values[name]
        else:
            env[p["PasswordEnv"]] = text
    command = [p["Octorunbook"], p["Subcommand"], p["ParamsPath"]] + (
        ["--dry-run"] if p.get("DryRun") else []
    )
    return subprocess.run(command, env=env, cwd=env.pop("FAKE_TASK_CWD", "") or None, check=False).returncode


SYSTEM_ENV = ("PATH", "ProgramData", "FAKE_WINDOWS_DIR", "FAKE_SCENARIO", "SystemRoot")


def test_task(p: dict[str, Any]) -> dict[str, Any]:
    """The twin task: the registered action plus -DryRun, as SYSTEM, in the task's own environment."""
    task = tasks().get(TASK_PATH + p["TaskName"])
    if task is None:
        return {"status": "not_found", "task_name": p["TaskName"], "task_path": TASK_PATH}
    words = shlex.split(task["arguments"])
    script = Path(words[words.index("-File") + 1])
    bound = bind(script, [*words[words.index("-File") + 2 :], "-DryRun"])
    if os.environ.get("FAKE_TASK_OCTORUNBOOK"):
        bound["Octorunbook"] = os.environ["FAKE_TASK_OCTORUNBOOK"]
    env = {k: os.environ[k] for k in SYSTEM_ENV if k in os.environ}
    env["USERNAME"] = "SYSTEM"
    env["FAKE_TASK_CWD"] = task.get("working_directory", "")
    code = run_renewal(bound, env)
    return {
        "status": "ok",
        "task_name": p["TaskName"],
        "twin_name": p["TaskName"] + "-dry-run",
        "user_id": task["user_id"],
        "finished": True,
        "last_task_result": code,
        "last_run_time": "2026-11-28T20:30:00.0000000Z",
    }


SCRIPTS = {
    "register-renewal-task.ps1": register,
    "show-renewal-task.ps1": show,
    "remove-renewal-task.ps1": remove,
    "test-renewal-task.ps1": test_task,
    "protect-state-folder.ps1": protect_state_folder,
}


def main(argv: list[str]) -> int:
    _state.log_call("powershell", argv)
    if argv[: len(EXPECTED_OPTIONS)] != EXPECTED_OPTIONS or len(argv) <= len(EXPECTED_OPTIONS):
        sys.stderr.write(f"fake powershell: unexpected options {argv!r}\n")
        return 64
    script = Path(argv[len(EXPECTED_OPTIONS)])
    if not script.is_absolute() or not script.is_file() or not (script.parent / "_common.ps1").is_file():
        sys.stderr.write(f"The argument '{script}' to the -File parameter does not exist.\n")
        return 64
    try:
        params = bind(script, argv[len(EXPECTED_OPTIONS) + 1 :])
    except Refused as exc:
        sys.stderr.write(f"{script.name} : {exc}\r\n")
        return 1
    if script.name == "run-renewal-task.ps1":
        return run_renewal(params)
    handler = SCRIPTS.get(script.name)
    if handler is None:
        sys.stderr.write(f"fake schedule powershell: no stand-in for {script.name}\n")
        return 64
    result = handler(params)
    emit(result)
    return 0 if result.get("status") == "ok" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
