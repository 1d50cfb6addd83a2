"""``octorunbook``: the runbooks over papermill, the sandbox host, certificates and audit records.

Exit codes: 0 success, 1 a runbook or check failed, 2 a usage error (bad arguments or parameters).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

# Nothing heavier at the top: ``octorunbook check`` (a monitoring plugin, run every minute) starts here,
# and is dispatched in main() before argparse, pathlib or the findings are imported for the other verbs.
if TYPE_CHECKING:
    import argparse
    from pathlib import Path


def _sandbox_init(args: argparse.Namespace) -> int:
    from pathlib import Path

    from octorunbook.targets.sandbox import Sandbox

    sandbox = Sandbox(Path(args.dir))
    sandbox.init(
        instance=args.instance,
        http_port=args.http_port,
        webhosting=not args.no_webhosting,
        fail=args.fail,
        front=args.front,
    )
    _print_status(sandbox.status())
    if args.fail:
        print(f"\nFailure drill armed: {args.fail}. The next run of 03 against this sandbox will meet it.")
    return 0


def _print_status(status: dict[str, Any]) -> None:
    print(
        f"sandbox {status['dir']}  instance {status['instance']}  portal "
        f"{'running (pid ' + str(status['portal_pid']) + ')' if status['running'] else 'stopped'}"
    )
    print(f"  stores: {', '.join(status['stores'])}   drill: {status['drill'] or 'none'}")
    config = status["config"]
    print(f"  listen prefixes: {', '.join(config['listen_prefixes'])}")
    print(
        f"  ForceSSL: {config['force_ssl']}  HSTS: {config['hsts_enabled']} (max-age {config['hsts_max_age']})"
    )
    for endpoint, binding in status["bindings"].items():
        print(
            f"  HTTP.sys binding {endpoint}: {binding['hash']} ({binding['store']}) appid {binding['appid']}"
        )
    print("  port map (prefix port → 127.0.0.1 port):")
    for virtual, real in sorted(status["port_map"].items()):
        print(f"    {virtual} → {real}")
    print(f"  stand-in Octopus.Server: {status['server_exe']}")
    if status.get("front") == "nginx":
        pid = status.get("nginx_pid")
        print(
            f"  front: nginx {'running (pid ' + str(pid) + ')' if pid else 'stopped'} in {status['nginx_prefix']}"
        )
        print(f"    proxies to the stand-in Octopus at {status['upstream']}")
        print(f"    managed server block: {status['nginx_site'] or 'none yet (03 writes it)'}")
        print(f"    PEM store: {', '.join(status['certificates']) or 'empty'}")


def _sandbox_status(args: argparse.Namespace) -> int:
    from pathlib import Path

    from octorunbook.targets.sandbox import Sandbox

    status = Sandbox(Path(args.dir)).status()
    if args.json:
        from octorunbook.emit import json_document  # emit imports xml.sax (and urllib.request): ~40 ms

        print(json_document(status))
    else:
        _print_status(status)
    return 0


def _sandbox_stop(args: argparse.Namespace) -> int:
    from pathlib import Path

    from octorunbook.targets.sandbox import Sandbox

    sandbox = Sandbox(Path(args.dir))
    sandbox.require()
    for name, was_running in sandbox.stop_all().items():
        print(f"{name} stopped" if was_running else f"{name} was not running")
    return 0


def _run(args: argparse.Namespace) -> int:
    from dataclasses import replace

    from octorunbook.headless.runner import load_params_file, run_all

    params = load_params_file(args.params)
    if args.audit_dir:
        params = replace(params, audit_dir=args.audit_dir)
    results = run_all(params, progress=print)
    print("\nSummary")
    for result in results:
        cert = (result.record or {}).get("certificate") or {}
        print(f"  {result.runbook:24} {result.status:10} {cert.get('thumbprint', '')}  {result.path or ''}")
    failed = [r for r in results if r.status == "failed"]
    for r in failed:
        for f in (r.record or {}).get("findings", []):
            if f.get("severity") == "error":
                print(f"  ✖ {f['code']}: {f['message']}\n    remedy: {f.get('remedy', '')}")
    _print_head(params.audit_dir)
    return 1 if failed or len(results) < 3 else 0


def _demo(args: argparse.Namespace) -> int:
    """make demo: a sandbox, the three runbooks headless, and what to look at."""
    from pathlib import Path

    from octorunbook.targets.sandbox import Sandbox

    root = Path(args.dir).resolve()
    sandbox = Sandbox(root)
    was_running = sandbox.exists() and sandbox.portal_pid() is not None
    sandbox.init(front=args.front)
    try:
        return _demo_runs(args, sandbox, root)
    except BaseException:
        _leave_sandbox(sandbox, was_running)
        raise


def _leave_sandbox(sandbox: Any, was_running: bool) -> None:
    """A demo that failed after starting its sandbox stops what it started, and says so; a portal that was
    running before the demo is left running, with how to stop it."""
    stop = f"octorunbook sandbox stop {sandbox.root}"
    if was_running:
        print(
            f"  the sandbox portal in {sandbox.root} was running before the demo and still is: {stop}",
            file=sys.stderr,
        )
        return
    try:
        stopped = [name for name, running in sandbox.stop_all().items() if running]
    except Exception as exc:  # noqa: BLE001 - the demo's own error is the one to show; this one is said
        print(
            f"  the sandbox in {sandbox.root} may still be running ({_reason(exc)}): {stop}", file=sys.stderr
        )
        return
    if stopped:
        print(
            f"  the demo failed: stopped the sandbox {' and '.join(stopped)} it had started in {sandbox.root}",
            file=sys.stderr,
        )


def _reason(exc: BaseException) -> str:
    from octorunbook.findings import OctorunbookError

    return f"{exc.code}: {exc.message}" if isinstance(exc, OctorunbookError) else type(exc).__name__


def _demo_runs(args: argparse.Namespace, sandbox: Any, root: Path) -> int:
    from pathlib import Path

    from octorunbook.headless.runner import run_all
    from octorunbook.params.core import Parameters

    params = Parameters(
        sandbox_dir=str(root),
        hostname="localhost",
        audit_dir=str(Path(args.audit_dir).resolve()),
        front=args.front,
        force_ssl=args.front == "nginx",
        hsts_max_age=3600 if args.front == "nginx" else 0,
    )
    results = run_all(params, progress=print)
    print("\n" + "=" * 72 + "\nocotorunbook demo summary".replace("ocoto", "octo"))
    for result in results:
        print(f"  {result.runbook:24} {result.status}")
    last = results[-1].record or {}
    tls = last.get("tls") or {}
    status = sandbox.status()
    https_port = status["port_map"].get(443)
    print(
        f"\n  thumbprint imported by 01:   {((results[0].record or {}).get('certificate') or {}).get('thumbprint')}"
    )
    print(
        f"  thumbprint served over TLS:  {tls.get('thumbprint', '(not verified)')}  ({tls.get('tls_version', '')})"
    )
    print("\n  executed notebooks (audit records):")
    for result in results:
        print(f"    {result.path}")
    print(f"\n  look at it:  curl -k https://localhost:{https_port}/api")
    print(f"  status:      .venv/bin/octorunbook sandbox status {root}")
    print(f"  stop it:     .venv/bin/octorunbook sandbox stop {root}")
    print("  notebooks:   .venv/bin/jupyter lab notebooks/")
    _print_head(params.audit_dir)
    from octorunbook.evidence.check import check_params

    watch = check_params(params)
    print(
        "\n  monitoring — what `octorunbook check` says of this portal (exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN):"
    )
    print(f"    {watch.line()}")
    print(
        f"    .venv/bin/octorunbook check --url https://127.0.0.1:{https_port} --hostname localhost --posture"
    )
    ok = len(results) == 3 and all(r.status in {"succeeded", "unchanged"} for r in results)
    return 0 if ok else 1


def _port(text: str) -> int:
    import argparse

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not between 1 and 65535")
    return value


# Commands that live in their own module: (name, module, one-line help). The module is imported, and its
# ``register(subparsers)`` called, only when its command is the one being run: ``octorunbook --help`` and
# ``audit list`` must not pay for cryptography, nbformat or papermill (each a large import).
COMMAND_MODULES: tuple[tuple[str, str, str], ...] = (
    (
        "certificate",
        "cli.certificate",
        "check a certificate file, or generate a self-signed one for the portal",
    ),
    ("audit", "cli.audit", "list, verify and show the executed-notebook records in an audit directory"),
    ("renew", "cli.renew", "renew or rotate the portal certificate with no restart (runbook 04, headless)"),
    ("recover", "cli.recover", "show (and with --discard clear) state files set aside as untrusted"),
    (
        "notebooks",
        "cli.notebooks",
        "where the packaged runbooks are; --copy DIR copies them (never over an edited copy)",
    ),
    ("lab", "cli.lab", "copy the runbooks into a working folder and open JupyterLab there (loopback, token)"),
    ("app", "cli.app", "the runbooks as pages without code for an operator (Voilà on loopback, token)"),
    ("check", "cli.check", "Nagios/Icinga-style expiry check of the served certificate (exit 0/1/2/3)"),
    (
        "schedule",
        "cli.schedule",
        "run 04 daily: a Windows Scheduled Task, a systemd timer or a crontab line",
    ),
    (
        "doctor",
        "cli.doctor",
        "read-only field check of a Windows target; a redacted JSON report to attach to an issue",
    ),
    (
        "posture",
        "cli.posture",
        "scan what an HTTPS endpoint accepts: protocols, weak suites, chain, hostname, HSTS",
    ),
    ("node", "cli.node", "drain / undrain an Octopus Server node and wait for its load-balancer ping"),
    ("fleet", "cli.fleet", "summarise the audit folders fetched from every node of an HA cluster"),
)


def _command_word(argv: list[str]) -> str | None:
    """The command named in ``argv`` (the first word that is not an option), if any."""
    return next((word for word in argv if not word.startswith("-")), None)


def _add_sandbox(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sandbox = sub.add_parser(
        "sandbox",
        help="the rehearsal host: init, status, stop",
        description="A stand-in Windows Octopus server in one folder: LocalMachine stores, a "
        "stand-in Octopus.Server and netsh, and a portal with real TLS on loopback.",
    )
    ssub = sandbox.add_subparsers(dest="sandbox_command", required=True, metavar="ACTION")
    init = ssub.add_parser(
        "init",
        help="create (or re-arm) a sandbox host and start its portal",
        description="Create a sandbox host in DIR (idempotent) and start its portal.",
    )
    init.add_argument("dir", help="folder of the sandbox host")
    init.add_argument(
        "--instance", default="OctopusServer", help="Octopus instance name (default OctopusServer)"
    )
    init.add_argument(
        "--http-port", type=_port, default=80, help="port of the initial http:// prefix (mapped)"
    )
    init.add_argument(
        "--no-webhosting", action="store_true", help="no WebHosting store (a server without IIS)"
    )
    from octorunbook.targets.sandbox.host import DRILLS, NGINX_DRILLS

    drills = tuple(dict.fromkeys(DRILLS + NGINX_DRILLS))
    init.add_argument(
        "--fail",
        choices=drills,
        help="arm a failure drill for rehearsal: "
        + ", ".join(DRILLS)
        + "; with --front nginx: "
        + ", ".join(NGINX_DRILLS),
    )
    init.add_argument(
        "--front",
        choices=("httpsys", "nginx"),
        default="httpsys",
        help="what terminates TLS: httpsys (the HTTP.sys stand-in, default) or nginx (a real nginx in front "
        "of the stand-in Octopus on plain HTTP: Octopus on Linux)",
    )
    init.set_defaults(func=_sandbox_init)
    status = ssub.add_parser(
        "status",
        help="show configuration, bindings, port map, portal state",
        description="Show the sandbox's Octopus configuration, HTTP.sys bindings and port map.",
    )
    status.add_argument("dir", help="folder of the sandbox host")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(func=_sandbox_status)
    stop = ssub.add_parser(
        "stop",
        help="stop the sandbox portal (and its nginx)",
        description="Stop the sandbox's portal process, and its nginx for the nginx front.",
    )
    stop.add_argument("dir", help="folder of the sandbox host")
    stop.set_defaults(func=_sandbox_stop)


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The ``octorunbook`` parser; for ``argv``'s command in full, the other commands as one-line stubs.

    Without ``argv`` every command is built in full (tests, documentation).
    """
    import argparse

    from octorunbook import __version__

    chosen = _command_word(argv) if argv is not None else None
    full = argv is None
    parser = argparse.ArgumentParser(
        prog="octorunbook",
        description="Guided, auditable HTTPS for the Octopus Deploy web portal, as Jupyter runbooks.",
    )
    parser.add_argument("--version", action="version", version=f"octorunbook {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser(
        "run",
        help="run 01 → 02 → 03 headless with papermill from one YAML parameter file",
        description="Run the three runbooks headless (papermill), passing the imported thumbprint "
        "forward and stopping at the first failure. Each executed notebook is written to audit_dir. "
        "Exit 0 when all succeed, 1 when one fails, 2 on bad parameters. Prints the audit head at the end.",
    )
    run.add_argument("params", help="YAML file of runbook parameters (see `papermill --help-notebook`)")
    run.add_argument("--audit-dir", help="override audit_dir from the YAML file")
    run.set_defaults(func=_run)

    demo = sub.add_parser(
        "demo",
        help="rehearse everything on a sandbox host (what `make demo` runs)",
        description="Create a sandbox host, run the three runbooks headless against it with a "
        "self-signed certificate for localhost, and print what now serves HTTPS.",
    )
    demo.add_argument("--dir", default="demo/sandbox", help="sandbox folder (default: demo/sandbox)")
    demo.add_argument("--audit-dir", default="demo/audit", help="audit records folder (default: demo/audit)")
    demo.add_argument(
        "--front",
        choices=("httpsys", "nginx"),
        default="httpsys",
        help="the topology: httpsys (default) or nginx (Octopus on Linux behind a real nginx)",
    )
    demo.set_defaults(func=_demo)

    if full or chosen == "sandbox":
        _add_sandbox(sub)
    else:
        sub.add_parser("sandbox", help="the rehearsal host: init, status, stop")

    for name, module, summary in COMMAND_MODULES:
        if full or chosen == name:
            __import__(f"octorunbook.{module}", fromlist=["register"]).register(sub)
        else:
            sub.add_parser(name, help=summary)
    return parser


def _print_head(audit_dir: str | Path) -> None:
    """The audit head after a run, for the operator to paste into the change ticket."""
    from pathlib import Path

    from octorunbook.audit.chain import MANIFEST_NAME, head_hint

    if (Path(audit_dir) / MANIFEST_NAME).is_file():
        print("\n  " + head_hint(audit_dir))


def main(argv: list[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else argv
    if words[:1] == ["check"]:  # a monitoring plugin: its own argument rules (exit 3 on bad arguments)
        from octorunbook.cli.check import run_check

        return run_check(words[1:])
    from octorunbook.jsontext import skip_format_libraries

    skip_format_libraries()
    from octorunbook.findings import InputError, OctorunbookError

    parser = build_parser(words)
    args = parser.parse_args(words)
    try:
        return int(args.func(args))
    except OctorunbookError as exc:
        print(f"✖ {exc.code}: {exc.message}", file=sys.stderr)
        if exc.remedy:
            print(f"  remedy: {exc.remedy}", file=sys.stderr)
        return 2 if isinstance(exc, InputError) else 1  # bad input: 2; the target or the proof failed: 1
    except OSError as exc:  # a folder or file the operator named cannot be used
        print(f"✖ OS_ERROR: {exc.strerror or exc} ({exc.filename or ''})", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
