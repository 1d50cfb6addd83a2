"""Reading a file the operator named: a regular file, of a sane size, read without hanging.

A certificate, a key or a parameter file is a few kilobytes. ``/dev/zero`` would be read until memory
runs out, a FIFO would block forever on open, a 2 GB file would be read whole: each is refused here, from
``fstat`` on the opened descriptor (so a path swapped between a check and the read changes nothing).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from octorunbook.findings import InputError

MAX_CERTIFICATE_FILE = 1024 * 1024  # a PFX with a long chain is tens of kilobytes
MAX_PARAMETER_FILE = 64 * 1024  # a parameter file is a few hundred bytes
MAX_RECORD_FILE = 64 * 1024 * 1024  # an executed runbook with its outputs is well under a megabyte


def read_limited(path: str | Path, limit: int = MAX_CERTIFICATE_FILE, *, what: str = "file") -> bytes:
    """The bytes of ``path``; FILE_NOT_FOUND, FILE_UNREADABLE, FILE_NOT_REGULAR or FILE_TOO_LARGE."""
    name = str(path)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(Path(path).expanduser(), flags)
    except FileNotFoundError:
        raise InputError("FILE_NOT_FOUND", f"There is no {what} {name!r}.", "Check the path.") from None
    except OSError as exc:
        raise InputError(
            "FILE_UNREADABLE",
            f"The {what} {name!r} cannot be read: {exc.strerror or exc}.",
            "Give the path of a readable file (not a folder) and check its permissions.",
        ) from None
    try:
        problem = _kind_problem(os.fstat(fd), name, what, limit)
        if problem is not None:
            raise problem
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, limit + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:  # it grew while being read
            raise _too_large(name, what, size, limit)
    finally:
        os.close(fd)
    data = b"".join(chunks)
    return data


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
