"""A folder opened once and used through its handle: what lies in ``.in-progress/`` is judged where it is.

Anyone who can write the audit folder can swap ``.in-progress/`` for a link to ``/etc`` between the
moment a run looks at it and the moment it moves what it found into ``quarantine/``. Paths re-resolved
at each step would then follow that link, and a run would read, move or delete files it never wrote.
So a :class:`Folder` is opened once with ``O_NOFOLLOW | O_DIRECTORY`` and every name in it is looked up,
opened, renamed and removed relative to that descriptor (``dir_fd``): a swap of the folder afterwards
changes nothing for this run. The last component is never followed either (``O_NOFOLLOW``,
``follow_symlinks=False``), and a read is bounded and never blocks on a FIFO.

Where the platform has no ``dir_fd`` (Windows) the same calls take paths; NTFS links need privileges
there, and the folder's ACL is the protection.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_DIRECTORY = getattr(os, "O_DIRECTORY", 0)
_O_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_O_BINARY = getattr(os, "O_BINARY", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_HANDLES = os.name == "posix" and {os.open, os.stat, os.rename, os.unlink, os.listdir} <= (
    os.supports_dir_fd | os.supports_fd
)


class NotAFolder(OSError):
    """The name is a link, or something other than a folder: it is not opened."""


def kind(mode: int) -> str:
    """What a file is, in words (for a reason an operator reads)."""
    for test, name in (
        (stat.S_ISLNK, "a link"),
        (stat.S_ISFIFO, "a FIFO"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISDIR, "a folder"),
        (stat.S_ISCHR, "a device"),
        (stat.S_ISBLK, "a device"),
    ):
        if test(mode):
            return name
    return "a regular file" if stat.S_ISREG(mode) else "not a regular file"


class Folder:
    """One folder, opened without following a link; names inside it are resolved against the handle."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None
        info = os.lstat(path)
        if not stat.S_ISDIR(info.st_mode):
            raise NotAFolder(f"{path} is {kind(info.st_mode)}, not a folder")
        if _HANDLES:
            fd = os.open(path, os.O_RDONLY | _O_DIRECTORY | _O_NOFOLLOW | _O_CLOEXEC)
            if not stat.S_ISDIR(os.fstat(fd).st_mode):  # pragma: no cover - O_DIRECTORY refuses first
                os.close(fd)
                raise NotAFolder(f"{path} is not a folder")
            self._fd = fd
        self.info = os.fstat(self._fd) if self._fd is not None else info

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> Folder:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _name(self, name: str) -> str:
        if not name or name in (".", "..") or "/" in name or os.sep in name:
            raise ValueError(f"not a name in a folder: {name!r}")
        return name if self._fd is not None else str(self.path / name)

    def names(self) -> list[str]:
        return sorted(os.listdir(self._fd if self._fd is not None else self.path))

    def lstat(self, name: str) -> os.stat_result:
        return os.stat(self._name(name), dir_fd=self._fd, follow_symlinks=False)

    def read(self, name: str, limit: int) -> tuple[bytes, os.stat_result]:
        """The bytes of a regular file ``name`` (at most ``limit``) and its ``fstat``.

        Raises ``OSError`` (``ELOOP`` for a link) or ``ValueError`` (not a regular file, too large) whose
        message is the reason.
        """
        flags = os.O_RDONLY | _O_NOFOLLOW | _O_NONBLOCK | _O_BINARY | _O_CLOEXEC
        fd = os.open(self._name(name), flags, dir_fd=self._fd)
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise ValueError(f"it is {kind(info.st_mode)}")
            if info.st_size > limit:
                raise ValueError(f"it is {info.st_size} bytes, more than a notebook record may be")
            chunks, size = [], 0
            while size <= limit:
                chunk = os.read(fd, limit + 1 - size)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
            if size > limit:
                raise ValueError("it grew past the size a notebook record may be")
            return b"".join(chunks), info
        finally:
            os.close(fd)

    def write_new(self, name: str, data: bytes, mode: int) -> None:
        """Create ``name`` with ``mode`` from its first byte; never over an existing file or link."""
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW | _O_BINARY | _O_CLOEXEC
        fd = os.open(self._name(name), flags, mode, dir_fd=self._fd)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)

    def move(self, name: str, into: Folder, new_name: str) -> None:
        """Rename ``name`` (a link or FIFO moves as itself, nothing is followed) into ``into``."""
        os.rename(self._name(name), into._name(new_name), src_dir_fd=self._fd, dst_dir_fd=into._fd)

    def unlink(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._name(name), dir_fd=self._fd)


def open_subfolder(parent: Path, name: str, mode: int) -> Folder:
    """``parent/name`` opened as a :class:`Folder`, created with ``mode`` if it is missing.

    Raises :class:`NotAFolder` when the name is taken by a link or a file: the caller decides what
    that means (a link planted as ``.in-progress`` is itself set aside).
    """
    path = parent / name
    with contextlib.suppress(FileExistsError):
        os.mkdir(path, mode)
    return Folder(path)
