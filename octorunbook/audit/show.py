"""``audit show``: one record as plain text for a terminal or a ticket, after verifying it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..findings import SYMBOLS
from ..redaction import SECRETS
from .chain import check_record
from .records import read_result
from .signing import PublicKey


def _text(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return "" if value is None else str(value)


def _dicts(value: Any) -> list[dict[str, Any]]:
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def verification_lines(path: str | Path, public_key: PublicKey | None = None) -> tuple[bool, list[str]]:
    """(trusted, lines) saying whether the record at ``path`` is the one its manifest line chained."""
    seq, problems = check_record(Path(path), public_key)
    if not problems:
        signed = f", signed by {public_key.key_id[:16]}…" if public_key else ""
        return True, [f"✔ verified: manifest line {seq}, sha256 matches, chain intact up to it{signed}"]
    lines = ["✖ NOT VERIFIED — do not rely on this record:"]
    lines += [f"  {problem.kind}: {problem.detail}" for problem in problems]
    return False, lines


def show_record(path: str | Path) -> str:
    """One record as plain text: what happened, on what evidence, what next."""
    r = read_result(path)
    out = [
        f"{r.get('runbook', '?')}: {str(r.get('status', '?')).upper()}",
        f"  who    {r.get('operator') or '?'}",
        f"  where  {r.get('host') or '?'} (target {r.get('target') or '?'})",
        f"  when   {r.get('started_at') or '?'} → {r.get('finished_at') or '?'}",
    ]
    versions = [
        f"{label} {r[key]}"
        for label, key in (("octorunbook", "octorunbook_version"), ("Octopus", "octopus_version"))
        if r.get(key)
    ]
    out += [f"  with   {', '.join(versions)}"] if versions else []
    out += [f"  on     {_text(r['environment'])}"] if r.get("environment") else []

    def section(title: str, lines: list[str]) -> None:
        out.extend(["", title, *(f"  {line}" for line in lines or ["none"])])

    section("Parameters", [f"{k} = {_text(v)}" for k, v in _dict(r.get("parameters")).items()])
    cert = _dict(r.get("certificate"))
    cert_lines = [f"{key:<11} {_text(cert.get(key))}" for key in ("thumbprint", "subject", "store")]
    cert_lines.append(f"dns names   {', '.join(map(str, cert.get('dns_names') or []))}")
    cert_lines.append(f"valid       {_text(cert.get('not_before'))} → {_text(cert.get('not_after'))}")
    section("Certificate", cert_lines if cert else [])
    changes = [_text(c.get("description") or c.get("summary") or c) for c in _dicts(r.get("changes"))]
    section("Changes", [f"- {change}" for change in changes])
    state = _dict(r.get("state"))
    if state:
        section("State", [f"before: {_text(state.get('before'))}", f"after:  {_text(state.get('after'))}"])
    rows = []
    for v in _dicts(r.get("verification")):
        seen = f"expected {_text(v.get('expected'))}, seen {_text(v.get('seen'))}"
        rows.append(f"{'✔' if v.get('ok') else '✖'} {v.get('check', '?')}: {seen}")
    section("Verification", rows)
    findings = []
    for f in _dicts(r.get("findings")):
        symbol = SYMBOLS.get(str(f.get("severity")), "?")
        findings.append(f"{symbol} {f.get('code', '?')}: {f.get('message', '')}")
        findings += [f"    why: {f['reason']}"] if f.get("reason") else []
        findings += [f"    remedy: {f['remedy']}"] if f.get("remedy") else []
    section("Findings", findings)
    commands = []
    for c in _dicts(r.get("commands")):
        seconds = c.get("seconds")
        timing = f"{seconds:.2f} s" if isinstance(seconds, (int, float)) else "? s"
        what = f"{c.get('label')}: " if c.get("label") else ""
        changes_flag = "  [changes]" if c.get("mutating") else ""
        argv = " ".join(map(str, c.get("argv") or []))
        commands.append(f"exit {c.get('exit_code')}  {timing}{changes_flag}  {what}{argv}")
    section("Commands", commands)
    return SECRETS.redact("\n".join(out)) + "\n"
