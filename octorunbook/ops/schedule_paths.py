r"""Paths a scheduled run can use: what the operator's session resolved is not what the task sees.

The Scheduled Task runs as SYSTEM, in the parameter file's folder, with SYSTEM's profile and without
the operator's logon session. So, at ``schedule install``:

* a **relative** path (``audit``, ``drop\portal.pfx``, ``\drop\portal.pfx`` on the current drive,
  ``C:drop``) would resolve against the task's working folder, not where the operator ran from;
* a path starting with **``~``** is the operator's profile here and SYSTEM's profile there
  (``C:\Windows\System32\config\systemprofile``);
* a **mapped drive** (``net use Z: \\files\drop``) belongs to the operator's logon session: SYSTEM
  does not see it. Only the host can tell a network drive letter from a local one, so the register
  script checks the drive type of every path handed to it (``-LocalPaths``) before it registers
  anything; here, only the value's form is judged.

Each is ``SCHEDULE_PATH_UNUSABLE`` before anything is registered or protected, with the absolute path
the operator's session meant as the remedy. A UNC path (``\\files\drop\portal.pfx``) is accepted: the
task reaches it as the computer account (``DOMAIN\HOST$``), which the share must allow.
"""

from __future__ import annotations

import re
import site
from pathlib import Path
from typing import TYPE_CHECKING, Any

from octorunbook.findings import InputError

if TYPE_CHECKING:
    from octorunbook.params.core import Parameters

_DRIVE_RELATIVE = re.compile(r"^[A-Za-z]:(?![\\/])")  # C:drop is relative to C:'s current folder
_ROOTED_NO_DRIVE = re.compile(r"^[\\/](?![\\/])")  # \drop is relative to the current drive on Windows
_DEVICE = re.compile(r"^[\\/]{2}[.?][\\/]")  # \\.\ (devices, pipes) or \\?\ (no normalisation)
_ABSOLUTE = re.compile(r"^([A-Za-z]:[\\/]|[\\/]{2}[^\\/])")  # C:\x, or \\server\share (UNC)


def used_paths(params: Parameters) -> list[tuple[str, str]]:
    """``(parameter, value)`` for every path a run with ``params`` reads or writes (empty ones left out)."""
    names = ["server_exe", "audit_dir", "sandbox_dir"]
    source = {"pfx": ["pfx_path"], "pem": ["pem_cert_path", "pem_key_path"]}
    names += source.get(params.certificate_source, [])
    if params.certificate_source == "acme":
        names.append("acme_ca_bundle")
    if params.front == "nginx":
        names += ["nginx_bin", "nginx_conf_dir", "nginx_pid", "cert_dir"]
    found = [(n, str(getattr(params, n) or "").strip()) for n in names]
    hook = params.acme_dns_hook.strip() if params.certificate_source == "acme" else ""
    first = _first_word(hook)
    if first and ("\\" in first or "/" in first or first.startswith((".", "~"))):
        found.append(("acme_dns_hook", first))  # a bare command name is looked up on the machine PATH
    return [(n, v) for n, v in found if v]


def _first_word(command: str) -> str:
    if command.startswith('"'):
        end = command.find('"', 1)
        return command[1:end] if end > 0 else command[1:]
    return command.split()[0] if command.split() else ""


def _why_unusable(value: str, windows: bool) -> str:
    odd = next((c for c in value if ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 or c == "|"), "")
    if odd:  # no Windows file name holds one; the task's argument list could not carry it
        return f"it holds {'|' if odd == '|' else f'the control character U+{ord(odd):04X}'}, which no Windows path holds"
    if value.startswith("~"):
        return "it starts with ~, which is the operator's profile here and SYSTEM's profile in the task"
    if _DRIVE_RELATIVE.match(value):
        return "it names a drive but not a folder from its root (C:name is relative to that drive's current folder)"
    if _DEVICE.match(value):
        return (
            "it is a device or literal path (\\\\.\\ or \\\\?\\), not a file the task should write: "
            "name the folder by its drive letter or as a UNC path"
        )
    if _ABSOLUTE.match(value) or (not windows and value.startswith("/")):
        return ""  # C:\x, \\server\share\x; /x only where the stand-in's file system is POSIX
    if _ROOTED_NO_DRIVE.match(value):
        return "it names no drive (\\name or /name is relative to the task's current drive)"
    return "it is relative: the task would resolve it against the parameter file's folder"


def check_task_paths(params: Parameters, *, windows: bool) -> list[str]:
    """The absolute paths a scheduled run uses; any relative / ``~`` one is ``SCHEDULE_PATH_UNUSABLE``.

    The values are judged as Windows paths; ``windows=False`` (the stand-in Windows on a POSIX host)
    also accepts ``/absolute`` paths of the stand-in's file system."""
    problems: list[dict[str, Any]] = []
    paths: list[str] = []
    for name, value in used_paths(params):
        why = _why_unusable(value, windows)
        if why:
            meant = (
                ""
                if why.startswith(("it holds", "it is a device"))
                else str(Path(value).expanduser().absolute())
            )
            problems.append({"parameter": name, "value": value, "why": why, "meant": meant})
        else:
            paths.append(value)
    if problems:
        lines = "; ".join(f"{p['parameter']}: {p['value']!r}: {p['why']}" for p in problems)
        fixes = (
            ", ".join(f"{p['parameter']}: {p['meant']}" for p in problems if p["meant"])
            or "C:\\octorunbook\\audit"
        )
        raise InputError(
            "SCHEDULE_PATH_UNUSABLE",
            f"The scheduled task runs as SYSTEM in the parameter file's folder and cannot use {lines}.",
            f"Write each as an absolute path on a local disk (or a UNC path the computer account may read) "
            f"in the parameter file, e.g. {fixes}, and run `octorunbook schedule install` again. "
            "Nothing was registered.",
            details={"paths": problems},
        )
    return paths


def check_importable_by_task() -> None:
    """``pip install --user`` puts octorunbook in *this* account's user site-packages, which another
    account's interpreter never searches: the task would fail with ModuleNotFoundError every night."""
    import octorunbook

    package = Path(octorunbook.__file__).resolve().parent
    try:
        user_site = Path(site.getusersitepackages()).resolve()
    except (AttributeError, OSError):  # a virtual environment may have no user site at all
        return
    if package.is_relative_to(user_site):
        raise InputError(
            "SCHEDULE_USER_INSTALL",
            f"octorunbook is installed in this account's user site-packages ({user_site}, `pip install "
            "--user`): the scheduled task runs as SYSTEM, whose Python never looks there.",
            "Install octorunbook into a virtual environment SYSTEM can read (e.g. `py -3.11 -m venv "
            "C:\\octorunbook\\.venv` and install the wheel there) and run `schedule install` from it. "
            "Nothing was registered.",
            details={"package": str(package), "user_site": str(user_site)},
        )
