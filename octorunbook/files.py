"""Reading a file: a regular file, of a sane size, read without hanging -- the one reader for every file
octorunbook reads (parameters, certificates and keys, records, their HTML, manifests, journals).

A certificate, a key or a parameter file is a few kilobytes. ``/dev/zero`` would be read until memory
runs out, a FIFO would block forever on open, a 2 GB file would be read whole: each is refused here, from
``fstat`` on the opened descriptor (so a path swapped between a check and the read changes nothing).
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from octorunbook.findings import InputError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (mypy reads the name)
if TYPE_CHECKING:  # the sandbox's stand-ins read their files through this module
    from typing import BinaryIO

MAX_CERTIFICATE_FILE = 1024 * 1024  # a PFX with a long chain is tens of kilobytes
MAX_PARAMETER_FILE = 64 * 1024  # a parameter file is a few hundred bytes
MAX_RECORD_FILE = 64 * 1024 * 1024  # an executed runbook with its outputs is well under a megabyte
MAX_MANIFEST_FILE = 512 * 1024 * 1024  # a manifest line is under a kilobyte: hundreds of thousands of runs


def read_limited(
    path: str | Path, limit: int = MAX_CERTIFICATE_FILE, *, what: str = "file", follow: bool = True
) -> bytes:
    """The bytes of ``path``; FILE_NOT_FOUND, FILE_UNREADABLE, FILE_NOT_REGULAR or FILE_TOO_LARGE.

    ``follow=False`` refuses a symbolic link as the last component (FILE_NOT_REGULAR): for files
    octorunbook wrote itself (records, their HTML, the manifest), where a link is a substitution."""
    with open_limited(path, limit, what=what, follow=follow) as handle:
        chunks, size = [], 0
        while size <= limit:
            chunk = handle.read(limit + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    if size > limit:  # it grew while being read
        raise _too_large(str(path), what, size, limit)
    return b"".join(chunks)


@contextmanager
def open_limited(
    path: str | Path, limit: int = MAX_CERTIFICATE_FILE, *, what: str = "file", follow: bool = True
) -> Iterator[BinaryIO]:
    """``path`` opened for reading (unbuffered, seekable) once it is proven a regular file of at most
    ``limit`` bytes; opened with O_NONBLOCK, so a FIFO put in its place never blocks the open."""
    name = str(path)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    if not follow:
        flags |= getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(Path(path).expanduser(), flags)
    except FileNotFoundError:
        raise InputError("FILE_NOT_FOUND", f"There is no {what} {name!r}.", "Check the path.") from None
    except OSError as exc:
        if not follow and exc.errno == errno.ELOOP:
            raise InputError(
                "FILE_NOT_REGULAR",
                f"The {what} {name!r} is a symbolic link, not the file itself.",
                "Put the file itself there; a link in its place is not read.",
            ) from None
        raise InputError(
            "FILE_UNREADABLE",
            f"The {what} {name!r} cannot be read: {exc.strerror or exc}.",
            "Give the path of a readable file (not a folder) and check its permissions.",
        ) from None
    try:
        problem = _kind_problem(os.fstat(fd), name, what, limit)
        if problem is not None:
            raise problem
        handle = os.fdopen(fd, "rb", buffering=0)
    except BaseException:
        os.close(fd)
        raise
    with handle:
        yield handle  # type: ignore[misc]


def file_problem(
    path: str | Path, limit: int = MAX_CERTIFICATE_FILE, *, what: str = "file"
) -> InputError | None:
    """Why ``read_limited`` would refuse ``path``, from ``stat`` alone (nothing is opened: a FIFO cannot
    block), or None. For checking parameters up front; the read itself still checks the opened file."""
    name = str(path)
    try:
        info = os.stat(Path(path).expanduser())
    except FileNotFoundError:
        return InputError("FILE_NOT_FOUND", f"There is no {what} {name!r}.", "Check the path.")
    except OSError as exc:
        return InputError(
            "FILE_UNREADABLE",
            f"The {what} {name!r} cannot be read: {exc.strerror or exc}.",
            "Give the path of a readable file (not a folder) and check its permissions.",
        )
    return _kind_problem(info, name, what, limit)


def _kind_problem(info: os.stat_result, name: str, what: str, limit: int) -> InputError | None:
    if stat.S_ISDIR(info.st_mode):
        return InputError(
            "FILE_UNREADABLE",
            f"The {what} {name!r} is a folder.",
            "Give the path of a readable file (not a folder) and check its permissions.",
        )
    if not stat.S_ISREG(info.st_mode):
        return InputError(
            "FILE_NOT_REGULAR",
            f"The {what} {name!r} is not a regular file (a device, a pipe or a socket).",
            "Give the path of the file itself.",
        )
    if info.st_size > limit:
        return _too_large(name, what, info.st_size, limit)
    return None


def _too_large(name: str, what: str, size: int, limit: int) -> InputError:
    return InputError(
        "FILE_TOO_LARGE",
        f"The {what} {name!r} is {size} bytes or more; at most {limit} are read.",
        f"Check that this is the right file: a {what} is normally a few kilobytes.",
    )
