"""A record's HTML: nbconvert's HTML exporter, without re-parsing its own page.

nbconvert's ``HTMLExporter`` renders its template, then parses the whole page (≈ 320 kB, most of it the
lab theme's CSS) with BeautifulSoup to add two accessibility touches — ``tabindex="0"`` on each cell's
input and output, alternative text on an image that has none — and serialises it again. In a process
that stores records (``octorunbook run``, a kernel) that pass cost more than the template: soupsieve
compiles its CSS-selector grammar (≈ 0.2 s of CPU, once per process) and each record is parsed and
written again (≈ 0.04 s). :class:`RecordHTMLExporter` renders the same template with the same filters
and makes the same two touches on the rendered text: every ``<div>`` whose class names a cell input
(``jp-Cell-inputWrapper``) or an output (``jp-OutputArea-output``) and has no ``tabindex``, and every
``<img>`` without ``alt``. ``tests/headless/test_saves.py`` holds the result, read by BeautifulSoup, to
what ``HTMLExporter`` itself writes.
"""

from __future__ import annotations

import re
from typing import Any

ALT_TEXT = "No description has been provided for this image"  # nbconvert's own words
_FOCUSABLE = {"jp-Cell-inputWrapper", "jp-OutputArea-output"}
# An opening tag, any tag (so that a tag inside another's attribute value is text, not a tag): attribute
# values double-, single- or unquoted, as HTML allows them; only <div> and <img> are touched
_VALUE = r"""(?:\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'=<>`]+))"""
# a name stops at "<": an unclosed tag is given up at the next one (no rescanning the rest of the page)
_NAME = r"""[^\s"'<>/=]+"""
_TAG = re.compile(rf"<([a-zA-Z][^\s\"'<>/=]*)((?:\s+{_NAME}{_VALUE}?)*)\s*(/?)>")
_ATTRIBUTE = re.compile(rf"\s+({_NAME})({_VALUE})?")


def _touch(match: re.Match[str]) -> str:
    tag, attributes, closing = match.group(1), match.group(2), match.group(3)
    if tag.lower() not in ("div", "img"):
        return match.group(0)
    names: dict[str, str] = {}
    for attribute in _ATTRIBUTE.finditer(attributes):
        value = (attribute.group(2) or "").split("=", 1)[-1].strip()
        names.setdefault(attribute.group(1).lower(), value.strip("\"'") if value[:1] in "\"'" else value)
    if tag.lower() == "div":
        if not _FOCUSABLE & set(names.get("class", "").split()):
            return match.group(0)
        if "tabindex" not in names:
            return f'<{tag}{attributes} tabindex="0"{closing}>'
        # nbconvert sets it to 0 where it stands
        focused = _ATTRIBUTE.sub(
            lambda a: ' tabindex="0"' if a.group(1).lower() == "tabindex" else a.group(0), attributes
        )
        return f"<{tag}{focused}{closing}>"
    if "alt" in names:
        return match.group(0)
    return f'<{tag}{attributes} alt="{ALT_TEXT}"{closing}>'


# What BeautifulSoup's html.parser reads as text, not tags: comments, and the content of <script>/<style>
_RAW_START = re.compile(r"<!--|<(script|style)\b", re.IGNORECASE)
_RAW_END = {
    "script": re.compile(r"</script\s*>", re.IGNORECASE),
    "style": re.compile(r"</style\s*>", re.IGNORECASE),
}


def accessible(html: str) -> str:
    """The two touches nbconvert makes after rendering, on the rendered text — not inside a comment, a
    script or a style sheet (an ``<img>`` in a script's string is text). One pass: each region is looked
    for from where the last one ended, and one never closed runs to the end of the page."""
    parts: list[str] = []
    position = 0
    while (start := _RAW_START.search(html, position)) is not None:
        parts.append(_TAG.sub(_touch, html[position : start.start()]))
        if start.group(1) is None:
            close = html.find("-->", start.end())
            end = len(html) if close < 0 else close + 3
        else:
            found = _RAW_END[start.group(1).lower()].search(html, start.end())
            end = len(html) if found is None else found.end()
        parts.append(html[start.start() : end])
        position = end
    parts.append(_TAG.sub(_touch, html[position:]))
    return "".join(parts)


def record_exporter(config: Any) -> Any:
    """An ``HTMLExporter`` (same template, filters and resources) that skips the BeautifulSoup pass.

    The preparation below is nbconvert 7's; under any other major version the exporter is nbconvert's own.
    """
    import nbconvert
    from nbconvert import HTMLExporter

    if str(nbconvert.__version__).split(".")[0] != "7":
        return HTMLExporter(config=config)  # type: ignore[no-untyped-call]
    from nbconvert.exporters.templateexporter import TemplateExporter
    from nbconvert.filters.highlight import Highlight2HTML
    from nbconvert.filters.widgetsdatatypefilter import WidgetsDataTypeFilter

    class RecordHTMLExporter(HTMLExporter):  # type: ignore[misc]
        def from_notebook_node(  # type: ignore[override]
            self, nb: Any, resources: dict[str, Any] | None = None, **kw: Any
        ) -> tuple[str, dict[str, Any]]:
            # HTMLExporter's own preparation (nbconvert 7): the code highlighter for the notebook's
            # language, the resources its template reads, and the widget-state filter
            language = nb.metadata.get("language_info", {})
            lexer = language.get("pygments_lexer", language.get("name", None))
            fallback = Highlight2HTML(pygments_lexer=lexer, parent=self)  # type: ignore[no-untyped-call]
            highlight = self.filters.get("highlight_code", fallback)
            resources = self._init_resources(resources)  # type: ignore[no-untyped-call]
            data_type = WidgetsDataTypeFilter(  # type: ignore[no-untyped-call]
                notebook_metadata=self._nb_metadata, parent=self, resources=resources
            )
            self.register_filter("highlight_code", highlight)  # type: ignore[no-untyped-call]
            self.register_filter("filter_data_type", data_type)  # type: ignore[no-untyped-call]
            html, resources = TemplateExporter.from_notebook_node(self, nb, resources, **kw)
            return accessible(html), resources

    return RecordHTMLExporter(config=config)  # type: ignore[no-untyped-call]


__all__ = ["ALT_TEXT", "accessible", "record_exporter"]
