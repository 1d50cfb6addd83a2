"""Storing a run: redact, render, write the files and chain (and sign) their manifest line.

``prepare_audit_dir`` runs before a procedure changes anything: the folder is writable, the signing key
(if any) is usable and outside the folder, the claim key (:mod:`.claims`) is at hand, and what earlier
runs left in ``.in-progress/`` is settled first (:mod:`.settle`) — a killed run's claimed notebook is
chained as ``interrupted``, so a restoring run's record follows the one it repairs; anything else is
set aside into ``quarantine/`` and named in this run's output and record.

Each manifest line may carry two fields beyond the chain's own: ``claim`` (the claim id the record
settles, so that it is never chained twice) and ``set_aside`` (what the storing run moved to
``quarantine/``, and why). Both are covered by ``line_hash`` and the signature.
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..findings import InputError
from .chain import MANIFEST_NAME, canonical, line_hash, manifest_tail, sha256
from .claims import IN_PROGRESS, claim_key
from .files import append_line, dir_mode, file_mode, make_dir, manifest_lock, write_atomic
from .folder import Folder, NotAFolder, open_subfolder
from .quarantine import SetAside
from .records import parse_time, record_name, summary_fields
from .redact import masker, redact_notebook
from .settle import look, settle
from .signing import SigningKey, load_signing_key

SET_ASIDE_NOTE = (
    "## ⚠ {count} file(s) in .in-progress were set aside, not chained\n\n"
    "Before this record was stored, octorunbook found in the audit folder's `.in-progress/` what no run of "
    "this operator could be shown to have written ({whys}). Nothing in it was chained or signed; it was "
    "moved to `quarantine/`. `octorunbook audit list` names each file (status `quarantined`)."
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
    (templates, jinja2 environment, pygments, the entry points of every preprocessor). It writes what
    nbconvert's ``HTMLExporter`` writes, without parsing the page again (:mod:`.record_html`)."""
    from traitlets.config import Config

    from .record_html import record_exporter

    config = Config()
    config.TagRemovePreprocessor.enabled = True
    config.TagRemovePreprocessor.remove_input_tags = {"injected-parameters"}
    return record_exporter(config)


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


def _prepare(
    nb: Any, *, html: bool, status: str | None = None, set_aside: Sequence[SetAside] = ()
) -> _Prepared:
    import nbformat

    redacted = redact_notebook(nb)
    if set_aside:
        whys = "; ".join(sorted({item.why for item in set_aside}))
        note = SET_ASIDE_NOTE.format(count=len(set_aside), whys=whys)
        redacted.cells.insert(0, nbformat.v4.new_markdown_cell(note))  # type: ignore[no-untyped-call]
        redacted.metadata.setdefault("octorunbook", {})["set_aside"] = [i.to_dict() for i in set_aside]
    fields = summary_fields(redacted, status=status)
    notebook_bytes = (nbformat.writes(redacted) + "\n").encode("utf-8")  # type: ignore[no-untyped-call]
    html_bytes, html_error = None, ""
    if html:
        try:
            html_bytes = _render_html(redacted)
        except Exception as exc:  # a rendering problem must never cost the record itself
            html_error = masker()(f"{type(exc).__name__}: {exc}")[:300]
    return _Prepared(fields, notebook_bytes, html_bytes, html_error)


def _chain(
    directory: Path,
    prepared: _Prepared,
    key: SigningKey | None,
    mode: int,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write the files and append (and sign) the manifest line. The caller holds the writers' lock.

    The record is written before its manifest line: a crash in between leaves a record that
    verification reports as added, never a manifest line pointing at nothing. ``extra`` holds the
    line's ``claim`` and ``set_aside`` (see the module docstring).
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
        **(extra or {}),
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


def _extra(claim: str, set_aside: Sequence[SetAside]) -> dict[str, Any]:
    extra: dict[str, Any] = {"claim": claim} if claim else {}
    if set_aside:
        extra["set_aside"] = [item.to_dict() for item in set_aside]
    return extra


def _chainer(directory: Path, key: SigningKey | None, mode: int) -> Any:
    def chain(prepared: _Prepared, claim: str) -> Path:
        return _chain(directory, prepared, key, mode, _extra(claim, ()))

    return chain


def _interrupted(nb: Any, html: bool) -> _Prepared:
    return _prepare(nb, html=html, status="interrupted")


def store_record(
    audit_dir: str | Path,
    nb: Any,
    *,
    html: bool = True,
    signing_key: str | os.PathLike[str] | None = None,
    claim: str = "",
    set_aside: Sequence[SetAside] = (),
) -> Path:
    """Redact ``nb``, write it (and its HTML) into ``audit_dir`` and chain it in the manifest.

    ``signing_key`` (else ``$OCTORUNBOOK_AUDIT_SIGNING_KEY``) signs the line; a key that cannot be used
    raises before anything is written. Rendering happens before the lock is taken (it is the slow part);
    name choice, writes and the manifest append happen under it. If nbconvert fails, the notebook is still
    stored and the manifest line says why there is no HTML (``html_error``). What ``.in-progress/`` holds
    is settled first (:mod:`.settle`): killed runs' claimed notebooks are chained before this record, as
    ``interrupted``; anything untrusted is set aside. ``claim`` is the claim id of the running notebook
    this record was made from; ``set_aside`` what the run set aside when it began (both go on the line).
    """
    directory = Path(audit_dir)
    make_dir(directory)
    key = load_signing_key(directory, signing_key)
    found = look(directory, _interrupted, html=html, required=False)
    try:
        earlier = [*set_aside, *(SetAside(e.relative, e.why) for e in found.untrusted)]
        prepared = _prepare(nb, html=html, set_aside=earlier)
        mode = file_mode(directory)
        with manifest_lock(directory, mode):
            moved = settle(directory, found, _chainer(directory, key, mode))
            return _chain(directory, prepared, key, mode, _extra(claim, [*set_aside, *moved]))
    finally:
        found.close()


@dataclass(frozen=True)
class OpenedAuditDir:
    """An audit folder ready for a run: where its running notebooks go, and what was set aside."""

    directory: Path
    scratch: Path
    set_aside: tuple[SetAside, ...]


def probe_audit_dir(directory: Path) -> None:
    """Create ``directory`` and its ``.in-progress`` (modes: :mod:`.files`) and prove each writable by
    creating and removing a file through a folder handle. A link or file as ``.in-progress`` is left for
    :func:`open_audit_dir` to set aside. Raises ``OSError``."""
    make_dir(directory)
    with Folder(directory) as folder:
        probe = f".write-probe-{os.getpid()}-{os.urandom(4).hex()}"
        folder.write_new(probe, b"", 0o600)
        folder.unlink(probe)
    try:
        scratch = open_subfolder(directory, IN_PROGRESS, dir_mode(directory))
    except NotAFolder:
        return
    with scratch:
        probe = f".write-probe-{os.getpid()}-{os.urandom(4).hex()}"
        scratch.write_new(probe, b"", 0o600)
        scratch.unlink(probe)


def open_audit_dir(
    audit_dir: str | Path, *, signing_key: str | os.PathLike[str] | None = None
) -> OpenedAuditDir:
    """Check ``audit_dir`` before a run changes anything, and settle what earlier runs left.

    Creates the folders (0750/0700: :mod:`.files`), proves the folder itself is writable, loads the
    signing key (refusing one inside the folder or readable by others) and the claim key
    (``STATE_DIR_UNSAFE`` when its home is not private), chains notebooks of earlier killed runs and
    sets aside what cannot be trusted.
    """
    directory = Path(audit_dir).expanduser().resolve()
    try:
        probe_audit_dir(directory)
    except OSError as exc:
        raise InputError(
            "AUDIT_DIR_UNWRITABLE",
            f"Cannot write audit records to {directory}: {exc.strerror or exc}.",
            "Set audit_dir to a folder you can write to.",
        ) from None
    key = load_signing_key(directory, signing_key)
    claim_key()
    found = look(directory, _interrupted, html=True, required=True)
    try:
        moved: list[SetAside] = []
        if found.busy:
            mode = file_mode(directory)
            with manifest_lock(directory, mode):
                moved = settle(directory, found, _chainer(directory, key, mode))
    finally:
        found.close()
    try:
        open_subfolder(directory, IN_PROGRESS, dir_mode(directory)).close()
    except OSError:  # a link or file as .in-progress that could not be moved aside
        left = [item for item in moved if item.file == IN_PROGRESS]
        raise (left[0] if left else SetAside(IN_PROGRESS, "it is not a folder")).error(directory) from None
    return OpenedAuditDir(directory, found.scratch_path, tuple(moved))


def prepare_audit_dir(audit_dir: str | Path, *, signing_key: str | os.PathLike[str] | None = None) -> Path:
    """:func:`open_audit_dir`, returning only its ``.in-progress`` folder."""
    return open_audit_dir(audit_dir, signing_key=signing_key).scratch
