"""``octorunbook renew PARAMS.yaml``: runbook 04 headless — what a schedule runs every day."""

from __future__ import annotations

import argparse
from dataclasses import replace
from typing import Any

RENEWAL_RUNBOOK = "04-renew-certificate"


def _renew(args: argparse.Namespace) -> int:
    from octorunbook.headless.runner import execute, load_params_file

    params = load_params_file(args.params)
    if args.audit_dir:
        params = replace(params, audit_dir=args.audit_dir)
    if args.force:
        params = replace(params, force_renew=True)
    if args.dry_run:
        params = replace(params, dry_run=True)
    result = execute(RENEWAL_RUNBOOK, params, progress=print)
    record = result.record or {}
    tls = record.get("tls") or {}
    retired = record.get("retired") or {}
    print(f"\n  {result.runbook:24} {result.status:10} {result.path or ''}")
    if tls:
        print(f"  served now: {tls.get('thumbprint')} (expires {tls.get('not_after', '?')})")
    if retired:
        print(f"  previous:   {retired.get('thumbprint')} ({retired.get('how')})")
    for finding in record.get("findings", []):
        if finding.get("severity") == "error":
            print(f"  ✖ {finding['code']}: {finding['message']}\n    remedy: {finding.get('remedy', '')}")
    return 0 if result.status in {"succeeded", "unchanged", "planned"} else 1


def register(sub: Any) -> None:
    renew = sub.add_parser(
        "renew",
        help="renew or rotate the portal certificate with no restart (runbook 04, headless)",
        description="Run runbook 04 headless: read what is served and bound; when fewer than "
        "renew_before_days are left (or --force), obtain, judge and import the new certificate, swap the "
        "HTTP.sys binding without restarting Octopus, prove the new thumbprint over TLS and retire the "
        "old one — or restore the old binding. Exit 0 succeeded/unchanged, 1 failed, 2 bad parameters.",
    )
    renew.add_argument("params", help="YAML file of runbook parameters (the same file `run` uses)")
    renew.add_argument("--audit-dir", help="override audit_dir from the YAML file")
    renew.add_argument("--force", action="store_true", help="replace the certificate now (force_renew)")
    renew.add_argument(
        "--dry-run",
        action="store_true",
        help="plan only (dry_run): read, judge and prove what can be read; change nothing",
    )
    renew.set_defaults(func=_renew)
