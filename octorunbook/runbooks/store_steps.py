"""Runbooks 01 and 02 over ``protocols.CertificateStore`` and ``TlsFront`` (the nginx topology).

01 puts the certificate, its chain and its key into the target's store (for nginx: one PEM directory
per thumbprint, key 0600, directory 0700); 02 proves what the front will need: the files are there,
the key is the certificate's, only the owner can read it, and the front itself can load the pair
(``nginx -t``). The HTTP.sys topology keeps its LocalMachine wording and checks in ``steps``.
"""

from __future__ import annotations

import json
import os
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from octorunbook import certificates
from octorunbook.evidence.tls import Evidence
from octorunbook.findings import Finding, InputError, TargetError, VerificationError
from octorunbook.render import Panel, PlanRow, PlanTable, Row
from octorunbook.runbooks.run import PLANNED_IMPORT_ENV, Run
from octorunbook.targets.protocols import StoredCertificate, TargetParts


def top_issuer(loaded: certificates.LoadedCertificate) -> str | None:
    """The top of the issuer chain the source carried (the root, or the highest intermediate), as PEM."""
    current, top = loaded.certificate, None
    for _ in range(len(loaded.chain)):
        issuer = next((c for c in loaded.chain if c.subject == current.issuer and c != current), None)
        if issuer is None:
            break
        top = current = issuer
        if issuer.subject == issuer.issuer:
            break
    return top.public_bytes(serialization.Encoding.PEM).decode() if top is not None else None


def parts_of(run: Run) -> TargetParts:
    return run.require_target().parts


def planned_import(run: Run, thumbprint: str) -> dict[str, Any] | None:
    """In a dry-run procedure: the record of the certificate 01 would import, if it is ``thumbprint``."""
    if not run.params.dry_run:
        return None
    try:
        data = json.loads(os.environ.get(PLANNED_IMPORT_ENV, "") or "null")
    except ValueError:
        return None
    if isinstance(data, dict) and str(data.get("thumbprint", "")).upper() == thumbprint.upper():
        return data
    return None


def store_certificate_pem(run: Run, thumbprint: str) -> bytes | None:
    """01 with ``certificate_source: store``: the certificate already in the target's store."""
    return parts_of(run).store.certificate_pem(thumbprint)


def import_into_store(run: Run, loaded: certificates.LoadedCertificate) -> StoredCertificate | None:
    """01: write the certificate into the store unless it is there with its key (idempotent)."""
    target = run.require_target()
    store = parts_of(run).store
    with run.step():
        thumbprint = loaded.info.thumbprint
        existing = store.get(thumbprint)
        run.certificate = loaded.info.to_record(store.name)
        run.extra["implementations"] = parts_of(run).kinds()
        run.state["before"] = {"in_store": existing.to_record() if existing else None}
        stored: StoredCertificate | None
        if loaded.source == "store" or (existing is not None and existing.has_private_key):
            stored = existing
            run.reporter.show(
                Panel("Already in the store: nothing to import", "ok", [Row("ok", store.name, thumbprint)])
            )
        elif run.params.dry_run:
            where = f"{store.name}/{thumbprint}"
            run.reporter.show(
                PlanTable(
                    "Plan (dry run): import",
                    [PlanRow(where, "absent", "fullchain.pem + privkey.pem (0600), directory 0700")],
                    [f"write {where}/fullchain.pem and {where}/privkey.pem"],
                )
            )
            stored = None
        else:
            stored = store.add(loaded)
            files = stored.files
            run.change(
                "import",
                f"{thumbprint} into {store.name} ({store.kind})",
                thumbprint=thumbprint,
                store=store.name,
            )
            if files is not None:
                run.secrets_note["private_key_files"].append(
                    {
                        "purpose": "the private key the front serves with",
                        "path": str(files.privkey),
                        "mode": "0600",
                        "encryption": "none (nginx reads it at every reload)",
                        "removed": False,
                    }
                )
        run.state["after"] = {"in_store": stored.to_record() if stored else None}
        if stored is not None:
            target.remember(
                "last-import", {"thumbprint": thumbprint, "store": store.name, "at": run.started_at}
            )
            anchor = top_issuer(loaded)
            if anchor is not None:  # 03 proves the served chain validates to it
                target.remember(f"issuer-{thumbprint}", {"pem": anchor})
    return stored


def prove_in_store(run: Run, thumbprint: str) -> StoredCertificate | None:
    """02: present, key present and the certificate's, owner-only modes, and the front can load it."""
    parts = parts_of(run)
    p = run.params
    evidence = Evidence()
    with run.step():
        run.extra["implementations"] = parts.kinds()
        stored = parts.store.get(thumbprint)
        if stored is None:
            planned = planned_import(run, thumbprint)
            if planned is not None:
                run.certificate = planned
                run.note(
                    Finding(
                        "DRY_RUN",
                        "info",
                        f"dry_run: {thumbprint} is not in {parts.store.name} (01 only planned it); nothing was proven.",
                        "Set dry_run: False to import, then prove it.",
                    )
                )
                return None
            raise TargetError(
                "CERT_NOT_FOUND",
                f"There is no certificate {thumbprint} in {parts.store.name}.",
                "Run 01-import-certificate, or check the thumbprint and cert_dir.",
            )
        run.certificate = stored.to_record()
        evidence.add("present", f"{thumbprint} in {parts.store.name}", stored.thumbprint, True)
        evidence.add(
            "private key present",
            "a key file beside the certificate",
            str(stored.has_private_key),
            stored.has_private_key,
            "PFX_NO_PRIVATE_KEY",
        )
        for proof in [*parts.store.prove(thumbprint), *parts.front.prove_can_serve(stored)]:
            evidence.add(proof.check, proof.expected, proof.seen, proof.ok, proof.code)
        pem = parts.store.certificate_pem(thumbprint)
        if pem:
            loaded = certificates.LoadedCertificate(x509.load_pem_x509_certificate(pem), None, (), "store")
            judge_rows(evidence, loaded, p.hostname)
        run.verification = [c.to_record() for c in evidence.checks]
        rows = [
            Row("ok" if c.ok else "error", c.check, f"expected {c.expected}; seen {c.seen}")
            for c in evidence.checks
        ]
        run.reporter.show(Panel(f"Certificate in {parts.store.name}", "ok" if evidence.ok else "error", rows))
        if not evidence.ok:
            first = evidence.failures()[0]
            raise VerificationError(
                first.code or "VERIFY_FAILED",
                f"{first.check}: {first.seen}",
                _REMEDIES.get(first.code, "Run 01 again to rewrite the certificate's directory, then 02."),
            )
    return stored


def judge_rows(evidence: Evidence, loaded: certificates.LoadedCertificate, hostname: str) -> None:
    """02's judgement of a stored certificate: valid now, for the host name (shared by both stores)."""
    judged = [
        f
        for f in certificates.judge(loaded, hostname)
        if f.code in {"CERT_EXPIRED", "CERT_NOT_YET_VALID", "HOSTNAME_MISMATCH", "CERT_EXPIRES_SOON"}
    ]
    for f in judged:
        evidence.add(f.code.lower().replace("_", " "), "no problem", f.message, f.severity != "error", f.code)
    if not judged:
        evidence.add("valid for hostname", f"covers {hostname}, not expired", "yes", True)


_REMEDIES = {
    "KEY_FILE_TOO_OPEN": "chmod 600 the privkey.pem named above (01 writes it so; something changed it).",
    "CERT_DIR_TOO_OPEN": "chmod 700 the certificate's directory named above.",
    "KEY_MISMATCH": "The key file belongs to another certificate: run 01 again with the right key.",
    "NGINX_CANNOT_LOAD_CERTIFICATE": "Read nginx's message above: nginx must be able to read both files.",
    "CERT_EXPIRED": "Renew the certificate and import the new one.",
    "HOSTNAME_MISMATCH": "Use a certificate whose SAN covers the portal hostname.",
}


def no_store_certificate(thumbprint: str, store: str) -> InputError:
    return InputError(
        "CERT_NOT_FOUND",
        f"There is no certificate {thumbprint} in {store}.",
        "Check the thumbprint (the directory names in cert_dir are thumbprints).",
    )
