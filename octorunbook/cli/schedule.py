"""``octorunbook schedule install|show|remove``: the daily unattended renewal (see :mod:`octorunbook.ops.schedule`)."""

from __future__ import annotations

import argparse
from typing import Any

SCHEDULE_DESCRIPTION = (
    "Run the renewal (runbook 04: `octorunbook renew PARAMS.yaml`) every day with the same parameters: "
    "a Scheduled Task as SYSTEM on Windows, a systemd timer on Linux, or a printed crontab line where "
    "systemd is not running."
)


def _runner() -> Any:
    from octorunbook.commands import CommandRunner

    return CommandRunner(timeout=120)


def _system(args: argparse.Namespace) -> bool:
    from octorunbook.ops.schedule_systemd import is_root

    return bool(args.system or (not args.user and is_root()))


def _install(args: argparse.Namespace) -> int:
    from octorunbook.cli.check import load_params
    from octorunbook.ops.schedule import build_schedule, require_platform_fits, resolve_platform

    params = load_params(args.params)
    platform = resolve_platform(args.platform)
    require_platform_fits(params, platform)
    runs, lifetime, why = _cadence(params, args.cadence)
    schedule = build_schedule(
        args.params, params, at=args.at, name=args.name, runs_per_day=runs, lifetime_days=lifetime
    )
    print(f"cadence: {schedule.cadence_text()}{why}")
    if platform == "windows":
        return _install_windows(args, params, schedule)
    from octorunbook.findings import OctorunbookError
    from octorunbook.ops.schedule_systemd import crontab_line, install_units, refuse_secret, systemd_running

    refuse_secret(schedule)
    if platform == "cron":
        line = crontab_line(schedule)  # refused (RENDER_UNSAFE) before anything is printed
        print(
            "systemd is not running here, so nothing was installed. Add this line to the crontab of the user"
        )
        print("the renewal should run as (`crontab -e`):\n")
        print(f"  {line}\n")
        return 0
    system = _system(args)
    running = systemd_running()
    paths = install_units(schedule, _runner(), system=system, enable=running)
    scope = "system" if system else "user"
    print(f"systemd {scope} timer for {schedule.name}, {schedule.when()} (± 15 min), catches up missed runs:")
    for path in paths:
        print(f"  wrote {path}")
    print(f"  runs: {' '.join(schedule.command)}")
    if not running:
        print("  systemd is not running here: the units were written but not enabled.")
        try:
            print(f"  where cron is used instead: {crontab_line(schedule)}")
        except OctorunbookError as exc:  # the units are written; only the cron alternative cannot be
            print(f"  no crontab line instead: {exc}")
    else:
        flag = "" if system else " --user"
        print(f"  enabled: systemctl{flag} list-timers {schedule.name}.timer")
        if not system:
            print(
                "  a user timer runs while you are logged in unless lingering is on: loginctl enable-linger"
            )
    return 0


def _install_windows(args: argparse.Namespace, params: Any, schedule: Any) -> int:
    """Paths and secrets judged first, then the task; then one dry run as the task's account."""
    import os

    from octorunbook.ops.schedule_paths import check_importable_by_task, check_task_paths
    from octorunbook.ops.schedule_windows import dry_run_task, gather_secrets, install_task

    check_importable_by_task()
    # the octorunbook command too: a virtual environment on a mapped drive is invisible to SYSTEM as well
    local_paths = [str(schedule.params_path), schedule.octorunbook]
    local_paths += check_task_paths(params, windows=os.name == "nt")
    secrets = gather_secrets(schedule)
    runner = _runner()
    data = install_task(schedule, runner, secrets, local_paths=local_paths)
    print(f"Scheduled Task {data.get('task_path', '')}{data.get('task_name', schedule.name)} registered:")
    print(
        f"  {schedule.when()}, as {data.get('user_id')} ({data.get('logon_type')}, {data.get('run_level')})"
    )
    print(f"  runs: {' '.join(schedule.command)}")
    if data.get("secret_protected"):
        names = ", ".join(schedule.secret_envs)
        print(f"  secrets ({names}): DPAPI LocalMachine-protected in {data.get('secret_path')}")
    print(f"  next run: {data.get('next_run_time') or 'unknown'}")
    if args.no_dry_run:
        print("  dry run as the task's account: skipped (--no-dry-run)")
        return 0
    run = dry_run_task(schedule.name, runner)  # SCHEDULE_DRY_RUN_FAILED: exit 1, the task stays
    print(f"  dry run as {run.get('user_id')}: Last Run Result 0 ({run.get('last_run_time') or 'just now'})")
    return 0


CADENCES = ("auto", "daily", "twice-daily")


def _cadence(params: Any, choice: str) -> tuple[int, float | None, str]:
    """Runs per day, the certificate's lifetime, and a note: ``auto`` reads the served certificate
    (a TLS handshake, read-only) and runs twice a day when it lives under 10 days — or when the ACME
    profile ordered is ``shortlived``, before the first such certificate is served."""
    from octorunbook.evidence.lifetime import runs_per_day

    lifetime, problem = _certificate_lifetime(params)
    if choice == "daily":
        return 1, lifetime, " (--cadence daily)"
    if choice == "twice-daily":
        return 2, lifetime, " (--cadence twice-daily)"
    if (
        getattr(params, "certificate_source", "") == "acme"
        and getattr(params, "acme_profile", "") == "shortlived"
    ):
        if runs_per_day(lifetime) < 2:  # the served certificate is not the 6-day one yet: the next will be
            return 2, lifetime, "; twice a day all the same: acme_profile is shortlived (about 6 days)"
    note = f"; daily until it can: {problem}" if lifetime is None and problem else ""
    return runs_per_day(lifetime), lifetime, note


def _certificate_lifetime(params: Any) -> tuple[float | None, str]:
    """``notAfter - notBefore`` of the certificate the portal serves now (None, and why, when unread)."""
    from octorunbook.evidence.check import check_endpoint, check_params
    from octorunbook.evidence.lifetime import lifetime_days
    from octorunbook.findings import OctorunbookError

    try:
        if params.target == "sandbox":
            result = check_params(params, timeout=10.0)
        else:  # the handshake only: the binding is the renewal's business
            result = check_endpoint("127.0.0.1", params.https_port, params.hostname, timeout=10.0)
    except OctorunbookError as exc:
        return None, f"{exc.code}: {exc.message}"
    if result.served is None:
        return None, "; ".join(result.reasons)
    return lifetime_days(result.served.not_before, result.served.not_after), ""


def _show(args: argparse.Namespace) -> int:
    from octorunbook.ops.schedule import check_name, resolve_platform

    name = check_name(args.name)
    platform = resolve_platform(args.platform)
    if platform == "windows":
        from octorunbook.ops.schedule_windows import show_task

        data = show_task(name, _runner())
        if data is None:
            print(f"no scheduled renewal task {name}")
            return 1
        print(f"Scheduled Task {data.get('task_path', '')}{data.get('task_name')}: {data.get('state')}")
        print(
            f"  daily at {data.get('at')}, as {data.get('user_id')} ({data.get('logon_type')}, {data.get('run_level')})"
        )
        print(f"  runs: {data.get('execute')} {data.get('arguments')}")
        print(f"  last run: {data.get('last_run_time') or 'never'} (result {data.get('last_task_result')})")
        print(f"  next run: {data.get('next_run_time') or 'unknown'}")
        return 0
    from octorunbook.ops.schedule_systemd import crontab_entry, installed_units

    units = installed_units(name, system=_system(args))
    for path, text in units.items():
        print(f"# {path}\n{text}")
    line = crontab_entry(name, _runner()) if not units else None
    if line:
        print(f"crontab: {line}")
    if not units and not line:
        print(f"no scheduled renewal {name} (no systemd units, no marked crontab line)")
        return 1
    return 0


def _remove(args: argparse.Namespace) -> int:
    from octorunbook.ops.schedule import check_name, resolve_platform

    name = check_name(args.name)
    platform = resolve_platform(args.platform)
    if platform == "windows":
        from octorunbook.ops.schedule_windows import remove_task

        data = remove_task(name, _runner())
        if data is None:
            print(f"no scheduled renewal task {name}: nothing removed")
            return 0
        secret = ", machine-protected PFX password deleted" if data.get("secret_removed") else ""
        print(f"Scheduled Task {name} removed{secret}")
        return 0
    from octorunbook.ops.schedule_systemd import crontab_entry, remove_units

    removed = remove_units(name, _runner(), system=_system(args))
    for path in removed:
        print(f"removed {path}")
    line = crontab_entry(name, _runner())
    if line:
        print(f"remove this line from the crontab yourself (`crontab -e`): {line}")
    if not removed and not line:
        print(f"no scheduled renewal {name}: nothing removed")
    return 0


def register(sub: Any) -> None:
    from octorunbook.ops.schedule import DEFAULT_AT, DEFAULT_NAME, PLATFORMS

    schedule = sub.add_parser(
        "schedule", help="run the renewal (04) daily: install, show, remove", description=SCHEDULE_DESCRIPTION
    )
    actions = schedule.add_subparsers(dest="schedule_command", required=True, metavar="ACTION")

    def common(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--name", default=DEFAULT_NAME, help=f"task / unit name (default {DEFAULT_NAME})")
        parser.add_argument("--platform", choices=PLATFORMS, default="auto", help="where to schedule (auto)")
        scope = parser.add_mutually_exclusive_group()
        scope.add_argument(
            "--system", action="store_true", help="systemd: a system timer (default when root)"
        )
        scope.add_argument(
            "--user", action="store_true", help="systemd: a --user timer (default when not root)"
        )

    install = actions.add_parser(
        "install",
        help="register the daily renewal",
        description="Register the daily renewal. " + SCHEDULE_DESCRIPTION,
    )
    install.add_argument("params", help="the runbooks' YAML parameter file (its absolute path is scheduled)")
    install.add_argument("--at", default=DEFAULT_AT, help=f"time of day, HH:MM (default {DEFAULT_AT})")
    install.add_argument(
        "--cadence",
        choices=CADENCES,
        default="auto",
        help="auto (default): twice a day (--at and 12 hours later) when the served certificate lives under "
        "10 days, else daily",
    )
    install.add_argument(
        "--no-dry-run",
        action="store_true",
        help="Windows: do not start the task once with --dry-run as its account after registering it",
    )
    common(install)
    install.set_defaults(func=_install)
    show = actions.add_parser(
        "show", help="show the scheduled renewal", description="Show the scheduled renewal."
    )
    common(show)
    show.set_defaults(func=_show)
    remove = actions.add_parser(
        "remove",
        help="remove the scheduled renewal",
        description="Remove the scheduled renewal (and its secret).",
    )
    common(remove)
    remove.set_defaults(func=_remove)
