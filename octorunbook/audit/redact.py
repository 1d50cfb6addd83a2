"""Redaction of an executed notebook before any copy of it is written.

Registered secrets are masked in every string; two leak paths are closed even for values nobody
registered, because papermill and nbclient write them without asking: secret-looking parameters and the
value of every password widget in the saved widget state.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

from ..redaction import MASK, SECRETS, looks_like_secret_name

WIDGET_STATE_MIME = "application/vnd.jupyter.widget-state+json"


def masker() -> Callable[[str], str]:
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
    import nbformat  # here, not at import time: it costs a second at CLI start (jsonschema)

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
    return nbformat.from_dict(_walk(data, masker()))  # type: ignore[no-untyped-call,unused-ignore]
