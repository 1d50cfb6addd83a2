"""The manifest: one JSON line per record, each carrying the previous line's hash, optionally signed.

Each line holds ``seq``, ``record``, ``sha256`` (and ``html_sha256``) of the files, the listing fields,
``prev`` (the previous line's ``line_hash``; 64 zeros for the first) and ``line_hash`` = SHA-256 of the
line's canonical JSON without ``line_hash`` and ``sig``. A signed line also carries ``signer`` (the key
id, covered by ``line_hash``) and ``sig`` (Ed25519 over ``line_hash``).

What a verification proves (``audit verify``):

* without a key or a known head: every record matches its line and the lines form one unbroken chain.
  That catches accidents and careless edits, *not* someone who edits a record and recomputes every
  hash after it, nor the last records cut off together with their lines;
* with ``expect_head`` (a ``line_hash`` copied into a ticket after an earlier run): nothing up to that
  line was changed, removed or reordered since, whoever can write the folder (SHA-256 chaining);
* with ``public_key``: every line was written by the holder of the private key, so no line was
  rewritten or added by anyone else; only cutting lines off the end stays possible, which a known
  head rules out for everything up to it.

Beside the chain, a verification reports what lies in ``.in-progress/``: a live run's notebook
(running), a killed run's (``interrupted``: a problem until the next run chains it) and anything that
cannot be trusted, in ``.in-progress/`` or already in ``quarantine/`` (``untrusted``, printed as
``STATE_UNTRUSTED``). Untrusted files are not problems of the chain — they are never part of it — so
they are reported without failing the verification of a chain nobody touched.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..files import MAX_MANIFEST_FILE, MAX_RECORD_FILE, open_limited, read_limited
from ..findings import InputError, OctorunbookError
from .claims import IN_PROGRESS
from .interrupted import scan_in_progress
from .quarantine import QUARANTINE, SetAside, quarantined
from .signing import PublicKey

MANIFEST_NAME = "manifest.jsonl"
GENESIS = "0" * 64
HEX = frozenset("0123456789abcdef")

ProblemKind = Literal[
    "changed",
    "removed",
    "added",
    "manifest-edited",
    "manifest-missing",
    "unsigned",
    "bad-signature",
    "head-missing",
    "interrupted",
]


@dataclass(frozen=True)
class Problem:
    """One reason not to trust the audit directory, in words an operator can act on."""

    kind: ProblemKind
    record: str
    detail: str


@dataclass
class Verification:
    """What ``verify_audit_dir`` found: problems, and what was proven."""

    problems: list[Problem] = field(default_factory=list)
    records: int = 0
    head: str = GENESIS
    signed: int = 0
    head_found_at: int | None = None  # the seq of the expected head, when one was given and found
    interrupted: list[str] = field(default_factory=list)  # chained records of killed runs
    running: list[str] = field(default_factory=list)  # .in-progress notebooks of live runs
    untrusted: list[SetAside] = field(default_factory=list)  # never chained: STATE_UNTRUSTED


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def canonical(entry: dict[str, Any]) -> bytes:
    return json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def line_hash(entry: dict[str, Any]) -> str:
    return sha256(canonical({k: v for k, v in entry.items() if k not in ("line_hash", "sig")}))


def manifest_tail(manifest: Path) -> tuple[int, str, bool]:
    """(next seq, prev hash, ends with newline), reading only the end of the file.

    Only the last line is needed to extend the chain, so storing stays O(1) over thousands of records.
    A last line that is not valid JSON (a crash mid-append, or an edit) is chained by the hash of its raw
    bytes; verification reports it, but the new record is still written.
    """
    try:
        with open_limited(manifest, MAX_MANIFEST_FILE, what="manifest", follow=False) as handle:
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(0, size - 65536))
            chunk = handle.read(65536)
    except InputError as exc:
        if exc.code == "FILE_NOT_FOUND":
            return 1, GENESIS, True
        raise
    if size == 0:
        return 1, GENESIS, True
    body = chunk.rstrip(b"\n")
    if b"\n" not in body and len(chunk) < size:  # a last line longer than 64 KiB: read it all
        body = _read_manifest(manifest).rstrip(b"\n")
    last = body.rsplit(b"\n", 1)[-1]
    try:
        entry = json.loads(last)
        return int(entry["seq"]) + 1, str(entry["line_hash"]), chunk.endswith(b"\n")
    except (ValueError, KeyError, TypeError):
        lines = _read_manifest(manifest).rstrip(b"\n").count(b"\n") + 1
        return lines + 1, sha256(last), chunk.endswith(b"\n")


def chain_head(audit_dir: str | Path) -> tuple[int, str]:
    """(number of manifest lines, last line_hash): the value to anchor outside the directory."""
    seq, head, _ = manifest_tail(Path(audit_dir) / MANIFEST_NAME)
    return seq - 1, head


def head_hint(audit_dir: str | Path) -> str:
    """The line an operator pastes into the change ticket after a run."""
    count, head = chain_head(audit_dir)
    return (
        f"audit head: {head} ({count} records in {audit_dir}) — keep it in the change ticket; "
        f"`octorunbook audit verify {audit_dir} --expect-head {head}` proves later that nothing up to "
        "here was rewritten or removed"
    )


def settled_claims(directory: Path) -> Callable[[str], bool]:
    """Whether a manifest line names a claim id already (:mod:`.claims`); the manifest is read once,
    on the first question, as bytes: a claim id is 32 random hex digits, so a match is conclusive."""
    manifest: list[bytes] = []

    def settled(claim_id: str) -> bool:
        if not manifest:
            path = directory / MANIFEST_NAME
            manifest.append(_read_manifest(path))
        return f'"claim":"{claim_id}"'.encode("ascii") in manifest[0]

    return settled


def require_audit_dir(directory: Path) -> None:
    """Refuse a folder that holds nothing a run writes (a manifest, a record, ``.in-progress/`` or
    ``quarantine/``: a first run killed before storing anything leaves only ``.in-progress/``)."""
    if (directory / MANIFEST_NAME).is_file():
        return
    if not (
        directory.is_dir()
        and any(
            name.endswith(".ipynb") or name in (IN_PROGRESS, QUARANTINE) for name in os.listdir(directory)
        )
    ):
        raise InputError(
            "NOT_AN_AUDIT_DIR",
            f"{directory} is not an audit directory (no {MANIFEST_NAME}, no records).",
            "Pass the directory the runbooks were told to write their records to (audit_dir).",
        )


def require_head(text: str) -> str:
    """A head as pasted from a ticket: 64 hex digits (case and surrounding blanks forgiven)."""
    head = text.strip().lower()
    if len(head) != 64 or not set(head) <= HEX:
        raise InputError(
            "AUDIT_HEAD_INVALID",
            f"{text!r} is not a head hash (64 hex digits).",
            "Paste the whole hash printed after the run (`audit head: …`) or by `audit verify`.",
        )
    return head


def manifest_entries(directory: Path) -> list[tuple[int, bytes, dict[str, Any] | None]]:
    """(line number, raw line, parsed object or None) for every manifest line.

    Split on ``\\n`` only: lines are written with ``ensure_ascii=False``, so a value may hold U+2028, which
    ``str.splitlines`` would also split on. Undecodable bytes survive (surrogateescape) to be hashed.
    """
    data = _read_manifest(directory / MANIFEST_NAME)
    out: list[tuple[int, bytes, dict[str, Any] | None]] = []
    for number, raw in enumerate(data.removesuffix(b"\n").split(b"\n") if data else [], start=1):
        try:
            parsed = json.loads(raw.decode("utf-8", errors="surrogateescape"))
        except ValueError:
            parsed = None
        out.append((number, raw, parsed if isinstance(parsed, dict) else None))
    return out


def _read_manifest(path: Path) -> bytes:
    """The manifest's bytes (none when there is no manifest yet), through the one bounded reader: a FIFO,
    a device or a link in its place is a coded ``InputError``, never a hang."""
    try:
        return read_limited(path, MAX_MANIFEST_FILE, what="manifest", follow=False)
    except InputError as exc:
        if exc.code == "FILE_NOT_FOUND":
            return b""
        raise


def _html_name(record: str) -> str:
    return os.path.splitext(record)[0] + ".html"


def names_a_file_here(name: str) -> bool:
    """True when a manifest's record name is a plain file name in the folder: the manifest is data, it
    supplies no path (no separator, no ``..``, no NUL a crafted line could carry into ``open``)."""
    return (
        name not in ("", ".", "..")
        and "\0" not in name
        and "\\" not in name
        and os.path.basename(name) == name
    )


def _check_file(directory: Path, record: str, name: str, expected: str) -> Problem | None:
    if not names_a_file_here(name):
        return Problem("manifest-edited", record, f"{name!r} in the manifest names no file of this folder")
    try:
        found = sha256(read_limited(directory / name, MAX_RECORD_FILE, what="record file", follow=False))
    except InputError as exc:
        if exc.code == "FILE_NOT_FOUND":
            return Problem("removed", record, f"{name} is listed in the manifest but missing from disk")
        return Problem("changed", record, f"{name}: {exc.code}: {exc.message}")
    if found != expected:
        return Problem(
            "changed", record, f"{name}: sha256 is {found[:16]}…, the manifest says {expected[:16]}…"
        )
    return None


def _line_problems(
    number: int, raw: bytes, entry: dict[str, Any] | None, expected_prev: str, key: PublicKey | None
) -> tuple[list[Problem], str, str]:
    """The problems of one manifest line on its own and against its predecessor.

    Also returns the hash the next line must name as ``prev`` (its stored ``line_hash``, so one edited line
    is reported once, not again for every line after it) and its actual hash (what a known head is).
    """
    where = f"{MANIFEST_NAME} line {number}"
    if entry is None:
        own = sha256(raw)
        return [Problem("manifest-edited", where, f"{where} is not a JSON object")], own, own
    label = str(entry.get("record", "")) or where
    problems = []
    actual = line_hash(entry)
    if entry.get("line_hash") != actual:
        problems.append(Problem("manifest-edited", label, f"{where} does not match its line_hash (edited)"))
    if entry.get("prev") != expected_prev or entry.get("seq") != number:
        problems.append(
            Problem(
                "manifest-edited", label, f"{where} does not follow line {number - 1} (removed or reordered)"
            )
        )
    if key is not None:
        reason = key.problem(entry)
        if reason:
            kind: ProblemKind = "unsigned" if reason == "is not signed" else "bad-signature"
            problems.append(Problem(kind, label, f"{where} {reason}"))
    return problems, str(entry.get("line_hash") or actual), actual


def verify_audit_dir(
    audit_dir: str | Path, *, public_key: PublicKey | None = None, expect_head: str | None = None
) -> Verification:
    """Every reason not to trust ``audit_dir``, and what was proven (see the module docstring).

    Raises InputError NOT_AN_AUDIT_DIR when there is neither a manifest nor a record to check.
    """
    directory = Path(audit_dir)
    require_audit_dir(directory)
    result = Verification()
    problems = result.problems
    if not (directory / MANIFEST_NAME).is_file():
        problems.append(Problem("manifest-missing", MANIFEST_NAME, f"{MANIFEST_NAME} is missing"))
    expected_prev, listed, rendered = GENESIS, set[str](), set[str]()
    for number, raw, entry in manifest_entries(directory):
        found, expected_prev, actual = _line_problems(number, raw, entry, expected_prev, public_key)
        problems.extend(found)
        result.records, result.head = number, expected_prev
        if expect_head is not None and actual == expect_head and result.head_found_at is None:
            result.head_found_at = number
        if entry is None:
            continue
        result.signed += bool(entry.get("sig"))
        record = str(entry.get("record", ""))
        if record in ("", ".", "..") or "/" in record or "\\" in record or record in listed:
            where = f"{MANIFEST_NAME} line {number}"
            problems.append(
                Problem("manifest-edited", record or where, f"{where} names no usable, unique record")
            )
            continue
        listed.add(record)
        if entry.get("status") == "interrupted":
            result.interrupted.append(record)
        checks = [(record, str(entry.get("sha256", "")))]
        if entry.get("html_sha256"):
            rendered.add(_html_name(record))
            checks.append((_html_name(record), str(entry["html_sha256"])))
        problems.extend(p for name, sha in checks if (p := _check_file(directory, record, name, sha)))
    if expect_head is not None and result.head_found_at is None:
        problems.append(
            Problem(
                "head-missing",
                expect_head[:16] + "…",
                f"no manifest line has the expected head {expect_head}: the chain up to it was rewritten, "
                "or lines were removed from its end",
            )
        )
    for name in sorted(os.listdir(directory)):
        if name.startswith(".") or not name.endswith((".ipynb", ".html")):
            continue
        if name not in listed and name not in rendered:
            problems.append(
                Problem("added", name, f"{name} is not in the manifest (added outside the chain)")
            )
    for orphan in scan_in_progress(directory, settled_claims(directory)):
        if orphan.alive:
            result.running.append(orphan.path.name)
        elif orphan.trust in ("claimed", "unchecked"):
            problems.append(Problem("interrupted", orphan.relative, orphan.describe()))
        elif orphan.trust == "untrusted":
            result.untrusted.append(SetAside(orphan.relative, orphan.why))
    result.untrusted.extend(quarantined(directory))
    return result


def verify_chain(audit_dir: str | Path) -> list[Problem]:
    """Every reason not to trust ``audit_dir``; an empty list means the chain is intact."""
    return verify_audit_dir(audit_dir).problems


def check_record(path: Path, public_key: PublicKey | None = None) -> tuple[int | None, list[Problem]]:
    """Verify one record for ``audit show``: its file against its line, and the chain up to that line.

    Only this record's files are hashed; earlier lines are checked against each other (cheap), so showing
    one record of thousands stays fast. Returns (its seq or None, problems).
    """
    directory, name = path.parent, path.name
    if not (directory / MANIFEST_NAME).is_file():
        return None, [Problem("manifest-missing", name, f"no {MANIFEST_NAME} beside {name}: not verifiable")]
    problems: list[Problem] = []
    expected_prev = GENESIS
    for number, raw, entry in manifest_entries(directory):
        found, expected_prev, _ = _line_problems(number, raw, entry, expected_prev, None)
        problems.extend(found)
        if entry is not None and entry.get("record") == name:
            if public_key is not None and (reason := public_key.problem(entry)):
                kind: ProblemKind = "unsigned" if reason == "is not signed" else "bad-signature"
                problems.append(Problem(kind, name, f"{MANIFEST_NAME} line {number} {reason}"))
            checks = [(name, str(entry.get("sha256", "")))]
            if entry.get("html_sha256"):
                checks.append((path.with_suffix(".html").name, str(entry["html_sha256"])))
            problems.extend(p for n, sha in checks if (p := _check_file(directory, name, n, sha)))
            return number, problems
    return None, [
        *problems,
        Problem("added", name, f"{name} is not in {MANIFEST_NAME} (added outside the chain)"),
    ]


def vouched_for(path: Path) -> bool:
    """True when ``path`` is a record the chain vouches for: its line in the manifest, the lines before
    it linked, and the file's hash the line's. A record read back is data that may have been planted or
    edited; only a record the chain vouches for may decide anything (a verdict, a request not made)."""
    try:
        seq, problems = check_record(path)
    except (OctorunbookError, OSError):
        return False
    return seq is not None and not problems
