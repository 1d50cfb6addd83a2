"""Runbook 04's monitoring cell: what ``octorunbook check`` would say about the portal, as a panel.

The same verdict as the command (one ``judge``, the same thresholds — by default ⅓ and ⅙ of the
certificate's own lifetime left, :mod:`octorunbook.evidence.lifetime` — and the same one-line output a
Nagios/Icinga check prints), taken from the handshake and binding 04 has just read, so the record of
every renewal run — scheduled ones included — carries the check a monitoring system would have seen.
It reads only; a CRITICAL verdict does not stop the run (renewing is what fixes it).
"""

from __future__ import annotations

from octorunbook.evidence import check
from octorunbook.evidence.check import CheckResult
from octorunbook.evidence.lifetime import days_text
from octorunbook.render import Panel, Row
from octorunbook.runbooks.renewal_state import Current
from octorunbook.runbooks.run import Run

PANEL_STATUS = {check.OK: "ok", check.WARNING: "warning", check.CRITICAL: "error", check.UNKNOWN: "warning"}


def check_panel(result: CheckResult) -> Panel:
    """The check as a panel: the plugin's own line first, then each reason and the served certificate."""
    rows = [Row(PANEL_STATUS[result.status], "check", result.line())]
    rows += [Row(PANEL_STATUS[result.status], "reason", reason) for reason in result.reasons]
    if result.served is not None:
        rows.append(
            Row(
                "info",
                "served",
                f"{result.served.thumbprint} · {result.served.tls_version} · not after "
                f"{result.served.not_after:%Y-%m-%d %H:%M} UTC",
            )
        )
    if result.bound is not None:
        rows.append(
            Row(
                "info",
                "bound",
                f"{result.bound.thumbprint} ({result.bound.store}) on {result.bound.endpoint}",
            )
        )
    limits = result.limits
    rule = (
        f" ({limits.rule}: ⅓ and ⅙ of its {days_text(limits.lifetime_days)}-day lifetime)"
        if limits is not None and limits.rule != "absolute" and limits.lifetime_days
        else ""
    )
    note = (
        f"warning within {days_text(result.warn_days)} days, critical within "
        f"{days_text(result.critical_days)}{rule} · the same as `octorunbook check params.yaml` (exit {result.status})"
    )
    return Panel(f"Expiry check: {result.status_name}", PANEL_STATUS[result.status], rows, note)


def expiry_check(
    run: Run,
    current: Current,
    *,
    warn_days: int | None = check.DEFAULT_WARN_DAYS,
    critical_days: int | None = check.DEFAULT_CRITICAL_DAYS,
) -> CheckResult:
    """Handshake with the portal as its hostname, judge against the binding 04 read; show and record it."""
    target = run.require_target()
    p = run.params
    with run.step():
        host, port = target.endpoint(p.https_port)
        endpoint = f"{host}:{port}"
        bound = check.BoundCertificate(
            current.endpoint,
            current.thumbprint,
            current.store,
            current.certificate.not_valid_after_utc if current.certificate is not None else None,
        )
        try:
            served = check.read_served(host, port, p.hostname)
        except (OSError, ValueError) as exc:
            result = check.unknown(
                p.hostname,
                endpoint,
                f"cannot read a certificate from {endpoint}: {exc}",
                warn_days,
                critical_days,
            )
        else:
            result = check.judge(
                served,
                p.hostname,
                warn_days=warn_days,
                critical_days=critical_days,
                endpoint=endpoint,
                bound=bound,
                compare_bound=True,
            )
        run.extra["check"] = result.to_record()
        run.reporter.show(check_panel(result))
    return result


__all__ = ["PANEL_STATUS", "check_panel", "expiry_check"]
