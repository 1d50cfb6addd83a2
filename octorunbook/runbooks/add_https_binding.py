"""Runbook 03 — what Octopus Manager's *Web Bindings* wizard does, unattended and proven over TLS.

The notebook's face (the same four verbs as every runbook, see ``runbooks.face``):

* ``read``   which certificate: the ``thumbprint`` parameter, else the one 01 imported last on this target;
* ``plan``   reads the front (HTTP.sys binding, or nginx's server block) and the Octopus instance, and
  shows current → desired with the exact commands; changes nothing;
* ``apply``  applies only the difference, restarts what must restart, proves over TLS that the portal
  serves the certificate — or restores the state from before the run;
* ``finish`` emits the record.

The work is ``bind`` (one loop over the target's parts, for every topology).
"""

from __future__ import annotations

from typing import Any

from octorunbook.runbooks import bind, steps
from octorunbook.runbooks.run import Run


def read(run: Run) -> str:
    """The certificate to bind: the parameter, or 01's last import on this target (said in the record)."""
    return steps.resolve_thumbprint(run)


def plan(run: Run, current: str) -> bind.TopologyPlan:
    """Current → desired for the front and the instance, with the commands; only the difference applies."""
    return steps.plan_binding(run, current)


def apply(run: Run, plan: bind.TopologyPlan) -> None:
    """Apply, prove over TLS, or roll back to the snapshot taken before the first change."""
    steps.apply_binding(run, plan)


def finish(run: Run) -> dict[str, Any]:
    """The record: ``succeeded`` when something was changed and proven, ``unchanged`` when nothing differed."""
    return run.finish()


__all__ = ["apply", "finish", "plan", "read"]
