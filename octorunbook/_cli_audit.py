"""``octorunbook audit list|verify|show``: reading the audit directory from a terminal.

``octorunbook/cli.py`` owns the top-level parser and calls :func:`register`. Each handler returns the
process exit code: 0 all well, 1 the audit directory cannot be trusted (``verify`` found problems),
2 the operator pointed at something that is not an audit directory or a record.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from typing import Any

from .auditlog import chain_head, list_records, read_result, show_record, verify_chain
from .findings import OctorunbookError

COLUMNS = ("when", "runbook", "host", "target", "status", "thumbprint", "operator")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``audit`` and its three commands to the top-level ``octorunbook`` parser."""
    audit = subparsers.add_parser(
        "audit",
        help="list, verify and show the executed-notebook records in an audit directory",
        description="Read the audit directory the runbooks write to: one redacted executed notebook per "
        "run (with an HTML rendering beside it), chained by SHA-256 in manifest.jsonl.",
    )
    commands = audit.add_subparsers(dest="audit_command", required=True, metavar="COMMAND")

    listing = commands.add_parser(
        "list",
        help="table of records, newest first",
        description="Show one row per record, newest first: when, runbook, host, target, status, "
        "thumbprint, operator. Read from manifest.jsonl alone, so it stays fast over thousands of records; "
        "a notebook missing from the manifest is listed too, marked '*' (unverified).",
    )
    listing.add_argument("audit_dir", metavar="DIR", help="the audit directory (the runbooks' audit_dir)")
    listing.add_argument("--limit", type=_positive, metavar="N", help="show only the N newest records")
    listing.add_argument("--json", action="store_true", help="print a JSON array instead of a table")
    listing.set_defaults(func=_list)

    verify = commands.add_parser(
        "verify",
        help="check every record against the hash chain",
        description="Recompute the SHA-256 of every record and HTML rendering and walk the chain in "
        "manifest.jsonl. Reports records changed, removed or added outside the chain and manifest lines "
        "edited, removed or reordered. Exit 0 when intact, 1 when any problem is found, 2 when DIR is not "
        "an audit directory. Copy the printed head hash into the change ticket: it lets a later check "
        "notice records cut off the end of the chain.",
    )
    verify.add_argument("audit_dir", metavar="DIR", help="the audit directory to check")
    verify.set_defaults(func=_verify)

    show = commands.add_parser(
        "show",
        help="render one record as text",
        description="Print one executed notebook's result record: status, who/when/where, the "
        "certificate, what changed, each verification (expected vs seen), findings with remedies, and "
        "every command with its exit code and duration.",
    )
    show.add_argument("record", metavar="FILE", help="a record (.ipynb) from the audit directory")
    show.add_argument("--json", action="store_true", help="print the result record as JSON")
    show.set_defaults(func=_show)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def _fail(error: OctorunbookError) -> int:
    print(str(error), file=sys.stderr)
    return 2


def _list(args: argparse.Namespace) -> int:
    try:
        rows = list_records(args.audit_dir, limit=args.limit)
    except OctorunbookError as error:
        return _fail(error)
    if args.json:
        print(json.dumps([asdict(row) for row in rows], indent=2, ensure_ascii=False))
        return 0
    table = [
        [(row.when + (" *" if row.unverified else "")), *(getattr(row, c) for c in COLUMNS[1:])]
        for row in rows
    ]
    widths = [max([len(c)] + [len(line[i]) for line in table]) for i, c in enumerate(COLUMNS)]
    for line in [list(COLUMNS), *table]:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())
    if any(row.unverified for row in rows):
        print("* not in manifest.jsonl: unverified; run `octorunbook audit verify DIR`")
    return 0


def _verify(args: argparse.Namespace) -> int:
    try:
        problems = verify_chain(args.audit_dir)
    except OctorunbookError as error:
        return _fail(error)
    for problem in problems:
        print(f"{problem.kind:<16} {problem.record}: {problem.detail}")
    if problems:
        print(f"chain broken: {len(problems)} problem(s)")
        return 1
    count, head = chain_head(args.audit_dir)
    print(f"chain intact: {count} records (head {head})")
    return 0


def _show(args: argparse.Namespace) -> int:
    try:
        if args.json:
            result: dict[str, Any] = read_result(args.record)
            print(json.dumps(result, indent=2, ensure_ascii=False))
        else:
            print(show_record(args.record), end="")
    except OctorunbookError as error:
        return _fail(error)
    return 0
