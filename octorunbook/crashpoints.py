"""Named instants at which a crash campaign stops a real run with ``SIGKILL``, as a power cut would.

"Never half-changed" is a promise about every instant between a run's first change and its finalised
checkpoint. A test can hold the code to it only if it can stop a real run at each of those instants, in
whichever process reaches it (``octorunbook run`` or one of its kernels), so the code names them:
:func:`reached` is called before and after every external command (``commands.py``) and where a change
is made without one. Outside a campaign a point costs two environment lookups.

``OCTORUNBOOK_CRASH_TRACE=FILE``: every point reached is appended to FILE, one name a line, under an
``flock`` (the run's processes share the file): a first run lists the points a campaign can stop at.

``OCTORUNBOOK_CRASH_AT=NAME#N``: the N-th time NAME is reached (counted in the trace file, so across the
run's processes; without a trace, in this process) ``SIGKILL`` goes to the process group named by
``OCTORUNBOOK_CRASH_KILL_PGID`` (the ``octorunbook run`` the campaign started in a session of its own),
then to this process's own group. Both are needed: jupyter_client starts each kernel in a session of
its own, and the command a kernel runs is in the kernel's group.

A name never holds a value that may be secret: a command's point names only the program and its verb.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys

TRACE_ENV = "OCTORUNBOOK_CRASH_TRACE"
AT_ENV = "OCTORUNBOOK_CRASH_AT"
KILL_PGID_ENV = "OCTORUNBOOK_CRASH_KILL_PGID"

_counts: dict[str, int] = {}  # without a trace file: how often each point was reached in this process


def reached(name: str) -> None:
    """Point ``name`` is reached: trace it, and stop the whole run here if the campaign says so."""
    trace, at = os.environ.get(TRACE_ENV), os.environ.get(AT_ENV)
    if not trace and not at:
        return
    name = " ".join(name.split())  # one line in the trace, whatever the caller passed
    count = _append(trace, name) if trace else _count_here(name)
    wanted, _, nth = (at or "").rpartition("#")
    if wanted == name and nth.isdigit() and int(nth) == count:
        _kill_the_run()


def _count_here(name: str) -> int:
    _counts[name] = _counts.get(name, 0) + 1
    return _counts[name]


def _append(path: str, name: str) -> int:
    """Append ``name``; how many times it is in the trace now (this time included)."""
    with open(path, "a+", encoding="utf-8") as trace:
        if sys.platform != "win32":
            import fcntl

            fcntl.flock(trace, fcntl.LOCK_EX)  # released when the file is closed
        trace.seek(0)
        count = 1 + sum(1 for line in trace if line.rstrip("\n") == name)
        trace.write(name + "\n")
        trace.flush()
    return count


def _kill_the_run() -> None:
    kill = getattr(signal, "SIGKILL", signal.SIGTERM)  # Windows: TerminateProcess, this process only
    if sys.platform != "win32":
        with contextlib.suppress(ValueError, OSError):
            group = int(os.environ.get(KILL_PGID_ENV, ""))
            if group > 1 and group != os.getpgrp():
                os.killpg(group, kill)
        with contextlib.suppress(OSError):
            os.killpg(os.getpgrp(), kill)
    os.kill(os.getpid(), kill)


__all__ = ["AT_ENV", "KILL_PGID_ENV", "TRACE_ENV", "reached"]
