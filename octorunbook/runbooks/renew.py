"""Runbook 04, part 2: swap the certificate with no restart, prove it, retire the old one — any front.

A renewal is 03's plan and apply (``bind``) with a new certificate and nothing else: the instance keeps
its state (no ``configure``, no restart) and the front takes the new certificate in place — HTTP.sys
by Octopus's own command, or ``netsh http update sslcert`` carrying every per-binding setting (delete
and re-add with them on builds without ``update``); nginx by pointing the managed server block at the
new certificate's own folder, ``nginx -t`` and a graceful reload. The same checkpoint, proof and
rollback as 03: the proof shows the new thumbprint served and the front reading back exactly as
planned; a failure restores the previous state, proves it, and removes the replacement this run
imported (a run killed half-way leaves a checkpoint that names it, and the next run does the same).

Only after the proof is the old certificate retired (``retire_old: remove``), and only when nothing on
the front serves it any more (``CERT_STILL_BOUND``: kept, with where it is still used); the default
keeps it until it expires, so a rollback stays possible.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from octorunbook.findings import Finding, OctorunbookError
from octorunbook.render import PlanRow, PlanTable
from octorunbook.runbooks import bind
from octorunbook.runbooks.expiry import check_panel, expiry_check
from octorunbook.runbooks.renewal_state import (
    Current,
    Replacement,
    judge_renewal,
    obtain_replacement,
    read_current,
    renewal_due,
)
from octorunbook.runbooks.store_steps import parts_of

if TYPE_CHECKING:
    from octorunbook.runbooks.run import Run


@dataclass(frozen=True)
class RenewalPlan:
    """03's plan for the new certificate (instance kept), and the certificate it replaces."""

    current: Current
    topology: bind.TopologyPlan

    @property
    def thumbprint(self) -> str:
        return self.topology.intent.certificate.thumbprint


def plan_swap(run: Run, current: Current, new: Replacement | None) -> RenewalPlan | None:
    """03's plan with the new certificate and the instance kept, plus how the front swaps it and what
    happens to the old certificate after the proof. None when renewal is not due."""
    if new is None:
        return None
    added = new.thumbprint if new.imported_now and not run.params.dry_run else ""
    info = new.certificate.info
    as_imported = {  # dry run: the import was only planned, so the plan is made for it as it would be stored
        "thumbprint": info.thumbprint,
        "subject": info.subject,
        "dns_names": list(info.dns_names),
        "not_before": info.not_before.isoformat(),
        "not_after": info.not_after.isoformat(),
    }
    topology = bind.plan(run, new.thumbprint, renewal=True, added=added, as_imported=as_imported)
    front = topology.front
    how = parts_of(run).front.explain(front.current, front.desired)
    run.extra["swap"] = how
    retire = "kept until it expires" if run.params.retire_old == "after-expiry" else "removed after the proof"
    run.reporter.show(
        PlanTable(
            f"Renewal: how the certificate is swapped — {how['why']}",
            [
                PlanRow("old certificate", current.thumbprint, retire),
                PlanRow("Octopus service", "running", "running (no restart)"),
            ],
            [],
        )
    )
    return RenewalPlan(current, topology)


def apply_swap(run: Run, plan: RenewalPlan | None) -> None:
    """03's apply (checkpoint, swap, proof, rollback); then retire the old certificate."""
    if plan is None:
        return
    bind.apply(run, plan.topology)
    if not run.params.dry_run:
        retire(run, plan)


def retire(run: Run, plan: RenewalPlan) -> None:
    """After the proof only: keep the old certificate until it expires (rollback stays possible), or remove
    it — unless the front still serves it somewhere (another port, ``[::]``, a hostname binding)."""
    parts = parts_of(run)
    store, old = parts.store, plan.current
    with run.step():
        run.extra["retired"] = {
            "thumbprint": old.thumbprint,
            "store": old.store,
            "how": run.params.retire_old,
        }
        if run.params.retire_old != "remove" or old.thumbprint == plan.thumbprint:
            end = old.not_after
            run.change(
                "keep old certificate",
                f"{old.thumbprint} kept until {end:%Y-%m-%d}" if end else old.thumbprint,
            )
            return
        try:
            users = parts.front.users(old.thumbprint)
            if users:
                run.extra["retired"]["how"] = "kept: still bound"
                run.note(
                    Finding(
                        "CERT_STILL_BOUND",
                        "warning",
                        f"The old certificate {old.thumbprint} is kept: {', '.join(users)} still serves it "
                        "(removing it would take the private key from under that binding).",
                        "Move those bindings to the new certificate (or remove them), then remove "
                        f"{old.thumbprint} from {store.name} by hand.",
                        details={"bindings": users},
                    )
                )
                return
            store.remove(old.thumbprint)
            run.change("remove old certificate", f"{old.thumbprint} from {store.name}")
        except (OSError, OctorunbookError) as exc:
            run.note(
                Finding(
                    "RETIRE_FAILED",
                    "warning",
                    f"The new certificate is served, but removing the old one failed: {exc}",
                    f"Remove {store.name}/{old.thumbprint} by hand once nothing uses it.",
                )
            )


__all__ = [
    "Current",
    "RenewalPlan",
    "Replacement",
    "apply_swap",
    "check_panel",
    "expiry_check",
    "judge_renewal",
    "obtain_replacement",
    "plan_swap",
    "read_current",
    "renewal_due",
    "retire",
]
