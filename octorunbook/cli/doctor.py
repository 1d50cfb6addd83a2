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
    if args.field_test or args.sandbox_port is not None:
        return field_test_command(args)
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


def field_test_command(args: Any) -> int:
    """``doctor --field-test``: the questions the stand-ins cannot answer; JSON + a readable summary."""
    from octorunbook.findings import InputError
    from octorunbook.ops.field_test import (
        FieldRunner,
        field_test,
        require_windows,
        sandbox_host,
        summary,
        windows_host,
    )

    if not args.field_test:
        raise InputError(
            "FIELD_TEST_OPTION_ALONE",
            "--sandbox-port allows the field test's binding round-trip; without --field-test it means nothing.",
            "Add --field-test (or leave --sandbox-port out).",
        )
    if args.sandbox_port is not None and not 1024 <= args.sandbox_port <= 65535:
        raise InputError(
            "FIELD_TEST_PORT_INVALID",
            f"--sandbox-port {args.sandbox_port} is not a port from 1024 to 65535.",
            "Give an unused port, e.g. --sandbox-port 44399.",
        )
    require_windows(args.target)
    runner = FieldRunner(port=args.sandbox_port, timeout=args.timeout)
    if args.target == "windows":
        host = windows_host(runner)
    else:
        host = sandbox_host(Path(args.dir or "."), args.instance, runner)
    report = redact_report(
        field_test(
            host,
            runner,
            target_kind=args.target,
            instance=args.instance,
            port=args.port,
            sandbox_port=args.sandbox_port,
        )  # fmt: skip
    )
    text = summary(report)
    print(text, end="")
    out = Path(args.report if args.report != DEFAULT_REPORT else "octorunbook-field-test.json")
    out.write_text(json_document(report) + "\n", encoding="utf-8")
    readable = out.with_suffix(".txt")
    readable.write_text(text, encoding="utf-8")
    print(f"\nreport (redacted): {out}\nsummary: {readable}")
    return 0 if all(c["ok"] for c in report["checks"]) else 1


DEFAULT_REPORT = "octorunbook-doctor.json"


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
    parser.add_argument("--report", default=DEFAULT_REPORT, help="where to write the JSON report")
    parser.add_argument(
        "--field-test",
        action="store_true",
        help="ask this host what the stand-ins cannot know (netsh parameters, update, state folder ACL, "
        "service account and URL reservations, SCHANNEL policy); writes octorunbook-field-test.json + .txt",
    )
    parser.add_argument(
        "--sandbox-port",
        type=int,
        default=None,
        metavar="N",
        help="with --field-test: allow one binding round-trip (add, read back, update, delete) on the unused "
        "port N; nothing else is changed",
    )
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per command")
    parser.set_defaults(func=doctor_command)
