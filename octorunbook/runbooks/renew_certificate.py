"""Runbook 04 — renew or rotate the portal's certificate with no restart and no downtime.

The notebook's face (the same four verbs as every runbook, see ``runbooks.face``):

* ``read``   what the portal has now — a TLS handshake, the binding (or the server block that names the
  certificate) and the certificate in the store — and the verdict monitoring gives for it
  (``octorunbook check``); changes nothing;
* ``plan``   when renewal is due (or ``force_renew``): obtains the replacement, judges it (it must not
  regress), puts it into the store beside the current one — the portal still serves the current
  one — and shows how the binding will be swapped. Not due: the current certificate is proven to
  cover the hostname and kept; there is no plan and the run ends ``unchanged``;
* ``apply``  swaps, proves over TLS that the new certificate is served, then retires the old one — or
  restores the old binding and removes the replacement again;
* ``finish`` emits the record.

Why ``plan`` imports: the swap is planned for the certificate as the store holds it (its thumbprint,
its store), and an import next to the served certificate changes nothing a client sees. The work is
``renewal_state`` (read, judge, obtain) and ``renew`` (03's plan and apply with only the certificate
different, on every front).
"""

from __future__ import annotations

from typing import Any

from octorunbook.runbooks import renew
from octorunbook.runbooks.renew import Current, RenewalPlan
from octorunbook.runbooks.run import Run


def read(run: Run) -> Current:
    """What is served, bound and stored now, and what ``octorunbook check`` would say of it."""
    current = renew.read_current(run)
    renew.expiry_check(run, current)
    return current


def plan(run: Run, current: Current) -> RenewalPlan | None:
    """None when renewal is not due (the current certificate proven and kept); else the replacement,
    judged and stored beside the current one, and the swap planned."""
    replacement = renew.obtain_replacement(run, current, prompt=run.password_prompt)
    return renew.plan_swap(run, current, replacement)


def apply(run: Run, plan: RenewalPlan | None) -> None:
    """Swap, prove, retire — or restore the old binding; nothing when renewal was not due."""
    renew.apply_swap(run, plan)


def finish(run: Run) -> dict[str, Any]:
    """The record: ``succeeded`` after a proven swap, ``unchanged`` when renewal was not due."""
    return run.finish()


__all__ = ["apply", "finish", "plan", "read"]
