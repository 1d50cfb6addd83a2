"""Runbook 03 written once over ``targets.protocols``: plan → apply → verify, and rollback.

For each part of the target — the TLS front first, then the Octopus instance — the plan reads the
current state, asks the part for its desired state from one :class:`PortalIntent`, and shows the
difference and the exact actions. Apply changes only the parts whose desired state differs from the
current one (a second run is ``unchanged`` and touches nothing: no reload, no restart), proves the
result over TLS (``bind_proof``), and on any failure gives every changed part its previous state back
in reverse order, then proves the previous certificate is served again. The record says which
implementations ran (``implementations``: store, front, instance kinds).

Both topologies run here: HTTP.sys (Windows, the sandbox; ``ssl-certificate`` then ``configure`` and a
restart, Octopus's documented order) and nginx (a managed server block, reloaded; Octopus behind it).

The change journal (``journal.py``) covers a run killed half-way: before the first change the
snapshot of every part is written, durably, beside the target lock; the next run restores it before
planning anything new (``parts_journal.recover_interrupted``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from octorunbook.findings import Finding, TargetError, VerificationError
from octorunbook.render import Panel, PlanRow, PlanTable
from octorunbook.runbooks.bind_proof import prove_portal, require_proven, served_thumbprint
from octorunbook.runbooks.restore_parts import (
    forget_added,
    observed,
    restore_by_hand,
    restore_parts,
    topology,
)
from octorunbook.runbooks.store_steps import planned_import
from octorunbook.runbooks.undo import Checkpoint
from octorunbook.targets.protocols import Action, Part, PortalIntent, SettingDiff, StoredCertificate

if TYPE_CHECKING:
    from octorunbook.runbooks.run import Run

JOURNAL_TOPOLOGY = "parts"


@dataclass(frozen=True)
class PartPlan:
    """One part's row of the plan: where it is, where it goes, and how."""

    part: Part[Any]
    current: Any
    desired: Any
    diff: tuple[SettingDiff, ...]
    actions: tuple[Action, ...]

    @property
    def changes(self) -> bool:
        return bool(self.current != self.desired)


@dataclass(frozen=True)
class TopologyPlan:
    intent: PortalIntent
    parts: tuple[PartPlan, ...]  # the front first, then the instance
    kinds: dict[str, str] = field(default_factory=dict)
    http_address: tuple[str, int] | None = None  # where the proof checks plain HTTP (None: not served)
    served_before: dict[int, str] = field(default_factory=dict)  # port → thumbprint ("": no TLS)
    added: str = ""  # the certificate this run put into the store (04): a rollback or restore removes it

    @property
    def changes(self) -> bool:
        return any(p.changes for p in self.parts)

    @property
    def front(self) -> PartPlan:
        return self.parts[0]

    @property
    def instance(self) -> PartPlan:
        return self.parts[1]

    def commands(self) -> list[str]:
        return [a.text() for p in self.parts if p.changes for a in p.actions]


def _planned_certificate(
    run: Run, thumbprint: str, planned: dict[str, Any] | None = None
) -> StoredCertificate | None:
    """Dry run: 01 (or 04's own import) only planned the import; the certificate as it will be stored."""
    planned = planned or planned_import(run, thumbprint)
    store = topology(run).store
    if planned is None or str(planned.get("store", store.name)).lower() != store.name.lower():
        return None
    files = getattr(store, "files", None)
    return StoredCertificate(
        thumbprint=thumbprint,
        store=store.name,
        subject=str(planned.get("subject", "")),
        dns_names=tuple(str(n) for n in planned.get("dns_names") or ()),
        not_before=str(planned.get("not_before", "")),
        not_after=str(planned.get("not_after", "")),
        has_private_key=True,
        location=str(planned.get("location", "file" if callable(files) else "LocalMachine")),
        files=files(thumbprint) if callable(files) else None,
    )


def plan(
    run: Run,
    thumbprint: str,
    *,
    renewal: bool = False,
    added: str = "",
    as_imported: dict[str, Any] | None = None,
) -> TopologyPlan:
    """Read every part, compute its desired state, show current → desired and the exact actions.

    ``renewal`` (04): only the certificate changes. The instance keeps its state (no ``configure``, no
    restart) and what it decides — behind HTTP.sys ForceSSL, HSTS, the http prefix — is planned and
    proven as it is now (``OctopusInstance.kept``); the front swaps the certificate in place, every
    per-binding setting carried. ``added``: the replacement this run imported (removed on rollback);
    ``as_imported``: in a dry run, the certificate as the import would have stored it (it is not there)."""
    parts = topology(run)
    p = run.params
    with run.step():
        parts.instance.require()
        stored = (parts.store.get(thumbprint) if parts.store.exists() else None) or _planned_certificate(
            run, thumbprint, as_imported if p.dry_run else None
        )
        if stored is None:
            raise TargetError(
                "CERT_NOT_FOUND",
                f"There is no certificate {thumbprint} in {_where(parts.store.name)}.",
                "Run 01 (import) and 02 (verify) first, or check thumbprint and "
                + ("store." if parts.front.kind == "httpsys" else "cert_dir."),
            )
        if not stored.has_private_key:
            raise TargetError(
                "PFX_NO_PRIVATE_KEY",
                f"{thumbprint} has no private key in {_where(parts.store.name)}.",
                "Import the certificate with its private key (01).",
            )
        run.certificate = stored.to_record()
        run.extra["implementations"] = parts.kinds()
        intent = PortalIntent(p.hostname, p.https_port, stored, p.force_ssl, p.hsts_max_age, p.keep_http)
        # A renewal reads the instance once: what it keeps is what is planned (each read is a
        # show-configuration and an sc qc on Windows, seconds each there), read again only should `kept`
        # change the host name or port it was read for.
        instance_now = parts.instance.read(intent) if renewal else None
        if instance_now is not None:
            read_for, intent = intent, parts.instance.kept(intent, instance_now)
            if (intent.hostname, intent.https_port) != (read_for.hostname, read_for.https_port):
                instance_now = None  # read again below for what is planned
        planned: list[PartPlan] = []
        for part in (parts.front, parts.instance):
            current = (
                instance_now if part is parts.instance and instance_now is not None else part.read(intent)
            )
            desired = current if renewal and part is parts.instance else part.desired(intent, current)
            for finding in part.findings(current, desired):
                run.note(finding)
            diff = tuple(part.diff(current, desired))
            planned.append(PartPlan(part, current, desired, diff, tuple(part.actions(current, desired))))
        http = parts.instance.http_address(intent, planned[1].current)
        old_port = parts.front.serves_at(planned[0].current)
        watched = observed(run, [intent.https_port] + ([old_port] if old_port else []))
        result = TopologyPlan(intent, tuple(planned), parts.kinds(), http, watched, added)
        run.state["before"] = {pp.part.kind: pp.current.to_record() for pp in planned}
        rows = [PlanRow(d.setting, d.current, d.desired) for pp in planned for d in pp.diff]
        run.extra["plan"] = [
            {"setting": r.setting, "current": r.current, "desired": r.desired, "changes": r.changes}
            for r in rows
        ]
        run.extra["plan_commands"] = result.commands()
        title = "Plan: current → desired" + (" (dry run)" if p.dry_run else "")
        run.reporter.show(PlanTable(title, rows, result.commands()))
    return result


def _where(store: str) -> str:
    """``LocalMachine\\My`` for a Windows-shaped store, the folder for a PEM store."""
    return store if "/" in store or "\\" in store else f"LocalMachine\\{store}"


def apply(run: Run, plan: TopologyPlan) -> None:
    """Apply the parts that differ, prove over TLS; on any failure restore them in reverse order, and
    once that restore is proven remove the certificate this run imported (``plan.added``)."""
    p = run.params
    with run.step():
        if p.dry_run:
            run.note(
                Finding("DRY_RUN", "info", "dry_run: the plan above was not applied.", "Set dry_run: False.")
            )
            return
        if not plan.changes:
            run.reporter.show(Panel("Already as desired: nothing will be changed, nothing reloaded", "ok"))
            _prove(run, plan)
            run.state["after"] = run.state.get("before")
            return
        for pp in plan.parts:
            now = pp.part.read(plan.intent)
            if now != pp.current:
                raise TargetError(
                    "PLAN_STALE",
                    f"The {pp.part.kind} part changed since the plan was made (someone or something else changed it).",
                    "Run the plan cell again, read the new plan, then apply.",
                    details={"planned_from": pp.current.to_record(), "now": now.to_record()},
                )
        journal = _begin_journal(run, plan)
        changed: list[PartPlan] = []
        try:
            for pp in plan.parts:
                if pp.changes:
                    changed.append(pp)  # before apply: a part that fails half-way is restored too
                    pp.part.apply(pp.current, pp.desired, run)
            front_now = _prove(run, plan)
        except BaseException as exc:  # an interrupt or a bug mid-change must not leave it half-changed
            if p.rollback:
                journal.phase("rolling back")
                pairs = [(pp.part, pp.current) for pp in changed]
                if restore_parts(
                    run,
                    pairs,
                    (topology(run).front, plan.front.current),
                    (topology(run).instance, plan.instance.current),
                    plan.intent,
                    "rollback",
                    "ROLLBACK_INCOMPLETE",
                    plan.served_before,
                ):
                    forget_added(run, plan.added, "rollback")  # proven; otherwise the next run restores it
                    journal.done()
            else:
                journal.phase("left by rollback: False")
                by_hand = restore_by_hand([(pp.part, pp.current) for pp in changed], plan.intent)
                run.note(
                    Finding(
                        "ROLLBACK_SKIPPED",
                        "warning",
                        "rollback: False — the target was LEFT in the failed state for inspection.",
                        "Inspect, then run 03 again with rollback: True (it restores the journal's snapshot "
                        f"{journal.path} first)"
                        + (f", or restore by hand: {by_hand}" if by_hand else "")
                        + ".",
                    )
                )
            raise exc
        journal.done()
        run.state["after"] = {
            pp.part.kind: (
                front_now if pp is plan.front and front_now is not None else pp.part.read(plan.intent)
            ).to_record()
            for pp in plan.parts
        }


def _prove(run: Run, plan: TopologyPlan) -> Any:
    """The proof over TLS, then the last word: the certificate is still the one served. Returns the front
    as it read back at the end (None when it did not change and was not read)."""
    require_proven(prove_portal(run, plan.intent, plan.http_address), plan.front.part.kind)
    _require_still_served(run, plan)  # first: another tool rebinding is the likelier cause of a difference
    return _require_front_as_planned(run, plan)


def _require_front_as_planned(run: Run, plan: TopologyPlan) -> Any:
    """The front reads back exactly as planned: nothing but what the plan showed changed (HTTP.sys: every
    per-binding setting carried; nginx: the block as rendered). Returns what it read (None: no change)."""
    if not plan.front.changes:
        return None
    front = plan.front
    now = front.part.read(plan.intent)
    kept = now == front.desired
    seen = (
        "as planned"
        if kept
        else "; ".join(d.setting + ": " + d.desired for d in front.part.diff(front.desired, now))
    )
    run.verification.append(
        {
            "check": "binding settings kept",
            "expected": "the front as planned: every setting but the certificate as before",
            "seen": seen or "differs",
            "ok": kept,
            "code": "BINDING_SETTINGS_LOST",
        }
    )
    if not kept:
        raise VerificationError(
            "BINDING_SETTINGS_LOST",
            f"The {front.part.kind} front does not read back as planned: {seen or 'it differs'}.",
            "The previous state is being restored; compare the record's state.before with the front now.",
        )
    return now


def _require_still_served(run: Run, plan: TopologyPlan) -> None:
    """The last word of the run: the certificate served *now* is the one this run wanted."""
    wanted = plan.intent.certificate.thumbprint
    seen = served_thumbprint(run, plan.intent.https_port)
    run.verification.append(
        {
            "check": "served certificate at the end of the run",
            "expected": wanted,
            "seen": seen,
            "ok": seen == wanted,
            "code": "SERVED_CERTIFICATE_CHANGED",
        }
    )
    if seen != wanted:
        raise VerificationError(
            "SERVED_CERTIFICATE_CHANGED",
            f"At the end of the run the portal serves {seen}, not {wanted}, which this run set.",
            "Something else changed the front during the run: check who (another run, a script), then run 03 again.",
        )


def _begin_journal(run: Run, plan: TopologyPlan) -> Checkpoint:
    return Checkpoint.begin(
        run,
        JOURNAL_TOPOLOGY,
        plan.intent.https_port,
        {pp.part.kind: pp.current.to_record() for pp in plan.parts},
        plan.commands(),
        plan.served_before,
        implementations=plan.kinds,
        added=plan.added,
    )
