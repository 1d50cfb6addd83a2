"""The notebooks' cell sequence, in-process (tests, benchmarks, embedding): the same calls, in the same order.

It sits above ``steps``, ``renew`` and ``harden`` so none of them imports another runbook's module.
"""

from __future__ import annotations

from typing import Any

from octorunbook.runbooks import harden, renew
from octorunbook.runbooks.run import Run, RunbookFailed, TextReporter
from octorunbook.runbooks.steps import (
    apply_binding,
    import_certificate,
    obtain_certificate,
    plan_binding,
    resolve_thumbprint,
    verify_certificate,
)


def run_inline(runbook: str, params: Any, reporter: Any = None) -> dict[str, Any]:
    """Run one runbook's steps exactly as its notebook cells do; return the result record."""
    run = Run(runbook, params, reporter or TextReporter())
    try:
        run.open()
        if runbook == "01-import-certificate":
            import_certificate(run, obtain_certificate(run))
            return run.finish()
        if runbook == "04-renew-certificate":
            current = renew.read_current(run)
            renew.expiry_check(run, current)
            new = renew.obtain_replacement(run, current)
            renew.apply_swap(run, renew.plan_swap(run, current, new))
            return run.finish()
        if runbook == "05-harden-tls":
            harden.apply_hardening(run, harden.plan_hardening(run))
            return harden.finish(run)
        thumbprint = resolve_thumbprint(run)
        if runbook == "02-verify-certificate":
            verify_certificate(run, thumbprint)
            return run.finish("succeeded")
        apply_binding(run, plan_binding(run, thumbprint))
        return run.finish()
    except RunbookFailed:
        return run.record()


__all__ = ["run_inline"]
