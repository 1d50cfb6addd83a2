"""Storing a run: redact, render, write the files and chain (and sign) their manifest line.

``prepare_audit_dir`` runs before a procedure changes anything: the folder is writable, the signing key
(if any) is usable and outside the folder, and records of earlier runs that were killed are chained
first, so a restoring run's record follows the interrupted one it repairs.
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..findings import InputError
from .chain import MANIFEST_NAME, canonical, line_hash, manifest_tail, sha256
from .files import append_line, file_mode, make_dir, manifest_lock, write_atomic
from .interrupted import IN_PROGRESS, InProgress, scan_in_progress
from .records import iso, load_notebook_json, parse_time, record_name, summary_fields
from .redact import masker, redact_notebook
from .signing import SigningKey, load_signing_key

INTERRUPTED_NOTE = (
    "## ⚠ This run was interrupted\n\n"
    "Its process ended before it could store this record (killed, or the machine stopped). What follows is "
    "the notebook as it was last saved, at {saved}; it was chained into the audit trail at {found} by the "
    "next run. Check the target's state: the next run of the procedure restores an unfinished change."
)


@dataclass(frozen=True)
class _Prepared:
    """One record's bytes and listing fields, made before the writers' lock is taken."""

    fields: dict[str, Any]
    notebook: bytes
    html: bytes | None
    html_error: str


@functools.lru_cache(maxsize=1)
def _exporter() -> Any:
    """One nbconvert HTML exporter per process: building one costs more than rendering a record with it
    (templates, jinja2 environment, pygments, the entry points of every preprocessor)."""
    from nbconvert import HTMLExporter
    from traitlets.config import Config

    config = Config()
    config.TagRemovePreprocessor.enabled = True
    config.TagRemovePreprocessor.remove_input_tags = {"injected-parameters"}
    return HTMLExporter(config=config)  # type: ignore[no-untyped-call]


_RENDERING = threading.Lock()  # an exporter is not made to be used by two threads at once


def _render_html(nb: Any) -> bytes:
    """nbconvert HTML of the (already redacted) notebook, without the injected parameters' source."""
    with _RENDERING:
        body, _ = _exporter().from_notebook_node(nb)
    return str(body).encode("utf-8")


def warm_renderer() -> None:
    """Import nbconvert and build the exporter now, e.g. on a worker thread while a kernel starts.

    A failure is left for the first real rendering to meet (and to note as the record's ``html_error``).
    """
    with contextlib.suppress(Exception), _RENDERING:
        _exporter()


def _prepare(nb: Any, *, html: bool, status: str | None = None) -> _Prepared:
    import nbformat

    redacted = redact_notebook(nb)
    fields = summary_fields(redacted, status=status)
    notebook_bytes = (nbformat.writes(redacted) + "\n").encode("utf-8")  # type: ignore[no-untyped-call]
    html_bytes, html_error = None, ""
    if html:
        try:
            html_bytes = _render_html(redacted)
        except Exception as exc:  # a rendering problem must never cost the record itself
            html_error = masker()(f"{type(exc).__name__}: {exc}")[:300]
    return _Prepared(fields, notebook_bytes, html_bytes, html_error)


def _chain(directory: Path, prepared: _Prepared, key: SigningKey | None, mode: int) -> Path:
    """Write the files and append (and sign) the manifest line. The caller holds the writers' lock.

    The record is written before its manifest line: a crash in between leaves a record that
    verification reports as added, never a manifest line pointing at nothing.
    """
    fields = prepared.fields
    taken = {p.stem + ".ipynb" for p in directory.iterdir() if p.suffix in (".ipynb", ".html")}
    when = parse_time(fields["when"]) or datetime.now(UTC)
    path = directory / record_name(when, fields["runbook"], fields["host"], taken=taken)
    write_atomic(path, prepared.notebook, mode)
    if prepared.html is not None:
        write_atomic(path.with_suffix(".html"), prepared.html, mode)
    manifest = directory / MANIFEST_NAME
    seq, prev, clean_end = manifest_tail(manifest)
    entry: dict[str, Any] = {
        "seq": seq,
        "record": path.name,
        "sha256": sha256(prepared.notebook),
        "html_sha256": sha256(prepared.html) if prepared.html is not None else "",
        "prev": prev,
        **fields,
    }
    if prepared.html_error:
        entry["html_error"] = prepared.html_error
    if key is not None:
        entry["signer"] = key.key_id
    entry["line_hash"] = line_hash(entry)
    if key is not None:
        entry["sig"] = key.sign(entry["line_hash"])
    append_line(manifest, (b"" if clean_end else b"\n") + canonical(entry) + b"\n", mode)
    return path


def _prepare_interrupted(orphan: InProgress, *, html: bool) -> _Prepared | None:
    """The orphan as a record (status ``interrupted``) with a note at the top; None if unreadable."""
    import nbformat

    try:
        nb = nbformat.from_dict(load_notebook_json(orphan.path))  # type: ignore[no-untyped-call]
    except InputError:
        return None  # half a file cannot be redacted safely; verification keeps reporting it
    note = INTERRUPTED_NOTE.format(saved=iso(orphan.modified), found=iso(datetime.now(UTC)))
    nb.cells.insert(0, nbformat.v4.new_markdown_cell(note))  # type: ignore[no-untyped-call]
    nb.metadata.setdefault("octorunbook", {})["interrupted"] = {
        "in_progress_file": f"{IN_PROGRESS}/{orphan.path.name}",
        "pid": orphan.pid,
        "last_saved": iso(orphan.modified),
    }
    return _prepare(nb, html=html, status="interrupted")


def _adopt(
    directory: Path, key: SigningKey | None, mode: int, ready: list[tuple[InProgress, _Prepared]]
) -> None:
    """Chain prepared orphans still present (another run may have taken them meanwhile)."""
    for orphan, prepared in ready:
        if orphan.path.is_file():
            _chain(directory, prepared, key, mode)
            orphan.path.unlink(missing_ok=True)


def _orphans(directory: Path, *, html: bool) -> list[tuple[InProgress, _Prepared]]:
    ready = []
    for orphan in scan_in_progress(directory):
        if not orphan.alive and (prepared := _prepare_interrupted(orphan, html=html)) is not None:
            ready.append((orphan, prepared))
    return ready


def store_record(
    audit_dir: str | Path, nb: Any, *, html: bool = True, signing_key: str | os.PathLike[str] | None = None
) -> Path:
    """Redact ``nb``, write it (and its HTML) into ``audit_dir`` and chain it in the manifest.

    ``signing_key`` (else ``$OCTORUNBOOK_AUDIT_SIGNING_KEY``) signs the line; a key that cannot be used
    raises before anything is written. Rendering happens before the lock is taken (it is the slow part);
    name choice, writes and the manifest append happen under it. If nbconvert fails, the notebook is still
    stored and the manifest line says why there is no HTML (``html_error``). Notebooks of killed runs
    found in ``.in-progress/`` are chained first, as ``interrupted``.
    """
    directory = Path(audit_dir)
    make_dir(directory)
    key = load_signing_key(directory, signing_key)
    prepared = _prepare(nb, html=html)
    orphans = _orphans(directory, html=html)
    mode = file_mode(directory)
    with manifest_lock(directory, mode):
        _adopt(directory, key, mode, orphans)
        return _chain(directory, prepared, key, mode)


def prepare_audit_dir(audit_dir: str | Path, *, signing_key: str | os.PathLike[str] | None = None) -> Path:
    """Check ``audit_dir`` before a run changes anything; return its ``.in-progress`` folder.

    Creates the folders (0750), proves the folder itself is writable, loads the signing key (refusing one
    inside the folder or readable by others), and chains notebooks of earlier killed runs.
    """
    directory = Path(audit_dir).expanduser().resolve()
    scratch = directory / IN_PROGRESS
    try:
        make_dir(scratch)
        probe = directory / f".write-probe-{os.getpid()}-{os.urandom(4).hex()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise InputError(
            "AUDIT_DIR_UNWRITABLE",
            f"Cannot write audit records to {directory}: {exc.strerror}.",
            "Set audit_dir to a folder you can write to.",
        ) from None
    key = load_signing_key(directory, signing_key)
    orphans = _orphans(directory, html=True)
    if orphans:
        mode = file_mode(directory)
        with manifest_lock(directory, mode):
            _adopt(directory, key, mode, orphans)
    return scratch
