"""The runbook steps, on any target: plan → apply → verify (→ rollback), the OctopusDSC triad plus proof.

* 01 ``obtain_certificate`` / ``import_certificate``: judged before anything is imported;
* 02 ``verify_certificate``: present, LocalMachine, right store, private key present *and* usable;
* 03 ``plan_binding`` / ``apply_binding`` (``bind.py``, any topology): only the difference is applied,
  proven over TLS, and the snapshot taken before the first change is restored when anything fails.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from octorunbook import certificates
from octorunbook.evidence.tls import Evidence
from octorunbook.findings import Finding, InputError, TargetError, VerificationError
from octorunbook.redaction import Secret, secret_from_env, shown_env_name
from octorunbook.render import Panel, PlanRow, PlanTable, Row, certificate_panel
from octorunbook.runbooks import bind
from octorunbook.runbooks.run import Run
from octorunbook.runbooks.store_steps import (
    import_into_store,
    judge_rows,
    no_store_certificate,
    prove_in_store,
    store_certificate_pem,
    top_issuer,
)
from octorunbook.targets import protocols
from octorunbook.targets.base import STORES, StoredCertificate, Target
from octorunbook.targets.localmachine import LocalMachineStore


# ------------------------------------------------------------------------------------------------
# 01 import
# ------------------------------------------------------------------------------------------------
def pfx_password(run: Run, prompt: Any = None) -> Secret:
    """The PFX password: from the environment variable named by ``pfx_password_env``, else a prompt."""
    secret = secret_from_env(run.params.pfx_password_env)
    if secret is None and prompt is not None:
        secret = prompt()
    if secret is None:
        raise InputError(
            "PFX_PASSWORD_MISSING",
            f"The environment variable {shown_env_name(run.params.pfx_password_env)} is not set, so the PFX cannot be opened.",
            f"Set {shown_env_name(run.params.pfx_password_env)} in the environment JupyterLab or papermill runs in (or type the "
            "password into the form's password field when working interactively).",
        )
    return secret


def obtain_certificate(run: Run, prompt: Any = None) -> certificates.LoadedCertificate:
    """Generate, load or look up the certificate, then judge it. An error finding stops the run here."""
    target = run.require_target()
    p = run.params
    with run.step():
        if p.certificate_source == "self-signed":
            loaded = certificates.generate_self_signed(
                p.hostname,
                p.dns_names[1:],
                p.key_type,  # type: ignore[arg-type]  # checked by Parameters.check()
                p.validity_days,
            )
        elif p.certificate_source == "pfx":
            loaded = certificates.load_pfx_file(p.pfx_path, pfx_password(run, prompt))
        elif p.certificate_source == "pem":
            loaded = certificates.load_pem_pair(p.pem_cert_path, p.pem_key_path)
        elif p.certificate_source == "acme":
            from octorunbook.acme.client import (
                obtain_acme_certificate,  # the acme library loads only when used
            )

            loaded = obtain_acme_certificate(run)
        else:
            thumbprint = certificates.normalize_thumbprint(p.thumbprint)
            pem = STORE_READERS[target.parts.store.family](run, thumbprint)
            if not pem:
                raise TargetError(
                    "CERT_NOT_FOUND",
                    f"There is no certificate {thumbprint} in LocalMachine\\{p.store}.",
                    "Check the thumbprint (copy it from MMC or Get-ChildItem Cert:\\LocalMachine\\My) and the store.",
                )
            from cryptography import x509

            loaded = certificates.LoadedCertificate(x509.load_pem_x509_certificate(pem), None, (), "store")
        findings = certificates.judge(loaded, p.hostname)
        run.findings += findings
        run.certificate = loaded.info.to_record(p.store)
        run.reporter.show(certificate_panel(run.certificate, findings))
        blocking = [f for f in findings if f.severity == "error"]
        if blocking:
            run.findings.remove(blocking[0])
            raise InputError.from_finding(blocking[0])
    return loaded


def import_certificate(
    run: Run, loaded: certificates.LoadedCertificate
) -> StoredCertificate | protocols.StoredCertificate | None:
    """Import into the target's store unless it is already there with its key (idempotent), the way
    the store's family imports (``IMPORTERS``)."""
    return IMPORTERS[run.require_target().parts.store.family](run, loaded)


def _read_localmachine(run: Run, thumbprint: str) -> bytes | None:
    target = run.require_target()
    require_store(target)
    return target.parts.store.certificate_pem(thumbprint)


def _read_pem_directory(run: Run, thumbprint: str) -> bytes | None:
    pem = store_certificate_pem(run, thumbprint)
    if not pem:
        raise no_store_certificate(thumbprint, run.require_target().parts.store.name)
    return pem


def _import_localmachine(
    run: Run, loaded: certificates.LoadedCertificate
) -> StoredCertificate | protocols.StoredCertificate | None:
    """Import into LocalMachine\\<store> from a one-time PFX unless it is already there with its key."""
    target = run.require_target()
    p = run.params
    with run.step():
        thumbprint = loaded.info.thumbprint
        require_store(target)
        existing = target.parts.store.get(thumbprint)
        run.state["before"] = {"in_store": existing.to_record() if existing else None}
        if loaded.source == "store" or (existing is not None and existing.has_private_key):
            stored = existing
            run.reporter.show(
                Panel(
                    "Already in the store: nothing to import",
                    "ok",
                    [Row("ok", f"LocalMachine\\{p.store}", f"{thumbprint} with private key")],
                )
            )
        elif p.dry_run:
            run.reporter.show(
                PlanTable(
                    "Plan (dry run): import",
                    [
                        PlanRow(
                            f"LocalMachine\\{p.store}\\{thumbprint}", "absent", "imported with private key"
                        )
                    ],
                    [
                        f"import PFX into Cert:\\LocalMachine\\{p.store} (MachineKeySet, PersistKeySet"
                        + (", Exportable)" if p.exportable_key else ")")
                    ],
                )
            )
            stored = None
        else:
            stored = _import(run, target, loaded)
        run.state["after"] = {"in_store": stored.to_record() if stored else None}
        if stored is not None:
            target.remember("last-import", {"thumbprint": thumbprint, "store": p.store, "at": run.started_at})
            anchor = top_issuer(loaded)
            if anchor is not None:  # 03 proves the served chain validates to it
                target.remember(f"issuer-{thumbprint}", {"pem": anchor})
    return stored


def _import(run: Run, target: Target, loaded: certificates.LoadedCertificate) -> StoredCertificate:
    """The store imports a one-time PFX (0600, fresh random password, the encryption this Windows
    reads) and deletes it; what the import added and refused is said here."""
    p = run.params
    store = target.parts.store
    if not isinstance(store, LocalMachineStore):  # IMPORTERS sends only the localmachine family here
        raise TypeError(f"{store.kind} is not a LocalMachine store")
    encryption = store.encryption()
    run.secrets_note["private_key_files"].append(
        {"purpose": "one-time PFX for import", "mode": "0600", "encryption": encryption, "removed": True}
    )
    stored = store.add(loaded, exportable=p.exportable_key)
    run.change(
        "import",
        f"{stored.thumbprint} into LocalMachine\\{p.store} ({encryption} PFX)",
        thumbprint=stored.thumbprint,
        store=p.store,
    )
    for intermediate in stored.chain_added:
        run.change(
            "import",
            f"intermediate {intermediate} into LocalMachine\\CA",
            thumbprint=intermediate,
            store="CA",
        )
    for root in stored.roots_not_added:
        run.note(
            Finding(
                "ROOT_NOT_INSTALLED",
                "warning",
                f"The PFX carries a self-signed root ({root}); it was not added to Trusted Root.",
                "Distribute the root to the clients (and this server) by group policy or your PKI, not by hand.",
            )
        )
    return stored


def require_store(target: Target) -> bool:
    """STORE_MISSING before the store is searched: WebHosting is absent without IIS, and "not in the
    store" would send the operator looking for the wrong mistake."""
    store = target.parts.store
    if not store.exists():
        raise TargetError(
            "STORE_MISSING",
            f"The LocalMachine\\{store.name} store does not exist on {target.host}.",
            "WebHosting exists only where IIS 8+ is installed: use store 'My' (Personal), or install IIS.",
        )
    return True


# ------------------------------------------------------------------------------------------------
# 02 verify
# ------------------------------------------------------------------------------------------------
def resolve_thumbprint(run: Run) -> str:
    """The ``thumbprint`` parameter, else the certificate 01 imported most recently on this target."""
    target = run.require_target()
    with run.step():
        if run.params.thumbprint.strip():
            return certificates.normalize_thumbprint(run.params.thumbprint)
        last = target.recall("last-import")
        if not last:
            target.parts.instance.require()  # a mistyped instance is the likelier cause: say that first
            raise InputError(
                "THUMBPRINT_REQUIRED",
                "No thumbprint was given and runbook 01 has not imported a certificate on this target.",
                "Run 01-import-certificate first, or set the thumbprint parameter.",
            )
        run.note(
            Finding(
                "THUMBPRINT_FROM_LAST_IMPORT",
                "info",
                f"Using {last['thumbprint']}, imported by 01 at {last.get('at')} into {last.get('store')}.",
                "Set thumbprint to choose another certificate.",
            )
        )
        return str(last["thumbprint"])


def verify_certificate(run: Run, thumbprint: str) -> StoredCertificate | protocols.StoredCertificate | None:
    """Prove the certificate in the store the way its family proves (``PROVERS``): the LocalMachine key
    test, or the PEM files, their modes and ``nginx -t`` loading them."""
    return PROVERS[run.require_target().parts.store.family](run, thumbprint)


def _verify_localmachine(run: Run, thumbprint: str) -> StoredCertificate | protocols.StoredCertificate | None:
    """Prove the certificate in LocalMachine\\<store>; in a dry-run procedure, show what will be proven."""
    target = run.require_target()
    p = run.params
    evidence = Evidence()
    with run.step():
        require_store(target)
        store = target.parts.store
        stored = store.get(thumbprint)
        planned = run.planned_import(thumbprint) if stored is None else None
        if planned is not None:
            _plan_verification(run, thumbprint, planned)
            return None
        if stored is None:
            other = next(
                (
                    name
                    for name in STORES
                    if name != store.name
                    and (sibling := store.sibling(name)).exists()
                    and sibling.get(thumbprint)
                ),
                None,
            )
            if other:
                raise TargetError(
                    "CERT_IN_OTHER_STORE",
                    f"{thumbprint} is in LocalMachine\\{other}, not in LocalMachine\\{p.store}.",
                    f"Set store: {other}, or import it into {p.store} with 01.",
                )
            raise TargetError(
                "CERT_NOT_FOUND",
                f"There is no certificate {thumbprint} in LocalMachine\\{p.store}.",
                "Run 01-import-certificate, or check the thumbprint and store.",
            )
        evidence.add("present", f"{thumbprint} in the store", stored.thumbprint, True)
        evidence.add(
            "scope", "LocalMachine", stored.location, stored.location == "LocalMachine", "NOT_LOCAL_MACHINE"
        )
        evidence.add(
            "store", p.store, stored.store, stored.store.lower() == p.store.lower(), "CERT_IN_OTHER_STORE"
        )
        evidence.add(
            "private key present",
            "HasPrivateKey = True",
            str(stored.has_private_key),
            stored.has_private_key,
            "PFX_NO_PRIVATE_KEY",
        )
        if stored.has_private_key:
            for proof in store.prove(thumbprint):  # sign + verify: KEY_NOT_USABLE, KEY_NOT_ACCESSIBLE
                evidence.add(proof.check, proof.expected, proof.seen, proof.ok, proof.code)
        pem = store.certificate_pem(thumbprint)
        if pem:
            from cryptography import x509

            loaded = certificates.LoadedCertificate(x509.load_pem_x509_certificate(pem), None, (), "store")
            run.certificate = loaded.info.to_record(p.store)
            judge_rows(evidence, loaded, p.hostname)
        run.verification = [c.to_record() for c in evidence.checks]
        rows = [
            Row("ok" if c.ok else "error", c.check, f"expected {c.expected}; seen {c.seen}")
            for c in evidence.checks
        ]
        run.reporter.show(Panel("Certificate in the store", "ok" if evidence.ok else "error", rows))
        if not evidence.ok:
            first = evidence.failures()[0]
            raise VerificationError(
                first.code or "VERIFY_FAILED",
                f"{first.check}: {first.seen}",
                _REMEDIES.get(first.code, "Re-import the certificate with 01 and run 02 again."),
            )
    return stored


def _plan_verification(run: Run, thumbprint: str, planned: dict[str, Any]) -> None:
    """Dry run, certificate not imported yet: the checks 02 will make of the certificate 01 would import."""
    p = run.params
    run.certificate = planned
    names = ", ".join(str(n) for n in planned.get("dns_names") or [])
    run.reporter.show(
        PlanTable(
            f"Plan (dry run): what 02 will prove of {thumbprint}, the certificate 01 would import",
            [
                PlanRow("present", "not imported yet", f"{thumbprint} in LocalMachine\\{p.store}"),
                PlanRow("scope", "-", "LocalMachine"),
                PlanRow("store", "-", p.store),
                PlanRow("private key present", "-", "HasPrivateKey = True"),
                PlanRow("private key usable", "-", "sign + verify succeeds"),
                PlanRow("valid for hostname", names or "-", f"covers {p.hostname}, not expired"),
            ],
            [],
        )
    )
    run.note(
        Finding(
            "DRY_RUN",
            "info",
            f"dry_run: {thumbprint} is not in the store (01 only planned its import); nothing was proven.",
            "Set dry_run: False to import, then prove it.",
        )
    )


_REMEDIES = {
    "PFX_NO_PRIVATE_KEY": "Re-import the PFX *with* its private key (01); HTTP.sys cannot serve a certificate without one.",
    "KEY_NOT_ACCESSIBLE": "The key file is missing or its ACL blocks us: re-import the PFX into LocalMachine (01), "
    "as Administrator.",
    "KEY_NOT_USABLE": "The key does not sign: re-import the PFX (01); if it persists, use a CryptoAPI provider.",
    "CERT_EXPIRED": "Renew the certificate and import the new one.",
    "HOSTNAME_MISMATCH": "Use a certificate whose SAN covers the portal hostname.",
}


# How each store family reads, imports and proves: a new family is one entry in each, not a branch.
STORE_READERS: dict[str, Callable[[Run, str], bytes | None]] = {
    "localmachine": _read_localmachine,
    "pem-directory": _read_pem_directory,
}
IMPORTERS: dict[
    str,
    Callable[[Run, certificates.LoadedCertificate], StoredCertificate | protocols.StoredCertificate | None],
] = {"localmachine": _import_localmachine, "pem-directory": import_into_store}
PROVERS: dict[str, Callable[[Run, str], StoredCertificate | protocols.StoredCertificate | None]] = {
    "localmachine": _verify_localmachine,
    "pem-directory": prove_in_store,
}


# ------------------------------------------------------------------------------------------------
# 03 bind
# ------------------------------------------------------------------------------------------------
def plan_binding(run: Run, thumbprint: str) -> bind.TopologyPlan:
    """03's plan, on any topology (HTTP.sys or nginx): ``bind.py`` over the target's parts."""
    return bind.plan(run, thumbprint)


def apply_binding(run: Run, plan: bind.TopologyPlan) -> None:
    bind.apply(run, plan)


__all__ = [
    "apply_binding",
    "import_certificate",
    "obtain_certificate",
    "plan_binding",
    "require_store",
    "resolve_thumbprint",
    "verify_certificate",
]
