"""Runbook 04 on a front driven through ``protocols`` (nginx): renew with a reload, not a restart.

The renewal is 03's loop with the new certificate: 01's import puts it into its *own* PEM directory
(the files nginx serves are never rewritten), the plan points the managed server block at the new
directory, apply tests it (``nginx -t``) and reloads gracefully — old workers finish their
connections, new ones serve the new certificate: no request fails — and proves over TLS that the new
thumbprint is served. Only after that proof is the old directory retired (``retire_old: remove``) or
kept until it expires (``after-expiry``, the default: rollback stays possible). On any failure the
old server block is put back and proven, and a certificate this run imported is removed again.

What is "bound" here is what the managed server block names; ``Current.binding`` carries it as an
``SslBinding`` whose endpoint is ``<front>:<port>`` (no application id), so the renewal judgement
(``renewal_due``, ``judge_renewal``) is the same code for both fronts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from cryptography import x509

from octorunbook.findings import Finding, OctorunbookError, TargetError, VerificationError
from octorunbook.render import PlanRow, PlanTable
from octorunbook.runbooks import bind
from octorunbook.runbooks.renewal_state import Current, Replacement, served_now, show_current
from octorunbook.runbooks.store_steps import parts_of
from octorunbook.targets.base import SslBinding
from octorunbook.targets.protocols import PortalIntent

if TYPE_CHECKING:
    from octorunbook.runbooks.run import Run


@dataclass(frozen=True)
class FrontSwapPlan:
    current: Current
    topology: bind.TopologyPlan
    imported_now: bool  # this run put the new certificate into the store: a rollback removes it

    @property
    def thumbprint(self) -> str:
        return self.topology.intent.certificate.thumbprint


def read_current(run: Run) -> Current:
    """What the managed server block names, what a client is served, the certificate in the store."""
    parts = parts_of(run)
    p = run.params
    with run.step():
        parts.instance.require()
        state = parts.front.read(PortalIntent.location(p.hostname, p.https_port))
        thumbprint = parts.front.serves(state)
        if not thumbprint:
            raise TargetError(
                "NOT_BOUND",
                f"The {parts.front.kind} front serves no certificate of ours on port {p.https_port}.",
                "Add it first with 01 → 03 (`octorunbook run params.yaml`), or check https_port.",
            )
        binding = SslBinding(f"{parts.front.kind}:{p.https_port}", thumbprint, "", parts.store.name)
        served, error = served_now(run.require_target(), p.https_port, p.hostname)
        stored = parts.store.get(thumbprint)
        pem = parts.store.certificate_pem(thumbprint) if stored else None
        cert = x509.load_pem_x509_certificates(pem)[0] if pem else None
        current = Current(binding, served, error, None, cert)
        run.state["before"] = {**current.to_record(), "in_store": stored.to_record() if stored else None}
        run.extra["implementations"] = parts.kinds()
        show_current(run, current, f"named by the {parts.front.kind} front")
        if served is not None and served.thumbprint != thumbprint:
            raise VerificationError(
                "SERVED_NOT_BOUND",
                f"The portal serves {served.thumbprint}, but the {parts.front.kind} front names {thumbprint}.",
                "Another server block or process answers on this port (`nginx -T | grep -n listen`); resolve "
                "that before renewing.",
            )
    return current


def plan_swap(run: Run, current: Current, new: Replacement | None) -> FrontSwapPlan | None:
    """03's plan with the new certificate, plus what happens to the old one after the proof."""
    if new is None:
        return None
    topology = bind.plan(run, new.thumbprint)
    retire = "kept until it expires" if run.params.retire_old == "after-expiry" else "removed after the proof"
    run.reporter.show(
        PlanTable(
            "Renewal: the old certificate",
            [
                PlanRow("old certificate", current.thumbprint, retire),
                PlanRow("Octopus", "running", "running"),
            ],
            [],
        )
    )
    return FrontSwapPlan(current, topology, new.imported_now and not run.params.dry_run)


def apply_swap(run: Run, plan: FrontSwapPlan | None) -> None:
    """Apply 03's plan (reload, proof, rollback); then retire the old certificate."""
    if plan is None:
        return
    store = parts_of(run).store

    def forget_new() -> None:  # after a proven rollback: the new certificate this run imported goes
        if plan.imported_now:
            store.remove(plan.thumbprint)
            run.change("rollback: remove new certificate", f"{plan.thumbprint} from {store.name}")

    bind.apply(run, plan.topology, after_rollback=forget_new)
    if run.params.dry_run:
        return
    with run.step():
        old = plan.current
        run.extra["retired"] = {
            "thumbprint": old.thumbprint,
            "store": store.name,
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
