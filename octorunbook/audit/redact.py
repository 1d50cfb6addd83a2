"""Redaction of an executed notebook before any copy of it is written.

Registered secrets are masked in every string; two leak paths are closed even for values nobody
registered, because papermill and nbclient write them without asking: secret-looking parameters and the
value of every password widget in the saved widget state. :func:`guard_notebook` closes a third, before
the kernel starts: a password pasted where the *name* of its variable belongs.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from typing import Any

from ..findings import InputError
from ..redaction import MASK, SECRETS, env_name_ok, looks_like_secret_name, secret_from_env, shown_env_name

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


_INJECTED_ENV = re.compile(r"^(\s*pfx_password_env\s*=\s*).*$", re.MULTILINE)
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


def redact_json(nb: Any) -> dict[str, Any]:
    """The redacted copy of ``nb`` (a notebook node or its plain JSON data) as plain JSON data.

    This is what every intermediate save of a run writes (``json.dumps`` of it, no schema validation: the
    record is validated once, when it is stored). ``nb`` itself is left untouched: the walk builds new
    dicts and lists, and the two leak paths below are closed on that copy.
    """
    data: dict[str, Any] = _walk(nb, masker())
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
    return data


def redact_notebook(nb: Any) -> Any:
    """A copy of ``nb`` that is safe to write anywhere, as a notebook node; ``nb`` itself is left untouched.

    Registered secrets are masked in every string (cell sources, outputs, metadata, dict keys).
    Two leak paths are closed even for values nobody registered, because papermill and nbclient write
    them without asking: secret-looking parameters (``metadata.papermill.parameters`` and the
    ``injected-parameters`` cell) and the ``value`` of every ``PasswordModel`` in the saved widget state.
    """
    import nbformat  # here, not at import time: it costs a second at CLI start (jsonschema)

    return nbformat.from_dict(redact_json(nb))  # type: ignore[no-untyped-call,unused-ignore]


def passed_parameters(nb: Any) -> dict[str, Any]:
    """The parameters papermill recorded in the notebook's metadata."""
    params = nb.get("metadata", {}).get("papermill", {}).get("parameters")
    return dict(params) if isinstance(params, dict) else {}


def register_passed_password(nb: Any) -> None:
    """Register the password of a ``pfx_password_env`` that names a set variable, so that every write
    masks it (outputs included); ``nb`` is not changed."""
    value = passed_parameters(nb).get("pfx_password_env")
    if isinstance(value, str) and env_name_ok(value):
        with contextlib.suppress(InputError):  # a too-short password is refused by the runbook itself
            secret_from_env(value)


def guard_notebook(nb: Any) -> Any:
    """Mask, in place, what papermill wrote of a ``pfx_password_env`` that is no variable's name, and
    register the password of one that is (so every later write masks it in outputs too)."""
    register_passed_password(nb)
    value = passed_parameters(nb).get("pfx_password_env")
    if not isinstance(value, str) or (shown := shown_env_name(value)) == value:
        return nb
    nb["metadata"]["papermill"]["parameters"]["pfx_password_env"] = shown
    for cell in nb.get("cells", []):
        if "injected-parameters" in cell.get("metadata", {}).get("tags", []):
            source = "".join(cell.get("source", ""))
            cell["source"] = _INJECTED_ENV.sub(lambda m: f"{m.group(1)}{shown!r}", source)
    return nb
