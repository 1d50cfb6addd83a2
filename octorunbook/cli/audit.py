"""``octorunbook audit list|verify|show|keygen``: reading (and anchoring) the audit directory.

``octorunbook/cli/main.py`` owns the top-level parser and calls :func:`register` only when the command is
``audit``. Each handler returns the process exit code: 0 all well, 1 the audit directory or record cannot
be trusted, 2 the operator pointed at something that is not an audit directory, a record or a key.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from octorunbook.emit import json_document
from octorunbook.findings import OctorunbookError

if TYPE_CHECKING:
    from octorunbook.audit.listing import RecordSummary

COLUMNS = ("when", "runbook", "host", "target", "status", "thumbprint", "operator")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``audit`` and its commands to the top-level ``octorunbook`` parser."""
    audit = subparsers.add_parser(
        "audit",
        help="list, verify and show the executed-notebook records in an audit directory",
        description="Read the audit directory the runbooks write to: one redacted executed notebook per "
        "run (with an HTML rendering beside it), chained by SHA-256 in manifest.jsonl, optionally signed.",
    )
    commands = audit.add_subparsers(dest="audit_command", required=True, metavar="COMMAND")

    listing = commands.add_parser(
        "list",
        help="table of records, newest first",
        description="Show one row per record, newest first: when, runbook, host, target, status, "
        "thumbprint, operator. Read from manifest.jsonl alone, so it stays fast over thousands of records; "
        "a notebook missing from the manifest is listed too, marked '*' (unverified), and so is a notebook "
        "a killed run left in .in-progress/ (status interrupted), and a file that will never be chained: "
        "one in .in-progress/ no run could be shown to have written (untrusted) or one already moved to "
        "quarantine/ (quarantined), each with the reason (STATE_UNTRUSTED).",
    )
    listing.add_argument("audit_dir", metavar="DIR", help="the audit directory (the runbooks' audit_dir)")
    listing.add_argument("--limit", type=_positive, metavar="N", help="show only the N newest records")
    listing.add_argument("--json", action="store_true", help="print a JSON array instead of a table")
    listing.add_argument(
        "--with-result",
        action="store_true",
        help="JSON (implies --json) with, in each row, the verification `audit show` makes (verified, "
        "verification) and the record's result record (result: null unless it verifies and holds one), so "
        "a script reads the newest record in the same call that finds it (--limit 1)",
    )
    listing.set_defaults(func=_list)

    verify = commands.add_parser(
        "verify",
        help="check every record against the hash chain (and its signatures, and a known head)",
        description="Recompute the SHA-256 of every record and HTML rendering and walk the chain in "
        "manifest.jsonl. Reports records changed, removed or added outside the chain, manifest lines "
        "edited, removed or reordered, and runs interrupted before they stored their record; files in "
        ".in-progress/ or quarantine/ that are never chained are listed as STATE_UNTRUSTED (they do not "
        "change the exit code: the chain does not hold them). "
        "--public-key proves every line was signed by that key; --expect-head proves nothing up to a head "
        "you kept (a change ticket) was rewritten or removed. Exit 0 when intact, 1 when any problem is "
        "found, 2 on a bad argument or a directory that is not an audit directory.",
    )
    verify.add_argument("audit_dir", metavar="DIR", help="the audit directory to check")
    verify.add_argument("--public-key", metavar="FILE", help="Ed25519 public key (.pub from `audit keygen`)")
    verify.add_argument(
        "--expect-head",
        "--since-head",
        dest="expect_head",
        metavar="HASH",
        help="a head printed after an earlier run: it must still be in the chain",
    )
    verify.set_defaults(func=_verify)

    show = commands.add_parser(
        "show",
        help="verify one record and render it as text",
        description="Verify one record against its manifest line (and the chain up to it), then print its "
        "result record: status, who/when/where, the certificate, what changed, each verification (expected "
        "vs seen), findings with remedies, and every command. Exit 1 when the record does not verify.",
    )
    show.add_argument("record", metavar="FILE", help="a record (.ipynb) from the audit directory")
    show.add_argument("--json", action="store_true", help="print the result record as JSON")
    show.add_argument("--public-key", metavar="FILE", help="also prove its line was signed by this key")
    show.set_defaults(func=_show)

    keygen = commands.add_parser(
        "keygen",
        help="make an Ed25519 key pair for signing the audit trail",
        description="Write a new Ed25519 private key to KEYFILE (mode 0600, never over an existing file) and "
        "its public key to KEYFILE.pub. Keep KEYFILE outside the audit directory and point "
        "OCTORUNBOOK_AUDIT_SIGNING_KEY at it; give KEYFILE.pub to whoever runs `audit verify --public-key`.",
    )
    keygen.add_argument("keyfile", metavar="KEYFILE", help="where to write the private key")
    keygen.set_defaults(func=_keygen)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def _fail(error: OctorunbookError) -> int:
    print(str(error), file=sys.stderr)
    return 2


def _list(args: argparse.Namespace) -> int:
    from octorunbook.audit.listing import list_records

    try:
        rows = list_records(args.audit_dir, limit=args.limit)
    except OctorunbookError as error:
        return _fail(error)
    if args.json or args.with_result:
        print(json_document([_json_row(args.audit_dir, row, args.with_result) for row in rows]))
        return 0
    table = [
        [(row.when + (" *" if row.unverified else "")), *(getattr(row, c) for c in COLUMNS[1:])]
        for row in rows
    ]
    widths = [max([len(c)] + [len(line[i]) for line in table]) for i, c in enumerate(COLUMNS)]
    out = [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in [list(COLUMNS), *table]
    ]
    if any(row.unverified for row in rows):
        out.append("* not in manifest.jsonl: unverified; run `octorunbook audit verify DIR`")
    out.extend(f"{row.record}: {row.note}" for row in rows if row.note)
    sys.stdout.write("\n".join(out) + "\n")
    return 0


def _json_row(audit_dir: str, row: RecordSummary, with_result: bool) -> dict[str, Any]:
    return {**row._asdict(), **_verified_result(audit_dir, row)} if with_result else row._asdict()


def _verified_result(audit_dir: str, row: RecordSummary) -> dict[str, Any]:
    """What ``audit show --json`` gives for a listed row: verified as it verifies, the result only if so.

    A row the chain does not hold (unverified, interrupted, quarantined) is never read: its file may not be
    the runbook's own, and its result would be trusted by nobody. Nor is a manifest line that names a file
    outside the folder: the manifest is data, it supplies no path.
    """
    from pathlib import Path

    from octorunbook.audit.chain import names_a_file_here
    from octorunbook.audit.records import read_result
    from octorunbook.audit.show import verification_lines

    if row.unverified or row.seq is None:
        return {
            "verified": False,
            "verification": [f"{row.record} is not chained in the manifest"],
            "result": None,
        }
    if not names_a_file_here(row.record):
        # the manifest names a file elsewhere (another folder's chain may well verify it): not this folder's
        return {
            "verified": False,
            "verification": [f"{row.record!r} in the manifest is not a record of this folder"],
            "result": None,
        }
    path = Path(audit_dir) / row.record
    trusted, lines = verification_lines(path)
    if not trusted:
        return {"verified": False, "verification": lines, "result": None}
    try:
        result: dict[str, Any] = read_result(path)
    except OctorunbookError as error:
        return {"verified": False, "verification": [*lines, str(error)], "result": None}
    return {"verified": True, "verification": lines, "result": result}


def _verify(args: argparse.Namespace) -> int:
    from octorunbook.audit.chain import require_head, verify_audit_dir
    from octorunbook.audit.signing import load_public_key

    try:
        key = load_public_key(args.public_key) if args.public_key else None
        head = require_head(args.expect_head) if args.expect_head else None
        result = verify_audit_dir(args.audit_dir, public_key=key, expect_head=head)
    except OctorunbookError as error:
        return _fail(error)
    for problem in result.problems:
        print(f"{problem.kind:<16} {problem.record}: {problem.detail}")
    for record in result.interrupted:
        print(f"{'interrupted':<16} {record}: chained record of a run killed before it finished")
    for name in result.running:
        print(f"{'running':<16} .in-progress/{name}: a run still in progress")
    for item in result.untrusted:
        where = f"{item.moved_to} (found as {item.file})" if item.moved_to else item.file
        later = "" if item.moved_to else "; the next run sets it aside"
        print(f"{'STATE_UNTRUSTED':<16} {where}: {item.why} — never chained or signed{later}")
    if result.problems:
        print(f"chain broken: {len(result.problems)} problem(s)")
        return 1
    print(f"chain intact: {result.records} records (head {result.head})")
    if result.untrusted:
        print(
            f"set aside: {len(result.untrusted)} file(s) no run could be shown to have written "
            "(STATE_UNTRUSTED above): not part of the chain"
        )
    if key is not None:
        print(f"signatures: all {result.records} lines signed by {key.key_id} ({key.path})")
    elif result.signed:
        print(f"signatures: {result.signed} signed lines not checked (pass --public-key to prove them)")
    if key is None and head is None:
        print(
            "proven: the records match an unbroken chain. Not proven: that nobody able to write this folder "
            "rewrote it — add --expect-head HASH (kept in a ticket) and --public-key FILE for that."
        )
    if head is not None and result.head_found_at is not None:
        since = result.records - result.head_found_at
        print(
            f"expected head found at line {result.head_found_at}: unchanged up to it; {since} record(s) since"
        )
    return 0


def _show(args: argparse.Namespace) -> int:
    from octorunbook.audit.records import read_result
    from octorunbook.audit.show import show_record, verification_lines
    from octorunbook.audit.signing import load_public_key

    try:
        key = load_public_key(args.public_key) if args.public_key else None
        if args.json:
            result: dict[str, Any] = read_result(args.record)
            text = json_document(result) + "\n"
        else:
            text = show_record(args.record)
        trusted, lines = verification_lines(args.record, key)
    except OctorunbookError as error:
        return _fail(error)
    print("\n".join(lines), file=sys.stdout if not args.json else sys.stderr)
    print(text, end="")
    return 0 if trusted else 1


def _keygen(args: argparse.Namespace) -> int:
    from octorunbook.audit.signing import SIGNING_KEY_ENV, generate_key_pair

    try:
        private, public, key_id = generate_key_pair(args.keyfile)
    except OctorunbookError as error:
        return _fail(error)
    print(f"private key {private} (0600) — keep it outside every audit directory")
    print(f"public key  {public}  (key id {key_id})")
    print(f"sign:   export {SIGNING_KEY_ENV}={private}")
    print(f"verify: octorunbook audit verify DIR --public-key {public}")
    return 0
