"""One change at a time per target instance: an OS file lock, held by a run or by a whole procedure.

The operating system drops the lock when its process dies, so a killed run never blocks the next one
and no process id has to be probed (``os.kill(pid, 0)`` would send Ctrl+C on Windows). Beside the
lock, an authenticated ``lock-….json`` in the target's state home says who holds it; finding that file while the lock is free means the
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
import os
import secrets
import socket
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..findings import TargetError
from .state import StateHome, normalised_instance, slug

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


def lock_keys(instance: str, https_port: int) -> list[str]:
    """What a change holds: the instance (however it is spelled) and the TLS endpoint it serves."""
    return [f"instance {normalised_instance(instance)}", f"port {https_port}"]


def holder_name(instance: str) -> str:
    """The file in the state home that says who holds ``instance``'s lock (for operators and tests)."""
    return f"lock-{slug('instance ' + normalised_instance(instance))}.json"


class TargetLock:
    """The target's lock: ``acquire`` takes it (or joins the procedure holding it), ``release`` frees it.

    It is keyed by what changes, not by how the operator spelled it: the instance (case-insensitive, as
    Windows names services) and the TLS endpoint. Each key is one OS lock in the target's state home;
    a run holds all of them or none, so two spellings of one target, or two instances on one port,
    wait for each other."""

    _held_here: dict[str, TargetLock] = {}  # first lock file -> the lock this process holds on it

    def __init__(self, home: StateHome, keys: Sequence[str], runbook: str) -> None:
        if not keys:
            raise ValueError("a lock needs at least one key")
        self.home = StateHome(home.root, "locks")  # one holder format for every instance on this host
        self.names = [f"lock-{slug(key)}" for key in dict.fromkeys(keys)]
        self.info_name = self.names[0] + ".json"
        self.lock_path = home.root / (self.names[0] + ".lock")
        self.path = home.root / self.info_name
        self.runbook = runbook
        self.held = False
        self.joined = False  # this run belongs to the procedure that holds the lock
        self.stale_note: str = ""
        self.token = ""  # set when acquired for a procedure: handed to its kernels only
        self._fds: list[int] = []

    @classmethod
    def for_instance(cls, state_dir: Path, instance: str, runbook: str, https_port: int = 443) -> TargetLock:
        """The lock of ``instance`` serving ``https_port``, in the state home at ``state_dir`` (checked)."""
        home = StateHome.open(state_dir, "locks")
        return cls(home, lock_keys(instance, https_port), runbook)

    def acquire(self, *, procedure: bool = False, first: str = "") -> None:
        """Take the lock; ``procedure`` holds it for several runs (``first`` reports a stale lock)."""
        previous = TargetLock._held_here.get(str(self.lock_path))
        took_over = previous is not None and not previous.token
        if previous is not None and took_over:  # a cell was run again in this process: take it over
            previous._release_os_lock()
        fds: list[int] = []
        for name in self.names:
            fd = self.home.open_lock(name + ".lock")
            fds.append(fd)
            if not try_lock(fd):
                for held in fds:
                    os.close(held)  # closing releases the ones taken so far
                holder = self._read()
                if not procedure and self._may_join(holder):
                    self.joined = True
                    if holder.get("first") == self.runbook:
                        self.stale_note = str(holder.get("stale_note", ""))
                    return
                raise TargetError(
                    "TARGET_BUSY",
                    f"Another run is changing this target: {holder.get('runbook', 'unknown runbook')} by "
                    f"{holder.get('operator', 'unknown')} (pid {holder.get('pid', '?')} on "
                    f"{holder.get('host', '?')}) since {holder.get('since', '?')}.",
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
        self._fds = fds
        self.held = True
        TargetLock._held_here[str(self.lock_path)] = self
        for name in self.names:  # a run locked out by any one key can say who holds it
            self.home.write(name + ".json", "lock-holder", info)

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
        """Who holds (or held) the lock: authenticated, or nothing (an untrusted file is quarantined)."""
        for name in self.names:
            try:
                found = self.home.read(name + ".json", "lock-holder")
            except TargetError:
                continue
            if found:
                return found
        return {}

    def _release_os_lock(self) -> None:
        for fd in self._fds:
            with contextlib.suppress(OSError):
                os.close(fd)  # closing the descriptor releases the OS lock
        self._fds = []
        self.held = False
        if TargetLock._held_here.get(str(self.lock_path)) is self:
            del TargetLock._held_here[str(self.lock_path)]

    def release(self) -> None:
        """Free the lock this run took; a run that joined its procedure's lock leaves it to the procedure."""
        if self.held:
            for name in self.names:
                self.home.remove(name + ".json")
        self._release_os_lock()
        self.token = ""

    def child_environment(self) -> dict[str, str]:
        """What a kernel started by this procedure needs to join the lock (nothing if not a procedure)."""
        return {TOKEN_ENV: self.token} if self.held and self.token else {}


def try_lock(fd: int) -> bool:
    """Take an exclusive, non-blocking OS lock on ``fd``; False when another process has it."""
    try:
        if os.name == "nt":
            import msvcrt

            os.lseek(fd, 0, os.SEEK_SET)
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)  # type: ignore[attr-defined]
        else:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True
