"""papermill's saves of a running notebook: every one redacted, summarised, then written.

papermill writes the output notebook at start, when each cell starts and ends, and on failure
(reference §1.5): some thirty saves for runbook 03. Every one of them goes through
:class:`RedactingHandler` (``octorunbook-redact://`` paths), so no intermediate file ever holds a
secret, and each refreshes the summary cell at the top of the notebook.

A save is therefore on the path between two cells, and it is kept cheap: the buffer papermill hands over
is parsed with ``json.loads`` and written with ``json.dumps`` (no schema validation — papermill has just
validated the same notebook, and the record is validated once more when it is stored), and redaction
builds its copy in one walk (:func:`.redact.redact_json`). Cheaper, never optional.

Every save is written by :func:`.claims.save_running_notebook`: created with the record's mode
(0640/0600) from its first byte, renamed into place, never through a link — and, inside an audit
folder's ``.in-progress/``, preceded by its claim, so that the next run can tell this run's notebook
from one dropped there by someone else.

Both doors use this module: ``octorunbook run`` (:mod:`octorunbook.headless.runner`) and papermill's
``papermill.io`` entry point (:mod:`octorunbook.headless.papermill_hook`), which is why it sits below both.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from octorunbook.audit.claims import save_running_notebook
from octorunbook.audit.files import make_dir
from octorunbook.audit.records import extract_result
from octorunbook.audit.redact import guard_notebook, redact_json, register_passed_password

SCHEME = "octorunbook-redact://"
SUMMARY_TAG = "octorunbook-summary"


def with_summary(nb: Any) -> Any:
    """Put (or refresh) a markdown summary of the result record at the top of the notebook.

    ``nb`` is a notebook node or its plain JSON data; it is changed in place and returned.
    """
    from octorunbook.render import summary_markdown

    record = extract_result(nb)
    cells = [c for c in nb["cells"] if SUMMARY_TAG not in c.get("metadata", {}).get("tags", [])]
    if record is not None:
        source = summary_markdown(record)
        cells.insert(
            0,
            {
                "cell_type": "markdown",
                "id": SUMMARY_TAG,
                "metadata": {"tags": [SUMMARY_TAG]},
                "source": source,
            },
        )
    nb["cells"] = cells
    return nb


def _join(value: Any) -> Any:
    return "".join(value) if isinstance(value, list) and all(isinstance(v, str) for v in value) else value


def _joined(nb: dict[str, Any]) -> dict[str, Any]:
    """Multi-line strings as one string again, in place (nbformat writes them as lists of lines, JSON
    mimetypes excepted), so that a secret spanning two lines is one string when it is masked."""
    for cell in nb.get("cells", []):
        if "source" in cell:
            cell["source"] = _join(cell["source"])
        bundles = list(cell.get("attachments", {}).values())
        for output in cell.get("outputs", []):
            if "text" in output:
                output["text"] = _join(output["text"])
            bundles.append(output.get("data", {}))
        for bundle in bundles:
            for mime, value in bundle.items():
                if not (
                    mime == "application/json" or (mime.startswith("application/") and mime.endswith("+json"))
                ):
                    bundle[mime] = _join(value)
    return nb


class RedactingHandler:
    """papermill I/O handler: redact, add the summary, then write the real file.

    papermill saves when each cell starts and ends, so the handler also sees which step is running:
    ``progress`` (set per run) is told the heading of each step as it starts.
    """

    def __init__(self) -> None:
        self.progress: Callable[[str], None] | None = None
        self._announced: set[tuple[str, int]] = set()

    @staticmethod
    def _path(path: str) -> Path:
        return Path(path[len(SCHEME) :] if path.startswith(SCHEME) else path)

    def read(self, path: str) -> str:
        """The notebook papermill runs (the operator's copy or the packaged one), read by the bounded reader."""
        from octorunbook.files import MAX_RECORD_FILE, read_limited

        return read_limited(self._path(path), MAX_RECORD_FILE, what="notebook").decode("utf-8")

    def listdir(self, path: str) -> list[str]:
        return [str(p) for p in self._path(path).iterdir()]

    def write(self, buf: str, path: str) -> None:
        """A save handed over as text (papermill's own writes: before the kernel starts, at the end)."""
        self.write_notebook(_joined(json.loads(buf)), path)

    def write_notebook(self, nb: Any, path: str) -> None:
        """A save handed over as the notebook itself (:mod:`.engine`'s saves), which is left unchanged."""
        register_passed_password(nb)  # before the walk, so that it masks the password everywhere
        clean = guard_notebook(redact_json(nb))
        self._announce(path, clean)
        target = self._path(path)
        if not target.parent.is_dir():
            make_dir(target.parent)
        save_running_notebook(target, json.dumps(with_summary(clean), ensure_ascii=False).encode("utf-8"))

    def pretty_path(self, path: str) -> str:
        return str(self._path(path))

    def _announce(self, path: str, nb: dict[str, Any]) -> None:
        if self.progress is None:
            return
        heading = ""
        for index, cell in enumerate(nb.get("cells", [])):
            source = "".join(cell.get("source", ""))
            if cell.get("cell_type") == "markdown" and source.startswith("## "):
                heading = source.splitlines()[0].lstrip("# ").strip()
            status = cell.get("metadata", {}).get("papermill", {}).get("status")
            if (
                cell.get("cell_type") == "code"
                and status == "running"
                and (path, index) not in self._announced
            ):
                self._announced.add((path, index))
                if heading:
                    self.progress(f"    · {heading}")
                    heading = ""


_HANDLER = RedactingHandler()
_registered = False


def register_handler() -> RedactingHandler:
    """Register the handler for ``octorunbook-redact://`` paths with papermill (once per process)."""
    global _registered
    if not _registered:
        from papermill.iorw import papermill_io

        papermill_io.register(SCHEME, _HANDLER)
        _registered = True
    return _HANDLER
