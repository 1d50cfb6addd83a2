"""Runbook 04: renew or rotate the portal certificate with no restart and no downtime.

HTTP.sys looks the ``sslcert`` binding up at handshake time, so replacing the binding changes the
certificate for the next connection while Octopus keeps running: only a change of listen prefixes needs
the service restart that 03 does. So 04 never stops the service. The order is the safe one:

1. **read** what is served now (TLS handshake), what is bound (every field of the ``sslcert`` record)
   and what is in the store; decide — more than ``renew_before_days`` left and no ``force_renew``: prove
   the current certificate and end ``unchanged``;
2. **obtain and judge** the new certificate (same sources and findings as 01) plus the renewal's own
   check: a certificate that expires sooner, drops the portal's hostname or is weaker is
   ``RENEWAL_REGRESSES``; then import it (01's import, idempotent);
3. **swap** the binding, carrying every non-default per-binding setting (a delete-and-add drops
   ``disablelegacytls`` or ``dsmapperusage`` silently); prove over TLS that the *new* thumbprint is served
   and the rest of the record is unchanged;
4. **retire** the old certificate only after the proof (``retire_old``: kept until it expires, or removed);
   on any failure restore the old binding and prove the old certificate is served again.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from . import certificates
from .findings import Finding, OctorunbookError, TargetError, VerificationError
from .params import RETIRE_CHOICES
from .render import Panel, PlanRow, PlanTable, Row
from .runbook import Run
from .targets.base import SslBinding, StoredCertificate, Target
from .targets.httpsys import carried_settings, sslcert_argv
from .verify import Evidence, TlsEvidence, http_get, tls_handshake

SWAP_SECONDS = 10.0  # how long the proof waits for the new certificate to be served
# netsh http update sslcert does not exist on Server 2012 R2 (build 9600) and older.
UPDATE_SSLCERT_MIN_BUILD = 9601


@dataclass(frozen=True)
class Current:
    """What the portal has now: the binding record, what a client is served, and the bound certificate."""

    binding: SslBinding
    served: TlsEvidence | None
    served_error: str
    stored: StoredCertificate | None
    certificate: x509.Certificate | None

    @property
    def thumbprint(self) -> str:
        return self.binding.certificate_hash

    @property
    def not_after(self) -> datetime | None:
        if self.certificate is not None:
            return self.certificate.not_valid_after_utc
        if self.served is not None and self.served.not_after:
            return datetime.fromisoformat(self.served.not_after)
        return None

    def days_left(self, now: datetime | None = None) -> int | None:
        end = self.not_after
        if end is None:
            return None
        return int((end - (now or datetime.now(UTC))).total_seconds() // 86400)

    def to_record(self) -> dict[str, Any]:
        return {
            "binding": {**self.binding.to_record(), "fields": dict(self.binding.fields)},
            "served": self.served.to_record() if self.served else {"error": self.served_error},
            "in_store": self.stored.to_record() if self.stored else None,
            "days_left": self.days_left(),
        }


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


def _port(run: Run) -> int:
    return run.params.https_port


def read_current(run: Run) -> Current:
    """Served, bound and stored — read only. No binding on the port: there is nothing to renew (run 03)."""
    target = run.require_target()
    p = run.params
    with run.step():
        target.octopus.require_instance()
        binding = target.httpsys.show(p.https_port)
        if binding is None or not binding.is_octopus:
            raise TargetError(
                "NOT_BOUND",
                f"Port {p.https_port} has no Octopus HTTPS binding to renew"
                + (f" (it belongs to appid {binding.application_id})." if binding else "."),
                "Add the binding first with 01 → 03 (`octorunbook run params.yaml`), or check https_port.",
            )
        served, error = _served(target, p.https_port, p.hostname)
        stored = (
            target.store.get_certificate(binding.certificate_hash, binding.store_name)
            if target.store.store_exists(binding.store_name)
            else None
        )
        pem = target.store.certificate_pem(binding.certificate_hash, binding.store_name) if stored else None
        cert = x509.load_pem_x509_certificate(pem) if pem else None
        current = Current(binding, served, error, stored, cert)
        run.state["before"] = current.to_record()
        days = current.days_left()
        rows = [
            Row("info", "bound (HTTP.sys)", f"{binding.certificate_hash} ({binding.store_name})"),
            Row(
                "ok" if served and served.thumbprint == binding.certificate_hash else "warning",
                "served over TLS",
                served.thumbprint if served else f"no answer: {error}",
            ),
            Row(
                "info" if days is None or days > p.renew_before_days else "warning",
                "expires",
                f"{current.not_after:%Y-%m-%d} ({days} days left; renew_before_days {p.renew_before_days})"
                if current.not_after
                else "unknown",
            ),
        ]
        run.reporter.show(Panel("What the portal has now", "info", rows))
        if served is not None and served.thumbprint != binding.certificate_hash:
            raise VerificationError(
                "SERVED_NOT_BOUND",
                f"The portal serves {served.thumbprint}, but HTTP.sys has {binding.certificate_hash} bound "
                f"on {binding.ip_port}.",
                "Something else answers on this port, or a hostname (SNI) binding overrides the IP binding: "
                "`netsh http show sslcert` lists them. Resolve that before renewing.",
            )
    return current


def _served(target: Target, port: int, hostname: str) -> tuple[TlsEvidence | None, str]:
    host, real = target.endpoint(port)
    try:
        return tls_handshake(host, real, hostname), ""
    except OSError as exc:
        return None, str(exc) or type(exc).__name__


def renewal_due(run: Run, current: Current) -> bool:
    """True when this run should replace the certificate; otherwise the current one was proven and kept."""
    p = run.params
    days = current.days_left()
    if p.force_renew:
        run.note(Finding("RENEWAL_FORCED", "info", "force_renew: replacing the certificate now.", ""))
        return True
    if days is not None and days > p.renew_before_days:
        if current.served is None:
            raise VerificationError(
                "PORTAL_NOT_ANSWERING",
                f"The portal does not answer over HTTPS: {current.served_error}.",
                "Read the Octopus server log; `octorunbook check` shows the same from a monitor.",
            )
        run.reporter.show(
            Panel(
                f"Nothing to renew: {days} days left, more than renew_before_days ({p.renew_before_days})",
                "ok",
                [Row("ok", "served and bound", current.thumbprint)],
            )
        )
        run.state["after"] = run.state.get("before")
        run.verification.append(
            {
                "check": "served certificate (SHA-1 thumbprint)",
                "expected": current.thumbprint,
                "seen": current.served.thumbprint,
                "ok": True,
                "code": "SERVED_WRONG_CERTIFICATE",
            }
        )
        return False
    return True


def _strength(key: object) -> int:
    """Comparable security bits (NIST SP 800-57): RSA 2048 = 112, 3072 = 128, P-256 = 128, P-384 = 192."""
    if isinstance(key, rsa.RSAPublicKey):
        size = key.key_size
        return 80 if size < 2048 else 112 if size < 3072 else 128 if size < 7680 else 192
    if isinstance(key, ec.EllipticCurvePublicKey):
        return key.curve.key_size // 2
    return 0


def judge_renewal(run: Run, current: Current, new: certificates.LoadedCertificate) -> None:
    """The renewal's own findings: a replacement must not expire sooner, drop the hostname, or be weaker."""
    p = run.params
    problems: list[str] = []
    info = new.info
    old = current.certificate
    if old is not None and info.not_after < old.not_valid_after_utc:
        problems.append(
            f"it expires sooner ({info.not_after:%Y-%m-%d}) than the current one "
            f"({old.not_valid_after_utc:%Y-%m-%d})"
        )
    if not any(certificates.hostname_matches(name, p.hostname) for name in info.dns_names):
        problems.append(f"it does not name the portal's hostname {p.hostname}")
    if old is not None:
        if _strength(new.certificate.public_key()) < _strength(old.public_key()):
            problems.append(
                f"its key is weaker ({info.key_description}) than the current one "
                f"({certificates.inspect(old).key_description})"
            )
        old_names = set(certificates.inspect(old).dns_names)
        dropped = sorted(n for n in old_names if n not in set(info.dns_names))
        if dropped:
            run.note(
                Finding(
                    "RENEWAL_DROPS_NAMES",
                    "warning",
                    f"The new certificate no longer names {', '.join(dropped)}.",
                    "Clients that use those names will see a name mismatch; include them if they are still used.",
                )
            )
    if info.thumbprint == current.thumbprint:
        raise TargetError(
            "RENEWAL_SAME_CERTIFICATE",
            f"The 'new' certificate {info.thumbprint} is the one already bound.",
            "Point the source at the renewed certificate (pfx_path / pem files / thumbprint).",
        )
    if problems:
        raise TargetError(
            "RENEWAL_REGRESSES",
            "The new certificate would make the portal worse: " + "; ".join(problems) + ".",
            "Get a certificate that lasts longer, names the portal's hostname and has a key at least as "
            "strong; nothing was changed.",
        )


@dataclass(frozen=True)
class Replacement:
    certificate: certificates.LoadedCertificate
    imported_now: bool  # this run put it into the store (rollback removes it again)

    @property
    def thumbprint(self) -> str:
        return self.certificate.info.thumbprint


def obtain_replacement(run: Run, current: Current, prompt: Any = None) -> Replacement | None:
    """When renewal is due: obtain the new certificate (01's sources), judge it, import it. Else None."""
    from .steps import import_certificate, obtain_certificate

    if not renewal_due(run, current):
        return None
    loaded = obtain_certificate(run, prompt)
    with run.step():
        judge_renewal(run, current, loaded)
    before = run.state.get("before")
    import_certificate(run, loaded)
    imported_now = not (run.state.get("before") or {}).get("in_store")
    run.state["import"] = run.state.get("before")
    run.state["before"] = before
    return Replacement(loaded, imported_now and not run.params.dry_run)


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
    b = plan.current.binding
    if plan.method == "octopus":
        host, _, port = b.ip_port.rpartition(":")
        return [target.octopus.ssl_certificate_argv(thumbprint, store, ip_address=host, port=int(port))]
    args = (b.ip_port, thumbprint, b.application_id, store, plan.settings)
    if plan.method == "netsh-update":
        return [sslcert_argv(target.httpsys.exe, "update", *args)]
    return [
        [target.httpsys.exe, "http", "delete", "sslcert", f"ipport={b.ip_port}"],
        sslcert_argv(target.httpsys.exe, "add", *args),
    ]


def _swap(target: Target, plan: SwapPlan, thumbprint: str, store: str) -> None:
    b = plan.current.binding
    host, _, port = b.ip_port.rpartition(":")
    if plan.method == "octopus":
        target.octopus.ssl_certificate(thumbprint, store, ip_address=host, port=int(port))
        return
    args = (b.ip_port, thumbprint, b.application_id, store, plan.settings)
    if plan.method == "netsh-update":
        target.httpsys.set_binding("update", *args)
    else:
        target.httpsys.delete(int(port), host)
        target.httpsys.set_binding("add", *args)


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
                restore(run, plan)
            else:
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
        retire(run, plan)
        after = target.httpsys.show(p.https_port)
        run.state["after"] = {"binding": after.to_record() if after else None}


def prove(run: Run, plan: SwapPlan, thumbprint: str) -> Evidence:
    """The new thumbprint is served to new connections, /api answers, the rest of the record is unchanged."""
    target = run.require_target()
    p = run.params
    evidence = Evidence()
    deadline = time.monotonic() + SWAP_SECONDS
    served, error = _served(target, p.https_port, p.hostname)
    while (served is None or served.thumbprint != thumbprint) and time.monotonic() < deadline:
        time.sleep(0.1)
        served, error = _served(target, p.https_port, p.hostname)
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
    before_fields = _settings_view(plan.current.binding)
    after_fields = _settings_view(after) if after else {}
    evidence.add(
        "binding settings kept",
        "every setting except the hash as before",
        "as before" if after_fields == before_fields else _diff(before_fields, after_fields),
        after is not None and after_fields == before_fields,
        "BINDING_SETTINGS_LOST",
    )
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


def _settings_view(binding: SslBinding) -> dict[str, str]:
    skip = {"certificate hash", "certificate store name"}
    return {k: v for k, v in binding.fields.items() if k.strip().lower() not in skip}


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
        target.store.remove_certificate(old.thumbprint, old.binding.store_name)
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


def restore(run: Run, plan: SwapPlan) -> None:
    """Put the old binding back, prove the old certificate is served again; remove what this run imported."""
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
    served, error = _served(target, run.params.https_port, run.params.hostname)
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
            target.store.remove_certificate(plan.thumbprint, plan.store)
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


__all__ = [
    "RETIRE_CHOICES",
    "Current",
    "Replacement",
    "SwapPlan",
    "apply_swap",
    "judge_renewal",
    "obtain_replacement",
    "plan_swap",
    "read_current",
    "renewal_due",
]
