"""Notebooks left in ``.in-progress/`` by runs that never stored their record.

``octorunbook run`` writes each executing notebook to ``audit_dir/.in-progress/<runbook>-<pid>.ipynb``
(redacted on every save) and moves it into the chain when the run ends. A run killed hard (``kill -9``, a
power cut) leaves the file behind. Such a notebook is shown by ``audit list`` and ``audit verify`` as
``interrupted`` — never silently ignored — and the next run that stores a record chains it (status
``interrupted``) before its own.

A file whose writer process still exists belongs to a run in progress and is left alone. The writer is
recognised by the pid in the name; a pid reused by an unrelated process after a reboot only delays the
adoption (the file is shown as running until that process ends), it never hides the file.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

IN_PROGRESS = ".in-progress"
_NAME = re.compile(r"^(?P<runbook>.+)-(?P<pid>\d+)\.ipynb$")


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


@dataclass(frozen=True)
class InProgress:
    """One notebook in ``.in-progress/``."""

    path: Path
    runbook: str
    pid: int | None
    alive: bool
    modified: datetime

    def describe(self) -> str:
        who = f"pid {self.pid}" if self.pid else "an unknown process"
        return (
            f"{self.runbook} run by {who} stopped before storing its record (last saved "
            f"{self.modified:%Y-%m-%dT%H:%M:%SZ}); the next run chains it as an interrupted record"
        )


def scan_in_progress(audit_dir: Path) -> list[InProgress]:
    """Every notebook in ``audit_dir/.in-progress``, oldest first."""
    folder = audit_dir / IN_PROGRESS
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    found = []
    for name in names:
        if not name.endswith(".ipynb") or name.startswith("."):
            continue
        path = folder / name
        try:
            modified = datetime.fromtimestamp(path.stat().st_mtime, UTC)
        except OSError:  # stored (and removed) while we looked
            continue
        match = _NAME.match(name)
        pid = int(match.group("pid")) if match else None
        runbook = match.group("runbook") if match else name.removesuffix(".ipynb")
        alive = pid is not None and _pid_alive(pid)
        found.append(InProgress(path, runbook, pid, alive, modified))
    return sorted(found, key=lambda item: item.modified)
