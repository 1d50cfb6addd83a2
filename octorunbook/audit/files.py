"""How the audit directory's files are written: who may read them, atomically, one writer at a time.

**Modes** (POSIX). A record says which certificate was bound where, by whom, and how the server is
configured; it holds no secret, but it is nobody else's business either. Records, their HTML, the
manifest, the lock file and the running notebook in ``.in-progress/`` are ``0640`` when the audit
folder's group is *meaningfully shared* and ``0600`` otherwise, from their first byte (created with
that mode, ``O_EXCL``, never chmod'ed after the data is in). A group is meaningfully shared when it is
not the writer's user-private group: its name differs from the writer's user name, or it lists other
members (for example an ``octopus-auditors`` group an administrator gave the folder with ``chgrp`` and
``chmod g+s``). On a system with user-private groups (Debian, Ubuntu, Fedora, RHEL) the default folder
group is the user's own, so records are ``0600`` unless someone chose to share them. The umask can
only narrow these modes; an existing wider file is narrowed on the next write.

Folders octorunbook creates (the audit folder and its missing parents, ``.in-progress/``,
``quarantine/``) are ``0750`` when the group the new folder gets is one somebody chose — the user's
own private group, the group of a parent folder with the set-group-id bit (an administrator's), or a
group that lists the user as a member — and ``0700`` when it is only a catch-all primary group such as
``users`` or ``nogroup``, or has no name: read access for such a group would be read access for
strangers. Existing folders keep their mode: that is the administrator's choice. On Windows the files
inherit the folder's ACL (``%ProgramData%`` by default).
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

DIR_MODE = 0o750
PRIVATE_DIR_MODE = 0o700
SHARED_FILE_MODE = 0o640
PRIVATE_FILE_MODE = 0o600
LOCK_NAME = ".manifest.lock"
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def group_is_shared(directory: Path) -> bool:
    """True when ``directory``'s group is a group of people, not the writer's user-private group."""
    if os.name != "posix":
        return False
    import grp
    import pwd

    gid = directory.stat().st_gid
    try:
        group = grp.getgrgid(gid)
        user = pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:  # a group or user with no name: nobody to share with knowingly
        return False
    return group.gr_name != user or bool(set(group.gr_mem) - {user})


def file_mode(directory: Path) -> int:
    """The mode for a file written into ``directory`` (see the module docstring)."""
    return SHARED_FILE_MODE if group_is_shared(directory) else PRIVATE_FILE_MODE


def dir_mode(parent: Path) -> int:
    """The mode for a folder created in ``parent``: 0750 for a group somebody chose, else 0700."""
    if os.name != "posix":
        return DIR_MODE
    import grp
    import pwd

    info = parent.stat()
    inherited = bool(info.st_mode & stat.S_ISGID)
    try:
        group = grp.getgrgid(info.st_gid if inherited else os.getegid())
        user = pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:  # a group or user with no name: nobody to share with knowingly
        return PRIVATE_DIR_MODE
    chosen = inherited or group.gr_name == user or user in group.gr_mem
    return DIR_MODE if chosen else PRIVATE_DIR_MODE


def make_dir(path: Path) -> None:
    """Create ``path`` and each missing parent with :func:`dir_mode`; existing folders are left as
    they are (``mkdir -p`` would give the parents the umask's default instead)."""
    missing = []
    current = path
    while not current.is_dir():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for folder in reversed(missing):
        try:
            os.mkdir(folder, dir_mode(folder.parent))
        except FileExistsError:
            if not folder.is_dir():
                raise


def narrow(fd: int, mode: int) -> None:
    """Take away permission bits beyond ``mode`` from an open file (never adds any)."""
    if os.name == "posix":
        current = stat.S_IMODE(os.fstat(fd).st_mode)
        if current & ~mode:
            os.fchmod(fd, current & mode)


def _create_temp(path: Path, mode: int) -> tuple[Path, int]:
    """A new hidden temporary file beside ``path``, created with ``mode``: never an existing file or link."""
    tmp = path.with_name(f".{path.name}.{os.urandom(6).hex()}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | getattr(os, "O_BINARY", 0)
    return tmp, os.open(tmp, flags, mode)


def write_replacing(path: Path, data: bytes, mode: int) -> None:
    """Temp file created with ``mode`` + ``os.replace``, without fsync: for the saves of a running
    notebook (thirty a run), where a reader must never see half a file but a power cut may lose the
    last save. ``os.replace`` replaces a link planted at ``path`` itself, never what it points at."""
    tmp, fd = _create_temp(path, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_atomic(path: Path, data: bytes, mode: int) -> None:
    """Temp file + ``os.replace``: a reader (or a crash) never sees half a record."""
    tmp, fd = _create_temp(path, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def append_line(path: Path, line: bytes, mode: int) -> None:
    """Append one line durably (fsync), creating the file with ``mode``."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | getattr(os, "O_BINARY", 0), mode)
    with os.fdopen(fd, "ab") as handle:
        narrow(handle.fileno(), mode)
        handle.write(line)
        handle.flush()
        os.fsync(handle.fileno())


if sys.platform == "win32":
    import msvcrt

    def _lock(fd: int, take: bool) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        while True:
            try:
                msvcrt.locking(fd, msvcrt.LK_LOCK if take else msvcrt.LK_UNLCK, 1)
                return
            except OSError:  # LK_LOCK gives up after ~10 s; a writer waits on, its record matters
                if not take:
                    raise

else:
    import fcntl

    def _lock(fd: int, take: bool) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX if take else fcntl.LOCK_UN)


@contextmanager
def manifest_lock(audit_dir: Path, mode: int) -> Iterator[None]:
    """Serialise writers, across threads and processes, so two runs cannot interleave the chain."""
    fd = os.open(audit_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT | getattr(os, "O_BINARY", 0), mode)
    with os.fdopen(fd, "r+b") as handle:
        _lock(handle.fileno(), True)
        try:
            yield
        finally:
            _lock(handle.fileno(), False)
