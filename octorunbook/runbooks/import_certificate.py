"""Runbook 01 — put the portal's certificate into the target's store, with its private key.

The notebook's face (the same four verbs as every runbook, see ``runbooks.face``):

* ``read``   obtains the certificate — a new self-signed one, a PFX or PEM files, an ACME CA's, or the one
  already in the store — and judges it the way Windows and browsers will; an error finding stops the
  run here, before anything is imported. Nothing on the target changes;
* ``plan``   looks in the store and says what the import will do, with the command; changes nothing;
* ``apply``  imports it; one already there with its private key is left alone, and ``dry_run`` shows the
  plan only;
* ``finish`` emits the record.

The work is ``steps`` (the LocalMachine store of the HTTP.sys topology) and ``store_steps`` (a store
over the target's parts: nginx's PEM directories); this module only puts it in the notebook's order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from octorunbook import certificates
from octorunbook.render import Panel, PlanRow, PlanTable, Row
from octorunbook.runbooks import steps
from octorunbook.runbooks.run import Run
from octorunbook.targets import protocols
from octorunbook.targets.base import StoredCertificate


@dataclass(frozen=True)
class ImportPlan:
    """The certificate ``read`` obtained, where it goes, and whether it is there already."""

    certificate: certificates.LoadedCertificate
    where: str  # as the operator knows the store: LocalMachine\My, or a PEM directory
    present: bool  # in the store with its private key: the import will leave it alone


def read(run: Run) -> certificates.LoadedCertificate:
    """The certificate from its source, judged; a blocking finding fails the run before any import."""
    return steps.obtain_certificate(run, prompt=run.password_prompt)


def _localmachine(run: Run, store: protocols.CertificateStore, thumbprint: str) -> tuple[str, str, str]:
    steps.require_store(run.require_target())  # STORE_MISSING, not "absent"
    exportable = ", Exportable" if run.params.exportable_key else ""
    return (
        f"LocalMachine\\{store.name}\\{thumbprint}",
        "imported with private key",
        f"import PFX into Cert:\\LocalMachine\\{store.name} (MachineKeySet, PersistKeySet{exportable})",
    )


def _pem_directory(run: Run, store: protocols.CertificateStore, thumbprint: str) -> tuple[str, str, str]:
    where = f"{store.name}/{thumbprint}"
    return (
        where,
        "fullchain.pem + privkey.pem (0600), directory 0700",
        f"write {where}/fullchain.pem and {where}/privkey.pem",
    )


# How each store family's import reads in a plan: where it goes, what it becomes, the command.
IMPORT_PLANS: dict[str, Callable[[Run, protocols.CertificateStore, str], tuple[str, str, str]]] = {
    "localmachine": _localmachine,
    "pem-directory": _pem_directory,
}


def plan(run: Run, current: certificates.LoadedCertificate) -> ImportPlan:
    """Whether the certificate is in the store with its key, and how ``apply`` will import it."""
    store = run.require_target().parts.store
    thumbprint = current.info.thumbprint
    with run.step():
        where, desired, command = IMPORT_PLANS[store.family](run, store, thumbprint)
        existing = store.get(thumbprint)
        present = current.source == "store" or (existing is not None and existing.has_private_key)
        if present:
            run.reporter.show(
                Panel(
                    "Plan: nothing to import", "ok", [Row("ok", where, "already there with its private key")]
                )
            )
        else:
            seen = "present without its private key" if existing is not None else "absent"
            run.reporter.show(
                PlanTable(
                    "Plan: import" + (" (dry run: shown only)" if run.params.dry_run else ""),
                    [PlanRow(where, seen, desired)],
                    [command],
                )
            )
    return ImportPlan(current, where, present)


def apply(run: Run, plan: ImportPlan) -> StoredCertificate | protocols.StoredCertificate | None:
    """Import (idempotent); remembered on the target as the certificate 02 and 03 pick up."""
    return steps.import_certificate(run, plan.certificate)


def finish(run: Run) -> dict[str, Any]:
    """The record: ``succeeded`` when it was imported, ``unchanged`` when it was there already."""
    return run.finish()


__all__ = ["ImportPlan", "apply", "finish", "plan", "read"]
