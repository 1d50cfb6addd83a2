"""``octorunbook doctor``: the read-only field check of a target, printed, and a redacted JSON report."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from octorunbook.emit import json_document
from octorunbook.ops.doctor import ReadOnlyRunner, examine, redact_report


def doctor_command(args: Any) -> int:
    """``octorunbook doctor``: print the checks, write the redacted report; exit 1 if a check failed."""
    runner = ReadOnlyRunner(timeout=args.timeout)
    report = redact_report(
        examine(
            args.target,
            runner,
            instance=args.instance,
            server_exe=args.server_exe,
            sandbox_dir=Path(args.dir) if args.dir else None,
            port=args.port,
        )
    )
    for check in report["checks"]:
        mark = "✔" if check["ok"] else "✖"
        detail = f"{check['code']}: {check['message']}" if not check["ok"] else _summary(check["seen"])
        print(f"{mark} {check['name']}: {detail}")
    out = Path(args.report)
    out.write_text(json_document(report) + "\n", encoding="utf-8")
    print(f"\nreport (redacted, nothing was changed): {out}")
    return 0 if all(c["ok"] for c in report["checks"]) else 1


def _summary(seen: Any) -> str:
    if isinstance(seen, list):
        return f"{len(seen)} found"
    if seen is None:
        return "none"
    if isinstance(seen, Mapping):
        keys = (
            "language_mode",
            "dotnet_release",
            "windows_build",
            "thumbprint",
            "certificate_hash",
            "usable",
        )
        shown = {k: seen[k] for k in keys if k in seen}
        return json.dumps(shown) if shown else "ok"
    return str(seen)


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "doctor",
        help="read-only field check of a target; writes a redacted JSON report",
        description="Run every read-only probe (host facts, stores, certificates, HTTP.sys binding, key test, "
        "Octopus configuration), print what was found and write a redacted JSON report. Changes nothing.",
    )
    parser.add_argument("--target", choices=("windows", "sandbox"), default="windows")
    parser.add_argument("--dir", default="", help="the sandbox folder (with --target sandbox)")
    parser.add_argument(
        "--instance", default="OctopusServer", help="Octopus instance (default OctopusServer)"
    )
    parser.add_argument("--server-exe", default="", help="path of Octopus.Server.exe (default: discovered)")
    parser.add_argument("--port", type=int, default=443, help="the HTTPS port whose binding to examine")
    parser.add_argument("--report", default="octorunbook-doctor.json", help="where to write the JSON report")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per command")
    parser.set_defaults(func=doctor_command)
