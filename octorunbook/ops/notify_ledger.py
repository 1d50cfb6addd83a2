"""What ``octorunbook check`` has already told: one message per event, not one per run.

A monitoring system runs ``check`` every minute. Without memory, a certificate past WARNING would send a
message every minute and be muted within a day. So ``check`` keeps a small *notification ledger*: for
each endpoint and host name, per event family (the expiry verdict ``CHECK_*``, the CA's renewal window
``ACME_ARI_WINDOW_*`` as the CA answered it and as a renewal record holds it — an all-clear is only
given by the door that saw the alarm — and stopped renewals), the code and severity last told, the served certificate's
thumbprint, and when it was first and last told. A message is sent again when the code or severity
changes (WARNING → CRITICAL), when the served certificate changes, and as a reminder every
``--notify-every`` hours (24 by default); an event that was told and has cleared sends one "resolved"
message. A message that was not delivered is not remembered, so the next run tries again.

**Where it lives.** In the target's state home (``<state>/notify``) when a parameter file names a target
whose state folder exists and belongs to the user running ``check``; otherwise — ``--url``, or a
monitoring account without rights on the system's state folder — in that user's own home:
``$OCTORUNBOOK_HOME/notify`` (``~/.octorunbook/notify``; ``%LOCALAPPDATA%\\octorunbook\\notify`` on
Windows). Either is a :class:`~octorunbook.targets.state.StateHome`: 0700, ours, no link, each file
0600, HMAC-authenticated.

**The ledger is data, never trusted to silence.** A planted, linked, foreign-owned, corrupt or
unreadable ledger (or an unsafe folder) sends every current event and says so on stderr
(``NOTIFY_LEDGER_UNTRUSTED``); a time stamp in the future counts as never sent. The ledger holds codes,
severities, thumbprints, times and the endpoint — no URL, no message text; a code it holds is used only
if it is one ``check`` sends, and every message is built from the current run.

**Two checks at once** take the ledger's OS lock; the one that finds it held waits briefly and then
sends nothing (``NOTIFY_LEDGER_BUSY`` on stderr): the holder is telling the same event.
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from octorunbook.targets.lock import try_lock

DEFAULT_EVERY_HOURS = 24.0
MIN_EVERY_HOURS, MAX_EVERY_HOURS = 1.0, 720.0
LOCK_WAIT_SECONDS = 20.0
KIND = "notify-ledger"
HOME_ID = "notify"
REASONS = {
    "NOTIFY_LEDGER_UNTRUSTED": "a planted or damaged memory of what was sent must never silence an alarm",
    "NOTIFY_LEDGER_BUSY": "two checks at once would both send the same message",
}
_GROUPS = [  # one event each: a change of code within a group is a change of severity, told again
    ("expiry", ["CHECK_WARNING", "CHECK_CRITICAL"]),
    ("ari-window-ca", ["ACME_ARI_WINDOW_OPEN", "ACME_ARI_WINDOW_PASSED"]),  # --acme-directory asked the CA
    ("ari-window-record", ["ACME_ARI_WINDOW_OPEN", "ACME_ARI_WINDOW_PASSED"]),  # --audit-dir's record
    ("renewals", ["RENEWALS_STOPPED"]),
]
FAMILIES = {family: frozenset(codes) for family, codes in _GROUPS}
_THUMBPRINT = re.compile(r"^(|[0-9A-Fa-f]{40,128})$")
_MAX_ENTRIES = len(FAMILIES)


@dataclass(frozen=True)
class Told:
    """One event as the ledger remembers it."""

    code: str
    status: int
    thumbprint: str
    first: datetime
    sent: datetime

    def to_body(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "status": self.status,
            "thumbprint": self.thumbprint,
            "first": self.first.isoformat(),
            "sent": self.sent.isoformat(),
        }


def user_home() -> Path:
    """This user's own folder for the ledger: ``$OCTORUNBOOK_HOME`` or ``~/.octorunbook``
    (``%LOCALAPPDATA%\\octorunbook`` on Windows), then ``notify``."""
    chosen = os.environ.get("OCTORUNBOOK_HOME", "").strip()
    if chosen:
        return Path(chosen).expanduser() / "notify"
    if os.name == "nt" and os.environ.get("LOCALAPPDATA"):
        return Path(os.environ["LOCALAPPDATA"]) / "octorunbook" / "notify"
    return Path.home() / ".octorunbook" / "notify"


def ledger_root(target_state: Path | None) -> Path:
    """The target's state folder's ``notify`` when that folder exists, is ours and writable (POSIX);
    else this user's own (:func:`user_home`): a monitoring account is rarely the one that runs renewals."""
    if target_state is not None and os.name != "nt":
        import stat

        try:
            info = os.lstat(target_state)
        except OSError:
            return user_home()
        if (
            stat.S_ISDIR(info.st_mode)
            and info.st_uid == os.geteuid()
            and os.access(target_state, os.W_OK | os.X_OK)
        ):
            return target_state / "notify"
    return user_home()


def note(code: str, text: str) -> None:
    print(f"{code}: {text}", file=sys.stderr)


def _moment(value: Any) -> datetime | None:
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment.astimezone(UTC) if moment.tzinfo is not None else None


def parse_body(body: dict[str, Any], endpoint: str, hostname: str) -> dict[str, Told] | None:
    """The ledger's entries, or None when anything in it is not what :meth:`Ledger.save` writes."""
    if body.get("endpoint") != endpoint or body.get("hostname") != hostname:
        return None
    events = body.get("events")
    if not isinstance(events, dict) or len(events) > _MAX_ENTRIES:
        return None
    found: dict[str, Told] = {}
    for family, entry in events.items():
        if not isinstance(entry, dict):
            return None
        code, status, thumbprint = entry.get("code"), entry.get("status"), entry.get("thumbprint")
        first, sent = _moment(entry.get("first")), _moment(entry.get("sent"))
        if (
            not isinstance(code, str)
            or code not in FAMILIES.get(family, ())
            or type(status) is not int
            or status not in (1, 2)
            or not isinstance(thumbprint, str)
            or not _THUMBPRINT.fullmatch(thumbprint)
            or first is None
            or sent is None
            or first > sent
        ):
            return None
        found[family] = Told(code, status, thumbprint, first, sent)
    return found


class Ledger:
    """The ledger of one endpoint and host name, in the folder ``root`` (opened and locked by
    :meth:`open`; None there means: no memory this run, send everything, and it was said why)."""

    def __init__(self, home: Any, name: str, fd: int, endpoint: str, hostname: str) -> None:
        self.home, self.name, self.fd = home, name, fd
        self.endpoint, self.hostname = endpoint, hostname
        self.rewrite = False  # what was there is not what check writes: replace it

    @classmethod
    def open(
        cls, root: Path, endpoint: str, hostname: str, wait: float = LOCK_WAIT_SECONDS
    ) -> Ledger | None | Literal[False]:
        """The locked ledger; None when it cannot be trusted (said: send everything); False when another
        check holds it past ``wait`` seconds (said: send nothing, the holder is telling)."""
        from octorunbook.findings import OctorunbookError
        from octorunbook.targets.state import StateHome, slug

        name = f"ledger-{slug(endpoint + ' ' + hostname)}"
        try:
            home = StateHome.open(root, HOME_ID)
            fd = home.open_lock(name + ".lock")
        except (OctorunbookError, OSError) as exc:
            why = f"{exc.code}: {exc.message}" if isinstance(exc, OctorunbookError) else str(exc)
            note(
                "NOTIFY_LEDGER_UNTRUSTED",
                f"the notification ledger in {root} cannot be used ({why}); every current alarm is sent.",
            )
            return None
        deadline = time.monotonic() + max(wait, 0.0)
        while not try_lock(fd):
            if time.monotonic() >= deadline:
                os.close(fd)
                note(
                    "NOTIFY_LEDGER_BUSY",
                    f"another check is notifying about {hostname} ({endpoint}) (it holds {root / name}.lock); "
                    "this one sent nothing — the next check sends what is still untold.",
                )
                return False
            time.sleep(0.2)
        return cls(home, name + ".json", fd, endpoint, hostname)

    def load(self) -> dict[str, Told]:
        """What was told; empty (and said) when the file cannot be trusted."""
        import stat

        from octorunbook.findings import OctorunbookError

        path = self.home.root / self.name
        try:
            mode = stat.S_IMODE(os.lstat(path).st_mode)
        except OSError:
            mode = 0
        if os.name != "nt" and mode & 0o077:  # check writes 0600: another mode is not a file of ours
            why = f"its mode is {mode:04o}, not 0600"
            moved = self.home.quarantine(path, why)
            note(
                "NOTIFY_LEDGER_UNTRUSTED",
                f"the notification ledger {path.name} cannot be trusted ({why}); it was moved to {moved}. "
                "Every current alarm is sent as if nothing had been told.",
            )
            return {}
        try:
            body = self.home.read(self.name, KIND)
        except OctorunbookError as exc:
            note(
                "NOTIFY_LEDGER_UNTRUSTED",
                f"{exc.message} Every current alarm is sent as if nothing had been told.",
            )
            return {}
        if body is None:
            return {}
        entries = parse_body(body, self.endpoint, self.hostname)
        if entries is None:
            note(
                "NOTIFY_LEDGER_UNTRUSTED",
                f"the notification ledger {self.home.root / self.name} holds what check does not write; "
                "every current alarm is sent as if nothing had been told, and the ledger is rewritten.",
            )
            self.rewrite = True
            return {}
        return entries

    def save(self, entries: dict[str, Told]) -> None:
        body = {
            "endpoint": self.endpoint,
            "hostname": self.hostname,
            "events": {family: told.to_body() for family, told in sorted(entries.items())},
        }
        from octorunbook.findings import OctorunbookError

        try:
            self.home.write(self.name, KIND, body)
        except (OctorunbookError, OSError, ValueError) as exc:
            why = f"{exc.code}: {exc.message}" if isinstance(exc, OctorunbookError) else str(exc)
            note(
                "NOTIFY_LEDGER_UNTRUSTED",
                f"the notification ledger could not be written ({why}); the next check tells again.",
            )

    def close(self) -> None:
        os.close(self.fd)  # closing releases the OS lock


@dataclass(frozen=True)
class Event:
    """One alarm of this run: its family, code, status and the message that tells it."""

    family: str  # a key of FAMILIES: the door that saw it (the CA's window asked, or recorded, is two)
    code: str
    status: int
    message: Any  # octorunbook.ops.notify.Message


def due(event: Event, told: Told | None, thumbprint: str, now: datetime, every: timedelta) -> str:
    """Why ``event`` is sent now ('' when it is not): new, changed, a new certificate, a reminder."""
    if told is None:
        return "new"
    if told.code != event.code or told.status != event.status:
        return "changed"
    if told.thumbprint != thumbprint:
        return "new certificate"
    if told.sent > now:
        return "new"  # a time stamp in the future: the clock moved back, or the file lies
    if now - told.sent >= every:
        return "reminder"
    return ""


def tell(
    events: Sequence[Event],
    send: Callable[[Any], bool | None],
    resolved: Callable[[Told], Any],
    *,
    ledger: Ledger | None,
    thumbprint: str,
    consulted: set[str],
    now: datetime,
    every: timedelta,
) -> list[bool | None]:
    """Send what is due, and one resolved message per told family of ``consulted`` that has cleared;
    remember what was delivered. Without a ledger (it could not be trusted) every event is sent."""
    if ledger is None:
        return [send(event.message) for event in events]
    from dataclasses import replace

    entries = ledger.load()
    before = dict(entries)
    results: list[bool | None] = []
    for event in events:
        if event.family not in FAMILIES:  # an alarm this ledger does not know: told every run, never kept
            results.append(send(event.message))
            continue
        told = entries.get(event.family)
        why = due(event, told, thumbprint, now, every)
        if not why:
            continue
        message = event.message
        if why == "reminder" and told is not None:
            message = replace(
                message, summary=f"{message.summary} (reminder: first told {told.first:%Y-%m-%d %H:%M} UTC)"
            )
        delivered = send(message)
        results.append(delivered)
        if delivered:
            first = told.first if why == "reminder" and told is not None else now
            entries[event.family] = Told(event.code, event.status, thumbprint, first, now)
    current = {event.family for event in events}
    for family, told in sorted(before.items()):
        if family in current or family not in consulted:
            continue
        delivered = send(resolved(told))
        results.append(delivered)
        if delivered:
            del entries[family]
    if entries != before or ledger.rewrite:
        ledger.save(entries)
    return results


__all__ = ["DEFAULT_EVERY_HOURS", "Event", "Ledger", "Told", "ledger_root", "tell", "user_home"]
