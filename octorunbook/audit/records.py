"""The result record inside an executed notebook, and the names records are stored under."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Container
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from octorunbook.files import MAX_RECORD_FILE, read_limited

from .. import RESULT_MIME
from ..findings import InputError


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


def load_notebook_json(path: Path) -> dict[str, Any]:
    """Plain ``json`` rather than ``nbformat.read``: reading must not fail on a schema nit, and is faster."""
    raw = read_limited(path, MAX_RECORD_FILE, what="record")  # never a FIFO, /dev/zero or 2 GB
    try:
        data = json.loads(raw.decode("utf-8"))
    except ValueError as exc:
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
    result = extract_result(load_notebook_json(Path(path)))
    if result is None:
        raise InputError(
            "RECORD_HAS_NO_RESULT",
            f"{path} holds no {RESULT_MIME} output: the run stopped before it could report.",
            "Open the notebook (or its .html) to see the cell that failed.",
        )
    return result


def _name_part(text: str, fallback: str) -> str:
    """File-name-safe and free of ``_``, so a name splits back into timestamp, runbook and host."""
    return re.sub(r"[^A-Za-z0-9.-]+", "-", text).strip("-.")[:80] or fallback


def record_name(started_at: datetime, runbook: str, host: str, *, taken: Container[str] = frozenset()) -> str:
    """``<UTC timestamp>_<runbook>_<host>.ipynb``; ``-2``, ``-3`` … appended while the name is ``taken``.

    The timestamp comes first and has a fixed width, so plain name order is time order in any file
    browser. Runbook and host are capped at 80 characters each, so a name stays far below the 255 bytes
    file systems allow. A naive datetime is refused: guessing its zone would misdate the record.
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


def parse_time(text: Any) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def summary_fields(nb: Any, *, status: str | None = None) -> dict[str, Any]:
    """The listing fields, from the result record, or from papermill's metadata when the run broke first.

    ``status`` overrides the record's own (``interrupted`` for a notebook whose run was killed).
    """
    result = extract_result(nb)
    papermill = nb.get("metadata", {}).get("papermill") or {}
    if result is None:
        input_path = str(papermill.get("input_path") or "unknown-runbook")
        result = {"runbook": Path(input_path.replace("\\", "/")).stem, "status": "failed"}
        parameters = papermill.get("parameters")
        if isinstance(parameters, dict):
            result["host"] = parameters.get("hostname") or ""
            result["target"] = parameters.get("target") or ""
    started = parse_time(result.get("started_at")) or parse_time(papermill.get("start_time"))
    certificate = result.get("certificate") or {}
    return {
        "when": iso(started or datetime.now(UTC)),
        "runbook": str(result.get("runbook") or "unknown-runbook"),
        "host": str(result.get("host") or "unknown-host"),
        "target": str(result.get("target") or ""),
        "status": status or str(result.get("status") or "failed"),
        "thumbprint": str(certificate.get("thumbprint") or "") if isinstance(certificate, dict) else "",
        "operator": str(result.get("operator") or ""),
    }
