"""Runbook 04, part 2: swap the HTTP.sys binding with no restart, prove it, retire the old certificate.

The swap keeps every per-binding setting (``carried_settings``); the proof compares the whole
``sslcert`` record before and after, not only the hash; rollback restores the old binding and proves
the old certificate is served again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from octorunbook.evidence.tls import Evidence, http_get
from octorunbook.findings import Finding, OctorunbookError, TargetError, VerificationError
from octorunbook.render import Panel, PlanRow, PlanTable, Row
from octorunbook.runbooks.renewal_state import Current, Replacement, served_now
from octorunbook.runbooks.restore_renewal import (
    RENEWAL_KIND,
    renewal_entry,
    settings_view,
    swap_argv,
    swap_binding,
)
from octorunbook.runbooks.run import Run
from octorunbook.targets.base import Target
from octorunbook.targets.httpsys import carried_settings

SWAP_SECONDS = 10.0  # how long the proof waits for the new certificate to be served
# netsh http update sslcert does not exist on Server 2012 R2 (build 9600) and older.
UPDATE_SSLCERT_MIN_BUILD = 9601


@dataclass(frozen=True)
class SwapPlan:
    current: Current
    thumbprint: str
    store: str
    method: str  # "octopus" | "netsh-update" | "netsh-delete-add"
    why: str
    settings: dict[str, str] = field(default_factory=dict)
    imported_now: bool = False

    @property
    def endpoint(self) -> str:
        return self.current.binding.ip_port


def plan_swap(run: Run, current: Current, new: Replacement | None) -> SwapPlan | None:
    """Which command swaps the binding, and why; every carried setting is shown."""
    if new is None:
        return None
    thumbprint = new.thumbprint
    target = run.require_target()
    p = run.params
    with run.step():
        settings, unknown = carried_settings(current.binding)
        if unknown:
            run.note(
                Finding(
                    "BINDING_FIELDS_UNRECOGNISED",
                    "warning",
                    f"These binding settings could not be read as netsh parameters: {', '.join(unknown)}.",
                    "Compare `netsh http show sslcert` before and after; the record keeps both.",
                )
            )
        build = target.host_info().windows_build
        if not settings:
            method = "octopus"
            why = (
                "only default per-binding settings: Octopus's own documented command rebinds the port "
                "(no restart; listen prefixes unchanged)"
            )
        elif build is not None and build < UPDATE_SSLCERT_MIN_BUILD:
            method = "netsh-delete-add"
            why = (
                f"non-default settings to keep ({', '.join(sorted(settings))}) and Windows build {build} has no "
                "`netsh http update sslcert`: delete and re-add with every setting (a gap of milliseconds)"
            )
        else:
            method = "netsh-update"
            why = (
                f"non-default settings to keep ({', '.join(sorted(settings))}): `Octopus.Server ssl-certificate` "
                "would drop them, `netsh http update sslcert` replaces the hash and keeps them"
            )
        plan = SwapPlan(current, thumbprint, p.store, method, why, settings, new.imported_now)
        rows = [
            PlanRow(
                f"HTTP.sys binding {plan.endpoint}",
                f"{current.thumbprint} ({current.binding.store_name})",
                f"{thumbprint} ({p.store})",
            ),
            *[PlanRow(f"  setting {k}", v, v) for k, v in sorted(settings.items())],
            PlanRow("Octopus service", "running", "running (no restart)"),
            PlanRow(
                "old certificate",
                current.thumbprint,
                "kept until it expires" if p.retire_old == "after-expiry" else "removed after the proof",
            ),
        ]
        run.extra["plan"] = [
            {"setting": r.setting, "current": r.current, "desired": r.desired, "changes": r.changes}
            for r in rows
        ]
        run.extra["swap"] = {"method": method, "why": why, "carried_settings": settings}
        run.reporter.show(
            PlanTable(
                "Plan: swap the certificate" + (" (dry run)" if p.dry_run else "") + f" — {why}",
                rows,
                [" ".join(a) for a in swap_commands(target, plan, thumbprint, p.store)],
            )
        )
    return plan


def swap_commands(target: Target, plan: SwapPlan, thumbprint: str, store: str) -> list[list[str]]:
    return swap_argv(target, plan.current.binding, plan.method, plan.settings, thumbprint, store)


def _swap(target: Target, plan: SwapPlan, thumbprint: str, store: str) -> None:
    swap_binding(target, plan.current.binding, plan.method, plan.settings, thumbprint, store)


def apply_swap(run: Run, plan: SwapPlan | None) -> None:
    """Swap, prove, retire — or restore the old binding and prove the old certificate is served again."""
    if plan is None:
        return
    target = run.require_target()
    p = run.params
    with run.step():
        if p.dry_run:
            run.note(
                Finding("DRY_RUN", "info", "dry_run: the plan above was not applied.", "Set dry_run: False.")
            )
            return
        now = target.httpsys.show(p.https_port)
        if now != plan.current.binding:
            raise TargetError(
                "PLAN_STALE",
                "The binding changed since the plan was made (someone or something else changed it).",
                "Run 04 again: it reads the binding anew.",
            )
        from octorunbook.runbooks.undo import Checkpoint
        from octorunbook.targets.base import BindingState

        # kill -9 between the swap and the proof: the next run restores this binding first — the binding
        # only, no restart, and removes the certificate this run imported (renewal_journal)
        journal = Checkpoint.begin(
            run,
            RENEWAL_KIND,
            p.https_port,
            {"binding": BindingState.read(target, p.https_port).to_record()},
            [" ".join(c) for c in swap_commands(target, plan, plan.thumbprint, plan.store)],
            {p.https_port: plan.current.thumbprint},
            desired={"binding": plan.thumbprint, "store": plan.store},
            **renewal_entry(
                plan.current.binding,
                plan.method,
                plan.settings,
                plan.thumbprint,
                plan.store,
                plan.imported_now,
                p.hostname,
            ),
        )
        try:
            _swap(target, plan, plan.thumbprint, plan.store)
            run.change(
                "swap certificate",
                f"{plan.endpoint}: {plan.current.thumbprint} → {plan.thumbprint} ({plan.method}, no restart)",
            )
            evidence = prove(run, plan, plan.thumbprint)
            if not evidence.ok:
                first = evidence.failures()[0]
                raise VerificationError(
                    first.code or "VERIFY_FAILED",
                    f"{first.check}: expected {first.expected}, seen {first.seen}.",
                    "The old binding was restored; read the binding rows in the record.",
                )
        except BaseException:
            if p.rollback:
                journal.phase("rolling back")
                if restore(run, plan):
                    journal.done()
            else:
                journal.phase("left by rollback: False")
                run.note(
                    Finding(
                        "ROLLBACK_SKIPPED",
                        "warning",
                        "rollback: False — the binding was LEFT in the failed state for inspection.",
                        "Restore by hand: "
                        + "; ".join(
                            " ".join(a)
                            for a in swap_commands(
                                target, plan, plan.current.thumbprint, plan.current.binding.store_name
                            )
                        ),
                    )
                )
            raise
        journal.done()  # proven: nothing left to restore (retiring the old certificate changes no binding)
        retire(run, plan)
        after = target.httpsys.show(p.https_port)
        run.state["after"] = {"binding": after.to_record() if after else None}


def prove(run: Run, plan: SwapPlan, thumbprint: str) -> Evidence:
    """The new thumbprint is served to new connections, /api answers, the rest of the record is unchanged."""
    target = run.require_target()
    p = run.params
    evidence = Evidence()
    deadline = time.monotonic() + SWAP_SECONDS
    served, error = served_now(target, p.https_port, p.hostname)
    while (served is None or served.thumbprint != thumbprint) and time.monotonic() < deadline:
        time.sleep(0.1)
        served, error = served_now(target, p.https_port, p.hostname)
    evidence.add(
        "served certificate (SHA-1 thumbprint)",
        thumbprint,
        served.thumbprint if served else f"handshake failed: {error}",
        served is not None and served.thumbprint == thumbprint,
        "SERVED_WRONG_CERTIFICATE",
    )
    if served is not None:
        evidence.tls = served
        run.extra["tls"] = served.to_record()
    host, real = target.endpoint(p.https_port)
    try:
        answer = http_get(
            "https", host, real, p.hostname if p.https_port == 443 else f"{p.hostname}:{p.https_port}"
        )
        doc = answer.json() or {}
        evidence.add(
            "GET /api over HTTPS",
            "Octopus JSON (Application, Version)",
            f"{answer.status} {doc.get('Application', '?')} {doc.get('Version', '')}".strip(),
            answer.status == 200 and doc.get("Application") == "Octopus Deploy",
            "API_NOT_OCTOPUS",
        )
        run.octopus_version = str(doc.get("Version", ""))
    except OSError as exc:
        evidence.add("GET /api over HTTPS", "200", f"no answer: {exc}", False, "PORTAL_NOT_ANSWERING")
    after = target.httpsys.show(p.https_port)
    before_fields = settings_view(plan.current.binding)
    after_fields = settings_view(after) if after else {}
    evidence.add(
        "binding settings kept",
        "every setting except the hash as before",
        "as before" if after_fields == before_fields else _diff(before_fields, after_fields),
        after is not None and after_fields == before_fields,
        "BINDING_SETTINGS_LOST",
    )
    if evidence.ok:
        from octorunbook.runbooks.posture_step import record_posture

        record_posture(run, evidence)
    run.verification += [c.to_record() for c in evidence.checks]
    run.reporter.show(
        Panel(
            "Proof over TLS (no restart)",
            "ok" if evidence.ok else "error",
            [
                Row("ok" if c.ok else "error", c.check, f"expected {c.expected}; seen {c.seen}")
                for c in evidence.checks
            ],
        )
    )
    return evidence


def _diff(before: dict[str, str], after: dict[str, str]) -> str:
    keys = sorted(set(before) | set(after))
    return "; ".join(
        f"{k}: {before.get(k, '-')} → {after.get(k, '-')}" for k in keys if before.get(k) != after.get(k)
    )


def retire(run: Run, plan: SwapPlan) -> None:
    """After the proof only: keep the old certificate until it expires (rollback stays possible), or remove it."""
    target = run.require_target()
    old = plan.current
    run.extra["retired"] = {
        "thumbprint": old.thumbprint,
        "store": old.binding.store_name,
        "how": run.params.retire_old,
    }
    if run.params.retire_old != "remove":
        end = old.not_after
        run.change(
            "keep old certificate", f"{old.thumbprint} kept until {end:%Y-%m-%d}" if end else old.thumbprint
        )
        return
    try:
        target.parts.store.sibling(old.binding.store_name).remove(old.thumbprint)
        run.change("remove old certificate", f"{old.thumbprint} from LocalMachine\\{old.binding.store_name}")
    except OctorunbookError as exc:
        run.note(
            Finding(
                "RETIRE_FAILED",
                "warning",
                f"The new certificate is served, but removing the old one failed: {exc.message}",
                "Remove it by hand once nothing uses it (certlm.msc).",
            )
        )


def restore(run: Run, plan: SwapPlan) -> bool:
    """Put the old binding back, prove the old certificate is served again; remove what this run imported.

    True when the old certificate is proven to be served again."""
    target = run.require_target()
    old = plan.current.binding
    try:
        restore_plan = SwapPlan(
            plan.current, old.certificate_hash, old.store_name, plan.method, plan.why, plan.settings
        )
        if target.httpsys.show(run.params.https_port) is None and plan.method != "octopus":
            target.httpsys.set_binding(
                "add", old.ip_port, old.certificate_hash, old.application_id, old.store_name, plan.settings
            )
        else:
            _swap(target, restore_plan, old.certificate_hash, old.store_name)
        run.change("rollback: restore binding", f"{old.ip_port}: {old.certificate_hash} ({old.store_name})")
    except OctorunbookError as exc:
        run.change("rollback: restore binding", f"FAILED: {exc.code} {exc.message}")
        run.note(
            Finding(
                "ROLLBACK_INCOMPLETE",
                "error",
                f"Restoring the old binding failed: {exc.message}",
                "Restore by hand: "
                + "; ".join(
                    " ".join(a) for a in swap_commands(target, plan, old.certificate_hash, old.store_name)
                ),
            )
        )
    served, error = served_now(target, run.params.https_port, run.params.hostname)
    ok = served is not None and served.thumbprint == old.certificate_hash
    run.verification.append(
        {
            "check": "after rollback: old certificate served",
            "expected": old.certificate_hash,
            "seen": served.thumbprint if served else error,
            "ok": ok,
            "code": "ROLLBACK_UNVERIFIED",
        }
    )
    if plan.imported_now and ok:
        try:
            target.parts.store.sibling(plan.store).remove(plan.thumbprint)
            run.change("rollback: remove new certificate", f"{plan.thumbprint} (imported by this run)")
        except OctorunbookError as exc:
            run.change("rollback: remove new certificate", f"FAILED: {exc.code}")
    run.reporter.show(
        Panel(
            "Rolled back: the old certificate is served again" if ok else "Rollback could not be proven",
            "warning" if ok else "error",
            [Row("ok" if ok else "error", "served", served.thumbprint if served else error)],
        )
    )
    return ok


__all__ = ["SwapPlan", "apply_swap", "plan_swap", "prove", "restore", "retire"]
