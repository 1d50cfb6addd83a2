"""``octorunbook posture``: print what an HTTPS endpoint accepts, as a rows table or JSON.

Exit codes: 0 no error finding, 1 an error finding (only ``--strict`` makes posture findings errors),
2 bad input (URL, CA bundle, --timeout), 3 cannot connect (no TLS handshake at all) or the scan did not
finish within ``--timeout`` (``NETWORK_TIMEOUT``: one :class:`~octorunbook.evidence.deadline.Deadline`
covers every handshake and the HSTS request, so a server that trickles its answers cannot hold it longer).

:func:`run_posture` takes plain values, so ``octorunbook check --posture`` can call it with its own
arguments.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable

from octorunbook.findings import InputError, TargetError

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3
DEFAULT_TIMEOUT = 10.0  # as `octorunbook check --timeout`
MAX_TIMEOUT = 3600  # as `octorunbook check`: an hour is no answer; beyond ~1e9 the socket layer overflows


def _timeout(text: str) -> float:
    """``--timeout``: a positive finite number of seconds, at most MAX_TIMEOUT (argparse exits 2 otherwise)."""
    try:
        seconds = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not (math.isfinite(seconds) and 0 < seconds <= MAX_TIMEOUT):
        raise argparse.ArgumentTypeError(
            f"must be a positive finite number of seconds (at most {MAX_TIMEOUT})"
        )
    return seconds


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    parser = subparsers.add_parser(
        "posture",
        help="scan what an HTTPS endpoint accepts: protocols, weak suites, chain, hostname, HSTS",
        description="One handshake per TLS version and per TLS 1.2 suite of a fixed list, chain validation "
        "against the system store (and --ca-bundle), the hostname, and the HSTS header, all within --timeout. "
        "Exit 0: no error finding; 1: an error finding (--strict); 2: bad input; 3: cannot connect, or the "
        "scan did not finish within --timeout (NETWORK_TIMEOUT).",
    )
    parser.add_argument("--url", required=True, help="where to connect, e.g. https://127.0.0.1:443")
    parser.add_argument("--hostname", required=True, help="the portal's host name, sent as SNI and Host")
    parser.add_argument("--ca-bundle", metavar="FILE", help="PEM chain or CA certificates your clients trust")
    parser.add_argument("--strict", action="store_true", help="posture findings are errors (exit 1)")
    parser.add_argument("--front", choices=["httpsys", "nginx"], help="give remedies for this TLS front only")
    parser.add_argument("--backend", choices=["ssl", "sslyze"], default="ssl", help="sslyze: optional extra")
    parser.add_argument(
        "--timeout",
        type=_timeout,
        default=DEFAULT_TIMEOUT,
        help=f"seconds the whole scan may take; then NETWORK_TIMEOUT, exit 3 ({DEFAULT_TIMEOUT:g})",
    )
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
            timeout=args.timeout,
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
    timeout: float = DEFAULT_TIMEOUT,
    out: Callable[[str], None] = print,
) -> int:
    from octorunbook.emit import json_document
    from octorunbook.evidence.deadline import Deadline
    from octorunbook.evidence.posture import scan, text_table

    deadline = Deadline(timeout, f"octorunbook posture (--timeout {timeout:g})")
    try:
        report = scan(
            url,
            hostname,
            ca_bundle=ca_bundle,
            posture="strict" if strict else "default",
            front=front,  # type: ignore[arg-type]
            backend=backend,
            timeout=deadline,
        )
    except InputError as exc:
        print(f"✖ {exc.code}: {exc.message}\n  remedy: {exc.remedy}", file=sys.stderr)
        return EXIT_USAGE
    except TargetError as exc:
        print(f"✖ {exc.code}: {exc.message}\n  remedy: {exc.remedy}", file=sys.stderr)
        return EXIT_UNREACHABLE
    out(json_document(report.to_record()) if as_json else text_table(report))
    return EXIT_OK if report.ok else EXIT_FINDINGS
