"""Runbook 05: harden what the portal's TLS endpoint accepts — planned by default, proven by a scan.

1. **scan** the posture as it is (the evidence an auditor asks for first);
2. **plan** the least intrusive change that turns TLS 1.0/1.1 off: on Windows Server 2019 and later (and
   the sandbox, which models it) the per-binding way — the portal's ``sslcert`` binding updated with
   ``disablelegacytls=enable``, every other setting of the binding carried, no reboot; on older Windows the
   SCHANNEL registry values, read first, with the reboot and the clients it may break spelled out;
3. **apply** only with ``apply: true`` (``dry_run`` still wins), then **prove** with the same scan; a
   per-binding change that does not prove is undone with the exact rollback command. A SCHANNEL change
   takes effect after a reboot: the record says so and the proof is the scan after it.

Behind nginx the TLS settings are ``ssl_protocols`` / ``ssl_ciphers`` in the managed server block: the
front plans them (a block 03 wrote today already has 05's values, so the plan is usually empty), applies
the hardened block with its own ``nginx -t`` and reload (no reboot, no restart), and the scan after the
reload is the proof; a block that does not prove is put back the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from octorunbook.evidence.posture import PostureReport
from octorunbook.findings import Finding, TargetError, VerificationError
from octorunbook.render import Panel, PlanRow, PlanTable, Row
from octorunbook.runbooks.posture_step import legacy_accepted, record_posture
from octorunbook.runbooks.restore_parts import observed, restore_parts, topology
from octorunbook.runbooks.run import Run
from octorunbook.runbooks.undo import Checkpoint
from octorunbook.targets.hardening import (
    HardenableFront,
    HardeningPlan,
    apply_schannel,
    plan_schannel,
    read_schannel,
)
from octorunbook.targets.hardening.windows import DISABLE_LEGACY_TLS_MIN_BUILD, PER_BINDING_MAY_BREAK
from octorunbook.targets.httpsys.front import HttpSysBinding, HttpSysFront
from octorunbook.targets.protocols import PortalIntent


@dataclass(frozen=True)
class Hardening:
    before: PostureReport | None
    binding: HttpSysBinding | None  # HTTP.sys: the portal's binding as read (None: nginx, or SCHANNEL)
    plan: HardeningPlan
    site: Any = None  # nginx: the managed block's state as read (what a failed proof restores)

    @property
    def unchanged(self) -> bool:
        return self.plan.unchanged


def _per_binding(front: HttpSysFront, current: HttpSysBinding) -> HardeningPlan:
    """The portal's binding updated with ``disablelegacytls=enable``, every other setting carried — the
    front's own in-place swap (``front.argv``), and its inverse as the undo."""
    desired = front.with_settings(current, {**current.carried, "disablelegacytls": "enable"})
    front.require_supported(current, desired.carried)  # BINDING_SETTING_UNSUPPORTED: nothing planned
    commands = tuple(tuple(a) for a in front.argv(current, desired)) if desired != current else ()
    undo = tuple(tuple(a) for a in front.argv(desired, current)) if desired != current else ()
    settings = current.carried
    return HardeningPlan(
        strategy="per-binding",
        changes=(),
        commands=commands,
        rollback_commands=undo,
        reboot_required=False,
        notes=(
            f"Only the binding {current.endpoint} changes; HTTP.sys applies it to new connections, no reboot.",
            "Every other setting of the binding is carried: " + (", ".join(sorted(settings)) or "none set"),
        ),
        may_break=PER_BINDING_MAY_BREAK,
    )


def scan_posture(run: Run) -> PostureReport | None:
    """The posture as it is, kept as the state before: the evidence an auditor asks for first, and
    what the plan is made for. Changes nothing."""
    with run.step():
        before = record_posture(run)
        run.state["before"] = {"posture": run.extra.pop("posture", None)}
    return before


def plan_hardening(run: Run, before: PostureReport | None) -> Hardening:
    """Choose and show the plan for the posture :func:`scan_posture` found. Changes nothing."""
    target = run.require_target()
    p = run.params
    with run.step():
        front = target.parts.front
        if isinstance(front, HardenableFront) or not isinstance(front, HttpSysFront):
            return _plan_front(run, before)  # a front that owns its TLS text (nginx), or says it cannot
        current = front.read(PortalIntent.location(p.hostname, p.https_port))
        binding = current if current.thumbprint else None
        build = target.host_info().windows_build
        per_binding_ok = binding is not None and (
            target.kind == "sandbox" or _has_legacy_tls_flag(front, p.https_port, build)
        )
        if per_binding_ok and binding is not None:
            plan = _per_binding(front, binding)
        elif target.kind == "windows":
            plan = plan_schannel(read_schannel(run.runner), order=p.schannel_cipher_order)
        else:
            raise TargetError(
                "NOT_BOUND",
                f"Port {p.https_port} has no HTTPS binding to harden.",
                "Add the binding first with 01 → 03 (`octorunbook run params.yaml`), or check https_port.",
            )
        rows = [PlanRow(c.path + "\\" + c.name, str(c.before), str(c.after)) for c in plan.changes]
        if plan.strategy == "per-binding" and binding is not None:
            flag = binding.carried.get("disablelegacytls", "not set")
            rows.append(PlanRow(f"binding {binding.endpoint} disablelegacytls", flag, "enable"))
        _show_plan(run, plan, rows, "TLS 1.0/1.1 are already off for this binding")
    return Hardening(before, binding, plan)


def _has_legacy_tls_flag(front: HttpSysFront, port: int, build: int | None) -> bool:
    """Per-binding hardening only where this host's netsh shows the *Disable Legacy TLS Versions* field (the
    build alone is not enough: Server 2019 also needs KB4490481). With translated labels, whether
    ``netsh http add sslcert help`` lists ``disablelegacytls`` (parameter names are not translated); only
    when that help cannot be read either does the build decide."""
    shown = front.prints_legacy_tls_flag(port)
    if shown is not None:
        return shown
    listed = front.netsh_lists("disablelegacytls")
    if listed is not None:
        return listed
    return build is not None and build >= DISABLE_LEGACY_TLS_MIN_BUILD


def _plan_front(run: Run, before: PostureReport | None) -> Hardening:
    """A front that owns its TLS text (nginx): its plan for the block as it is now."""
    front = run.require_target().parts.front
    if not isinstance(front, HardenableFront):
        raise TargetError(
            "RUNBOOK_NOT_FOR_FRONT",
            f"The {front.kind} front cannot be hardened by 05.",
            "`octorunbook posture` scans what it accepts.",
        )
    p = run.params
    site = front.read(PortalIntent.location(p.hostname, p.https_port))
    if not front.serves(site):
        raise TargetError(
            "NOT_BOUND",
            f"The {front.kind} front has no managed HTTPS server block for port {p.https_port} to harden.",
            "Add it first with 01 → 03 (`octorunbook run params.yaml`), or check https_port.",
        )
    plan = front.hardening_plan(site)
    rows = [
        PlanRow(f"{c.name} ({c.path})", str(c.before or "nginx default"), str(c.after)) for c in plan.changes
    ]
    _show_plan(run, plan, rows, "the managed server block already has 05's protocols and ciphers")
    return Hardening(before, None, plan, site)


def _show_plan(run: Run, plan: HardeningPlan, rows: list[PlanRow], nothing: str) -> None:
    p = run.params
    if plan.unchanged:
        note = f"nothing to change: {nothing}"
    else:
        note = "apply: true applies it" if not p.apply else "it will be applied now"
    run.extra["hardening_plan"] = plan.to_record()
    run.reporter.show(
        PlanTable(f"Hardening plan ({plan.strategy}) — {note}", rows, [" ".join(c) for c in plan.commands])
    )
    run.reporter.show(
        Panel(
            "Before you apply",
            "warning" if plan.reboot_required else "info",
            [
                Row(
                    "warning" if plan.reboot_required else "info",
                    "reboot",
                    "needed" if plan.reboot_required else "not needed",
                )
            ]
            + [Row("info", "note", n) for n in plan.notes]
            + [Row("warning", "may break", m) for m in plan.may_break]
            + [Row("info", "undo", " ".join(c)) for c in plan.rollback_commands],
        )
    )


def apply_hardening(run: Run, hardening: Hardening) -> None:
    """With ``apply: true`` only: run the plan, then prove it with the same scan (or undo it)."""
    target = run.require_target()
    p = run.params
    plan = hardening.plan
    with run.step():
        if not p.apply or p.dry_run or plan.unchanged:
            reason = (
                "nothing to change"
                if plan.unchanged
                else "plan only (apply: false)"
                if not p.apply
                else "dry_run"
            )
            run.note(
                Finding(
                    "HARDENING_NOT_APPLIED", "info", f"Not applied: {reason}.", "Set apply: true to apply it."
                )
            )
            record_posture(run)  # its findings (TLS_LEGACY_PROTOCOL among them) are noted once, there
            return
        if plan.strategy == "schannel":
            applied = apply_schannel(run.runner, plan, target.state())
            run.extra["schannel_backup"] = applied.to_record()
            run.change("set SCHANNEL values", f"{len(plan.changes)} registry values; reboot needed")
            run.note(
                Finding(
                    "REBOOT_REQUIRED",
                    "warning",
                    "SCHANNEL changes take effect after a reboot: the scan below still shows the old posture.",
                    "Reboot in a maintenance window, then run 05 again (plan only): its scan is the proof.",
                )
            )
            record_posture(run)
            return
        if hardening.site is not None:
            _apply_front(run, hardening)
            return
        _apply_per_binding(run, hardening)


def _checkpoint(run: Run, front_state: Any) -> tuple[Checkpoint, PortalIntent, dict[int, str], Any]:
    """05's checkpoint: the front as it is and the instance (unchanged), before the first change."""
    parts = topology(run)
    where = PortalIntent.location(run.params.hostname, run.params.https_port)
    instance = parts.instance.read(where)
    served_before = observed(run, [where.https_port])
    snapshot = {parts.front.kind: front_state.to_record(), parts.instance.kind: instance.to_record()}
    commands = [" ".join(c) for c in run.extra.get("hardening_commands", [])]
    checkpoint = Checkpoint.begin(run, "parts", where.https_port, snapshot, commands, served_before)
    return checkpoint, where, served_before, instance


def _roll_back(
    run: Run, checkpoint: Checkpoint, front_state: Any, instance: Any, where: PortalIntent
) -> None:
    """The one undo engine: the front gets its previous state back, proven by what the port serves."""
    parts = topology(run)
    if restore_parts(
        run,
        [(parts.front, front_state)],
        (parts.front, front_state),
        (parts.instance, instance),
        where,
        "rollback",
        "ROLLBACK_INCOMPLETE",
        checkpoint.served_before,
    ):
        checkpoint.done()


def _apply_per_binding(run: Run, hardening: Hardening) -> None:
    """``disablelegacytls=enable`` on the binding, every other setting carried, in place (the HTTP.sys
    front's update); proven by the scan, or the binding as it was put back through the checkpoint."""
    parts = topology(run)
    front = parts.front
    if not isinstance(front, HttpSysFront):
        raise TargetError(
            "RUNBOOK_NOT_FOR_FRONT", f"The {front.kind} front has no per-binding TLS settings.", ""
        )
    where = PortalIntent.location(run.params.hostname, run.params.https_port)
    current = front.read(where)
    desired = front.with_settings(current, {**current.carried, "disablelegacytls": "enable"})
    front.require_supported(current, desired.carried)  # before the checkpoint: nothing changed yet
    run.extra["hardening_commands"] = front.argv(current, desired)
    checkpoint, where, _, instance = _checkpoint(run, current)
    try:
        front.apply(current, desired, run)
        after = record_posture(run)
        if after is None or legacy_accepted(after):
            raise VerificationError(
                "TLS_LEGACY_PROTOCOL",
                "After the change the portal still accepts TLS 1.0/1.1 (or could not be scanned).",
                "The change was undone. On Windows, check the build supports disablelegacytls (2019+).",
            )
    except BaseException:
        _roll_back(run, checkpoint, current, instance, where)
        raise
    checkpoint.done()


def _apply_front(run: Run, hardening: Hardening) -> None:
    """The hardened block through the front's own test and reload; the scan after it is the proof."""
    front = topology(run).front
    if not isinstance(front, HardenableFront):
        raise TargetError("RUNBOOK_NOT_FOR_FRONT", f"The {front.kind} front cannot be hardened by 05.", "")
    site = hardening.site
    checkpoint, where, _, instance = _checkpoint(run, site)
    try:
        front.apply(site, front.hardened(site), run)
        after = record_posture(run)
        weak = [c for c in ("TLS_LEGACY_PROTOCOL", "TLS_WEAK_CIPHER") if after is None or c in after.codes()]
        if weak:
            raise VerificationError(
                weak[0],
                "After the reload the portal still accepts "
                + ("legacy protocols or weak suites" if after is None else " and ".join(weak))
                + " (or could not be scanned).",
                "The previous server block was put back. Another server block on the same port may set its "
                "own ssl_protocols/ssl_ciphers (`nginx -T`): nginx uses the default server's for the handshake.",
            )
    except BaseException:
        _roll_back(run, checkpoint, site, instance, where)
        raise
    checkpoint.done()


def finish(run: Run) -> dict[str, Any]:
    """``planned`` when nothing was applied by choice; else the usual status."""
    p = run.params
    return run.finish("planned" if (not p.apply or p.dry_run) else None)


__all__ = ["Hardening", "apply_hardening", "finish", "plan_hardening", "scan_posture"]
