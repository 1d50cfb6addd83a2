"""The notebooks' cell sequence, in-process (tests, benchmarks, embedding): the same calls, in the same order.

Every notebook makes the same four calls on its runbook's module (``runbooks.face``), so one loop
runs any of them; a failure has already emitted the record, which is returned.
"""

from __future__ import annotations

from typing import Any

from octorunbook.runbooks.face import face_of
from octorunbook.runbooks.run import Run, RunbookFailed, TextReporter


def run_inline(runbook: str, params: Any, reporter: Any = None) -> dict[str, Any]:
    """Run one runbook exactly as its notebook cells do; return the result record."""
    run = Run(runbook, params, reporter or TextReporter())  # ValueError for a name that is no runbook
    face = face_of(runbook)
    try:
        run.open()
        current = face.read(run)
        plan = face.plan(run, current)
        face.apply(run, plan)
        return face.finish(run)
    except RunbookFailed:
        return run.record()


__all__ = ["run_inline"]
