"""The fleet summary: one row per node of an HA cluster, from the audit folders fetched to the control node.

The Ansible role fetches each node's audit folder to ``AUDIT_ROOT/<node>/`` (the node's own chain, copied
whole: manifest, records, HTML). This module reads those copies only — it never connects to a node — and
answers the one question of a rollout: *is every node on the new certificate?*

* **last run**: the newest record (when, runbook, status) — a failed run shows as failed even when its
  rollback put the old certificate back;
* **served**: the thumbprint and expiry the newest *successful* binding record (03 or 04, succeeded or
  unchanged) proved over TLS. A failed 03/04 rolled back to that one, so it is what the node serves; a
  node with no successful binding record has none proven;
* **chain**: the copy is verified (``audit verify``): a broken chain is a problem like a failed run.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from octorunbook.audit.chain import MANIFEST_NAME, verify_audit_dir
from octorunbook.audit.listing import RecordSummary, list_records
from octorunbook.audit.records import read_result
from octorunbook.findings import InputError, OctorunbookError

BINDING_RUNBOOKS = ("03-add-https-binding", "04-renew-certificate")
GOOD = ("succeeded", "unchanged")


@dataclass(frozen=True)
class NodeSummary:
    """One node's line in the fleet summary."""

    node: str
    last_run: str  # UTC time of the newest record, "" when there is none
    runbook: str
    status: str  # the newest record's status, or "no records"
    served_thumbprint: str  # "" when no binding was ever proven
    expires: str
    records: int
    chain: str  # "intact" or "broken: <first problem>"
    problems: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "problems": list(self.problems)}


def _served(folder: Path, rows: list[RecordSummary]) -> tuple[str, str]:
    for row in rows:
        if row.runbook in BINDING_RUNBOOKS and row.status in GOOD and not row.unverified:
            try:
                tls = read_result(folder / row.record).get("tls") or {}
            except OctorunbookError:
                continue
            if tls.get("thumbprint"):
                return str(tls["thumbprint"]).upper(), str(tls.get("not_after") or "")
    return "", ""


def summarise_node(folder: Path, expect_thumbprint: str | None = None) -> NodeSummary:
    """The summary of one fetched node folder (with what is wrong with it, if anything)."""
    if not (folder / MANIFEST_NAME).is_file() and not any(folder.glob("*.ipynb")):
        empty = ("no records: the rollout never reached this node",) if expect_thumbprint else ()
        return NodeSummary(folder.name, "", "", "no records", "", "", 0, "empty", empty)
    try:
        rows = list_records(folder)
        verification = verify_audit_dir(folder)
    except OctorunbookError as exc:  # one unreadable copy (a FIFO for its manifest, say): said, and go on
        problem = f"audit folder unreadable: {exc.code}: {exc.message}"
        return NodeSummary(
            folder.name, "", "", "unreadable", "", "", 0, f"unreadable: {exc.code}", (problem,)
        )
    chain = "intact"
    problems: list[str] = []
    if verification.problems:
        first = verification.problems[0]
        chain = f"broken: {first.kind} {first.record}"
        problems.append(f"audit chain broken ({len(verification.problems)} problem(s)): {first.detail}")
    newest = rows[0]
    served, expires = _served(folder, rows)
    if newest.status not in GOOD:
        problems.append(f"last run {newest.runbook} {newest.status}")
    if expect_thumbprint and served != expect_thumbprint.upper():
        problems.append(f"serves {served or 'no proven certificate'}, not {expect_thumbprint.upper()}")
    return NodeSummary(
        folder.name,
        newest.when,
        newest.runbook,
        newest.status,
        served,
        expires,
        len(rows),
        chain,
        tuple(problems),
    )


def summarise(root: str | Path, expect_thumbprint: str | None = None) -> list[NodeSummary]:
    """Every node folder under ``root``, by name."""
    base = Path(root)
    if not base.is_dir():
        raise InputError(
            "FLEET_ROOT_NOT_FOUND",
            f"{root} is not a folder of fetched node audit folders.",
            "Point at the playbook's octorunbook_audit_root (one sub-folder per node).",
        )
    folders = sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise InputError(
            "FLEET_ROOT_EMPTY",
            f"{root} holds no node folders.",
            "Run the rollout playbook first: it fetches each node's audit folder to AUDIT_ROOT/<node>/.",
        )
    return [summarise_node(folder, expect_thumbprint) for folder in folders]


def table(nodes: list[NodeSummary]) -> str:
    """The summary as an aligned text table, problems listed under it."""
    header = ("node", "last run", "runbook", "status", "served thumbprint", "expires", "chain")
    lines = [
        (n.node, n.last_run or "-", n.runbook or "-", n.status, n.served_thumbprint or "-")
        + (n.expires[:10] or "-", n.chain)
        for n in nodes
    ]
    widths = [max(len(row[i]) for row in [header, *lines]) for i in range(len(header))]
    out = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in [header, *lines]
    ]
    for n in nodes:
        out.extend(f"✖ {n.node}: {problem}" for problem in n.problems)
    return "\n".join(out)
