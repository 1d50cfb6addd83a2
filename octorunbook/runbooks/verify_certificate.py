"""Runbook 02 — prove the certificate in the store is what the TLS front will need. Changes nothing.

The notebook's face (the same four verbs as every runbook, see ``runbooks.face``):

* ``read``   which certificate: the ``thumbprint`` parameter, else the one 01 imported last on this target;
* ``plan``   the checks that will prove it; nothing is changed, so the plan is the list of proofs;
* ``apply``  proves it, each check a row of evidence (expected vs seen) — a signature is made and
  verified with the key, because ``HasPrivateKey`` alone proves nothing;
* ``finish`` emits the record: ``succeeded`` when every check held.

The proofs are ``steps`` (LocalMachine, HTTP.sys topology) and ``store_steps`` (a store over the
target's parts, where the front itself loads the pair: ``nginx -t``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from octorunbook.render import Panel, Row
from octorunbook.runbooks import steps
from octorunbook.runbooks.run import Run
from octorunbook.targets import protocols
from octorunbook.targets.base import StoredCertificate

# What each store family's proof checks, and how the plan names the store.
CHECKS: dict[str, tuple[str, tuple[tuple[str, str], ...]]] = {
    "localmachine": (
        "LocalMachine\\{name}",
        (
            ("present", "in the store named by store"),
            ("scope", "LocalMachine, where HTTP.sys looks"),
            ("private key present", "HasPrivateKey = True"),
            ("private key usable", "sign + verify succeeds"),
            ("valid for hostname", "covers the portal hostname, not expired"),
        ),
    ),
    "pem-directory": (
        "{name}",
        (
            ("present", "its directory in the store"),
            ("private key present", "a key file beside the certificate"),
            ("the store's own proofs", "the key is the certificate's; only the owner can read them"),
            ("the front can load it", "the front's own configuration test (nginx -t)"),
            ("valid for hostname", "covers the portal hostname, not expired"),
        ),
    ),
}


@dataclass(frozen=True)
class Proof:
    """What ``apply`` proves: one certificate, where it is expected to be."""

    thumbprint: str
    where: str


def read(run: Run) -> str:
    """The certificate to prove: the parameter, or 01's last import on this target (said in the record)."""
    return steps.resolve_thumbprint(run)


def plan(run: Run, current: str) -> Proof:
    """The checks ``apply`` will make; nothing is changed by 02, so there is nothing else to plan."""
    store = run.require_target().parts.store
    shape, checks = CHECKS[store.family]
    where = shape.format(name=store.name)
    run.reporter.show(
        Panel(
            f"Plan: prove {current} in {where} — nothing is changed",
            "info",
            [Row("info", check, expected) for check, expected in checks],
        )
    )
    return Proof(current, where)


def apply(run: Run, plan: Proof) -> StoredCertificate | protocols.StoredCertificate | None:
    """Prove it; a failing check fails the run with its code and remedy."""
    return steps.verify_certificate(run, plan.thumbprint)


def finish(run: Run) -> dict[str, Any]:
    """The record: a proof that held is ``succeeded`` although nothing was changed."""
    return run.finish("succeeded")


__all__ = ["Proof", "apply", "finish", "plan", "read"]
