"""Runbook 05 — harden what the portal's TLS endpoint accepts; plans by default, proven by a scan.

The notebook's face (the same four verbs as every runbook, see ``runbooks.face``):

* ``read``   scans the posture as it is (protocols, cipher suites, chain, HSTS): the table an auditor
  asks for first; changes nothing;
* ``plan``   the least intrusive change that turns TLS 1.0/1.1 off — the binding's ``disablelegacytls``,
  the SCHANNEL registry values, or nginx's ``ssl_protocols``/``ssl_ciphers`` — with the reboot, the
  clients it may break and the undo; changes nothing;
* ``apply``  only with ``apply: true``: runs the plan and scans again, which is the proof; a change that
  does not prove is undone (a SCHANNEL change waits for a reboot, and says so);
* ``finish`` emits the record: ``planned`` when nothing was applied by choice.

The work is ``harden``.
"""

from __future__ import annotations

from typing import Any

from octorunbook.evidence.posture import PostureReport
from octorunbook.runbooks import harden
from octorunbook.runbooks.harden import Hardening
from octorunbook.runbooks.run import Run


def read(run: Run) -> PostureReport | None:
    """The posture as it is (None when the portal could not be scanned: a warning, not a failure)."""
    return harden.scan_posture(run)


def plan(run: Run, current: PostureReport | None) -> Hardening:
    """The hardening plan for the endpoint as it is; NOT_BOUND when there is nothing to harden."""
    return harden.plan_hardening(run, current)


def apply(run: Run, plan: Hardening) -> None:
    """With ``apply: true`` (and no ``dry_run``): change, scan again as the proof, or undo."""
    harden.apply_hardening(run, plan)


def finish(run: Run) -> dict[str, Any]:
    """The record: ``planned`` unless the plan was applied."""
    return harden.finish(run)


__all__ = ["apply", "finish", "plan", "read"]
