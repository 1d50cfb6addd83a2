"""The dead man's switch (issue 26): have the scheduled renewals stopped?

A renewal that fails tells someone (``notify_env``); a renewal that never runs — the timer disabled, the
Task deleted, the machine's clock or cron broken — tells nobody, and the certificate lapses weeks later.
``octorunbook check --audit-dir DIR`` therefore reads the audit folder (the manifest, no notebook is
parsed) and is CRITICAL when the newest successful renewal record (runbook 04, ``succeeded`` or
``unchanged``) is older than twice the schedule's cadence: 48 hours for a daily schedule, 24 hours for
the twice-daily one a certificate under 10 days of lifetime gets (:func:`~octorunbook.evidence.lifetime.runs_per_day`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from octorunbook.evidence.lifetime import runs_per_day

RENEWAL_RUNBOOK = "04-renew-certificate"
SUCCESSFUL = ("succeeded", "unchanged")


def cadence_hours(lifetime_days: float | None) -> int:
    """Hours between two scheduled renewals, as ``octorunbook schedule install`` picks them."""
    return 24 // runs_per_day(lifetime_days)


CLOCK_SKEW = timedelta(minutes=1)  # a record "from the future" by more than this was not made here


def last_renewal(audit_dir: str | Path) -> datetime | None:
    """When the newest successful renewal record the audit chain vouches for was made (None: none)."""
    from octorunbook.audit.chain import vouched_for
    from octorunbook.audit.listing import list_records
    from octorunbook.audit.records import parse_time

    latest = datetime.now(UTC) + CLOCK_SKEW
    for row in list_records(audit_dir):  # newest first
        if row.runbook != RENEWAL_RUNBOOK or row.status not in SUCCESSFUL or row.unverified:
            continue  # a notebook the manifest does not know was added outside the chain
        moment = parse_time(row.when)
        if moment is None or moment > latest:  # a record "made" in the future was not made by a run
            continue
        if vouched_for(Path(audit_dir) / row.record):  # planted or edited lines decide nothing
            return moment
    return None


def renewals_stopped(
    audit_dir: str | Path, lifetime_days: float | None, now: datetime | None = None
) -> str | None:
    """The reason to be CRITICAL when renewals have stopped, else None."""
    hours = cadence_hours(lifetime_days)
    limit = 2 * hours
    last = last_renewal(audit_dir)
    if last is None:
        return f"renewals have stopped: no successful renewal record in {audit_dir}"
    age = ((now or datetime.now(UTC)) - last).total_seconds() / 3600
    if age <= limit:
        return None
    return (
        f"renewals have stopped: the last successful renewal was {age:.0f} hours ago "
        f"(more than twice the {hours}-hour schedule)"
    )
