"""``octorunbook fleet summary AUDIT_ROOT``: is every node of the cluster on the new certificate?

Reads the per-node audit folders the Ansible role fetched (``AUDIT_ROOT/<node>/``), verifies each copy's
chain and prints node, last run, status, the served thumbprint and its expiry (see :mod:`octorunbook.fleet`).
Exit 0 every node is well, 1 a node failed, has a broken chain or (with ``--expect-thumbprint``) does not
serve that certificate, 2 AUDIT_ROOT is not a folder of node folders.
"""

from __future__ import annotations

import argparse
from typing import Any

from octorunbook.emit import json_document


def register(sub: Any) -> None:
    fleet = sub.add_parser(
        "fleet",
        help="summarise the audit folders fetched from every node of an HA cluster",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
    )
    actions = fleet.add_subparsers(dest="fleet_command", required=True, metavar="ACTION")
    summary = actions.add_parser("summary", help="one row per node: last run, status, served thumbprint")
    summary.add_argument("audit_root", metavar="AUDIT_ROOT", help="folder of fetched node audit folders")
    summary.add_argument("--json", action="store_true", help="print a JSON array instead of a table")
    summary.add_argument(
        "--expect-thumbprint",
        metavar="SHA1",
        help="every node must serve this certificate (exit 1 otherwise)",
    )
    summary.set_defaults(func=_summary)


def _summary(args: argparse.Namespace) -> int:
    from octorunbook.ops.fleet import summarise, table

    nodes = summarise(args.audit_root, args.expect_thumbprint)
    if args.json:
        print(json_document([n.to_dict() for n in nodes]))
    else:
        print(table(nodes))
    return 1 if any(n.problems for n in nodes) else 0
