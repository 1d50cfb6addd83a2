"""Loud failures (issue 26): one message per failed run or alarming check, through Apprise.

Let's Encrypt stopped its expiry e-mails on 2025-06-04 and a renewal that fails at 03:17 tells nobody.
``notify_env`` names an environment variable holding one or more Apprise URLs (``mailto://``, Teams,
Slack, ``json://host:port/path`` …, separated by white space or commas). The URLs carry tokens, so they
are secrets: only the variable's *name* is a parameter; the URLs are read from the environment at send
time, registered with the redaction registry, and never written to a record, a log or the terminal.
What is said about a delivery names the scheme and host only (``json://127.0.0.1:8080``).

Each message says what an operator needs and nothing secret: the code, the target, the remedy and the
record's path. Sending never changes the outcome of the run or the check: a notification that cannot be
delivered is reported (``NOTIFY_FAILED`` on stderr) and the run's own exit code stands.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from octorunbook.redaction import SECRETS, env_name_ok

if TYPE_CHECKING:
    from octorunbook.params.core import Parameters

TITLE = "octorunbook: {code} on {target}"
RESOLVED_TITLE = "octorunbook: resolved: {code} on {target}"
_SPLIT = re.compile(r"[\s,]+")
FAILED_STATUSES = ("failed",)


@dataclass(frozen=True)
class Message:
    """One notification: every field is safe to show (no URL, no token)."""

    code: str
    target: str
    summary: str
    remedy: str
    record: str
    resolved: bool = False  # the all-clear of an alarm told earlier

    @property
    def title(self) -> str:
        return (RESOLVED_TITLE if self.resolved else TITLE).format(code=self.code, target=self.target)

    @property
    def body(self) -> str:
        lines = [self.summary, f"code: {self.code}", f"target: {self.target}"]
        if self.remedy:
            lines.append(f"remedy: {self.remedy}")
        lines.append(f"record: {self.record or 'none'}")
        return "\n".join(lines)


def urls(env_name: str) -> list[str]:
    """The Apprise URLs in ``env_name`` (empty when unset); each registered as a secret at once."""
    if not env_name or not env_name_ok(env_name):
        return []
    found = [u for u in _SPLIT.split(os.environ.get(env_name, "")) if u]
    for url in found:
        SECRETS.add(url)
    return found


_SAID_EMPTY: set[str] = set()  # one NOTIFY_ENV_EMPTY line per variable and process (a procedure runs three)


def said_empty(env_name: str) -> bool:
    """True (and one ``NOTIFY_ENV_EMPTY`` line on stderr, naming the variable, never a value) when
    ``notify_env`` names a variable that is unset or holds no URL: the silence it would cause is said."""
    if not env_name or not env_name_ok(env_name) or urls(env_name):
        return False
    if env_name not in _SAID_EMPTY:
        _SAID_EMPTY.add(env_name)
        state = "empty" if env_name in os.environ else "not set"
        print(
            f"NOTIFY_ENV_EMPTY: notify_env names ${env_name}, which is {state}: no failure or alarm is "
            f"sent anywhere. Set {env_name} to the Apprise URLs in this environment, or remove notify_env.",
            file=sys.stderr,
        )
    return True


def shown(url: str, index: int = 1, total: int = 1) -> str:
    """What may be said about a destination: its place in the variable and its scheme (``URL 2 of 3,
    pbul://``). Nothing else: for many Apprise services the host *is* the token (``pbul://TOKEN``,
    ``ntfy://PRIVATE-TOPIC``, ``pover://USER@TOKEN``), and stderr ends up in journald and plugin logs."""
    scheme = url.split("://", 1)[0] if "://" in url else ""
    known = scheme if scheme and len(scheme) <= 20 and scheme.replace("+", "").isalnum() else "?"
    return f"URL {index} of {total} ({known}://)"


def send(env_name: str, message: Message) -> bool | None:
    """Send ``message`` to every URL in ``env_name``: True delivered, False failed (said on stderr),
    None when ``env_name`` is empty or unset (nothing to do)."""
    targets = urls(env_name)
    if not targets:
        return None
    import apprise

    quiet = logging.getLogger("apprise")  # its log lines may name a URL: silenced for this send
    level, propagate = quiet.level, quiet.propagate
    quiet.setLevel(logging.CRITICAL + 1)
    quiet.propagate = False
    try:
        bundle = apprise.Apprise()
        added = [url for url in targets if bundle.add(url)]
        kind = apprise.NotifyType.SUCCESS if message.resolved else apprise.NotifyType.FAILURE
        delivered = bool(added) and bool(
            bundle.notify(title=message.title, body=message.body, notify_type=kind)
        )
    except Exception as exc:  # noqa: BLE001 - a notification never breaks the run it reports
        delivered, added = False, []
        reason = type(exc).__name__
    else:
        reason = "refused" if added else "no URL Apprise understands"
    finally:
        quiet.setLevel(level)
        quiet.propagate = propagate
    if not delivered:
        where = ", ".join(shown(url, i, len(targets)) for i, url in enumerate(targets, 1))
        print(
            f"NOTIFY_FAILED: the failure notification to {where} was not delivered ({reason}); "
            f"check the URLs in ${env_name}.",
            file=sys.stderr,
        )
    return delivered


def first_error(record: dict[str, Any] | None) -> tuple[str, str, str]:
    """(code, message, remedy) of the record's first error finding; ``RUN_FAILED`` when it has none."""
    for finding in (record or {}).get("findings") or []:
        if isinstance(finding, dict) and finding.get("severity") == "error":
            return str(finding.get("code")), str(finding.get("message", "")), str(finding.get("remedy", ""))
    return "RUN_FAILED", "The run failed without a coded finding.", "Read the record."


def rolled_back(record: dict[str, Any] | None) -> str:
    """What the record says about the rollback, as a sentence for the message ('' when none ran)."""
    found = (record or {}).get("findings") or []
    codes = {f.get("code") for f in found if isinstance(f, dict)}
    actions = [str(c.get("action", "")) for c in (record or {}).get("changes") or [] if isinstance(c, dict)]
    if "ROLLBACK_INCOMPLETE" in codes:
        return " The rollback is INCOMPLETE: the portal may be between its old and new state."
    if "ROLLBACK_SKIPPED" in codes:
        return " rollback: False left the failed change in place."
    if any(action.startswith("rollback") for action in actions):
        return " The change was rolled back: the portal serves what it served before."
    return ""


def target_of(params: Parameters) -> str:
    return f"{params.hostname} ({params.target}:{params.https_port})"


def notify_run(params: Parameters, runbook: str, status: str, record: Any, path: Any) -> bool | None:
    """One message for a failed (and rolled-back) run; nothing for any other status."""
    if said_empty(getattr(params, "notify_env", "")):
        return None
    if status not in FAILED_STATUSES or not getattr(params, "notify_env", ""):
        return None
    data = record if isinstance(record, dict) else None
    code, text, remedy = first_error(data)
    summary = f"{runbook} {status} on {target_of(params)}: {text}{rolled_back(data)}"
    return send(params.notify_env, Message(code, target_of(params), summary, remedy, str(path or "")))


CHECK_REMEDY = (
    "Renew now: `octorunbook renew PARAMS.yaml --force`; then `octorunbook schedule show` and "
    "`octorunbook audit list` to see why the scheduled renewal did not."
)


def _family(alarm: Any) -> str:
    """The ledger's family of an alarm: the CA's window asked now and the one a record holds are told
    (and cleared) apart, so a door that cannot see an alarm never declares it resolved."""
    from octorunbook.ops.notify_ledger import FAMILIES

    if alarm.code in FAMILIES["ari-window-ca"]:
        return "ari-window-record" if alarm.record else "ari-window-ca"
    return "renewals" if alarm.code == "RENEWALS_STOPPED" else str(alarm.code).lower()


def notify_check(
    env_name: str,
    result: Any,
    record_path: str = "",
    alarms: Sequence[Any] = (),
    *,
    ledger_root: Path | None = None,
    every_hours: float | None = None,
    consulted: Sequence[str] = (),
    clock: Callable[[], datetime] | None = None,
    lock_wait: float | None = None,
) -> list[bool | None]:
    """One message for an expiry verdict past WARNING (``CHECK_WARNING``, ``CHECK_CRITICAL``) and one per
    alarm past WARNING (:class:`octorunbook.evidence.check_alarms.Alarm`: an open or passed ARI window,
    stopped renewals), each with its own code and remedy; nothing for OK or UNKNOWN. ``result`` is the
    verdict *before* the alarms were added, so one event is never told twice.

    With ``ledger_root`` (what ``check`` passes) each event is told once, again when its code, severity
    or certificate changes or every ``every_hours``, and an event told earlier whose source this run
    ``consulted`` (``audit_dir``, ``acme``; the expiry verdict whenever a certificate was read) and
    that has cleared sends one resolved message (:mod:`octorunbook.ops.notify_ledger`)."""
    if not env_name or said_empty(env_name) or not urls(env_name):
        return []
    from octorunbook.ops import notify_ledger as nl

    target = f"{result.hostname} ({result.endpoint})"
    events: list[nl.Event] = []
    if result.status in (1, 2):
        code = f"CHECK_{result.status_name}"
        events.append(
            nl.Event(
                "expiry", code, result.status, Message(code, target, result.line(), CHECK_REMEDY, record_path)
            )
        )
    seen = {event.code for event in events}
    for alarm in alarms:
        if alarm.status in (1, 2) and alarm.code not in seen:
            seen.add(alarm.code)
            level = "CRITICAL" if alarm.status == 2 else "WARNING"
            summary = f"CERT {level} - {result.hostname}: {alarm.reason}"
            message = Message(alarm.code, target, summary, alarm.remedy, alarm.record or record_path)
            events.append(nl.Event(_family(alarm), alarm.code, alarm.status, message))
    served = getattr(result, "served", None)
    thumbprint = str(getattr(served, "thumbprint", "") or "")
    if ledger_root is None:
        return [send(env_name, event.message) for event in events]
    families = {"expiry"} if served is not None and result.status != 3 else set()  # UNKNOWN: unjudged
    codes = {getattr(alarm, "code", "") for alarm in alarms}
    if "audit_dir" in consulted:
        families.add("renewals")
    if served is not None and "audit_dir" in consulted:
        families.add("ari-window-record")
    if served is not None and "acme" in consulted and "ACME_ARI_UNAVAILABLE" not in codes:
        families.add("ari-window-ca")
    ledger = nl.Ledger.open(
        ledger_root,
        str(result.endpoint),
        str(result.hostname),
        nl.LOCK_WAIT_SECONDS if lock_wait is None else lock_wait,
    )
    if ledger is False:
        return []
    now = (clock or (lambda: datetime.now(UTC)))()
    every = timedelta(hours=every_hours or nl.DEFAULT_EVERY_HOURS)

    def resolved(told: nl.Told) -> Message:
        summary = (
            f"RESOLVED - {result.hostname}: {told.code} (told first {told.first:%Y-%m-%d %H:%M} UTC) has "
            f"cleared; the check now says: {result.line()}"
        )
        return Message(told.code, target, summary, "Nothing to do.", record_path, resolved=True)

    try:
        return nl.tell(
            events,
            lambda message: send(env_name, message),
            resolved,
            ledger=ledger,
            thumbprint=thumbprint,
            consulted=families,
            now=now,
            every=every,
        )
    finally:
        if ledger is not None:
            ledger.close()
