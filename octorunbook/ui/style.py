"""How the form marks a field: the four severities, their colours and symbols, and the one-line reasons."""

from __future__ import annotations

import html

from octorunbook.findings import OctorunbookError
from octorunbook.targets.base import StoredCertificate

OK, WARN, ERROR, INFO = "ok", "warning", "error", "info"
_COLORS = {OK: "#1a7f37", WARN: "#9a6700", ERROR: "#cf222e", INFO: "#0969da"}
_SYMBOLS = {OK: "✔", WARN: "⚠", ERROR: "✖", INFO: "ℹ"}
_DESCRIPTION = {"description_width": "170px"}


def _message(severity: str, text: str = "") -> str:
    symbol = _SYMBOLS[severity]
    body = f" {html.escape(text)}" if text else ""
    return f"<span style='color:{_COLORS[severity]};line-height:1.2'>{symbol}{body}</span>"


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OctorunbookError):
        return f"{exc.code}: {exc.message}"
    return f"{type(exc).__name__}: {exc}"


def describe(cert: StoredCertificate) -> str:
    """One line per certificate, like the wizard's list: subject, names, expiry, thumbprint."""
    names = ", ".join(cert.dns_names) or "no DNS names"
    return f"{cert.subject} · {names} · expires {cert.not_after[:10]} · {cert.thumbprint}"
