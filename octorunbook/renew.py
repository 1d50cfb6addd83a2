"""Runbook 04 — renew or rotate the portal certificate with no restart and no downtime.

The notebook's face: ``renewal_state`` reads what the portal has and obtains the new certificate;
``renewal_swap`` swaps the binding, proves it and retires the old certificate (or rolls back).
"""

from __future__ import annotations

from .renewal_check import check_panel, expiry_check
from .renewal_state import Current, Replacement, judge_renewal, obtain_replacement, read_current, renewal_due
from .renewal_swap import SwapPlan, apply_swap, plan_swap, prove, restore, retire

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
