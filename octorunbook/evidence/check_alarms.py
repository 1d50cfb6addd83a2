"""What ``octorunbook check`` adds to the expiry verdict: the CA's renewal window and stopped renewals.

The expiry verdict (:func:`octorunbook.evidence.check.judge`) says how long the served certificate has
left. Two things it cannot see make an operator's portal lapse all the same, so ``check`` adds them as
*alarms*, each with its own code and remedy (and so its own notification):

* **The CA's renewal window** (ARI, RFC 9773). The CA may ask for a renewal long before the lifetime
  rule would — a mass revocation ("renew now") is announced this way and nowhere else. While the window
  is open and the portal still serves the certificate the window is about, ``check`` is WARNING
  (``ACME_ARI_WINDOW_OPEN``); once the window's end has passed, CRITICAL (``ACME_ARI_WINDOW_PASSED``).
  Two doors, both explicit so that a plain ``check`` stays offline and fast:

  - ``--acme-directory URL`` asks the CA (``renewalInfo``) for the served certificate's window now. Only
    this door imports the ACME library (lazily); a CA that cannot answer is ``ACME_ARI_UNAVAILABLE``
    (UNKNOWN unless the check already found worse).
  - ``--audit-dir DIR`` reads the window the newest renewal record (runbook 04) recorded, offline. The
    record is data written earlier, so it is validated like a parameter (a certificate ID of the RFC's
    shape, two time stamps with a zone, start before end, an ``https`` explanation URL of bounded length)
    and it only counts when its certificate ID is the served certificate's: a record about a certificate
    that has since been replaced, or about another portal, is no alarm.

* **Stopped renewals** (the dead man's switch, :mod:`octorunbook.evidence.renewals`): with
  ``--audit-dir``, CRITICAL ``RENEWALS_STOPPED`` when the newest successful renewal is older than twice
  the schedule's cadence.

Nothing here is imported by a plain ``check``; nothing here imports ``cryptography`` or the ACME library at
module level.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3
_RANK = {OK: 0, UNKNOWN: 1, WARNING: 2, CRITICAL: 3}  # the worse verdict wins; UNKNOWN below a real alarm
RENEWAL_RUNBOOK = "04-renew-certificate"
RECORDS_SCANNED = 20  # renewal records read for a window, newest first (a window older than that is stale)
_CERT_ID = re.compile(r"^[A-Za-z0-9_-]{4,200}\.[A-Za-z0-9_-]{1,200}$")
_URL = re.compile(r"^https://[\x21-\x7e]{1,2040}$")
RENEW_REMEDY = (
    "Renew now: `octorunbook renew PARAMS.yaml`; then `octorunbook audit list` and `octorunbook schedule "
    "show` to see why the scheduled renewal has not replaced it."
)
STOPPED_REMEDY = (
    "Check the schedule (`octorunbook schedule show`; the timer or Task Scheduler task may be disabled or "
    "failing) and the newest renewal record (`octorunbook audit list`); run `octorunbook renew PARAMS.yaml`."
)


@dataclass(frozen=True)
class Alarm:
    """One reason beyond the expiry verdict: its code, status (1 WARNING, 2 CRITICAL, 3 UNKNOWN), the
    reason as the check line shows it, the remedy and the record it came from (when one did)."""

    code: str
    status: int
    reason: str
    remedy: str
    record: str = ""


@dataclass(frozen=True)
class Window:
    """A renewal window the CA suggested for one certificate (RFC 9773 ``suggestedWindow``)."""

    cert_id: str
    start: datetime
    end: datetime
    source: str  # "the CA at URL" or "renewal record PATH"
    explanation_url: str = ""
    record: str = ""


def with_alarms(result: Any, alarms: list[Alarm]) -> Any:
    """``result`` with each alarm's reason added and the worst status kept."""
    if not alarms:
        return result
    status = result.status
    for alarm in alarms:
        if _RANK[alarm.status] > _RANK[status]:
            status = alarm.status
    reasons = (*result.reasons, *(alarm.reason for alarm in alarms))
    return replace(result, status=status, reasons=reasons)


def served_cert_id(der: bytes) -> str | None:
    """The RFC 9773 certificate ID of the served certificate (None without an Authority Key Identifier)."""
    from cryptography import x509

    from octorunbook.acme.ari import ari_id

    return ari_id(x509.load_der_x509_certificate(der)) if der else None


def _moment(value: Any) -> datetime | None:
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return moment.astimezone(UTC) if moment.tzinfo is not None else None
    except (ValueError, OverflowError):  # 0001-01-01T00:00+01:00 is in no year in UTC
        return None


def window_from_record(ari: Any, record: str) -> Window | None:
    """The window a renewal record's ``ari`` block holds, or None when it holds no valid one."""
    if not isinstance(ari, dict):
        return None
    cert_id, window = ari.get("id"), ari.get("window")
    if not (isinstance(cert_id, str) and _CERT_ID.fullmatch(cert_id) and isinstance(window, dict)):
        return None
    start, end = _moment(window.get("start")), _moment(window.get("end"))
    if start is None or end is None or end < start:
        return None
    url = ari.get("explanation_url")
    explanation = url if isinstance(url, str) and _URL.fullmatch(url) else ""
    return Window(cert_id, start, end, f"renewal record {record}", explanation, record)


def window_alarm(window: Window, served_id: str | None, now: datetime | None = None) -> Alarm | None:
    """WARNING while ``window`` is open for the certificate still served; CRITICAL once it has passed;
    None before it opens or when the window is about another certificate (it was replaced)."""
    from octorunbook.acme.ari import renew_at

    moment = now or datetime.now(UTC)
    if served_id is None or window.cert_id != served_id or moment < window.start:
        return None
    span = f"{window.start:%Y-%m-%d %H:%M} – {window.end:%Y-%m-%d %H:%M} UTC"
    why = f"; the CA explains: {window.explanation_url}" if window.explanation_url else ""
    if moment > window.end:
        return Alarm(
            "ACME_ARI_WINDOW_PASSED",
            CRITICAL,
            f"the CA's renewal window {span} ({window.source}) has passed and the certificate it is about "
            f"is still served{why}",
            RENEW_REMEDY,
            window.record,
        )
    chosen = renew_at(window.cert_id, window.start, window.end) if window.end > window.start else window.start
    return Alarm(
        "ACME_ARI_WINDOW_OPEN",
        WARNING,
        f"the CA's renewal window {span} ({window.source}) is open and the certificate has not been "
        f"replaced (the scheduled renewal picks {chosen:%Y-%m-%d %H:%M} UTC){why}",
        RENEW_REMEDY,
        window.record,
    )


def _renewal_rows(audit_dir: str | Path) -> list[Any]:
    """The audit folder's renewal rows that name a record file in the folder itself, newest first."""
    from octorunbook.audit.listing import list_records

    rows = []
    for row in list_records(audit_dir):
        name = row.record
        if row.runbook == RENEWAL_RUNBOOK and not row.unverified and name == Path(name).name:
            rows.append(row)
    return rows


def _recorded_at(row: Any, now: datetime) -> datetime | None:
    """When a row's record was made; None for a time in the future (a clock a minute off allowed)."""
    from octorunbook.audit.records import parse_time

    from .renewals import CLOCK_SKEW

    moment = parse_time(row.when)
    return moment if moment is not None and moment <= now + CLOCK_SKEW else None


def recorded_window(audit_dir: str | Path) -> Window | None:
    """The newest valid window among the newest renewal records (unreadable or invalid ones skipped)."""
    from octorunbook.audit.chain import vouched_for
    from octorunbook.audit.records import read_result
    from octorunbook.findings import OctorunbookError

    for row in _renewal_rows(audit_dir)[:RECORDS_SCANNED]:
        path = Path(audit_dir) / row.record
        if _recorded_at(row, datetime.now(UTC)) is None or not vouched_for(path):
            continue
        try:
            result = read_result(path)
        except (OctorunbookError, OSError):
            continue
        window = window_from_record(result.get("ari"), str(path))
        if window is not None:
            return window
    return None


def _newest_ari(audit_dir: str | Path) -> tuple[Any, str, datetime | None]:
    """The CA's own answer (an ``ari`` block no run reused: no ``recorded_in``) in the newest renewal record
    the chain vouches for and that is not from the future, that record's path and time; (None, "", None)
    when there is none or the folder cannot be read. The caller validates what it uses."""
    from octorunbook.audit.chain import vouched_for
    from octorunbook.audit.records import read_result
    from octorunbook.findings import OctorunbookError

    try:
        rows = _renewal_rows(audit_dir)[:RECORDS_SCANNED]
    except (OctorunbookError, OSError):
        return None, "", None
    now = datetime.now(UTC)
    for row in rows:
        path = Path(audit_dir) / row.record
        made = _recorded_at(row, now)
        if made is None or not vouched_for(path):
            continue
        try:
            ari = read_result(path).get("ari")
        except (OctorunbookError, OSError, AttributeError):
            continue
        if isinstance(ari, dict) and "recorded_in" not in ari:  # a reused answer: the CA's is older
            return ari, str(path), made
    return None, "", None


def _asked_not_before(ari: Any, made: datetime | None) -> datetime | None:
    """The ``next_check`` a record holds, when the CA itself gave it: a ``Retry-After`` the CA sent (not
    one a run reused from an earlier record: ``recorded_in``), and no later than the record's time plus
    that Retry-After (at most a year). Anything else is not the CA's word and asks nothing of us."""
    if not isinstance(ari, dict) or made is None or ari.get("retry_after_given") is not True:
        return None
    if "recorded_in" in ari:  # read by a run from an earlier record: the CA's word is in that one
        return None
    seconds = ari.get("retry_after_seconds")
    until = _moment(ari.get("next_check"))
    if type(seconds) is not int or seconds <= 0 or until is None:
        return None
    from octorunbook.acme.ari import RETRY_AFTER_MAX

    from .renewals import CLOCK_SKEW

    latest = made + timedelta(seconds=min(seconds, RETRY_AFTER_MAX)) + CLOCK_SKEW
    return until if until <= latest else None


def recorded_answer(run: Any, cert_id: str, now: datetime, next_run: datetime) -> dict[str, Any] | None:
    """The CA's answer the newest renewal record holds for ``cert_id`` while the ``Retry-After`` the CA
    sent with it has not run out: the CA asked not to be asked before then, and its window still stands.

    Only a ``Retry-After`` longer than the time to the next scheduled run (``next_run``) counts: a shorter
    one the schedule honours by itself, and a run started by hand in between asks again (whoever starts
    it wants the CA's word now: a revocation moves the window). The record is data read back from disk,
    so only a valid window, time and number are used (None otherwise)."""
    from octorunbook.findings import Finding

    ari, path, made = _newest_ari(Path(run.params.audit_dir).expanduser())
    until = _asked_not_before(ari, made)
    seconds = ari.get("retry_after_seconds") if until is not None else None
    if type(seconds) is not int or seconds <= (next_run - now).total_seconds():
        return None
    window = window_from_record(ari, path)
    if window is None or window.cert_id != cert_id or until is None or until <= now:
        return None
    record: dict[str, Any] = {
        "id": cert_id,
        "status": 200,
        "window": {"start": window.start.isoformat(), "end": window.end.isoformat()},
        "next_check": until.isoformat(),
        "retry_after_given": True,
        "retry_after_seconds": seconds,
        "recorded_in": path,
    }
    if window.explanation_url:
        record["explanation_url"] = window.explanation_url
    run.note(
        Finding(
            "ACME_ARI_RECORDED",
            "info",
            f"The CA asked not to be asked again before {until:%Y-%m-%d %H:%M} UTC (Retry-After): the window "
            f"it gave, recorded in {path}, decides this run without a request.",
            "",
        )
    )
    return record


def recorded_answer_stands(audit_dir: str | Path, served: Any) -> bool:
    """True when the newest renewal record holds the CA's window for the served certificate and the
    ``next_check`` that came with it lies ahead: a check implied by a parameter file (run every minute
    by a monitoring system) then does not ask the CA again."""
    der = getattr(served, "der", b"")
    ari, path, made = _newest_ari(audit_dir) if der else (None, "", None)
    window = window_from_record(ari, path)
    until = _asked_not_before(ari, made)
    return bool(window and until and window.cert_id == served_cert_id(der) and until > datetime.now(UTC))


def renewal_recorded(audit_dir: str | Path) -> bool | None:
    """Whether a renewal (04) has left a record in ``audit_dir``; None when the folder cannot be read (a
    check implied by a parameter file then reports that, instead of quietly leaving the folder out)."""
    from octorunbook.audit.chain import MANIFEST_NAME
    from octorunbook.findings import OctorunbookError

    try:
        return bool(_renewal_rows(audit_dir))
    except (OctorunbookError, OSError):
        manifest = Path(audit_dir) / MANIFEST_NAME
        return None if manifest.exists() or manifest.is_symlink() else False  # no manifest: no run yet


def newest_record(audit_dir: str | Path) -> str:
    """The newest renewal record's path (any status), for a notification to point at; "" when none."""
    from octorunbook.findings import OctorunbookError

    try:
        rows = _renewal_rows(audit_dir)
    except (OctorunbookError, OSError):
        return ""
    return str(Path(audit_dir) / rows[0].record) if rows else ""


def audit_alarms(audit_dir: str, served: Any, lifetime: float | None) -> list[Alarm]:
    """``--audit-dir``: stopped renewals, and the recorded window for the served certificate."""
    from octorunbook.evidence.renewals import renewals_stopped
    from octorunbook.findings import OctorunbookError

    alarms: list[Alarm] = []
    try:
        stopped = renewals_stopped(audit_dir, lifetime)
    except OctorunbookError as exc:
        stopped = f"cannot read the audit folder {audit_dir}: {exc.code}: {exc.message}"
    if stopped is not None:
        alarms.append(
            Alarm(
                "RENEWALS_STOPPED", CRITICAL, stopped, STOPPED_REMEDY, newest_record(audit_dir) or audit_dir
            )
        )
    der = getattr(served, "der", b"")
    if der:
        try:
            window = recorded_window(audit_dir)
        except OctorunbookError:
            window = None  # an unreadable folder is already the dead man's switch's alarm
        alarm = window_alarm(window, served_cert_id(der)) if window is not None else None
        if alarm is not None:
            alarms.append(alarm)
    return alarms


def ca_alarms(directory_url: str, ca_bundle: str, served: Any, seconds: float) -> list[Alarm]:
    """``--acme-directory``: ask the CA for the served certificate's window now (within ``seconds``)."""
    from octorunbook.findings import OctorunbookError

    der = getattr(served, "der", b"")
    if not der:
        return []  # no certificate read: the check is UNKNOWN already
    cert_id = served_cert_id(der)
    if cert_id is None:
        return [
            _unavailable(
                f"the served certificate has no Authority Key Identifier, so {directory_url} "
                "cannot be asked about it"
            )
        ]
    if seconds <= 0:
        return [
            _unavailable(f"no time was left within --timeout to ask {directory_url} for the renewal window")
        ]
    from octorunbook.acme.ari import renewal_info

    try:
        answer = renewal_info(directory_url, cert_id, ca_bundle=ca_bundle, seconds=seconds)
    except OctorunbookError as exc:
        return [
            _unavailable(f"cannot read the renewal window from {directory_url}: {exc.code}: {exc.message}")
        ]
    if answer is None:
        return [_unavailable(f"the CA at {directory_url} serves no renewalInfo (no ARI)")]
    if "window" not in answer:
        return [
            _unavailable(
                f"the CA at {directory_url} gave no renewal window for the served certificate "
                f"(HTTP {answer['status']}): it may come from another CA"
            )
        ]
    window = window_from_record(answer, "")
    if window is None:
        return [_unavailable(f"the CA at {directory_url} answered a renewal window that cannot be read")]
    window = replace(window, source=f"the CA at {directory_url}", record="")
    alarm = window_alarm(window, cert_id)
    return [alarm] if alarm is not None else []


def _unavailable(reason: str) -> Alarm:
    return Alarm(
        "ACME_ARI_UNAVAILABLE",
        UNKNOWN,
        reason,
        "Check --acme-directory (the directory URL of the CA that issued the certificate) and that the CA is "
        "reachable from this host; give --acme-ca-bundle for a private CA.",
    )
