"""Find the JSON object in a command's output, whatever was printed around it.

Octopus.Server.exe can print log or exception text (with braces of its own) before its JSON
(OctopusDSC#179), and PowerShell profiles or modules can print around a script's one result object.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from typing import Any


def find_json_object(
    text: str, accept: Callable[[dict[str, Any]], bool] = lambda _: True
) -> dict[str, Any] | None:
    """The first JSON object in ``text`` that ``accept`` takes: the whole ``{ … }`` span first, then each ``{``."""
    first, last = text.find("{"), text.rfind("}")
    if first < 0 or last < first:
        return None
    try:
        whole = json.loads(text[first : last + 1])
    except ValueError:
        whole = None
    if isinstance(whole, dict) and accept(whole):
        return whole
    decoder = json.JSONDecoder()
    for match in re.finditer(r"\{", text):
        try:
            candidate, _ = decoder.raw_decode(text, match.start())
        except ValueError:
            continue
        if isinstance(candidate, dict) and accept(candidate):
            return candidate
    return None


def skip_iri_grammars() -> None:
    """Import jsonschema, in a process octorunbook owns, without building grammars nothing here uses.

    With ``rfc3987-syntax`` installed (jupyter-events asks for ``jsonschema[format-nongpl]``), importing
    jsonschema — nbformat does, and so does the record check — builds about forty lark grammars for the
    ``iri``/``iri-reference`` format checks: 0.9 s of CPU in every such process, measured here, more than
    a runbook's cells. No schema octorunbook or nbformat validates asks for those formats, and no
    validator here checks formats. Called first in the ``octorunbook`` command and in the kernels it
    starts (not in a kernel JupyterLab starts): jsonschema then registers the two checks without it, as
    it does where the package is not installed. Nothing changes once jsonschema is imported.
    """
    if "jsonschema" not in sys.modules:
        # None in sys.modules: importing it raises ImportError, which jsonschema expects of a missing package
        sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]


# What jsonschema's format checks import when installed (jupyter-events asks for them): used by nothing else.
FORMAT_ONLY_LIBRARIES = (
    "fqdn",
    "isoduration",  # and through it arrow and dateutil: ≈ 30 ms of the ≈ 55 ms
    "jsonpointer",
    "rfc3339_validator",
    "rfc3986_validator",
    "uri_template",
    "webcolors",
)


def skip_format_libraries() -> None:
    """:func:`skip_iri_grammars`, and none of the other libraries behind jsonschema's format checks.

    Only where nothing validates formats and no operator's code runs: the ``octorunbook`` command (no
    schema there is checked with a format checker; nbformat's validator has none; a ``FormatChecker``
    built in that process would not check these formats). Not in a server (jupyter-events checks the
    formats of its events) or in any kernel (a runbook's cells may import them). ≈ 50 ms of CPU in
    each ``octorunbook`` command that imports nbformat, measured here.
    """
    if "jsonschema" not in sys.modules:
        for name in FORMAT_ONLY_LIBRARIES:
            sys.modules.setdefault(name, None)  # type: ignore[arg-type]
    skip_iri_grammars()
