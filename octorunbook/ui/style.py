"""How the form marks a field: the four severities, their colours and symbols, and the one-line reasons."""

from __future__ import annotations

import html

from octorunbook.findings import OctorunbookError
from octorunbook.targets.base import StoredCertificate

__all__ = [
    "COLORS",
    "DESCRIPTION_STYLE",
    "ERROR",
    "INFO",
    "OK",
    "WARN",
    "describe",
    "message_html",
    "reason_of",
]

OK, WARN, ERROR, INFO = "ok", "warning", "error", "info"
# One colour per severity, shared by the field marks and the form's summary line, so ✖ is the same red
# wherever the operator sees it.
COLORS = {OK: "#1a7f37", WARN: "#9a6700", ERROR: "#cf222e", INFO: "#0969da"}
_SYMBOLS = {OK: "✔", WARN: "⚠", ERROR: "✖", INFO: "ℹ"}
# Every widget's label column has this width, so the fields of all five forms line up under each other.
DESCRIPTION_STYLE = {"description_width": "170px"}


def message_html(severity: str, text: str = "") -> str:
    """``text`` (escaped) after its severity's symbol, in its colour: how the form puts a reason beside a field."""
    symbol = _SYMBOLS[severity]
    body = f" {html.escape(text)}" if text else ""
    return f"<span style='color:{COLORS[severity]};line-height:1.2'>{symbol}{body}</span>"


def reason_of(exc: BaseException) -> str:
    """One line for an exception a widget callback caught: ``CODE: message`` for ours, the type otherwise.
    Callbacks never raise (JupyterLab would show the traceback nowhere), so every part of the form puts
    what went wrong on the form in these words."""
    if isinstance(exc, OctorunbookError):
        return f"{exc.code}: {exc.message}"
    return f"{type(exc).__name__}: {exc}"


def describe(cert: StoredCertificate) -> str:
    """One line per certificate, like the wizard's list: subject, names, expiry, thumbprint."""
    names = ", ".join(cert.dns_names) or "no DNS names"
    return f"{cert.subject} · {names} · expires {cert.not_after[:10]} · {cert.thumbprint}"
