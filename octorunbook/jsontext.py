"""Find the JSON object in a command's output, whatever was printed around it.

Octopus.Server.exe can print log or exception text (with braces of its own) before its JSON
(OctopusDSC#179), and PowerShell profiles or modules can print around a script's one result object.
"""

from __future__ import annotations

import json
import re
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
