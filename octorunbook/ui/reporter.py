"""How a run shows itself in a notebook: HTML panels, progress in place, the result record."""

from __future__ import annotations

import html
import os
from pathlib import Path
from typing import Any

from IPython.display import HTML, display

from octorunbook import RESULT_MIME
from octorunbook.render import Panel


class NotebookReporter:
    """Panels as HTML (with a text twin), progress in place, the result record as its own mimetype."""

    def __init__(self) -> None:
        self._progress: Any = None
        self._label = ""

    def show(self, item: Any) -> None:
        display({"text/html": item.html(), "text/plain": item.text()}, raw=True)

    def progress(self, label: str, elapsed: float, total: float, detail: str = "") -> None:
        """One line that updates in place (a display_id), so a long wait reads as progress, not as a hang."""
        pct = min(100, int(100 * elapsed / total)) if total else 100
        detail_html = f"<span style='color:#57606a'> · {html.escape(detail)}</span>" if detail else ""
        bundle = {
            "text/html": (
                "<div class='octorunbook-progress' style='display:flex;align-items:center;gap:10px;"
                "margin:4px 0;font-family:system-ui,sans-serif;color:#1f2328'>"
                f"<span>⏳ {html.escape(label)}</span>"
                "<span style='display:inline-block;width:220px;height:8px;background:#eaeef2;"
                f"border-radius:4px;overflow:hidden'><span style='display:block;height:8px;width:{pct}%;"
                "background:#0969da'></span></span>"
                f"<span style='font-variant-numeric:tabular-nums'>{elapsed:.0f} / {total:.0f} s</span>"
                f"{detail_html}</div>"
            ),
            "text/plain": f"… {label}: {elapsed:.0f}/{total:.0f} s" + (f" {detail}" if detail else ""),
        }
        if self._progress is None or label != self._label:
            self._label = label
            self._progress = display(bundle, raw=True, display_id=True)
        else:
            self._progress.update(bundle, raw=True)

    def emit_result(self, record: dict[str, Any], panel: Panel) -> None:
        display({RESULT_MIME: record, "text/html": panel.html(), "text/plain": panel.text()}, raw=True)
        _write_interactive_record(record)


def _write_interactive_record(record: dict[str, Any]) -> None:
    """Outside ``octorunbook run`` (which stores the whole executed notebook), keep a record notebook."""
    from octorunbook.runbooks.run import RUNNER_ENV

    if os.environ.get(RUNNER_ENV):
        return
    try:
        from octorunbook.audit.chain import head_hint
        from octorunbook.audit.store import store_record
        from octorunbook.headless.runner import record_notebook

        audit_dir = Path(record["parameters"]["audit_dir"]).expanduser()
        store_record(audit_dir, record_notebook(record))
        display(HTML(f"<p><code>{html.escape(head_hint(audit_dir))}</code></p>"))
    except Exception as exc:  # the record is still in this notebook; say why the copy failed
        display(HTML(f"<p>⚠ the audit copy could not be written: {html.escape(str(exc))}</p>"))
