"""Stand-in for ``protect-state-folder.ps1`` and for the ACL facts other scripts report (stdlib only).

Windows security descriptors are kept in ``$FAKE_WINDOWS_DIR/acls.json``, keyed by path::

    {"<path>": {"owner": "S-1-5-32-544", "protected": true, "rules": [<rule>...], "reparse": false}}

with each rule as the script prints it (``sid``, ``rights`` as a signed 32-bit mask, ``type`` Allow/Deny,
``inherited``, ``inheritance``, ``propagation``). A folder that exists on disk but has no entry answers
as one made without octorunbook's descriptor would on a real server: it inherits ``%ProgramData%``'s
ACL (owner SYSTEM, not protected, Users may create files and folders, CREATOR OWNER full control on
what is created inside). A symbolic link on disk answers as a reparse point, and is never followed.

``-Create`` makes each missing folder with the protected descriptor the script builds
(``New-OctorunbookPrivateSecurity``) and records it, then reads everything back. Scenarios:
``not_elevated`` (creating refuses: ERROR_INVALID_OWNER), ``state_folder_race`` (another account makes
the folder between the check and CreateDirectory, which then returns it untouched).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import _state

SYSTEM = "S-1-5-18"
ADMINISTRATORS = "S-1-5-32-544"
USERS = "S-1-5-32-545"
AUTHENTICATED_USERS = "S-1-5-11"
EVERYONE = "S-1-1-0"
CREATOR_OWNER = "S-1-3-0"
A_USER = "S-1-5-21-1004336348-1177238915-682003330-1001"

FULL_CONTROL = 0x1F01FF
MODIFY = 0x1301BF
READ_AND_EXECUTE = 0x1200A9
CREATE_FILES_AND_FOLDERS = 0x100006  # WriteData/CreateFiles | AppendData/CreateDirectories | Synchronize
FOLDER_INHERIT = 3  # ContainerInherit | ObjectInherit
INHERIT_ONLY = 2
INVALID_OWNER = -2147023589  # 0x8007051B ERROR_INVALID_OWNER


def rule(
    sid: str,
    rights: int,
    *,
    allow: bool = True,
    inherited: bool = False,
    inheritance: int = FOLDER_INHERIT,
    propagation: int = 0,
) -> dict[str, Any]:
    signed = rights - (1 << 32) if rights & 0x80000000 else rights
    return {
        "sid": sid,
        "rights": signed,
        "type": "Allow" if allow else "Deny",
        "inherited": inherited,
        "inheritance": inheritance,
        "propagation": propagation,
    }


def private_folder() -> dict[str, Any]:
    """What ``New-OctorunbookPrivateSecurity -Folder $true`` builds."""
    return {
        "owner": ADMINISTRATORS,
        "protected": True,
        "rules": [rule(SYSTEM, FULL_CONTROL), rule(ADMINISTRATORS, FULL_CONTROL)],
    }


def private_file() -> dict[str, Any]:
    """What ``New-OctorunbookPrivateSecurity -Folder $false`` builds."""
    return {
        "owner": ADMINISTRATORS,
        "protected": True,
        "rules": [
            rule(SYSTEM, FULL_CONTROL, inheritance=0),
            rule(ADMINISTRATORS, FULL_CONTROL, inheritance=0),
        ],
    }


def program_data_inherited(owner: str = SYSTEM) -> dict[str, Any]:
    """A folder created under ``%ProgramData%`` by anything but octorunbook's script."""
    return {
        "owner": owner,
        "protected": False,
        "rules": [
            rule(SYSTEM, FULL_CONTROL, inherited=True),
            rule(ADMINISTRATORS, FULL_CONTROL, inherited=True),
            rule(CREATOR_OWNER, FULL_CONTROL, inherited=True, propagation=INHERIT_ONLY),
            rule(USERS, READ_AND_EXECUTE, inherited=True),
            rule(USERS, CREATE_FILES_AND_FOLDERS, inherited=True, inheritance=1),
        ],
    }


def acls() -> dict[str, Any]:
    data = _state.read_json("acls.json", {})
    return data if isinstance(data, dict) else {}


def record(path: Path | str, entry: dict[str, Any]) -> None:
    current = acls()
    current[str(path)] = entry
    _state.write_json("acls.json", current)


def _sddl(entry: dict[str, Any]) -> str:
    aces = "".join(
        f"({'A' if r['type'] == 'Allow' else 'D'};{'ID' if r['inherited'] else ''};0x{r['rights'] & 0xFFFFFFFF:x};;;{r['sid']})"
        for r in entry.get("rules", [])
    )
    return f"O:{entry['owner']}D:{'P' if entry.get('protected') else ''}AI{aces}{entry.get('sddl_extra', '')}"


def facts(path: Path) -> dict[str, Any]:
    """``Get-OctorunbookSecurityFacts`` for ``path`` (which exists)."""
    entry = acls().get(str(path))
    reparse = os.path.islink(path) or bool(entry and entry.get("reparse"))
    base: dict[str, Any] = {
        "path": str(path),
        "exists": True,
        "folder": path.is_dir(),
        "reparse_point": reparse,
        "owner_sid": "",
        "protected": False,
        "sddl": "",
        "rules": [],
    }
    if reparse:
        return base
    if entry is None:
        entry = program_data_inherited()
    return base | {
        "owner_sid": entry["owner"],
        "protected": bool(entry.get("protected")),
        "sddl": _sddl(entry),
        "rules": entry.get("rules", []),
    }


def _failure(status: str, phase: str, message: str, hresult: int) -> dict[str, Any]:
    return {
        "status": status,
        "phase": phase,
        "message": message,
        "outer_message": message,
        "exception_type": "System.InvalidOperationException",
        "hresult": hresult,
        "error_id": "InvalidOperationException",
    }


def protect_state_folder(p: dict[str, Any]) -> dict[str, Any]:
    if not os.path.isabs(p["Path"]):
        return _failure(
            "error", "start", f"The state folder must be a full path, got '{p['Path']}'.", -2146233079
        )
    full = Path(os.path.normpath(p["Path"]))
    missing: list[Path] = []
    cursor = full
    while not os.path.lexists(cursor):
        missing.insert(0, cursor)
        cursor = cursor.parent
    created: list[str] = []
    if p.get("Create"):
        scenarios = _state.scenarios()
        for folder in missing:
            if "not_elevated" in scenarios:
                return _failure(
                    "error",
                    "create",
                    "This security ID may not be assigned as the owner of this object.",
                    INVALID_OWNER,
                )
            folder.mkdir(mode=0o700)  # what the descriptor means to a POSIX caller of the guard
            if "state_folder_race" in scenarios and folder == full:
                record(folder, program_data_inherited(owner=A_USER))
            else:
                record(folder, private_folder())
            created.append(str(folder))
    ancestors = [facts(a) for a in full.parents if os.path.lexists(a)]
    folder_facts = facts(full) if os.path.lexists(full) else {"path": str(full), "exists": False}
    return {
        "status": "ok",
        "path": str(full),
        "created": created,
        "folder": folder_facts,
        "ancestors": ancestors,
    }


def write_private_file(path: Path, data: bytes) -> dict[str, Any]:
    """The secret file as the register script writes it: CreateNew, with its descriptor from the start."""
    if "secret_acl_inherited" in _state.scenarios():
        entry = program_data_inherited() | {"rules": program_data_inherited()["rules"][:4]}
    else:
        entry = private_file()
    if os.path.lexists(path):
        os.unlink(path)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    record(path, entry)
    return facts(path)
