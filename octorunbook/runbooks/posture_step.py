"""TLS posture as evidence in a runbook's record: after the proof, what the portal really accepts.

Posture does not fail a binding run by default — the portal was working before, and on Windows the
protocols and suites are SCHANNEL machine settings the binding did not change — so its findings are
warnings. With ``posture: strict`` they are errors and the run's proof fails (03 and 04 then roll back).
"""

from __future__ import annotations

from weakref import WeakKeyDictionary

from octorunbook.evidence.posture import PostureReport, posture_panel, scan
from octorunbook.evidence.tls import Evidence
from octorunbook.findings import Finding, OctorunbookError
from octorunbook.runbooks.run import Run


def record_posture(run: Run, evidence: Evidence | None = None) -> PostureReport | None:
    """Scan the portal's HTTPS endpoint, record the rows and findings, show the panel.

    With ``posture: strict`` an error finding also becomes a failing row of ``evidence``.
    """
    target = run.require_target()
    p = run.params
    host, real = target.endpoint(p.https_port)
    front = target.front_kind
    try:
        report = scan((host, real), p.hostname, posture=p.posture, front=front)  # type: ignore[arg-type]
    except OctorunbookError as exc:
        run.note(
            Finding(
                "POSTURE_NOT_SCANNED",
                "warning",
                f"The TLS posture could not be scanned: {exc.message}",
                "Run `octorunbook posture --url https://HOST:PORT --hostname NAME` once the portal answers.",
            )
        )
        return None
    run.extra["posture"] = report.to_record()
    _supersede(run, list(report.findings))
    run.reporter.show(posture_panel(report))
    errors = [f for f in report.findings if f.severity == "error"]
    if evidence is not None and p.posture == "strict":
        evidence.add(
            "TLS posture (strict)",
            "no posture finding",
            ", ".join(f.code for f in errors) or "none",
            not errors,
            errors[0].code if errors else "",
        )
    return report


_NOTED: WeakKeyDictionary[Run, list[Finding]] = WeakKeyDictionary()


def _supersede(run: Run, findings: list[Finding]) -> None:
    """Note ``findings`` in place of those an earlier scan of this run noted (05 scans before and after:
    each posture finding is listed once, as the latest scan saw it; the earlier scan stays in its own
    record section). Only the scans' own findings are replaced, never another step's of the same code."""
    earlier = _NOTED.get(run, [])
    run.findings[:] = [f for f in run.findings if not any(f is old for old in earlier)]
    run.findings += findings
    _NOTED[run] = findings


def legacy_accepted(report: PostureReport) -> bool:
    return "TLS_LEGACY_PROTOCOL" in report.codes()


__all__ = ["legacy_accepted", "record_posture"]
