"""Settling ``.in-progress/`` before a record is stored: chain what a killed run claimed, set the rest aside.

Two steps, because rendering a killed run's notebook is slow and the writers' lock should not wait
for it: :func:`look` judges every entry (:mod:`.interrupted`) and prepares a record of each claimed
one, outside the lock; :func:`settle`, under the lock, chains those still there unchanged (the same
file, by device and inode, as the one whose bytes were hashed — the record is made from those bytes,
never from a second read), removes leftover claims, and moves everything untrusted to ``quarantine/``
(:mod:`.quarantine`). A running notebook is never touched.

Without the claim key nothing is judged, so nothing is chained or moved: a run refuses to start
(``required``), while storing a record of a run that already happened goes on without settling.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..findings import OctorunbookError
from .chain import settled_claims
from .claims import IN_PROGRESS, claim_key
from .folder import Folder, NotAFolder
from .interrupted import InProgress, folder_verdict, judge
from .quarantine import SetAside, set_aside
from .records import iso

INTERRUPTED_NOTE = (
    "## ⚠ This run was interrupted\n\n"
    "Its process ended before it could store this record (killed, or the machine stopped). What follows is "
    "the notebook as it was last saved, at {saved}; it was chained into the audit trail at {found} by the "
    "next run. Check the target's state: the next run of the procedure restores an unfinished change."
)

MakeRecord = Callable[[Any, bool], Any]  # (notebook, html) -> a prepared record
Chain = Callable[[Any, str], Path]  # (prepared record, claim id) -> the stored record


@dataclass
class Settlement:
    """What one look at ``.in-progress/`` found; holds the opened folder until :meth:`close`."""

    directory: Path
    scratch_path: Path
    scratch: Folder | None = None
    ready: list[tuple[InProgress, Any]] = field(default_factory=list)
    untrusted: list[InProgress] = field(default_factory=list)
    leftovers: list[InProgress] = field(default_factory=list)

    @property
    def busy(self) -> bool:
        return bool(self.ready or self.untrusted or self.leftovers)

    def close(self) -> None:
        if self.scratch is not None:
            self.scratch.close()
            self.scratch = None


def _record_of(orphan: InProgress, make_record: MakeRecord, html: bool) -> Any | None:
    """The claimed orphan as a record (status ``interrupted``) with a note at the top; None if its
    bytes are not a notebook."""
    import nbformat

    try:
        data = json.loads((orphan.data or b"").decode("utf-8"))
        if not isinstance(data, dict):
            return None
        nb = nbformat.from_dict(data)  # type: ignore[no-untyped-call]
        cells = nb.cells
    except (UnicodeDecodeError, ValueError, AttributeError):
        return None
    note = INTERRUPTED_NOTE.format(saved=iso(orphan.modified), found=iso(datetime.now(UTC)))
    cells.insert(0, nbformat.v4.new_markdown_cell(note))  # type: ignore[no-untyped-call]
    nb.metadata.setdefault("octorunbook", {})["interrupted"] = {
        "in_progress_file": orphan.relative,
        "pid": orphan.pid,
        "last_saved": iso(orphan.modified),
        "claim": orphan.claim_id,
    }
    return make_record(nb, html)


def look(directory: Path, make_record: MakeRecord, *, html: bool, required: bool) -> Settlement:
    """Judge ``directory/.in-progress`` and prepare a record of each claimed notebook of a dead run.

    ``required``: a missing or unsafe claim key raises (``STATE_DIR_UNSAFE``); otherwise nothing is
    judged.
    """
    found = Settlement(directory, directory / IN_PROGRESS)
    try:
        key = claim_key()
    except OctorunbookError:
        if required:
            raise
        return found
    try:
        found.scratch = Folder(found.scratch_path)
    except NotAFolder:
        found.untrusted.append(folder_verdict(directory))
        return found
    except OSError:  # no .in-progress: nothing was left
        return found
    for entry in judge(found.scratch, key, settled_claims(directory)):
        if entry.alive:
            continue
        if entry.trust == "claimed":
            record = _record_of(entry, make_record, html)
            if record is None:
                why = "its claim holds but it cannot be read as a notebook"
                found.untrusted.append(replace(entry, trust="untrusted", why=why, data=None))
            else:
                found.ready.append((replace(entry, data=None), record))
        elif entry.trust == "leftover":
            found.leftovers.append(entry)
        else:
            found.untrusted.append(entry)
    return found


def settle(directory: Path, found: Settlement, chain: Chain) -> list[SetAside]:
    """Under the writers' lock: chain, remove and set aside what :func:`look` found; return what was
    set aside (moved or, when ``quarantine/`` is unusable, left where it was)."""
    scratch = found.scratch
    moved: list[SetAside] = []
    if scratch is not None:
        for orphan, record in found.ready:
            try:
                info = scratch.lstat(orphan.name)
            except FileNotFoundError:
                continue  # another run chained it meanwhile
            if (info.st_dev, info.st_ino) != orphan.identity:
                continue  # replaced since it was judged: the next run judges it afresh
            chain(record, orphan.claim_id)
            for name in orphan.companions:
                scratch.unlink(name)
        for leftover in found.leftovers:
            scratch.unlink(leftover.name)
    for entry in found.untrusted:
        item: SetAside | None = None
        if entry.path == found.scratch_path:
            with Folder(directory) as top:
                item = set_aside(directory, top, entry.relative, [IN_PROGRESS], entry.why)
        elif scratch is not None:
            item = set_aside(directory, scratch, entry.relative, entry.companions, entry.why)
        if item is not None:
            moved.append(item)
    return moved
