"""Runbook 04 — renew or rotate the portal certificate with no restart and no downtime.

The notebook's face: ``renewal_state`` reads what the portal has and obtains the new certificate;
``renewal_swap`` swaps the binding, proves it and retires the old certificate (or rolls back). On the
nginx front, ``renew_front`` does the same through 03's loop over the protocols (a reload, no restart).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from octorunbook.runbooks import renewal_state, renewal_swap
from octorunbook.runbooks.expiry import check_panel, expiry_check
from octorunbook.runbooks.renewal_state import (
    Current,
    Replacement,
    judge_renewal,
    obtain_replacement,
    renewal_due,
)
from octorunbook.runbooks.renewal_swap import SwapPlan, prove, restore, retire

if TYPE_CHECKING:
    from octorunbook.runbooks.renew_front import FrontSwapPlan
    from octorunbook.runbooks.run import Run


def _renews_in_place(run: Run) -> bool:
    """HTTP.sys swaps the binding in place (``renewal_swap``); a front that reloads its own text (nginx)
    renews through 03's loop over the parts (``renew_front``)."""
    return run.require_target().parts.front.kind == "httpsys"


def read_current(run: Run) -> Current:
    """What the portal has now: the HTTP.sys binding, or what the front's server block names."""
    if _renews_in_place(run):
        return renewal_state.read_current(run)
    from octorunbook.runbooks import renew_front

    return renew_front.read_current(run)


def plan_swap(run: Run, current: Current, new: Replacement | None) -> SwapPlan | FrontSwapPlan | None:
    if _renews_in_place(run):
        return renewal_swap.plan_swap(run, current, new)
    from octorunbook.runbooks import renew_front

    return renew_front.plan_swap(run, current, new)


def apply_swap(run: Run, plan: SwapPlan | FrontSwapPlan | None) -> None:
    if plan is None or isinstance(plan, SwapPlan):
        renewal_swap.apply_swap(run, plan)
        return
    from octorunbook.runbooks import renew_front

    renew_front.apply_swap(run, plan)


__all__ = [
    "Current",
    "Replacement",
    "SwapPlan",
    "apply_swap",
    "check_panel",
    "expiry_check",
    "judge_renewal",
    "obtain_replacement",
    "plan_swap",
    "prove",
    "read_current",
    "renewal_due",
    "restore",
    "retire",
]
