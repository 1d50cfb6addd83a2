"""``quarantine/``: what a run found in ``.in-progress/`` and will not chain, set aside with the reason.

A notebook in ``.in-progress/`` whose claim does not verify (:mod:`.claims`), a link, a FIFO, a file
of another user or one others can write: none of it is chained or signed, and none of it is deleted
either — it may be the only trace of a real run (another operator's, or one from before claims), or
the evidence of an attempt to plant a record. The storing run moves it to ``<audit_dir>/quarantine/``
(``<stamp>-<name>``, its claim beside it as ``<stamp>-<name>.claim``) and writes a note
``<stamp>.why`` (JSON: code ``STATE_UNTRUSTED``, what was found where, why, where it is now). The note
is the only file here octorunbook reads back, and only to report it: ``audit list`` shows each as
``quarantined``, ``audit verify`` prints it as ``STATE_UNTRUSTED``, and the storing run's record names
it (its manifest line's ``set_aside``). Items never go back into ``.in-progress/`` by themselves: an
operator who knows one to be a real run's record can read it here.

Moves happen through folder handles (:class:`.folder.Folder`): a link planted as ``quarantine`` is
not followed (the item then stays where it was, still reported, never chained).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..findings import Finding, TargetError
from .files import dir_mode, file_mode
from .folder import Folder, NotAFolder, open_subfolder

QUARANTINE = "quarantine"
CODE = "STATE_UNTRUSTED"
MAX_NOTE = 8192
_NOTE = re.compile(r"^\d{8}T\d{12}Z[0-9a-f]{6}\.why$")


@dataclass(frozen=True)
class SetAside:
    """One file not chained: where it was found (relative to the audit folder), why, where it is now."""

    file: str
    why: str
    moved_to: str = ""
    when: str = ""

    @property
    def where(self) -> str:
        return self.moved_to or self.file

    def message(self, audit_dir: Path) -> str:
        now = f" It was moved to {self.moved_to}." if self.moved_to else " It was left where it is."
        return (
            f"{self.file} in the audit folder {audit_dir} cannot be trusted ({self.why}); it is never "
            f"chained or signed.{now}"
        )

    def remedy(self) -> str:
        return (
            f"If it is the notebook of a real run (another operator's, or a run from an older octorunbook), "
            f"read it in {self.where} and keep it with the change ticket; otherwise find out who could write "
            "the audit folder, make it writable by the operators' account only, and delete the file. The "
            "chain itself is untouched: `octorunbook audit verify` still proves it."
        )

    def finding(self, audit_dir: Path) -> Finding:
        return Finding(
            code=CODE,
            severity="warning",
            message=self.message(audit_dir),
            remedy=self.remedy(),
            details=self.to_dict(),
        )

    def error(self, audit_dir: Path) -> TargetError:
        return TargetError(CODE, self.message(audit_dir), self.remedy(), details=self.to_dict())

    def to_dict(self) -> dict[str, str]:
        return {"file": self.file, "why": self.why, "quarantined": self.moved_to}


def _stamp() -> str:
    return f"{datetime.now(UTC):%Y%m%dT%H%M%S%fZ}{os.urandom(3).hex()}"


def open_quarantine(audit_dir: Path) -> Folder | None:
    """The quarantine folder, created when missing; None when the name is taken by a link or a file."""
    try:
        return open_subfolder(audit_dir, QUARANTINE, dir_mode(audit_dir))
    except (NotAFolder, OSError):
        return None


def set_aside(audit_dir: Path, source: Folder, relative: str, names: list[str], why: str) -> SetAside | None:
    """Move ``names[0]`` (and its companions ``names[1:]``, e.g. its claim) from ``source`` into
    ``quarantine/`` with a note. ``relative`` is how the file is named to the operator
    (``.in-progress/x.ipynb``). None when ``names[0]`` is gone already (another run moved it)."""
    when = datetime.now(UTC)
    stamp = _stamp()
    quarantine = open_quarantine(audit_dir)
    if quarantine is None:
        return SetAside(relative, f"{why}; not moved: {QUARANTINE}/ is not a folder", "", _iso(when))
    with quarantine:
        first = f"{stamp}-{names[0]}"
        try:
            source.move(names[0], quarantine, first)
        except FileNotFoundError:
            return None
        except OSError as exc:
            return SetAside(relative, f"{why}; not moved: {exc.strerror}", "", _iso(when))
        for extra in names[1:]:
            with contextlib.suppress(OSError):
                source.move(extra, quarantine, f"{stamp}-{extra}")
        item = SetAside(relative, why, f"{QUARANTINE}/{first}", _iso(when))
        note = {"code": CODE, **item.to_dict(), "when": item.when}
        with contextlib.suppress(OSError):
            quarantine.write_new(f"{stamp}.why", json.dumps(note).encode("utf-8"), file_mode(audit_dir))
        return item


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def quarantined(audit_dir: Path) -> list[SetAside]:
    """What ``quarantine/`` holds, from its notes, oldest first (nothing else in it is read)."""
    try:
        folder = Folder(audit_dir / QUARANTINE)
    except OSError:
        return []
    found = []
    with folder:
        for name in folder.names():
            if not _NOTE.match(name):
                continue
            try:
                raw, _ = folder.read(name, MAX_NOTE)
                note: Any = json.loads(raw.decode("utf-8"))
            except (OSError, ValueError):
                continue
            if isinstance(note, dict) and note.get("code") == CODE:
                found.append(
                    SetAside(
                        file=str(note.get("file", "")),
                        why=str(note.get("why", "")),
                        moved_to=str(note.get("quarantined", "")),
                        when=str(note.get("when", "")),
                    )
                )
    return found
