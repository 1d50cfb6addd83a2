"""The audit directory: executed notebooks as tamper-evident records that never hold a secret.

A change reviewer reads these files months after the run, so three things matter more than speed:

* **Nothing secret reaches disk.** :func:`store_record` writes only :func:`redact_notebook`'s copy, and the
  HTML is rendered from that copy, so no path (source, output, papermill metadata, widget state, HTML,
  manifest) sees the original.
* **Every run is kept, failed ones first of all.** A run that broke before it produced a result record is
  still stored (status ``failed``); a broken run is the record a reviewer most wants.
* **Tampering shows.** Each record's SHA-256 goes into ``manifest.jsonl``, one JSON line per record, each
  line carrying the previous line's hash (a hash chain). :func:`verify_chain` finds a changed byte, a
  deleted or hand-added record and an edited, removed or reordered manifest line. A chain cannot notice
  its own last lines being cut off together with their records; that is why ``audit verify`` prints the
  head hash, for operators to copy into the change ticket.

Layout::

    audit_dir/
      20261126T183000Z_03-add-https-binding_localhost.ipynb   the redacted executed notebook
      20261126T183000Z_03-add-https-binding_localhost.html    nbconvert rendering of the same
      manifest.jsonl                                          the hash chain, also the listing index
      .manifest.lock                                          serialises writers (never part of the chain)
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
import sys
from collections.abc import Callable, Container, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import nbformat

from . import RESULT_MIME as RESULT_MIME  # the contract lives in the package root
from .findings import SYMBOLS, InputError
from .redaction import MASK, SECRETS, looks_like_secret_name

MANIFEST_NAME = "manifest.jsonl"
LOCK_NAME = ".manifest.lock"
GENESIS = "0" * 64
WIDGET_STATE_MIME = "application/vnd.jupyter.widget-state+json"

ProblemKind = Literal["changed", "removed", "added", "manifest-edited", "manifest-missing"]


@dataclass(frozen=True)
class Problem:
    """One reason not to trust the audit directory, in words an operator can act on."""

    kind: ProblemKind
    record: str
    detail: str


@dataclass(frozen=True)
class RecordSummary:
    """One row of ``audit list``.

    ``unverified`` is True for a notebook found on disk but not in the manifest: its row was parsed from
    the notebook itself, and ``audit verify`` will report it as added outside the chain.
    """

    record: str
    when: str
    runbook: str
    host: str
    target: str
    status: str
    thumbprint: str
    operator: str
    seq: int | None = None
    unverified: bool = False


# --- the result record -------------------------------------------------------------------------------


def extract_result(nb: Any) -> dict[str, Any] | None:
    """The notebook's result record, or None.

    The last one wins: a cell re-run during a session displays a newer record below the older one.
    ``execute_result`` outputs count too, in case a notebook ends a cell with the record as its value.
    """
    found: dict[str, Any] | None = None
    for cell in nb.get("cells", []):
        for output in cell.get("outputs", []) if cell.get("cell_type") == "code" else []:
            if output.get("output_type") not in ("display_data", "execute_result"):
                continue
            value = output.get("data", {}).get(RESULT_MIME)
            if isinstance(value, str):  # older writers stored JSON mimetypes as text
                try:
                    value = json.loads(value)
                except ValueError:
                    continue
            if isinstance(value, dict):
                found = copy.deepcopy(dict(value))
    return found


def _load_notebook_json(path: Path) -> dict[str, Any]:
    """Plain ``json`` rather than ``nbformat.read``: reading must not fail on a schema nit, and is faster."""
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(
            "RECORD_UNREADABLE",
            f"{path} cannot be read as a notebook: {exc}",
            "Check the path; a record is a .ipynb file written by octorunbook.",
        ) from exc
    if not isinstance(data, dict):
        raise InputError("RECORD_UNREADABLE", f"{path} is not a notebook (JSON object expected).")
    return data


def read_result(path: str | Path) -> dict[str, Any]:
    """The result record of the executed notebook at ``path``."""
    result = extract_result(_load_notebook_json(Path(path)))
    if result is None:
        raise InputError(
            "RECORD_HAS_NO_RESULT",
            f"{path} holds no {RESULT_MIME} output: the run stopped before it could report.",
            "Open the notebook (or its .html) to see the cell that failed.",
        )
    return result


# --- names ---------------------------------------------------------------------------------------------


def _name_part(text: str, fallback: str) -> str:
    """File-name-safe and free of ``_``, so a name splits back into timestamp, runbook and host."""
    # Capped: a 230-character sandbox folder name must not make the record's name too long to write.
    return re.sub(r"[^A-Za-z0-9.-]+", "-", text)[:80].strip("-.") or fallback


def record_name(started_at: datetime, runbook: str, host: str, *, taken: Container[str] = frozenset()) -> str:
    """``<UTC timestamp>_<runbook>_<host>.ipynb``; ``-2``, ``-3`` … appended while the name is ``taken``.

    The timestamp comes first and has a fixed width, so plain name order is time order in any file
    browser. A naive datetime is refused: guessing its zone would misdate the record.
    """
    if started_at.tzinfo is None or started_at.utcoffset() is None:
        raise InputError("RECORD_TIME_NAIVE", f"started_at {started_at!r} has no time zone.", "Pass UTC.")
    stem = "_".join(
        (
            started_at.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ"),
            _name_part(runbook, "unknown-runbook"),
            _name_part(host, "unknown-host"),
        )
    )
    name, n = f"{stem}.ipynb", 1
    while name in taken:
        n += 1
        name = f"{stem}-{n}.ipynb"
    return name


def _parse_time(text: Any) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- redaction -----------------------------------------------------------------------------------------


def _masker() -> Callable[[str], str]:
    """Mask each registered secret and the forms it takes inside notebooks (see ``redaction``: never
    inside a produced value such as a thumbprint, so no mask tells the reader the password)."""
    return SECRETS.masker()


def _walk(obj: Any, mask: Callable[[str], str]) -> Any:
    if isinstance(obj, str):
        return mask(obj)
    if isinstance(obj, dict):
        return {mask(str(k)): _walk(v, mask) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_walk(v, mask) for v in obj]
    return obj


_ASSIGNMENT = re.compile(r"^(\s*)([A-Za-z_]\w*)(\s*=\s*)(.+)$")


def _mask_assignments(source: Any) -> str:
    """Mask ``name = value`` lines whose name looks secret, registered or not (papermill's injected cell)."""
    text = "".join(source) if isinstance(source, list) else str(source)
    lines = []
    for line in text.split("\n"):
        match = _ASSIGNMENT.match(line)
        if match and looks_like_secret_name(match.group(2)):
            line = f'{match.group(1)}{match.group(2)}{match.group(3)}"{MASK}"'
        lines.append(line)
    return "\n".join(lines)


def redact_notebook(nb: Any) -> Any:
    """A deep copy of ``nb`` that is safe to write anywhere; ``nb`` itself is left untouched.

    Registered secrets are masked in every string (cell sources, outputs, metadata, dict keys).
    Two leak paths are closed even for values nobody registered, because papermill and nbclient write
    them without asking: secret-looking parameters (``metadata.papermill.parameters`` and the
    ``injected-parameters`` cell) and the ``value`` of every ``PasswordModel`` in the saved widget state.
    """
    data: dict[str, Any] = copy.deepcopy(dict(nb))
    metadata = data.setdefault("metadata", {})
    papermill = metadata.get("papermill")
    if isinstance(papermill, dict) and isinstance(papermill.get("parameters"), dict):
        papermill["parameters"] = {
            k: (MASK if looks_like_secret_name(str(k)) else v) for k, v in papermill["parameters"].items()
        }
    for cell in data.get("cells", []):
        if "injected-parameters" in cell.get("metadata", {}).get("tags", []):
            cell["source"] = _mask_assignments(cell.get("source", ""))
    widgets = metadata.get("widgets")
    state = widgets.get(WIDGET_STATE_MIME, {}).get("state", {}) if isinstance(widgets, dict) else {}
    for model in state.values() if isinstance(state, dict) else []:
        if isinstance(model, dict) and model.get("model_name") == "PasswordModel":
            if isinstance(model.get("state"), dict) and "value" in model["state"]:
                model["state"]["value"] = ""
    return nbformat.from_dict(_walk(data, _masker()))  # type: ignore[no-untyped-call,unused-ignore]


# --- writing -------------------------------------------------------------------------------------------


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _canonical(entry: dict[str, Any]) -> bytes:
    return json.dumps(entry, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _line_hash(entry: dict[str, Any]) -> str:
    return _sha256(_canonical({k: v for k, v in entry.items() if k != "line_hash"}))


def _write_atomic(path: Path, data: bytes) -> None:
    """Temp file + ``os.replace``: a reader (or a crash) never sees half a record."""
    tmp = path.with_name(f".{path.name}.{os.urandom(4).hex()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


if sys.platform == "win32":
    import msvcrt

    def _lock(fd: int, take: bool) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        while True:
            try:
                msvcrt.locking(fd, msvcrt.LK_LOCK if take else msvcrt.LK_UNLCK, 1)
                return
            except OSError:  # LK_LOCK gives up after ~10 s; a writer waits on, its record matters
                if not take:
                    raise

else:
    import fcntl

    def _lock(fd: int, take: bool) -> None:
        fcntl.flock(fd, fcntl.LOCK_EX if take else fcntl.LOCK_UN)


@contextmanager
def _manifest_lock(audit_dir: Path) -> Iterator[None]:
    """Serialise writers, across threads and processes, so two runs cannot interleave the chain."""
    with open(audit_dir / LOCK_NAME, "a+b") as handle:
        _lock(handle.fileno(), True)
        try:
            yield
        finally:
            _lock(handle.fileno(), False)


def _manifest_tail(manifest: Path) -> tuple[int, str, bool]:
    """(next seq, prev hash, ends with newline), reading only the end of the file.

    Only the last line is needed to extend the chain, so storing stays O(1) over thousands of records.
    A last line that is not valid JSON (a crash mid-append, or an edit) is chained by the hash of its raw
    bytes; ``verify_chain`` reports it, but the new record is still written.
    """
    if not manifest.exists() or manifest.stat().st_size == 0:
        return 1, GENESIS, True
    with open(manifest, "rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        handle.seek(max(0, size - 65536))
        chunk = handle.read()
    body = chunk.rstrip(b"\n")
    if b"\n" not in body and len(chunk) < size:  # a last line longer than 64 KiB: read it all
        body = manifest.read_bytes().rstrip(b"\n")
    last = body.rsplit(b"\n", 1)[-1]
    try:
        entry = json.loads(last)
        return int(entry["seq"]) + 1, str(entry["line_hash"]), chunk.endswith(b"\n")
    except (ValueError, KeyError, TypeError):
        lines = manifest.read_bytes().rstrip(b"\n").count(b"\n") + 1
        return lines + 1, _sha256(last), chunk.endswith(b"\n")


def _render_html(nb: Any) -> bytes:
    """nbconvert HTML of the (already redacted) notebook, without the injected parameters' source."""
    from nbconvert import HTMLExporter
    from traitlets.config import Config

    config = Config()
    config.TagRemovePreprocessor.enabled = True
    config.TagRemovePreprocessor.remove_input_tags = {"injected-parameters"}
    exporter = HTMLExporter(config=config)  # type: ignore[no-untyped-call,unused-ignore]
    body, _ = exporter.from_notebook_node(nb)
    return str(body).encode("utf-8")


def _summary_fields(nb: Any) -> dict[str, Any]:
    """The listing fields, from the result record, or from papermill's metadata when the run broke first."""
    result = extract_result(nb)
    papermill = nb.get("metadata", {}).get("papermill") or {}
    if result is None:
        input_path = str(papermill.get("input_path") or "unknown-runbook")
        result = {"runbook": Path(input_path.replace("\\", "/")).stem, "status": "failed"}
    started = _parse_time(result.get("started_at")) or _parse_time(papermill.get("start_time"))
    certificate = result.get("certificate") or {}
    return {
        "when": _iso(started or datetime.now(UTC)),
        "runbook": str(result.get("runbook") or "unknown-runbook"),
        "host": str(result.get("host") or "unknown-host"),
        "target": str(result.get("target") or ""),
        "status": str(result.get("status") or "failed"),
        "thumbprint": str(certificate.get("thumbprint") or "") if isinstance(certificate, dict) else "",
        "operator": str(result.get("operator") or ""),
    }


def store_record(audit_dir: str | Path, nb: Any, *, html: bool = True) -> Path:
    """Redact ``nb``, write it (and its HTML) into ``audit_dir`` and chain it in the manifest.

    Rendering happens before the lock is taken (it is the slow part); name choice, writes and the manifest
    append happen under it. If nbconvert fails, the notebook is still stored and the manifest line says
    why there is no HTML (``html_error``). The record is written before its manifest line: a crash in between leaves a
    record that ``audit verify`` reports as added, never a manifest line pointing at nothing.
    """
    directory = Path(audit_dir)
    directory.mkdir(parents=True, exist_ok=True)
    redacted = redact_notebook(nb)
    fields = _summary_fields(redacted)
    notebook_bytes = (nbformat.writes(redacted) + "\n").encode("utf-8")  # type: ignore[no-untyped-call,unused-ignore]
    html_bytes, html_error = None, ""
    if html:
        try:
            html_bytes = _render_html(redacted)
        except Exception as exc:  # a rendering problem must never cost the record itself
            html_error = _masker()(f"{type(exc).__name__}: {exc}")[:300]
    with _manifest_lock(directory):
        taken = {p.stem + ".ipynb" for p in directory.iterdir() if p.suffix in (".ipynb", ".html")}
        name = record_name(
            _parse_time(fields["when"]) or datetime.now(UTC), fields["runbook"], fields["host"], taken=taken
        )
        path = directory / name
        _write_atomic(path, notebook_bytes)
        if html_bytes is not None:
            _write_atomic(path.with_suffix(".html"), html_bytes)
        manifest = directory / MANIFEST_NAME
        seq, prev, clean_end = _manifest_tail(manifest)
        entry: dict[str, Any] = {
            "seq": seq,
            "record": name,
            "sha256": _sha256(notebook_bytes),
            "html_sha256": _sha256(html_bytes) if html_bytes is not None else "",
            "prev": prev,
            **fields,
        }
        if html_error:
            entry["html_error"] = html_error
        entry["line_hash"] = _line_hash(entry)
        with open(manifest, "ab") as handle:
            handle.write((b"" if clean_end else b"\n") + _canonical(entry) + b"\n")
            handle.flush()
            os.fsync(handle.fileno())
    return path


# --- reading and verifying -----------------------------------------------------------------------------


def _require_audit_dir(directory: Path) -> None:
    if (directory / MANIFEST_NAME).is_file():
        return
    if not (directory.is_dir() and any(name.endswith(".ipynb") for name in os.listdir(directory))):
        raise InputError(
            "NOT_AN_AUDIT_DIR",
            f"{directory} is not an audit directory (no {MANIFEST_NAME}, no records).",
            "Pass the directory the runbooks were told to write their records to (audit_dir).",
        )


def _manifest_entries(directory: Path) -> list[tuple[int, bytes, dict[str, Any] | None]]:
    """(line number, raw line, parsed object or None) for every manifest line.

    Split on ``\\n`` only: lines are written with ``ensure_ascii=False``, so a value may hold U+2028, which
    ``str.splitlines`` would also split on. Undecodable bytes survive (surrogateescape) to be hashed.
    """
    path = directory / MANIFEST_NAME
    text = path.read_text("utf-8", errors="surrogateescape") if path.is_file() else ""
    out: list[tuple[int, bytes, dict[str, Any] | None]] = []
    for number, line in enumerate(text.removesuffix("\n").split("\n") if text else [], start=1):
        try:
            parsed = json.loads(line)
        except ValueError:
            parsed = None
        raw = line.encode("utf-8", errors="surrogateescape")
        out.append((number, raw, parsed if isinstance(parsed, dict) else None))
    return out


def _check_file(directory: Path, record: str, name: str, expected: str) -> Problem | None:
    path = directory / name
    if not path.is_file():
        return Problem("removed", record, f"{name} is listed in the manifest but missing from disk")
    found = _sha256(path.read_bytes())
    if found != expected:
        return Problem(
            "changed", record, f"{name}: sha256 is {found[:16]}…, the manifest says {expected[:16]}…"
        )
    return None


def verify_chain(audit_dir: str | Path) -> list[Problem]:
    """Every reason not to trust ``audit_dir``; an empty list means the chain is intact.

    Raises InputError NOT_AN_AUDIT_DIR when there is neither a manifest nor a record to check.
    """
    directory = Path(audit_dir)
    _require_audit_dir(directory)
    problems: list[Problem] = []
    if not (directory / MANIFEST_NAME).is_file():
        problems.append(Problem("manifest-missing", MANIFEST_NAME, f"{MANIFEST_NAME} is missing"))
    expected_prev, listed, rendered = GENESIS, set[str](), set[str]()
    for number, raw, entry in _manifest_entries(directory):
        where = f"{MANIFEST_NAME} line {number}"
        if entry is None:
            problems.append(Problem("manifest-edited", where, f"{where} is not a JSON object"))
            expected_prev = _sha256(raw)
            continue
        record = str(entry.get("record", ""))
        label = record or where
        if entry.get("line_hash") != _line_hash(entry):
            problems.append(
                Problem("manifest-edited", label, f"{where} does not match its line_hash (edited)")
            )
        if entry.get("prev") != expected_prev or entry.get("seq") != number:
            problems.append(
                Problem(
                    "manifest-edited",
                    label,
                    f"{where} does not follow line {number - 1} (removed or reordered)",
                )
            )
        expected_prev = str(entry.get("line_hash") or _line_hash(entry))
        if not record or Path(record).name != record or record in listed:
            problems.append(Problem("manifest-edited", label, f"{where} names no usable, unique record"))
            continue
        listed.add(record)
        checks = [(record, str(entry.get("sha256", "")))]
        if entry.get("html_sha256"):
            rendered.add(str(Path(record).with_suffix(".html")))
            checks.append((str(Path(record).with_suffix(".html")), str(entry["html_sha256"])))
        for name, expected in checks:
            problem = _check_file(directory, record, name, expected)
            if problem is not None:
                problems.append(problem)
    for path in sorted(directory.iterdir()):
        if path.name.startswith(".") or path.suffix not in (".ipynb", ".html"):
            continue
        if path.name not in listed and path.name not in rendered:
            problems.append(
                Problem("added", path.name, f"{path.name} is not in the manifest (added outside the chain)")
            )
    return problems


def chain_head(audit_dir: str | Path) -> tuple[int, str]:
    """(number of manifest lines, last line_hash): the value to anchor outside the directory."""
    seq, head, _ = _manifest_tail(Path(audit_dir) / MANIFEST_NAME)
    return seq - 1, head


def list_records(audit_dir: str | Path, *, limit: int | None = None) -> list[RecordSummary]:
    """Newest first, from the manifest alone (one small JSON line per record, no notebook parsing).

    Notebooks on disk that the manifest does not know are parsed and listed with ``unverified=True``, so
    a record written outside the chain is shown rather than silently hidden.
    """
    directory = Path(audit_dir)
    _require_audit_dir(directory)
    rows: list[RecordSummary] = []
    for _, _, entry in _manifest_entries(directory):
        if entry is not None and entry.get("record"):
            rows.append(_summary(entry, str(entry["record"]), seq=entry.get("seq")))
    known = {row.record for row in rows}
    for name in os.listdir(directory):
        if name.endswith(".ipynb") and not name.startswith(".") and name not in known:
            path = directory / name
            try:
                fields = _summary_fields(_load_notebook_json(path))
            except InputError:
                stamp, runbook, host = (path.stem.split("_", 2) + ["?", "?", "?"])[:3]
                fields = {"when": stamp, "runbook": runbook, "host": host, "status": "unreadable"}
            rows.append(_summary(fields, path.name, unverified=True))

    def newest(row: RecordSummary) -> tuple[datetime, int]:
        return _parse_time(row.when) or datetime.min.replace(tzinfo=UTC), row.seq or 0

    rows.sort(key=newest, reverse=True)
    return rows if limit is None else rows[: max(limit, 0)]


def _summary(
    fields: dict[str, Any], record: str, *, seq: Any = None, unverified: bool = False
) -> RecordSummary:
    text = {
        k: str(fields.get(k) or "")
        for k in ("when", "runbook", "host", "target", "status", "thumbprint", "operator")
    }
    return RecordSummary(
        record=record, seq=seq if isinstance(seq, int) else None, unverified=unverified, **text
    )


# --- showing -------------------------------------------------------------------------------------------


def _text(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return "" if value is None else str(value)


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def show_record(path: str | Path) -> str:
    """One record as plain text for a terminal or a ticket: what happened, on what evidence, what next."""
    r = read_result(path)
    out = [
        f"{r.get('runbook', '?')}: {str(r.get('status', '?')).upper()}",
        f"  who    {r.get('operator') or '?'}",
        f"  where  {r.get('host') or '?'} (target {r.get('target') or '?'})",
        f"  when   {r.get('started_at') or '?'} → {r.get('finished_at') or '?'}",
    ]
    versions = [
        f"{label} {r[key]}"
        for label, key in (("octorunbook", "octorunbook_version"), ("Octopus", "octopus_version"))
        if r.get(key)
    ]
    out += [f"  with   {', '.join(versions)}"] if versions else []
    out += [f"  on     {_text(r['environment'])}"] if r.get("environment") else []

    def section(title: str, lines: list[str]) -> None:
        out.extend(["", title, *(f"  {line}" for line in lines or ["none"])])

    section("Parameters", [f"{k} = {_text(v)}" for k, v in _dict(r.get("parameters")).items()])
    cert = _dict(r.get("certificate"))
    cert_lines = [f"{key:<11} {_text(cert.get(key))}" for key in ("thumbprint", "subject", "store")]
    cert_lines.append(f"dns names   {', '.join(map(str, cert.get('dns_names') or []))}")
    cert_lines.append(f"valid       {_text(cert.get('not_before'))} → {_text(cert.get('not_after'))}")
    section("Certificate", cert_lines if cert else [])
    changes = [_text(c.get("description") or c.get("summary") or c) for c in _dicts(r.get("changes"))]
    section("Changes", [f"- {change}" for change in changes])
    state = _dict(r.get("state"))
    if state:
        section("State", [f"before: {_text(state.get('before'))}", f"after:  {_text(state.get('after'))}"])
    rows = []
    for v in _dicts(r.get("verification")):
        seen = f"expected {_text(v.get('expected'))}, seen {_text(v.get('seen'))}"
        rows.append(f"{'✔' if v.get('ok') else '✖'} {v.get('check', '?')}: {seen}")
    section("Verification", rows)
    findings = []
    for f in _dicts(r.get("findings")):
        symbol = SYMBOLS.get(str(f.get("severity")), "?")
        findings.append(f"{symbol} {f.get('code', '?')}: {f.get('message', '')}")
        findings += [f"    why: {f['reason']}"] if f.get("reason") else []
        findings += [f"    remedy: {f['remedy']}"] if f.get("remedy") else []
    section("Findings", findings)
    commands = []
    for c in _dicts(r.get("commands")):
        seconds = c.get("seconds")
        timing = f"{seconds:.2f} s" if isinstance(seconds, (int, float)) else "? s"
        what = f"{c.get('label')}: " if c.get("label") else ""
        changes_flag = "  [changes]" if c.get("mutating") else ""
        argv = " ".join(map(str, c.get("argv") or []))
        commands.append(f"exit {c.get('exit_code')}  {timing}{changes_flag}  {what}{argv}")
    section("Commands", commands)
    return SECRETS.redact("\n".join(out)) + "\n"
