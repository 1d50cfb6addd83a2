"""Bytes on disk in a protected folder: written without following links, read bounded, leftovers cleared.

The file-level half of :mod:`.state` (which owns the folders and what the files mean). Every write goes
through a temporary file created ``O_CREAT | O_EXCL | O_NOFOLLOW`` with mode 0600 beside its target,
fsync'd, renamed into place (``rename`` replaces a planted link itself, never what it points at) and the
folder fsync'd; an ``exclusive`` write creates the file itself that way and fails if anything — a link
included — is already there. Every read opens ``O_NOFOLLOW`` and checks the opened descriptor: a regular
file, ours, writable by nobody else, one link; a *secret* (a private key) also readable by nobody else.

The temporary file's name carries the writer's pid (``.<name>.<pid>.<hex>.tmp``): a write cut short by
``kill -9`` leaves one behind, and :func:`clean_leftovers` removes it later — only a regular file of ours
with that shape whose writer is gone; never a link, never anything else.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import stat
import time
from pathlib import Path

O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
O_BINARY = getattr(os, "O_BINARY", 0)
O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_LEFTOVER = re.compile(r"^\.(?P<name>[^/\\]+?)\.(?:(?P<pid>[0-9]{1,10})\.)?[0-9a-f]{12}\.tmp$")
LEFTOVER_AGE = 30.0  # a write takes milliseconds: older than this and its writer gone, it was cut short
UNNAMED_LEFTOVER_AGE = (
    3600.0  # a temporary file of an older octorunbook (no pid in its name) this old is dead
)


class Refused(Exception):
    """A file on disk that is not ours to trust (the reason is the message)."""


def check_opened(fd: int, *, secret: bool = False) -> os.stat_result:
    """Refuse an opened file that is not a regular file of ours, private to us (``secret``: unreadable too)."""
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        raise Refused("it is not a regular file")
    if os.name != "nt":
        mode = stat.S_IMODE(info.st_mode)
        if info.st_uid != os.geteuid():
            raise Refused(f"it belongs to uid {info.st_uid}, not to uid {os.geteuid()}")
        if mode & 0o022:
            raise Refused(f"it is writable by other users (mode {mode:04o})")
        if secret and mode & 0o077:
            raise Refused(f"it is a secret readable by other users (mode {mode:04o})")
        if info.st_nlink > 1:
            raise Refused("it has other hard links")
    return info


def temporary_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(6)}.tmp")


def write_bytes(folder: Path, path: Path, data: bytes, *, exclusive: bool = False) -> None:
    """``data`` as ``path`` (in ``folder``), 0600, durably; never through a link.

    ``exclusive``: create ``path`` itself, ``FileExistsError`` if anything (a link too) is there already."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | O_NOFOLLOW | O_BINARY | O_CLOEXEC
    if exclusive:
        fd = os.open(path, flags, 0o600)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(path)
            raise
        fsync_folder(folder)
        return
    tmp = temporary_name(path)
    fd = os.open(tmp, flags, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)  # replaces a planted link itself, never what it points at
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_folder(folder)


def read_bytes(path: Path, limit: int, *, secret: bool = False) -> bytes:
    """At most ``limit`` bytes of ``path``, opened without following a link and checked once open.

    ``FileNotFoundError`` when absent; :class:`Refused` (the reason) for anything not ours to trust."""
    flags = os.O_RDONLY | O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0) | O_BINARY | O_CLOEXEC
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise
    except OSError as exc:
        if os.path.islink(path):
            raise Refused("it is a link") from None
        raise Refused(f"it cannot be opened ({exc.strerror})") from None
    try:
        info = check_opened(fd, secret=secret)
        if info.st_size > limit:
            raise Refused(f"it is {info.st_size} bytes, more than such a file holds")
        data = os.read(fd, limit + 1)
        if len(data) > limit:
            raise Refused("it grew past the size such a file holds")
        return data
    finally:
        os.close(fd)


def fsync_folder(folder: Path) -> None:
    if os.name == "nt":  # NTFS has no folder handles to fsync; MoveFileEx is durable
        return
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _writer_gone(pid: int) -> bool:
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # another user's process (EPERM): alive
        return False
    return False


def clean_leftovers(folder: Path) -> list[Path]:
    """Remove the temporary files a killed write left in ``folder``; what was removed.

    Only names of :func:`temporary_name`'s shape, only regular files (``lstat``: a link is left alone)
    owned by us, older than :data:`LEFTOVER_AGE` and whose writer (the pid in the name) is gone — the age
    too, because a writer in another pid namespace sharing the folder looks gone; a name without a pid
    (an older octorunbook's) when older than :data:`UNNAMED_LEFTOVER_AGE`. A live write is never touched."""
    removed: list[Path] = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        match = _LEFTOVER.fullmatch(name)
        if not match:
            continue
        path = folder / name
        try:
            info = os.lstat(path)
        except OSError:
            continue
        if not stat.S_ISREG(info.st_mode) or (os.name != "nt" and info.st_uid != os.geteuid()):
            continue
        pid, age = match.group("pid"), time.time() - info.st_mtime
        dead = (age > LEFTOVER_AGE and _writer_gone(int(pid))) if pid else age > UNNAMED_LEFTOVER_AGE
        if dead:
            with contextlib.suppress(OSError):
                os.unlink(path)  # unlink removes the name: it never follows anything
                removed.append(path)
    if removed:
        fsync_folder(folder)
    return removed


def peek(path: Path, limit: int) -> str:
    """Up to ``limit`` characters of a quarantined file, never following a link, never blocking."""
    try:
        fd = os.open(path, os.O_RDONLY | O_NOFOLLOW | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return "(a link or unreadable)" if os.path.lexists(path) else ""
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return "(not a regular file)"
        return os.read(fd, limit).decode("utf-8", "replace")
    finally:
        os.close(fd)


__all__ = [
    "Refused",
    "check_opened",
    "clean_leftovers",
    "fsync_folder",
    "peek",
    "read_bytes",
    "temporary_name",
    "write_bytes",
]
