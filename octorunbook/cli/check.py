"""``octorunbook check`` and ``octorunbook schedule``: the day-two commands (issue 13, sections 2 and 3).

Registered by :mod:`octorunbook.cli.main`; this module imports nothing heavy at import time, and ``check``
in particular loads only the standard library (cryptography for a certificate outside the reader's profile,
PyYAML and the target's drivers for a parameter file): a monitoring system runs it every minute. Plain
arguments (whole option names, each once, values not starting with ``-``) are read without building the
argparse parser (:func:`plain_args`, held to argparse's answer by tests/cli/test_check_start.py); anything
else — ``--help``, a usage error, an abbreviation — goes to argparse as before.

``check`` parses its own arguments: a Nagios/Icinga plugin must exit 3 (UNKNOWN) on bad arguments,
where argparse would exit 2 (which a monitoring system reads as CRITICAL).
"""

from __future__ import annotations

import sys
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    import argparse
    from pathlib import Path

    from octorunbook.params.core import Parameters

CHECK_DESCRIPTION = (
    "Read the certificate the portal serves over TLS (and, with a parameter file, the one bound on the "
    "target) and exit like a Nagios/Icinga plugin: 0 OK, 1 WARNING (a third of the certificate's own "
    "lifetime left, or --warn-days), 2 CRITICAL (a sixth left, or --critical-days; expired, hostname not "
    "covered, served certificate is not the bound one), 3 UNKNOWN (cannot connect, bad arguments, or a bad parameter file: where every other verb "
    "exits 2 on bad parameters, check exits 3, the monitoring convention). Changes nothing on the target; "
    "with --notify-env it keeps a notification ledger of what it has told, so each event is told once."
)


class _UsageError(Exception):
    pass


def check_parser() -> argparse.ArgumentParser:
    import argparse

    class _PluginParser(argparse.ArgumentParser):
        """argparse, but a usage error is UNKNOWN (exit 3) with a one-line message, never exit 2."""

        def error(self, message: str) -> NoReturn:
            raise _UsageError(message)

    parser = _PluginParser(prog="octorunbook check", description=CHECK_DESCRIPTION)
    parser.add_argument(
        "params",
        nargs="?",
        help="the runbooks' YAML parameter file (target, hostname, https_port…), read as `run` reads it; "
        "a bad one (unknown name, duplicate key…) is UNKNOWN: exit 3, not 2",
    )
    parser.add_argument("--url", help="check https://host:port instead of the target a parameter file names")
    parser.add_argument(
        "--hostname", help="the portal's host name (SNI and the name the certificate must cover)"
    )
    parser.add_argument(
        "--warn-days",
        type=int,
        default=None,
        help="WARNING when it expires within N days (default: a third of its own lifetime left)",
    )
    parser.add_argument(
        "--critical-days",
        type=int,
        default=None,
        help="CRITICAL when it expires within N days (default: a sixth of its own lifetime left)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=10.0,
        help="seconds the whole check may take, --posture scan included; then UNKNOWN (10)",
    )
    parser.add_argument(
        "--notify-env",
        metavar="NAME",
        help="environment variable holding Apprise URLs: a result past WARNING sends one message per event "
        "(default: the parameter file's notify_env); a notification ledger in the state home remembers "
        "what was told: again when the code, severity or certificate changes, and one 'resolved' "
        "message when it clears",
    )
    parser.add_argument(
        "--notify-every",
        metavar="HOURS",
        type=float,
        default=None,
        help="remind of an alarm still standing every HOURS hours (1 to 720; default 24)",
    )
    parser.add_argument(
        "--audit-dir",
        metavar="DIR",
        help="also CRITICAL when the newest successful renewal record (04) in DIR is older than twice the "
        "schedule's cadence (48 hours; 24 for certificates under 10 days): renewals have stopped; and "
        "the CA's renewal window a renewal record holds for the served certificate: WARNING while it is "
        "open, CRITICAL once it has passed (read offline)",
    )
    parser.add_argument(
        "--acme-directory",
        metavar="URL",
        help="ask this ACME CA (its directory URL) for the served certificate's renewal window (ARI, "
        "RFC 9773): WARNING while it is open and the certificate is not replaced, CRITICAL once it has "
        "passed; a CA that cannot answer is UNKNOWN",
    )
    parser.add_argument(
        "--no-audit-dir",
        action="store_true",
        help="with a parameter file: do not read its audit_dir (by default its renewal records are read "
        "as with --audit-dir, once runbook 04 has left one there)",
    )
    parser.add_argument(
        "--no-acme-directory",
        action="store_true",
        help="with a parameter file whose certificate_source is acme: do not ask its ACME CA for the "
        "renewal window (by default it is asked as with --acme-directory, unless the newest renewal "
        "record holds the CA's answer for the served certificate and the CA's Retry-After has not run out)",
    )
    parser.add_argument(
        "--acme-ca-bundle",
        metavar="FILE",
        default="",
        help="PEM bundle that verifies the ACME CA's own HTTPS (a private or test CA); default: the system's",
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    parser.add_argument("--prometheus", metavar="FILE", help="also write a node-exporter textfile (*.prom)")
    parser.add_argument(
        "--posture",
        action="store_true",
        help="also scan what the endpoint accepts (protocols, weak suites, chain, HSTS) and print the table; "
        "a posture finding makes an OK result WARNING",
    )
    return parser


def load_params(path: str | Path) -> Parameters:
    """The runbooks' parameter file, read by the one parser every door uses (unknown names, duplicate
    keys, aliases, a FIFO or an oversized file refused), without importing the runner (papermill, nbformat).
    ``check`` answers such a file UNKNOWN (exit 3); every other verb exits 2."""
    from octorunbook.params.loading import load_params_file

    return load_params_file(path)


MAX_TIMEOUT = 3600  # a handshake that takes an hour is no answer; beyond ~1e9 the socket layer overflows

# The options of check_parser(), for plain_args: (dest, conversion) of each valued one, the flags, defaults.
_VALUED: dict[str, tuple[str, Any]] = {
    "--url": ("url", str),
    "--hostname": ("hostname", str),
    "--warn-days": ("warn_days", int),
    "--critical-days": ("critical_days", int),
    "--timeout": ("timeout", float),
    "--notify-env": ("notify_env", str),
    "--notify-every": ("notify_every", float),
    "--audit-dir": ("audit_dir", str),
    "--acme-directory": ("acme_directory", str),
    "--acme-ca-bundle": ("acme_ca_bundle", str),
    "--prometheus": ("prometheus", str),
}
_FLAGS = {
    "--json": "json", "--posture": "posture", "--no-audit-dir": "no_audit_dir",
    "--no-acme-directory": "no_acme_directory",
}  # fmt: skip
_DEFAULTS: dict[str, Any] = {
    "params": None, **{dest: None for dest, _ in _VALUED.values()}, "timeout": 10.0, "acme_ca_bundle": "",
    **{dest: False for dest in _FLAGS.values()},
}  # fmt: skip


def plain_args(argv: list[str]) -> SimpleNamespace | None:
    """The namespace ``check_parser().parse_args(argv)`` returns, for plain arguments; None for anything
    else (argparse then answers: help, usage errors, abbreviations, ``--name=value``, repeats)."""
    values = dict(_DEFAULTS)
    seen: set[str] = set()
    words = iter(argv)
    for word in words:
        if not word.startswith("-"):
            if "params" in seen:
                return None
            seen.add("params")
            values["params"] = word
            continue
        if word in seen or (word not in _VALUED and word not in _FLAGS):
            return None
        seen.add(word)
        if word in _FLAGS:
            values[_FLAGS[word]] = True
            continue
        value = next(words, None)
        if value is None or value.startswith("-"):
            return None
        dest, convert = _VALUED[word]
        try:
            values[dest] = convert(value)
        except ValueError:
            return None
    return SimpleNamespace(**values)


def run_check(argv: list[str]) -> int:
    from octorunbook.evidence.check import UNKNOWN, CheckResult, unknown
    from octorunbook.findings import OctorunbookError

    args: Any = None
    result: CheckResult
    try:
        args = plain_args(argv) or check_parser().parse_args(argv)
        result = _run_check(args)
    except _UsageError as exc:
        print(f"CERT UNKNOWN - bad arguments: {exc} (see octorunbook check --help)")
        return UNKNOWN
    except OctorunbookError as exc:
        name = getattr(args, "hostname", None) or "portal"
        result = unknown(name, "", f"{exc.code}: {exc.message}")
    except Exception as exc:  # noqa: BLE001 - a plugin answers UNKNOWN, never with a traceback
        print(f"CERT UNKNOWN - internal error: {type(exc).__name__}: {exc}")
        return UNKNOWN
    base = result
    try:
        alarms = _alarms(args, result)
    except Exception as exc:  # noqa: BLE001 - a plugin answers UNKNOWN, never with a traceback
        print(f"CERT UNKNOWN - internal error: {type(exc).__name__}: {exc}")
        return UNKNOWN
    if alarms:
        from octorunbook.evidence.check_alarms import with_alarms

        result = with_alarms(result, alarms)
    posture = _posture(result, getattr(args, "deadline", None)) if args and args.posture else None
    if isinstance(posture, OctorunbookError):  # the deadline passed during the scan: no verdict
        reason = f"{posture.code}: {posture.message}"
        result = unknown(result.hostname, result.endpoint, reason, result.warn_days, result.critical_days)
        posture = None
    if args is not None and args.prometheus:
        from octorunbook.evidence.check_render import write_textfile

        try:
            write_textfile(result, args.prometheus)
        except (OctorunbookError, OSError) as exc:
            text = (
                exc.message
                if isinstance(exc, OctorunbookError)
                else f"{exc.strerror or exc} ({exc.filename})"
            )
            print(f"CERT UNKNOWN - cannot write {args.prometheus}: {text}")
            return UNKNOWN
    _notify(args, base, alarms)
    status = result.status
    if posture is not None and posture.findings and status == 0:
        status = 1  # WARNING: the certificate is fine, what the endpoint accepts is not
    if args is not None and args.json:
        import json

        from octorunbook.emit import json_document
        from octorunbook.evidence.check_render import json_text

        data = json.loads(json_text(result))
        if posture is not None:
            data["posture"] = posture.to_record()
            data["exit_status"] = status
        print(json_document(data))
    else:
        line = result.line()
        if status != result.status and posture is not None:
            text, bar, perf = line.partition(" | ")
            text = text.replace("CERT OK", "CERT WARNING", 1) + f" (posture: {', '.join(posture.codes())})"
            line = text + bar + perf
        print(line)
        if posture is not None:
            from octorunbook.evidence.posture import text_table

            print(text_table(posture))
    return status


def _alarms(args: argparse.Namespace | None, result: Any) -> list[Any]:
    """``--audit-dir`` and ``--acme-directory``: what the expiry verdict cannot see (stopped renewals,
    the CA's renewal window); imported only when asked for, so a plain check stays fast."""
    if args is None or not (args.audit_dir or args.acme_directory):
        return []
    from octorunbook.evidence import check_alarms
    from octorunbook.evidence.lifetime import lifetime_days

    served = result.served
    alarms: list[Any] = []
    if args.audit_dir:
        lifetime = lifetime_days(served.not_before, served.not_after) if served is not None else None
        alarms += check_alarms.audit_alarms(args.audit_dir, served, lifetime)
    if args.acme_directory and getattr(args, "acme_implied", False) and args.audit_dir:
        if check_alarms.recorded_answer_stands(args.audit_dir, served):
            return alarms  # the CA asked not to be asked yet; the recorded window was judged above
    if args.acme_directory:
        deadline = getattr(args, "deadline", None)
        seconds = deadline.left() if deadline is not None else args.timeout
        alarms += check_alarms.ca_alarms(args.acme_directory, args.acme_ca_bundle, served, seconds)
    return alarms


def _notify(args: Any, result: Any, alarms: list[Any]) -> None:
    """One message per alarm past WARNING, and one for an expiry verdict past WARNING, to the Apprise URLs
    the named variable holds (never printed) — once per event: the notification ledger in the target's
    state home (or this user's, :func:`octorunbook.ops.notify_ledger.ledger_root`) remembers what was told."""
    env = (getattr(args, "notify_env", None) or getattr(args, "params_notify_env", "")) if args else ""
    if env:
        from octorunbook.ops.notify import notify_check
        from octorunbook.ops.notify_ledger import ledger_root

        record = ""
        if args is not None and args.audit_dir:
            from octorunbook.evidence.check_alarms import newest_record

            record = newest_record(args.audit_dir)
        params = getattr(args, "loaded_params", None)
        state = None
        if params is not None:
            from octorunbook.targets import state_dir_for

            try:
                state = state_dir_for(params)
            except (OSError, ValueError):
                state = None
        consulted = [name for name in ("audit_dir", "acme_directory") if getattr(args, name, None)]
        try:
            notify_check(
                env,
                result,
                record,
                alarms,
                ledger_root=ledger_root(state),
                every_hours=getattr(args, "notify_every", None),
                consulted=["acme" if name == "acme_directory" else name for name in consulted],
            )
        except Exception as exc:  # noqa: BLE001 - a plugin's verdict stands; a notification never breaks it
            print(f"NOTIFY_FAILED: internal error while notifying: {type(exc).__name__}", file=sys.stderr)


def _posture(result: Any, deadline: Any) -> Any:
    """The posture of the endpoint the check just read (None when it could not be reached), within what is
    left of the check's deadline; the ``NETWORK_TIMEOUT`` error when that passes."""
    from octorunbook.evidence.deadline import DeadlineExceeded
    from octorunbook.evidence.posture import scan
    from octorunbook.findings import OctorunbookError

    if result.served is None:
        return None
    host, _, port = str(result.endpoint).rpartition(":")
    try:
        return scan((host, int(port)), result.hostname, timeout=deadline)
    except DeadlineExceeded as exc:
        return exc
    except OctorunbookError:
        return None


def _run_check(args: Any) -> Any:
    from octorunbook.evidence.check import check_endpoint, check_params, parse_url
    from octorunbook.findings import InputError

    given = [d for d in (args.warn_days, args.critical_days) if d is not None]
    if any(d < 0 for d in given) or (len(given) == 2 and args.critical_days > args.warn_days):
        raise _UsageError("need 0 <= --critical-days <= --warn-days")
    if not (0 < args.timeout <= MAX_TIMEOUT):  # nan fails every comparison; 1e400 parses as inf
        raise _UsageError(f"--timeout must be a positive finite number of seconds (at most {MAX_TIMEOUT})")
    if args.notify_every is not None and not (1 <= args.notify_every <= 720):  # nan fails both
        raise _UsageError("--notify-every must be a number of hours from 1 to 720")
    if bool(args.params) == bool(args.url):
        raise _UsageError("give either a parameter file or --url https://host:port (with --hostname)")
    if args.notify_env is not None:
        from octorunbook.redaction import env_name_ok

        if not env_name_ok(args.notify_env):  # a URL pasted here carries its token: never shown
            raise _UsageError(
                "--notify-env takes the NAME of an environment variable that holds the Apprise URLs (e.g. "
                "OCTOPUS_NOTIFY_URLS), not a URL: the value given is not a variable name and is not shown"
            )
    if args.acme_directory and not args.acme_directory.startswith("https://"):
        raise _UsageError("--acme-directory must be the CA's https:// directory URL")
    from octorunbook.evidence.deadline import Deadline

    args.deadline = Deadline(args.timeout, f"octorunbook check (--timeout {args.timeout:g})")
    limits = {"warn_days": args.warn_days, "critical_days": args.critical_days, "timeout": args.deadline}
    if args.url:
        host, port = parse_url(args.url)
        hostname = args.hostname or host
        from octorunbook.params.hostnames import hostname_ok

        if not hostname_ok(hostname):
            raise InputError(
                "HOSTNAME_INVALID", f"{hostname!r} is not a valid DNS host name.", "Fix --hostname."
            )
        return check_endpoint(host, port, hostname, **limits)
    params = load_params(args.params)
    args.params_notify_env = params.notify_env
    args.loaded_params = params
    _params_doors(args, params)
    if args.hostname:
        from dataclasses import replace

        params = replace(params, hostname=args.hostname)
    return check_params(params, **limits)


def _params_doors(args: Any, params: Parameters) -> None:
    """With a parameter file, the doors it implies: its ``audit_dir`` (the dead man's switch needs no
    flag), relative to the file's folder as the scheduled run sees it, once a renewal (04) has left a
    record there (before that, renewals cannot have stopped: 01 → 03 alone is no schedule); and, for
    ``certificate_source: acme``, its CA's renewal window. Each explicit option wins; each has a
    ``--no-…`` to opt out."""
    from pathlib import Path

    if not args.audit_dir and not args.no_audit_dir:
        folder = Path(params.audit_dir).expanduser()
        if not folder.is_absolute():
            folder = Path(args.params).resolve().parent / folder
        from octorunbook.evidence.check_alarms import renewal_recorded

        if folder.is_dir() and renewal_recorded(folder) is not False:  # None: unreadable, said as such
            args.audit_dir = str(folder)
    if not args.acme_directory and not args.no_acme_directory and params.certificate_source == "acme":
        args.acme_directory = params.acme_directory_url
        args.acme_ca_bundle = args.acme_ca_bundle or params.acme_ca_bundle
        args.acme_implied = True


def _check_entry(args: argparse.Namespace) -> int:
    return run_check(list(args.check_args))


def register(sub: Any) -> None:
    """Add ``check`` to the top-level parser (``schedule`` registers itself, from ``_cli_schedule``)."""
    import argparse

    check = sub.add_parser(
        "check",
        help="Nagios/Icinga-style expiry check of the served certificate (exit 0/1/2/3)",
        description=CHECK_DESCRIPTION,
        add_help=False,
    )
    check.add_argument("check_args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    check.set_defaults(func=_check_entry)


def main() -> int:  # pragma: no cover - `python -m octorunbook.cli.check check ...`
    return run_check(sys.argv[1:])
