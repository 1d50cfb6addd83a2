"""``octorunbook posture``: print what an HTTPS endpoint accepts, as a rows table or JSON.

Exit codes: 0 no error finding, 1 an error finding (only ``--strict`` makes posture findings errors),
2 bad input (URL, CA bundle), 3 cannot connect (no TLS handshake at all).

:func:`run_posture` takes plain values, so ``octorunbook check --posture`` can call it with its own
arguments.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable

from octorunbook.findings import InputError, TargetError

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "posture",
        help="scan what an HTTPS endpoint accepts: protocols, weak suites, chain, hostname, HSTS",
        description="One handshake per TLS version and per TLS 1.2 suite of a fixed list, chain validation "
        "against the system store (and --ca-bundle), the hostname, and the HSTS header. Exit 0: no error "
        "finding; 1: an error finding (--strict); 2: bad input; 3: cannot connect.",
    )
    parser.add_argument("--url", required=True, help="where to connect, e.g. https://127.0.0.1:443")
    parser.add_argument("--hostname", required=True, help="the portal's host name, sent as SNI and Host")
    parser.add_argument("--ca-bundle", metavar="FILE", help="PEM chain or CA certificates your clients trust")
    parser.add_argument("--strict", action="store_true", help="posture findings are errors (exit 1)")
    parser.add_argument("--front", choices=["httpsys", "nginx"], help="give remedies for this TLS front only")
    parser.add_argument("--backend", choices=["ssl", "sslyze"], default="ssl", help="sslyze: optional extra")
    parser.add_argument("--json", action="store_true", help="print the record section as JSON")
    parser.set_defaults(
        func=lambda args: run_posture(
            args.url,
            args.hostname,
            ca_bundle=args.ca_bundle,
            strict=args.strict,
            front=args.front,
            backend=args.backend,
            as_json=args.json,
        )
    )


def run_posture(
    url: str,
    hostname: str,
    *,
    ca_bundle: str | None = None,
    strict: bool = False,
    front: str | None = None,
    backend: str = "ssl",
    as_json: bool = False,
    out: Callable[[str], None] = print,
) -> int:
    from octorunbook.evidence.posture import scan, text_table

    try:
        report = scan(
            url,
            hostname,
            ca_bundle=ca_bundle,
            posture="strict" if strict else "default",
            front=front,  # type: ignore[arg-type]
            backend=backend,
        )
    except InputError as exc:
        print(f"✖ {exc.code}: {exc.message}\n  remedy: {exc.remedy}", file=sys.stderr)
        return EXIT_USAGE
    except TargetError as exc:
        print(f"✖ {exc.code}: {exc.message}\n  remedy: {exc.remedy}", file=sys.stderr)
        return EXIT_UNREACHABLE
    out(json.dumps(report.to_record(), indent=2, ensure_ascii=False) if as_json else text_table(report))
    return EXIT_OK if report.ok else EXIT_FINDINGS
