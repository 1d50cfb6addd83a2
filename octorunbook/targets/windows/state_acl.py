r"""The state folder's protection on Windows: created SYSTEM + Administrators only, or refused.

On POSIX the state home is checked with ``lstat`` (owner, mode 0700). On Windows the same promise is a
security descriptor, and only the host can read or write one, so :class:`WindowsFolderGuard` drives
``protect-state-folder.ps1`` through the command seam:

* **reading** (never changes anything): the owner and DACL of the folder and of every folder above it,
  as SIDs and numeric access masks (names and right names are translated on non-English Windows;
  SIDs and masks are not), parsed here once into :class:`SecurityFacts`;
* **creating** a missing folder with its final descriptor from the first moment —
  ``[IO.Directory]::CreateDirectory(path, DirectorySecurity)``: owner BUILTIN\Administrators, a
  protected DACL (nothing inherited from ProgramData, where Users may create files) granting full
  control to SYSTEM and Administrators only, inherited by everything created inside. What was created
  is read back and judged like any existing folder: CreateDirectory returns a folder another process
  made first without touching its security.

A folder is trusted only when it is not a link or junction, its owner is SYSTEM or Administrators,
its DACL is protected, and no allow rule gives any other SID a right to write, append, delete,
change permissions, take ownership or read file data (``home.key`` and the DPAPI secrets live there).
A folder above it must not let another account delete, rename or re-permission it (the Windows form
of "no component of the path writable by another user"). Anything else is ``STATE_DIR_UNSAFE`` before
a byte is read or written.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from octorunbook.targets.windows.powershell import hresult_is, run_script, script_details

from ...commands import CommandResult, CommandRunner
from ...findings import TargetError
from ..state import unsafe

SCRIPT = "protect-state-folder.ps1"

SYSTEM = "S-1-5-18"
ADMINISTRATORS = "S-1-5-32-544"
TRUSTED_INSTALLER = "S-1-5-80-956008885-3418522649-1831038044-1853292631-2271478464"
WELL_KNOWN = {
    SYSTEM: "SYSTEM",
    ADMINISTRATORS: "BUILTIN\\Administrators",
    "S-1-5-32-545": "BUILTIN\\Users",
    "S-1-5-11": "Authenticated Users",
    "S-1-1-0": "Everyone",
    "S-1-3-0": "CREATOR OWNER",
    "S-1-5-4": "INTERACTIVE",
    TRUSTED_INSTALLER: "TrustedInstaller",
}
PRIVATE = frozenset({SYSTEM, ADMINISTRATORS})
# A system folder above ours may also belong to TrustedInstaller (the drive root on recent Windows).
ANCESTOR_OWNERS = PRIVATE | {TRUSTED_INSTALLER}

# ACCESS_MASK bits (FileSystemRights and the generic rights an ACE may carry unmapped).
READ_DATA = 0x1
WRITE_DATA = 0x2  # CreateFiles on a folder
APPEND_DATA = 0x4  # CreateDirectories on a folder
WRITE_EXTENDED_ATTRIBUTES = 0x10
DELETE_CHILD = 0x40  # DeleteSubdirectoriesAndFiles
WRITE_ATTRIBUTES = 0x100
DELETE = 0x10000
WRITE_DAC = 0x40000  # ChangePermissions
WRITE_OWNER = 0x80000  # TakeOwnership
ACCESS_SYSTEM_SECURITY = 0x1000000
MAXIMUM_ALLOWED = 0x2000000
GENERIC_ALL = 0x10000000
GENERIC_WRITE = 0x40000000
GENERIC_READ = 0x80000000

# What nobody but SYSTEM and Administrators may hold on the state folder (or a file in it).
WRITE_RIGHTS = (
    WRITE_DATA | APPEND_DATA | WRITE_EXTENDED_ATTRIBUTES | DELETE_CHILD | WRITE_ATTRIBUTES | DELETE
    | WRITE_DAC | WRITE_OWNER | ACCESS_SYSTEM_SECURITY | MAXIMUM_ALLOWED | GENERIC_ALL | GENERIC_WRITE
)  # fmt: skip
READ_RIGHTS = READ_DATA | GENERIC_READ | GENERIC_ALL | MAXIMUM_ALLOWED
# What nobody else may hold on a folder above it: each lets the holder move our folder aside (or
# re-permission the parent until they can) and put one of their own in its place.
SWAP_RIGHTS = DELETE_CHILD | DELETE | WRITE_DAC | WRITE_OWNER | GENERIC_ALL | MAXIMUM_ALLOWED
INHERIT_ONLY = 0x2  # PropagationFlags.InheritOnly: the rule applies to children, not to this folder

_SID = re.compile(r"^S-1-\d+(-\d+)+$")
_DACL = re.compile(r"D:(.*?)(?=S:[A-Z]*\(|$)")
_ACE_TYPE = re.compile(r"\(([A-Z]{1,2});")
# E_ACCESSDENIED, ERROR_INVALID_OWNER ("This security ID may not be assigned as the owner"): both mean
# the session cannot make Administrators the owner, i.e. it is not elevated.
_NOT_ELEVATED = (0x80070005, 0x8007051B)

REMEDY = (
    "Someone other than SYSTEM or an administrator created or changed this folder, or a folder above "
    "it; it may hold files planted there. Look at what is in it (and at its owner: "
    '`icacls "{folder}"`), then move it aside, e.g. `Rename-Item "{folder}" '
    '"{name}.untrusted-$(Get-Date -Format yyyyMMddHHmmss)"`, and run again from an elevated session: '
    "octorunbook creates the folder again owned by Administrators with SYSTEM and Administrators as its "
    "only users. A folder above it that others can delete or re-permission needs the same care, or "
    "choose a state folder under %ProgramData%. Nothing was changed."
)


@dataclass(frozen=True)
class AccessRule:
    """One access control entry as the host reported it: who, which mask, allow or deny, how it applies."""

    sid: str
    rights: int
    allow: bool
    inherited: bool
    inherit_only: bool

    @classmethod
    def from_json(cls, data: Any) -> AccessRule:
        if not isinstance(data, Mapping):
            raise ValueError(f"an access rule is not an object: {data!r}")
        sid = str(data.get("sid") or "")
        kind = data.get("type")
        rights = data.get("rights")
        if not _SID.fullmatch(sid):
            raise ValueError(f"an access rule names no SID: {sid!r}")
        if kind not in ("Allow", "Deny"):
            raise ValueError(f"an access rule of unknown type {kind!r}")
        if not isinstance(rights, int) or isinstance(rights, bool):
            raise ValueError(f"an access rule without a numeric mask: {rights!r}")
        propagation = data.get("propagation", 0)
        return cls(
            sid=sid,
            rights=rights & 0xFFFFFFFF,  # .NET reports the mask as a signed 32-bit number
            allow=kind == "Allow",
            inherited=bool(data.get("inherited")),
            inherit_only=isinstance(propagation, int) and bool(propagation & INHERIT_ONLY),
        )

    @property
    def who(self) -> str:
        return WELL_KNOWN.get(self.sid, self.sid)


@dataclass(frozen=True)
class SecurityFacts:
    """The owner and DACL of one folder or file, parsed once from the script's JSON."""

    path: str
    exists: bool
    is_folder: bool
    reparse_point: bool
    owner_sid: str
    protected: bool
    rules: tuple[AccessRule, ...]
    ace_types: frozenset[str]

    @classmethod
    def from_json(cls, data: Any) -> SecurityFacts:
        if not isinstance(data, Mapping) or not isinstance(data.get("path"), str):
            raise ValueError("the folder facts are missing")
        exists = data.get("exists") is True
        raw_rules = data.get("rules") or []
        if isinstance(raw_rules, Mapping):  # 5.1 prints a one-element array as the element
            raw_rules = [raw_rules]
        if not isinstance(raw_rules, Sequence) or isinstance(raw_rules, str):
            raise ValueError("the access rules are not a list")
        owner = str(data.get("owner_sid") or "")
        reparse = data.get("reparse_point") is True
        if exists and not reparse and not _SID.fullmatch(owner):
            raise ValueError(f"the owner is not a SID: {owner!r}")
        dacl = _DACL.search(str(data.get("sddl") or ""))
        return cls(
            path=data["path"],
            exists=exists,
            is_folder=data.get("folder") is True,
            reparse_point=reparse,
            owner_sid=owner,
            protected=data.get("protected") is True,
            rules=tuple(AccessRule.from_json(r) for r in raw_rules),
            ace_types=frozenset(_ACE_TYPE.findall(dacl.group(1))) if dacl else frozenset(),
        )


@dataclass(frozen=True)
class FolderReport:
    """What ``protect-state-folder.ps1`` saw: the folder, every existing folder above it, what it made."""

    path: str
    folder: SecurityFacts
    ancestors: tuple[SecurityFacts, ...]
    created: tuple[str, ...]

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FolderReport:
        ancestors = data.get("ancestors") or []
        created = data.get("created") or []
        if isinstance(ancestors, Mapping):
            ancestors = [ancestors]
        if isinstance(created, str):
            created = [created]
        return cls(
            path=str(data.get("path") or ""),
            folder=SecurityFacts.from_json(data.get("folder")),
            ancestors=tuple(SecurityFacts.from_json(a) for a in ancestors),
            created=tuple(str(c) for c in created),
        )


FULL_CONTROL = 0x1F01FF
MODIFY = 0x301BF


def _names(mask: int) -> str:
    """The rights in ``mask`` in the words of the Security tab (Full control, Modify, ...)."""
    found = []
    for whole, name in ((FULL_CONTROL, "full control"), (MODIFY, "modify")):
        if mask & whole == whole:
            found.append(name)
            mask &= ~whole
            break
    bits = [
        (GENERIC_ALL, "full control (generic)"), (GENERIC_WRITE, "write (generic)"),
        (GENERIC_READ, "read (generic)"), (WRITE_DATA, "create files / write data"),
        (APPEND_DATA, "create folders / append data"), (DELETE_CHILD, "delete children"),
        (DELETE, "delete"), (WRITE_DAC, "change permissions"), (WRITE_OWNER, "take ownership"),
        (READ_DATA, "read data"), (WRITE_ATTRIBUTES, "write attributes"),
        (WRITE_EXTENDED_ATTRIBUTES, "write extended attributes"), (MAXIMUM_ALLOWED, "maximum allowed"),
        (ACCESS_SYSTEM_SECURITY, "system security"),
    ]  # fmt: skip
    found += [name for bit, name in bits if mask & bit]
    return ", ".join(found) or f"0x{mask:08X}"


def private_problems(facts: SecurityFacts) -> list[str]:
    """Why ``facts`` is not private to SYSTEM and Administrators (empty: it is)."""
    if facts.reparse_point:
        return [f"{facts.path} is a link or junction (octorunbook never follows one to its state)"]
    problems = []
    if facts.owner_sid not in PRIVATE:
        problems.append(
            f"it is owned by {WELL_KNOWN.get(facts.owner_sid, facts.owner_sid)}, not by Administrators or SYSTEM"
        )
    if not facts.protected:
        problems.append("its DACL is not protected: it inherits rules from the folder above")
    strange = sorted(facts.ace_types - {"A", "D"})
    if strange:
        problems.append(f"its DACL holds entries of a kind octorunbook does not judge ({', '.join(strange)})")
    for rule in facts.rules:
        if not rule.allow or rule.sid in PRIVATE:
            continue
        granted = rule.rights & (WRITE_RIGHTS | READ_RIGHTS)
        if granted:
            origin = "an inherited" if rule.inherited else "a"
            problems.append(f"{origin} rule gives {rule.who} {_names(rule.rights)}")
    return problems


def ancestor_problems(facts: SecurityFacts) -> list[str]:
    """Why another account could replace what lies below ``facts`` (empty: nobody can)."""
    if facts.reparse_point:
        return [f"{facts.path}, above it, is a link or junction"]
    problems = []
    if facts.owner_sid not in ANCESTOR_OWNERS:
        problems.append(
            f"{facts.path}, above it, is owned by {WELL_KNOWN.get(facts.owner_sid, facts.owner_sid)}"
        )
    for rule in facts.rules:
        if not rule.allow or rule.inherit_only or rule.sid in PRIVATE:
            continue
        granted = rule.rights & SWAP_RIGHTS
        if granted:
            problems.append(f"{facts.path}, above it, gives {rule.who} {_names(rule.rights)}")
    return problems


def refuse(folder: Path, problems: Sequence[str], details: Mapping[str, Any] | None = None) -> TargetError:
    """``STATE_DIR_UNSAFE`` (the message of :func:`state.unsafe`) with a Windows remedy."""
    why = "; ".join(problems)
    base = unsafe(folder, why)
    remedy = REMEDY.format(folder=folder, name=Path(str(folder).replace("\\", "/")).name)
    return TargetError(
        base.code,
        base.message,
        remedy,
        details={**base.finding.details, "why": list(problems), **(details or {})},
    )


class WindowsFolderGuard:
    """:class:`~octorunbook.targets.state.FolderGuard` for Windows, through ``protect-state-folder.ps1``."""

    def __init__(self, runner: CommandRunner) -> None:
        self._runner = runner

    def inspect(self, folder: Path) -> FolderReport:
        """Owner and DACL of ``folder`` and the folders above it; changes nothing."""
        return self._run(folder, create=False)

    def protect(self, folder: Path) -> None:
        """Create ``folder`` SYSTEM + Administrators only, or prove it already is; else ``STATE_DIR_UNSAFE``."""
        report = self.inspect(folder)
        self._judge_ancestors(folder, report)
        if not report.folder.exists:
            report = self._run(folder, create=True)
            self._judge_ancestors(folder, report)
            if not report.folder.exists:
                raise refuse(folder, ["it was not there after it was created"])
        problems = private_problems(report.folder)
        if not report.folder.is_folder and not report.folder.reparse_point:
            problems.insert(0, "it is a file, not a folder")
        if problems:
            raise refuse(folder, problems, {"created": list(report.created)})

    def _judge_ancestors(self, folder: Path, report: FolderReport) -> None:
        problems = [p for facts in report.ancestors for p in ancestor_problems(facts)]
        if problems:
            raise refuse(folder, problems)

    def _run(self, folder: Path, *, create: bool) -> FolderReport:
        arguments = ["-Path", str(folder)] + (["-Create"] if create else [])
        data, result = run_script(
            self._runner,
            SCRIPT,
            arguments,
            label="create the state folder (SYSTEM and Administrators only)"
            if create
            else "read the state folder's owner and ACL",
            mutating=create,
        )
        if data["status"] != "ok":
            raise _failure(folder, data, result, create)
        try:
            return FolderReport.from_json(data)
        except ValueError as exc:
            raise refuse(
                folder, [f"its owner and ACL could not be read ({exc})"], script_details(result, data)
            ) from None


def _failure(folder: Path, data: Mapping[str, Any], result: CommandResult, create: bool) -> TargetError:
    denied = data["status"] == "not_elevated" or any(
        hresult_is(data.get("hresult"), h) for h in _NOT_ELEVATED
    )
    message = str(data.get("message") or "no message")
    if denied and create:
        return TargetError(
            "NOT_ELEVATED",
            f"Windows refused to create the state folder {folder} owned by Administrators ({message}): "
            "only an elevated session may give a folder to the Administrators group.",
            "Start JupyterLab (or the terminal running octorunbook) with 'Run as administrator' and run again. "
            "Nothing was changed.",
            details=script_details(result, data),
        )
    if denied:
        # An elevated administrator is refused too when the folder's DACL leaves Administrators out and
        # someone else owns it: either way, nothing in it can be trusted or even inspected.
        message = (
            f"access denied: the session is not elevated, or the folder keeps Administrators out; {message}"
        )
    action = "set" if create else "read"
    return refuse(
        folder, [f"its owner and ACL could not be {action} ({message})"], script_details(result, data)
    )


__all__ = [
    "ADMINISTRATORS",
    "SYSTEM",
    "AccessRule",
    "FolderReport",
    "SecurityFacts",
    "WindowsFolderGuard",
    "ancestor_problems",
    "private_problems",
    "refuse",
]
