"""Runbook 03: plan → apply → verify, and rollback — the HTTPS binding, proven over TLS.

Only the difference between the current and the desired state is applied; the state read before the
first change is the snapshot that rollback restores when any apply step or any verification fails.
"""

from __future__ import annotations

import http.client
from dataclasses import dataclass
from urllib.parse import urlsplit

from .bind_proof import api_rows, finish_proof, served_certificate_rows
from .findings import Finding, TargetError, VerificationError
from .journal import WAIT_SECONDS, ChangeJournal, probe, restore_snapshot
from .journal import restore_commands as snapshot_restore_commands
from .render import Panel, PlanRow, PlanTable
from .runbook import Run
from .targets.base import BindingState, PortalConfig, Target
from .targets.octopus import build_prefix
from .verify import Evidence, HttpAnswer, tls_handshake, wait_for_portal


@dataclass(frozen=True)
class BindingPlan:
    current: BindingState
    prefixes: tuple[str, ...]
    force_ssl: bool
    hsts_enabled: bool
    hsts_max_age: int
    thumbprint: str
    store: str
    port: int

    @property
    def binding_changes(self) -> bool:
        b = self.current.binding
        return (
            b is None
            or b.certificate_hash != self.thumbprint
            or b.store_name.lower() != self.store.lower()
            or not b.is_octopus
        )

    @property
    def desired(self) -> PortalConfig:
        return PortalConfig(self.prefixes, self.force_ssl, self.hsts_enabled, self.hsts_max_age)

    @property
    def config_changes(self) -> bool:
        return self.current.config != self.desired

    @property
    def changes(self) -> bool:
        return self.binding_changes or self.config_changes


def read_binding_state(target: Target, port: int) -> BindingState:
    return BindingState.read(target, port)


def plan_binding(run: Run, thumbprint: str) -> BindingPlan:
    """Read the current state, compute the desired one, show the difference and the exact commands."""
    target = run.require_target()
    p = run.params
    with run.step():
        target.octopus.require_instance()
        stored = (
            target.store.get_certificate(thumbprint, p.store) if target.store.store_exists(p.store) else None
        )
        planned = run.planned_import(thumbprint) if stored is None else None
        if stored is None and planned is None:
            raise TargetError(
                "CERT_NOT_FOUND",
                f"There is no certificate {thumbprint} in LocalMachine\\{p.store}.",
                "Run 01 (import) and 02 (verify) first, or check thumbprint and store.",
            )
        if stored is not None and not stored.has_private_key:
            raise TargetError(
                "PFX_NO_PRIVATE_KEY",
                f"{thumbprint} has no private key in the store.",
                "Re-import the PFX with its private key (01).",
            )
        run.certificate = {**stored.to_record(), "store": p.store} if stored else planned  # planned: dry run
        current = read_binding_state(target, p.https_port)
        if current.binding is not None and not current.binding.is_octopus:
            raise TargetError(
                "PORT_IN_USE",
                f"Port {p.https_port} is bound in HTTP.sys to another application (appid "
                f"{current.binding.application_id}, certificate {current.binding.certificate_hash}).",
                "Binding Octopus would replace that application's HTTPS (IIS uses "
                "{4dc3e181-e14b-4a21-b022-59fc669b0914}). Choose another https_port, or remove that binding first.",
                details={"holder": current.binding.to_record()},
            )
        https = build_prefix("https", p.hostname, p.https_port)
        prefixes = [
            x for x in current.config.listen_prefixes if p.keep_http or not x.lower().startswith("http:")
        ]
        if not any(_same_prefix(x, https) for x in prefixes):
            prefixes.append(https)
        plan = BindingPlan(
            current=current,
            prefixes=tuple(prefixes),
            force_ssl=p.force_ssl,
            hsts_enabled=p.hsts_max_age > 0,
            hsts_max_age=p.hsts_max_age if p.hsts_max_age > 0 else current.config.hsts_max_age,
            thumbprint=thumbprint,
            store=p.store,
            port=p.https_port,
        )
        run.state["before"] = current.to_record()
        weakened = [
            name
            for name, was, will in (
                ("ForceSSL", current.config.force_ssl, plan.force_ssl),
                ("HSTS", current.config.hsts_enabled, plan.hsts_enabled),
            )
            if was and not will
        ]
        if weakened:
            run.note(
                Finding(
                    "PLAN_WEAKENS_SECURITY",
                    "warning",
                    f"This run turns {' and '.join(weakened)} OFF (they are on now), because force_ssl / "
                    "hsts_max_age are not set in the parameters.",
                    "To keep them, run again with force_ssl: True and/or hsts_max_age set; dry_run: True shows the plan.",
                )
            )
        b = current.binding
        rows = [
            PlanRow("listen prefixes", ",".join(current.config.listen_prefixes), ",".join(plan.prefixes)),
            PlanRow(
                "HTTP.sys binding 0.0.0.0:" + str(p.https_port),
                f"{b.certificate_hash} ({b.store_name})" if b else "none",
                f"{thumbprint} ({p.store})",
            ),
            PlanRow("ForceSSL (redirect HTTP)", str(current.config.force_ssl), str(plan.force_ssl)),
            PlanRow(
                "HSTS",
                _hsts(current.config.hsts_enabled, current.config.hsts_max_age),
                _hsts(plan.hsts_enabled, plan.hsts_max_age),
            ),
        ]
        run.extra["plan"] = [
            {"setting": r.setting, "current": r.current, "desired": r.desired, "changes": r.changes}
            for r in rows
        ]
        run.extra["plan_commands"] = [" ".join(a) for a in apply_commands(target, plan)]
        run.reporter.show(
            PlanTable(
                "Plan: current → desired" + (" (dry run)" if p.dry_run else ""),
                rows,
                run.extra["plan_commands"],
            )
        )
    return plan


def _hsts(enabled: bool, max_age: int) -> str:
    return f"on, max-age={max_age}" if enabled else "off"


def _same_prefix(a: str, b: str) -> bool:
    return a.rstrip("/").lower() == b.rstrip("/").lower()


def apply_commands(target: Target, plan: BindingPlan) -> list[list[str]]:
    """The exact argv the apply step will run (shown in the plan), in order: built by the same driver."""
    octo = target.octopus
    if not plan.changes:
        return []
    cmds = []
    if plan.binding_changes:
        cmds.append(octo.ssl_certificate_argv(plan.thumbprint, plan.store, port=plan.port))
    if plan.config_changes:
        cmds.append(octo.configure_argv_for(plan.desired))
        cmds += [octo.service_argv("stop"), octo.service_argv("start")]
    return cmds


def apply_binding(run: Run, plan: BindingPlan) -> None:
    """Apply only the difference, restart, prove it over TLS; on any failure restore the snapshot."""
    target = run.require_target()
    p = run.params
    with run.step():
        if p.dry_run:
            run.note(
                Finding("DRY_RUN", "info", "dry_run: the plan above was not applied.", "Set dry_run: False.")
            )
        elif not plan.changes:
            run.reporter.show(Panel("Already as desired: no command will change anything", "ok"))
        else:
            now = read_binding_state(target, p.https_port)
            if now != plan.current:
                raise TargetError(
                    "PLAN_STALE",
                    "The target changed since the plan was made (someone or something else changed it).",
                    "Run the plan cell again, read the new plan, then apply.",
                    details={"planned_from": plan.current.to_record(), "now": now.to_record()},
                )
            journal = ChangeJournal.begin(
                run,
                plan.current,
                plan.port,
                {"portal": plan.desired.to_record(), "thumbprint": plan.thumbprint, "store": plan.store},
                apply_commands(target, plan),
            )
            try:
                _apply(run, target, plan)
                _prove(run, verify_binding(run, plan))
                _prove_still_served(run, plan)
            except BaseException as exc:  # an interrupt or a bug mid-change must not leave it half-changed
                if p.rollback:
                    journal.phase("rolling back")
                    if rollback(run, plan):
                        journal.done()  # rolled back and proven; otherwise the next run restores it
                else:
                    journal.phase("left by rollback: False")
                    run.note(
                        Finding(
                            "ROLLBACK_SKIPPED",
                            "warning",
                            "rollback: False — the target was LEFT in the failed state for inspection.",
                            "Inspect, then run 03 again with rollback: True or restore by hand: "
                            + "; ".join(" ".join(a) for a in restore_commands(target, plan)),
                        )
                    )
                raise exc
            journal.done()
            run.state["after"] = read_binding_state(target, p.https_port).to_record()
            return
        # dry run or unchanged: still prove what is served, without changing anything
        if not p.dry_run:
            _prove(run, verify_binding(run, plan))
            _prove_still_served(run, plan)
        run.state["after"] = run.state.get("before")


def _prove(run: Run, evidence: Evidence) -> None:
    if not evidence.ok:
        first = evidence.failures()[0]
        raise VerificationError(
            first.code or "VERIFY_FAILED",
            f"{first.check}: expected {first.expected}, seen {first.seen}.",
            _VERIFY_REMEDIES.get(first.code, ""),
        )


def _prove_still_served(run: Run, plan: BindingPlan) -> None:
    """The last word of the run: the certificate served *now* is the one this run bound (re-read over TLS)."""
    target = run.require_target()
    host, real = target.endpoint(plan.port)
    try:
        seen = tls_handshake(host, real, run.params.hostname).thumbprint
    except OSError as exc:
        seen = f"handshake failed: {exc}"
    ok = seen == plan.thumbprint
    run.verification.append(
        {
            "check": "served certificate at the end of the run",
            "expected": plan.thumbprint,
            "seen": seen,
            "ok": ok,
            "code": "SERVED_CERTIFICATE_CHANGED",
        }
    )
    if not ok:
        raise VerificationError(
            "SERVED_CERTIFICATE_CHANGED",
            f"At the end of the run the portal serves {seen}, not {plan.thumbprint}, which this run bound.",
            "Something else changed the HTTP.sys binding during the run: check who (another run, a script, IIS) "
            "with `netsh http show sslcert ipport=0.0.0.0:<port>`, then run 03 again.",
        )


_VERIFY_REMEDIES = {
    "SERVED_WRONG_CERTIFICATE": "HTTP.sys serves another certificate on this port: check `netsh http show sslcert "
    "ipport=0.0.0.0:<port>` and whether another application rebinds it.",
    "PORTAL_NOT_ANSWERING": "The Octopus service did not answer in time: read the Octopus server log "
    "(OctopusServer.txt) for HttpListenerException.",
    "API_NOT_OCTOPUS": "Something else answers on this prefix: check which application holds the port.",
    "NO_REDIRECT": "ForceSSL is set but HTTP is not redirected: restart the Octopus service.",
    "HTTP_STILL_ANSWERS": "HTTP should have been removed: check the listen prefixes.",
    "HSTS_MISSING": "HSTS was enabled but the header is not sent: restart the Octopus service.",
    "SERVED_CHAIN_INCOMPLETE": "HTTP.sys sends the chain Windows builds from LocalMachine\\CA: put the intermediates "
    "there (01 does it from the PFX; check `certutil -store CA`), or bind a PFX that carries them.",
}


def _apply(run: Run, target: Target, plan: BindingPlan) -> None:
    """Octopus's documented order: bind and configure while the service runs, then ``service --stop --start``.

    The HTTP.sys binding is looked up per handshake and ``configure`` only writes the configuration the
    service reads at start, so the portal is down for the restart alone (issue 17: measured by
    ``benchmarks/bench_unavailability.py``). A certificate change with unchanged prefixes needs no restart.
    """
    octo = target.octopus
    if plan.binding_changes:
        octo.ssl_certificate(plan.thumbprint, plan.store, port=plan.port)
        before = plan.current.binding
        run.change(
            "bind certificate",
            f"0.0.0.0:{plan.port}: "
            + (f"{before.certificate_hash} → " if before else "")
            + f"{plan.thumbprint} ({plan.store})",
        )
    if plan.config_changes:
        octo.configure_to(plan.desired)
        run.change(
            "configure",
            f"prefixes {','.join(plan.prefixes)}; ForceSSL {plan.force_ssl}; "
            f"HSTS {_hsts(plan.hsts_enabled, plan.hsts_max_age)}",
        )
        octo.service("stop")
        run.change("service stop", f"instance {target.instance}")
        octo.service("start")
        run.change("service start", f"instance {target.instance}")


def verify_binding(run: Run, plan: BindingPlan) -> Evidence:
    """Evidence rows: served thumbprint over TLS with SNI, /api over HTTPS, redirect, HTTP removal, HSTS."""
    target = run.require_target()
    p = run.params
    evidence = Evidence()

    def progress(elapsed: float, total: float, detail: str) -> None:
        run.reporter.progress("waiting for the portal over HTTPS", elapsed, total, detail)

    answer, error = wait_for_portal(
        lambda: probe(target, "https", p.https_port, p.hostname), timeout=WAIT_SECONDS, progress=progress
    )
    if answer is None:
        evidence.add(
            "portal answers over HTTPS",
            f"{p.https_prefix}api answers",
            error or "no answer",
            False,
            "PORTAL_NOT_ANSWERING",
        )
        run.verification = [c.to_record() for c in evidence.checks]
        return evidence
    host, real = target.endpoint(p.https_port)
    served_certificate_rows(run, evidence, host, real, p.hostname, plan.thumbprint)
    api_rows(run, evidence, answer, p.hsts_max_age)
    http_prefixes = [x for x in plan.current.config.listen_prefixes if x.lower().startswith("http:")]
    for prefix in http_prefixes[:1]:
        parts = urlsplit(prefix)
        port = parts.port or 80
        try:
            plain: HttpAnswer | None = probe(target, "http", port, parts.hostname or p.hostname)
        except (OSError, http.client.HTTPException):
            plain = None
        seen = "no answer" if plain is None else f"{plain.status} {plain.header('Location') or ''}".strip()
        if not p.keep_http:
            evidence.add(
                "HTTP removed", f"{prefix} no longer answers", seen, plain is None, "HTTP_STILL_ANSWERS"
            )
        elif p.force_ssl:
            location = (plain.header("Location") or "") if plain else ""
            evidence.add(
                "HTTP redirects to HTTPS",
                f"3xx → {plan.prefixes and _first_https(plan.prefixes)}",
                seen,
                plain is not None
                and 300 <= plain.status < 400
                and location.lower().startswith(_first_https(plan.prefixes).rstrip("/").lower()),
                "NO_REDIRECT",
            )
        else:
            evidence.add(
                "HTTP still answers",
                f"{prefix}api answers 200",
                seen,
                plain is not None and plain.status == 200,
                "HTTP_NOT_ANSWERING",
            )
    return finish_proof(run, evidence)


def _first_https(prefixes: tuple[str, ...]) -> str:
    return next((x for x in prefixes if x.lower().startswith("https:")), "")


def restore_commands(target: Target, plan: BindingPlan) -> list[list[str]]:
    """What rollback runs (also what the record tells an operator to run by hand when it cannot)."""
    return snapshot_restore_commands(target, plan.current, plan.port)


def rollback(run: Run, plan: BindingPlan) -> bool:
    """Restore the snapshot: binding (or none), prefixes, ForceSSL, HSTS; restart; prove the old state answers."""
    return restore_snapshot(run, plan.current, plan.port, "rollback", "ROLLBACK_INCOMPLETE")
