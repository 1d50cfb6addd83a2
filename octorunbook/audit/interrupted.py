"""Notebooks left in ``.in-progress/``: a killed run's (chained next), a live run's, or nobody's we trust.

``octorunbook run`` writes each executing notebook to ``audit_dir/.in-progress/<runbook>-<pid>.ipynb``
(redacted on every save, with its claim beside it: :mod:`.claims`) and moves it into the chain when the
run ends. A run killed hard (``kill -9``, a power cut) leaves both behind. Each entry is judged here:

* **running** — its writer still exists: the pid its claim names (or, without a valid claim, the pid in
  its name) is alive and, where ``/proc`` says, runs as the file's owner. Left alone. A pid reused by an
  unrelated process of the same user only delays the judgement; it never hides the file.
* **claimed** — its writer is gone, its claim verifies with this operator's key, names this folder and
  notebook and a hash equal to the file's, the file is a regular file of ours that nobody else can write,
  and the claim was not settled before. The next run chains it (status ``interrupted``) from the very
  bytes that were hashed.
* **untrusted** — anything else: no claim, a bad MAC, a hash mismatch, a link, a FIFO, a file of another
  user or writable by others, a name no run writes, a claim already chained. Set aside into
  ``quarantine/`` by the next run (:mod:`.quarantine`), reported as ``STATE_UNTRUSTED``, never chained.
* **unchecked** — for a reader without the claim key (an auditor's ``audit list``/``verify``): shown as
  interrupted, with the reason it could not be checked.

Hidden names (``.x``) are a writer's temporary files and are neither judged nor chained. A claim whose
notebook is gone (a run killed between removing the two) is a *leftover*, removed by the next run.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from octorunbook.files import MAX_RECORD_FILE

from .claims import CLAIM_SUFFIX, IN_PROGRESS, MAX_CLAIM, Claim, claim_name, existing_claim_key, unseal
from .folder import Folder, NotAFolder, kind

_NAME = re.compile(r"^(?P<runbook>.+)-(?P<pid>\d+)\.ipynb$")
Trust = Literal["claimed", "untrusted", "unchecked", "leftover"]


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    if os.name == "posix":
        try:
            os.kill(pid, 0)  # signal 0: existence check only
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    import psutil  # type: ignore[import-untyped]  # os.kill(pid, 0) on Windows sends CTRL+C

    return bool(psutil.pid_exists(pid))


def writer_alive(pid: int | None, owner: int) -> bool:
    """``pid`` exists and, where ``/proc`` tells, runs as ``owner`` (the file's uid): a file another
    user names after one of root's processes is not kept alive by it."""
    if pid is None or not _pid_alive(pid):
        return False
    try:
        return os.stat(f"/proc/{pid}").st_uid == owner
    except OSError:  # no /proc (Windows, macOS) or the process just ended
        return True


@dataclass(frozen=True)
class InProgress:
    """One entry of ``.in-progress/`` and the verdict on it."""

    path: Path
    runbook: str
    pid: int | None
    alive: bool
    modified: datetime
    trust: Trust = "unchecked"
    why: str = ""
    data: bytes | None = None  # the bytes the claim vouches for (claimed, not alive)
    claim_id: str = ""
    identity: tuple[int, int] | None = None  # (device, inode) of the file that was read

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def relative(self) -> str:
        """Its name as an operator finds it, relative to the audit folder."""
        return IN_PROGRESS if self.runbook == IN_PROGRESS else f"{IN_PROGRESS}/{self.path.name}"

    @property
    def companions(self) -> list[str]:
        """The names that go with this entry when it is moved or removed (its claim)."""
        return [self.name, claim_name(self.name)] if self.name.endswith(".ipynb") else [self.name]

    def describe(self) -> str:
        who = f"pid {self.pid}" if self.pid else "an unknown process"
        text = (
            f"{self.runbook} run by {who} stopped before storing its record (last saved "
            f"{self.modified:%Y-%m-%dT%H:%M:%SZ}); the next run chains it as an interrupted record"
        )
        return f"{text} if its claim holds ({self.why})" if self.trust == "unchecked" and self.why else text


def _file_problem(info: os.stat_result, *, owner_matters: bool) -> str:
    if not stat.S_ISREG(info.st_mode):
        return f"it is {kind(info.st_mode)}"
    if os.name == "nt":
        return ""
    if owner_matters and info.st_uid != os.geteuid():
        return f"it belongs to uid {info.st_uid}, not to uid {os.geteuid()} who runs octorunbook"
    if stat.S_IMODE(info.st_mode) & 0o022:
        return f"it is writable by other users (mode {stat.S_IMODE(info.st_mode):04o})"
    if info.st_nlink > 1:
        return "it has other hard links"
    return ""


class _Judge:
    """Judges the entries of one opened ``.in-progress`` folder (see the module docstring)."""

    def __init__(
        self, scratch: Folder, key: bytes | None, no_key: str, settled: Callable[[str], bool]
    ) -> None:
        self.scratch = scratch
        self.audit_dir = os.path.realpath(scratch.path.parent)
        self.key, self.no_key, self.settled = key, no_key, settled

    def entry(self, name: str, names: set[str]) -> InProgress | None:
        if name.startswith("."):
            return None
        path = self.scratch.path / name
        match = _NAME.match(name)
        pid = int(match.group("pid")) if match else None
        runbook = match.group("runbook") if match else name.removesuffix(".ipynb")
        try:
            info = self.scratch.lstat(name)
        except FileNotFoundError:  # stored (and removed) while we looked
            return None
        modified = datetime.fromtimestamp(info.st_mtime, UTC)
        base = InProgress(path, runbook, pid, False, modified)

        def verdict(trust: Trust, why: str = "", **more: object) -> InProgress:
            return replace(base, trust=trust, why=why, **more)  # type: ignore[arg-type]

        if name.endswith(CLAIM_SUFFIX) and name.removesuffix(CLAIM_SUFFIX).endswith(".ipynb"):
            if name.removesuffix(CLAIM_SUFFIX) in names:
                return None  # judged with its notebook
            alive = stat.S_ISREG(info.st_mode) and writer_alive(_pid_of(name), info.st_uid)
            return None if alive else verdict("leftover", "a claim whose notebook is gone")
        if not name.endswith(".ipynb"):
            return verdict("untrusted", f"it is {kind(info.st_mode)} whose name no run writes")
        if not stat.S_ISREG(info.st_mode):
            return verdict("untrusted", f"it is {kind(info.st_mode)}")
        claim, claim_why = self._claim(name)
        unchecked = claim is None and self.key is None and claim_why == self.no_key
        if claim is not None:
            pid = claim.pid
        if writer_alive(pid, info.st_uid):
            return verdict("claimed" if claim else "unchecked", claim_why, pid=pid, alive=True)
        problem = _file_problem(info, owner_matters=self.key is not None)
        if problem:
            return verdict("untrusted", problem, pid=pid)
        if claim is None:
            return verdict("unchecked" if unchecked else "untrusted", claim_why, pid=pid)
        return self._against_claim(name, claim, verdict)

    def _claim(self, name: str) -> tuple[Claim | None, str]:
        """The verified claim of notebook ``name``, or None and why not (``no_key`` when only the key
        is missing: the claim may well hold)."""
        try:
            raw, info = self.scratch.read(claim_name(name), MAX_CLAIM)
        except FileNotFoundError:
            return None, "it has no claim: no run of this operator wrote it"
        except OSError as exc:
            why = "it is a link" if exc.errno == errno.ELOOP else (exc.strerror or "unreadable")
            return None, f"its claim cannot be used ({why})"
        except ValueError as exc:
            return None, f"its claim cannot be used ({exc})"
        problem = _file_problem(info, owner_matters=self.key is not None)
        if problem:
            return None, f"its claim cannot be used ({problem})"
        if self.key is None:
            return None, self.no_key
        try:
            return unseal(self.key, raw, audit_dir=self.audit_dir, notebook=name), ""
        except ValueError as exc:
            return None, str(exc)

    def _against_claim(self, name: str, claim: Claim, verdict: Callable[..., InProgress]) -> InProgress:
        try:
            data, info = self.scratch.read(name, MAX_RECORD_FILE)
        except FileNotFoundError:
            return verdict("leftover", "gone while it was judged")
        except OSError as exc:
            why = "it is a link" if exc.errno == errno.ELOOP else f"it cannot be read ({exc.strerror})"
            return verdict("untrusted", why, pid=claim.pid)
        except ValueError as exc:
            return verdict("untrusted", str(exc), pid=claim.pid)
        problem = _file_problem(info, owner_matters=True)
        if problem:
            return verdict("untrusted", problem, pid=claim.pid)
        if hashlib.sha256(data).hexdigest() not in claim.sha256:
            return verdict(
                "untrusted",
                "its content does not match the last save its run claimed (changed after the run wrote it)",
                pid=claim.pid,
            )
        if claim.uid != info.st_uid:
            return verdict("untrusted", "its claim names another writer", pid=claim.pid)
        if self.settled(claim.claim_id):
            return verdict(
                "untrusted",
                "its claim was chained already (a copy put back, or left by a run killed after storing it)",
                pid=claim.pid,
            )
        return verdict(
            "claimed", pid=claim.pid, data=data, claim_id=claim.claim_id, identity=(info.st_dev, info.st_ino)
        )


def _pid_of(name: str) -> int | None:
    match = _NAME.match(name.removesuffix(CLAIM_SUFFIX))
    return int(match.group("pid")) if match else None


def judge(
    scratch: Folder, key: bytes | None, settled: Callable[[str], bool], *, no_key: str = ""
) -> list[InProgress]:
    """Every entry of the opened ``.in-progress`` folder with its verdict, oldest first."""
    judge = _Judge(scratch, key, no_key, settled)
    try:
        names = scratch.names()
    except OSError:
        return []
    present = set(names)
    found = [entry for name in names if (entry := judge.entry(name, present)) is not None]
    return sorted(found, key=lambda item: item.modified)


def folder_verdict(audit_dir: Path) -> InProgress:
    """``.in-progress`` itself, when it is a link or not a folder: untrusted, nothing in it is read."""
    path = audit_dir / IN_PROGRESS
    try:
        info = os.lstat(path)
        why = f"it is {kind(info.st_mode)}, not the folder a run writes"
        modified = datetime.fromtimestamp(info.st_mtime, UTC)
    except OSError:
        why, modified = "it cannot be looked at", datetime.now(UTC)
    return InProgress(path, IN_PROGRESS, None, False, modified, "untrusted", why)


def scan_in_progress(audit_dir: Path, settled: Callable[[str], bool] = lambda _: False) -> list[InProgress]:
    """For readers (``audit list``/``verify``): every entry judged with this user's key if there is
    one (never made here); nothing is moved. A link as ``.in-progress`` is one untrusted entry."""
    try:
        scratch = Folder(audit_dir / IN_PROGRESS)
    except NotAFolder:
        return [folder_verdict(audit_dir)]
    except OSError:
        return []
    key, no_key = existing_claim_key()
    with scratch, contextlib.suppress(OSError):
        return judge(scratch, key, settled, no_key=no_key)
    return []
