"""What operators read: panels, certificate cards, plan tables, summaries — as HTML and as text.

Pure string building (no IPython), so a headless papermill run writes the very same HTML into the
executed notebook that a person sees in JupyterLab, and the CLI prints the text twin.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .findings import SYMBOLS, Finding

STATUS_STYLE = {
    "ok": ("✔", "#1a7f37", "#dafbe1"),
    "warning": ("⚠", "#9a6700", "#fff8c5"),
    "error": ("✖", "#cf222e", "#ffebe9"),
    "info": ("ℹ", "#0969da", "#ddf4ff"),
}
RUN_STATUS = {"succeeded": "ok", "unchanged": "ok", "planned": "info", "failed": "error"}


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


@dataclass(frozen=True)
class Row:
    """One line of a panel: a status symbol, what was checked, what was seen."""

    status: str
    label: str
    detail: str = ""
    remedy: str = ""


@dataclass(frozen=True)
class Panel:
    title: str
    status: str
    rows: Sequence[Row] = field(default_factory=tuple)
    note: str = ""

    def text(self) -> str:
        symbol = STATUS_STYLE[self.status][0]
        lines = [f"{symbol} {self.title}"]
        for row in self.rows:
            lines.append(
                f"  {STATUS_STYLE[row.status][0]} {row.label}" + (f": {row.detail}" if row.detail else "")
            )
            if row.remedy:
                lines.append(f"      remedy: {row.remedy}")
        if self.note:
            lines.append(f"  {self.note}")
        return "\n".join(lines)

    def html(self) -> str:
        symbol, color, background = STATUS_STYLE[self.status]
        rows = "".join(
            f"<tr style='{_ROW}'><td style='{_CELL};color:{STATUS_STYLE[r.status][1]};font-size:1.1em;width:1.4em'>"
            f"{STATUS_STYLE[r.status][0]}</td><td style='{_CELL};font-weight:600;white-space:nowrap'>{esc(r.label)}</td>"
            f"<td style='{_CELL};overflow-wrap:anywhere'>{esc(r.detail)}"
            + (
                f"<div style='margin-top:2px;color:{STATUS_STYLE['error'][1] if r.status == 'error' else '#57606a'}'>"
                f"→ <i>Remedy:</i> {esc(r.remedy)}</div>"
                if r.remedy
                else ""
            )
            + "</td></tr>"
            for r in self.rows
        )
        note = f"<p style='margin:4px 0'>{esc(self.note)}</p>" if self.note else ""
        table = f"<table style='{_TABLE}'>{rows}</table>" if self.rows else ""
        return (
            f"<div class='octorunbook-panel octorunbook-{esc(self.status)}' style='border-left:6px solid {color};"
            f"background:{background};padding:8px 14px;margin:8px 0;border-radius:6px;color:#1f2328;"
            f"font-family:system-ui,-apple-system,Segoe UI,sans-serif;line-height:1.35'>"
            f"<div style='font-size:1.15em;font-weight:600;color:{color};margin-bottom:2px'>{symbol} {esc(self.title)}</div>"
            f"{note}{table}</div>"
        )


# Inline styles, because JupyterLab's own table CSS (right-aligned, zebra rows) would otherwise win.
_TABLE = "border-collapse:collapse;margin:4px 0 2px;width:auto;table-layout:auto"
_ROW = "background:transparent;border-bottom:1px solid rgba(31,35,40,0.08)"
_CELL = "text-align:left;vertical-align:top;padding:3px 12px 3px 0;border:none;background:transparent"


def findings_rows(findings: Sequence[Finding]) -> list[Row]:
    status = {"error": "error", "warning": "warning", "info": "info"}
    return [Row(status[f.severity], f.code, f.message, f.remedy) for f in findings]


def certificate_panel(cert: dict[str, Any], findings: Sequence[Finding]) -> Panel:
    """The certificate card: what an operator checks before importing, with the judgement beside it."""
    worst = (
        "error"
        if any(f.severity == "error" for f in findings)
        else ("warning" if any(f.severity == "warning" for f in findings) else "ok")
    )
    rows = [
        Row("info", "Subject", cert.get("subject", "")),
        Row("info", "DNS names (SAN)", ", ".join(cert.get("dns_names", [])) or "(none)"),
        Row("info", "Issuer", cert.get("issuer", "") + (" (self-signed)" if cert.get("self_signed") else "")),
        Row(
            "info",
            "Valid",
            f"{cert.get('not_before', '')} → {cert.get('not_after', '')}"
            + (f" ({cert['days_left']} days left)" if "days_left" in cert else ""),
        ),
        Row("info", "Key", str(cert.get("key", ""))),
        Row("info", "Signature", str(cert.get("signature", ""))),
        Row("info", "Thumbprint", cert.get("thumbprint", "")),
    ]
    rows += findings_rows(findings) or [Row("ok", "Judgement", "no problems found")]
    title = {
        "ok": "Certificate looks right",
        "warning": "Certificate usable, with warnings",
        "error": "Certificate refused",
    }[worst]
    return Panel(title, worst, rows)


@dataclass(frozen=True)
class PlanRow:
    setting: str
    current: str
    desired: str

    @property
    def changes(self) -> bool:
        return self.current != self.desired


@dataclass(frozen=True)
class PlanTable:
    title: str
    rows: Sequence[PlanRow]
    commands: Sequence[str]

    def text(self) -> str:
        lines = [self.title]
        for row in self.rows:
            mark = "→" if row.changes else "="
            lines.append(f"  {'*' if row.changes else ' '} {row.setting}: {row.current} {mark} {row.desired}")
        lines.append("  commands:" if self.commands else "  no command will change anything")
        lines += [f"    {c}" for c in self.commands]
        return "\n".join(lines)

    def html(self) -> str:
        rows = "".join(
            f"<tr style='{_ROW};background:{'#fff8c5' if r.changes else 'transparent'}'>"
            f"<td style='{_CELL};font-weight:600'>{esc(r.setting)}</td>"
            f"<td style='{_CELL}'><code>{esc(r.current)}</code></td>"
            f"<td style='{_CELL};color:{'#9a6700' if r.changes else '#57606a'}'>{'→' if r.changes else '='}</td>"
            f"<td style='{_CELL}'><code>{esc(r.desired)}</code></td></tr>"
            for r in self.rows
        )
        head = "".join(
            f"<th style='{_CELL};color:#57606a;font-weight:600'>{h}</th>"
            for h in ("setting", "current", "", "desired")
        )
        commands = (
            "".join(
                f"<li style='margin:2px 0'><code style='white-space:pre-wrap'>{esc(c)}</code></li>"
                for c in self.commands
            )
            or "<li>none: nothing will change</li>"
        )
        return (
            "<div class='octorunbook-plan' style='border-left:6px solid #0969da;background:#f6f8fa;padding:8px 14px;"
            "margin:8px 0;border-radius:6px;color:#1f2328;font-family:system-ui,-apple-system,Segoe UI,sans-serif'>"
            f"<div style='font-size:1.15em;font-weight:600;color:#0969da;margin-bottom:4px'>☰ {esc(self.title)}</div>"
            f"<table style='{_TABLE}'><tr style='{_ROW}'>{head}</tr>{rows}</table>"
            "<div style='margin-top:6px;font-weight:600'>Commands that will run, in this order:</div>"
            f"<ol style='margin:2px 0 0 0;padding-left:1.6em'>{commands}</ol></div>"
        )


def summary_markdown(record: dict[str, Any]) -> str:
    """The summary at the top of an executed notebook: readable on GitHub without running anything."""
    status = record.get("status", "?")
    symbol = STATUS_STYLE[RUN_STATUS.get(status, "info")][0]
    cert = record.get("certificate") or {}
    lines = [
        f"# {symbol} {record.get('runbook', '')}: **{status}**",
        "",
        "| | |",
        "|---|---|",
        f"| who | {record.get('operator', '')} |",
        f"| when | {record.get('started_at', '')} → {record.get('finished_at', '')} |",
        f"| where | {record.get('target', '')} `{record.get('host', '')}` instance `{record.get('instance', '')}` |",
        f"| certificate | `{cert.get('thumbprint', '—')}` {cert.get('subject', '')} ({cert.get('store', '')}) |",
    ]
    if record.get("octopus_version"):
        lines.append(f"| Octopus | {record['octopus_version']} |")
    changes = record.get("changes") or []
    lines += ["", "**What changed**" if changes else "**Nothing was changed.**"]
    lines += [f"- {c.get('action', '')}: {c.get('detail', '')}" for c in changes]
    checks = record.get("verification") or []
    if checks:
        lines += ["", "**Evidence**", "", "| check | expected | seen | |", "|---|---|---|---|"]
        lines += [
            f"| {c['check']} | {c['expected']} | {c['seen']} | {'✔' if c['ok'] else '✖'} |" for c in checks
        ]
    findings = record.get("findings") or []
    if findings:
        lines += ["", "**Findings**", ""]
        lines += [
            f"- {SYMBOLS.get(f.get('severity', ''), '')} `{f.get('code')}` {f.get('message')}"
            + (f" — *{f.get('remedy')}*" if f.get("remedy") else "")
            for f in findings
        ]
    return "\n".join(lines)


def result_panel(record: dict[str, Any]) -> Panel:
    status = record.get("status", "failed")
    rows = [
        Row("ok" if c["ok"] else "error", c["check"], f"expected {c['expected']}; seen {c['seen']}")
        for c in record.get("verification") or []
    ]
    rows += [Row("info", c.get("action", ""), c.get("detail", "")) for c in record.get("changes") or []]
    rows += findings_rows([Finding.from_dict(f) for f in record.get("findings") or []])
    titles = {
        "succeeded": f"{record.get('runbook')} succeeded",
        "unchanged": f"{record.get('runbook')}: already as desired, nothing changed",
        "planned": f"{record.get('runbook')}: planned only (dry_run), nothing changed",
        "failed": f"{record.get('runbook')} FAILED",
    }
    return Panel(titles.get(status, status), RUN_STATUS.get(status, "info"), rows)
