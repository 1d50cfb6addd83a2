"""Whether a process still runs, read from ``/proc`` (Linux): for the tests that ``kill -9`` a run.

A killed process's main thread shows ``Z`` (zombie) as soon as it has exited, but a multi-threaded
process (a kernel, a run storing its records on a thread) keeps its descriptors open, and with them its
file locks, until its *last* thread has exited. On a busy machine that is measurably later, and a run
started in that moment is rightly told ``TARGET_BUSY``: such a process is dead only when every thread is.
"""

from __future__ import annotations

from pathlib import Path


def _state(stat_file: Path) -> str:
    return stat_file.read_text().rsplit(")", 1)[1].split()[0]


def running(pid: int | str) -> bool:
    """True while any thread of ``pid`` has not exited (a zombie whose threads all have is not running)."""
    proc = Path(f"/proc/{pid}")
    try:
        if _state(proc / "stat") != "Z":
            return True
    except OSError:
        return False
    for task in proc.glob("task/*/stat"):
        try:
            if _state(task) not in {"Z", "X"}:
                return True
        except OSError:
            continue
    return False


__all__ = ["running"]
