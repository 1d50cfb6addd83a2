"""One change at a time per target instance: an OS file lock, held by a run or by a whole procedure.

The operating system drops the lock when its process dies, so a killed run never blocks the next one
and no process id has to be probed (``os.kill(pid, 0)`` would send Ctrl+C on Windows). Beside the
lock, ``lock-<instance>.json`` says who holds it; finding that file while the lock is free means the
previous holder was killed, which is reported.

A *procedure* (``octorunbook run``, the form's Continue) holds the lock for 01 → 02 → 03 and runs each
notebook in a kernel it starts. Those kernels must not wait on their own procedure's lock, and nothing
else may walk in on it, so a kernel *joins* the held lock only when all three hold:

* it has the procedure's token (``OCTORUNBOOK_LOCK_TOKEN``, random per procedure, in the kernel's
  environment only — the lock file keeps just its SHA-256, so reading the file does not give it away);
* the token's hash is the one the *current* holder wrote (a token from an earlier procedure is stale);
* the holder is this process's parent (papermill started the kernel), and the OS lock is held.
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import hmac
import json
import os
import secrets
import socket
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..findings import TargetError

TOKEN_ENV = "OCTORUNBOOK_LOCK_TOKEN"


def operator_name() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user name in some containers
        return str(os.getuid()) if hasattr(os, "getuid") else "unknown"


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class TargetLock:
    """The per-instance lock: ``acquire`` takes it (or joins the procedure holding it), ``release`` frees it."""

    _held_here: dict[str, TargetLock] = {}  # lock file -> the lock this process holds on it

    def __init__(self, state_dir: Path, instance: str, runbook: str) -> None:
        self.path = state_dir / f"lock-{instance}.json"
        self.lock_path = state_dir / f"lock-{instance}.lock"
        self.runbook = runbook
        self.held = False
        self.joined = False  # this run belongs to the procedure that holds the lock
        self.stale_note: str = ""
        self.token = ""  # set when acquired for a procedure: handed to its kernels only
        self._handle: Any = None

    def acquire(self, *, procedure: bool = False, first: str = "") -> None:
        """Take the lock; ``procedure`` holds it for several runs (``first`` reports a stale lock)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        previous = TargetLock._held_here.get(str(self.lock_path))
        took_over = previous is not None and not previous.token
        if previous is not None and took_over:  # a cell was run again in this process: take it over
            previous._release_os_lock()
        handle = open(self.lock_path, "a+b")  # noqa: SIM115 - held open for the run's lifetime
        if not _try_lock(handle):
            handle.close()
            holder = self._read()
            if not procedure and self._may_join(holder):
                self.joined = True
                if holder.get("first") == self.runbook:
                    self.stale_note = str(holder.get("stale_note", ""))
                return
            raise TargetError(
                "TARGET_BUSY",
                f"Another run is changing this target: {holder.get('runbook', 'unknown runbook')} by "
                f"{holder.get('operator', 'unknown')} (pid {holder.get('pid', '?')} on {holder.get('host', '?')}) "
                f"since {holder.get('since', '?')}.",
                "Wait for it to finish; nothing was changed by this run.",
            )
        holder = self._read()
        if holder and not took_over:
            self.stale_note = (
                f"A lock left by {holder.get('runbook')} (pid {holder.get('pid')}, {holder.get('operator')}, since "
                f"{holder.get('since')}) was found, but its process no longer holds it (killed or crashed). "
                "Check the target's state in the plan below."
            )
        info: dict[str, Any] = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "runbook": self.runbook,
            "operator": operator_name(),
            "since": _now(),
        }
        if procedure:
            self.token = secrets.token_urlsafe(32)
            info.update(token_sha256=_digest(self.token), first=first, stale_note=self.stale_note)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(info))
        tmp.replace(self.path)
        self._handle = handle
        self.held = True
        TargetLock._held_here[str(self.lock_path)] = self

    def _may_join(self, holder: dict[str, Any]) -> bool:
        token = os.environ.get(TOKEN_ENV, "")
        expected = str(holder.get("token_sha256", ""))
        return (
            bool(token and expected)
            and hmac.compare_digest(_digest(token), expected)
            and holder.get("pid") == os.getppid()
            and holder.get("host") == socket.gethostname()
        )

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text())
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _release_os_lock(self) -> None:
        if self._handle is not None:
            with contextlib.suppress(OSError):
                self._handle.close()  # closing the handle releases the OS lock
            self._handle = None
        self.held = False
        if TargetLock._held_here.get(str(self.lock_path)) is self:
            del TargetLock._held_here[str(self.lock_path)]

    def release(self) -> None:
        """Free the lock this run took; a run that joined its procedure's lock leaves it to the procedure."""
        if self.held:
            with contextlib.suppress(FileNotFoundError):
                self.path.unlink()
        self._release_os_lock()
        self.token = ""

    def child_environment(self) -> dict[str, str]:
        """What a kernel started by this procedure needs to join the lock (nothing if not a procedure)."""
        return {TOKEN_ENV: self.token} if self.held and self.token else {}


def _try_lock(handle: Any) -> bool:
    """Take an exclusive, non-blocking OS lock on ``handle``; False when another process has it."""
    try:
        if os.name == "nt":
            import msvcrt

            handle.seek(0)
            msvcrt.locking(handle.fileno(), msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]
        else:
            import fcntl

            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True
