"""ACME Renewal Information (RFC 9773): renew when the CA says, not by a fixed rule.

When the CA's directory has ``renewalInfo`` and the portal's certificate came from it, 04 asks
``GET renewalInfo/<certID>`` (certID = base64url(AKI keyIdentifier) "." base64url(serial DER bytes)) for
the CA's ``suggestedWindow`` and renews at a time chosen in that window, as RFC 9773 §4.2 asks. The time
is derived from the certificate ID and the window (a hash, not ``random``): every run on every host
agrees on it without keeping state, and a window the CA moves gives a new time. The answer is recorded
in ``run.extra["ari"]`` (window, chosen time, ``explanationURL``, ``Retry-After``); a due renewal's order
carries ``replaces: <certID>`` (:func:`octorunbook.acme.neworder.new_order`).

The chosen time counts as come when it falls before the next scheduled run (RFC 9773 §4.2 step 5): waiting
for that run would renew after the time the CA chose. A ``Retry-After`` the CA sent that reaches past the next scheduled run is honoured across runs:
while the newest renewal record's ``next_check`` for the same certificate lies ahead, its window decides
and the CA is not asked again (``recorded``: :func:`octorunbook.evidence.check_alarms.recorded_answer`,
which reads the record back as untrusted data).

The request is bounded (:data:`ARI_SECONDS`, the ACME session's deadline adapter) and never fails the run:
a CA without ``renewalInfo``, a certificate it does not know, or an answer it cannot give is ``None``,
and the existing rule (``renewal_due``) decides. ``certbot``'s ``ClientV2.renewal_time`` is not used: it
draws with ``random`` (runs would disagree), and returns neither the window nor ``explanationURL``.
"""

from __future__ import annotations

import base64
import email.utils
import hashlib
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography import x509

from octorunbook import __version__
from octorunbook.findings import Finding, OctorunbookError, TargetError

if TYPE_CHECKING:
    from octorunbook.runbooks.run import Run

ARI_SECONDS = 30.0  # the directory and renewalInfo requests together
RETRY_WAIT_MAX = 5.0  # a Retry-After up to this long is waited for once; a longer one is recorded
DEFAULT_RETRY_AFTER = 6 * 3600  # RFC 9773 §4.3.3: re-poll about every six hours when the CA names no time
RETRY_AFTER_MAX = 366 * 86400  # a longer Retry-After is read as a year: no clock holds 10**40 seconds


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def ari_id(cert: x509.Certificate) -> str | None:
    """The RFC 9773 certificate ID, or None when the certificate has no Authority Key Identifier."""
    try:
        aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value.key_identifier
    except x509.ExtensionNotFound:
        return None
    if not aki:
        return None
    serial = cert.serial_number  # DER INTEGER contents: big-endian, a leading 0 when the top bit is set
    return f"{_b64(aki)}.{_b64(serial.to_bytes(serial.bit_length() // 8 + 1, 'big'))}"


def renew_at(cert_id: str, start: datetime, end: datetime) -> datetime:
    """A time in ``[start, end]`` that looks random across certificates but is the same on every run."""
    digest = hashlib.sha256(f"{cert_id}|{start.isoformat()}|{end.isoformat()}".encode()).digest()
    fraction = int.from_bytes(digest[:8], "big") / 2**64
    return start + (end - start) * fraction


def retry_after_seconds(value: str | None, now: datetime) -> int | None:
    """``Retry-After`` as seconds: a number of seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return min(int(value[:12]), RETRY_AFTER_MAX)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return min(max(0, int((when - now).total_seconds())), RETRY_AFTER_MAX)


def _session(directory_url: str, ca_bundle: str, seconds: float) -> tuple[Any, Any]:
    from acme import client

    from octorunbook.acme.errors import refuse_signed_redirects
    from octorunbook.acme.network import mount_deadline

    verify: Any = str(Path(ca_bundle).expanduser()) if ca_bundle else True
    net = client.ClientNetwork(None, verify_ssl=verify, user_agent=f"octorunbook/{__version__} acme-python")
    mount_deadline(net.session, seconds)
    refuse_signed_redirects(net.session)
    return net, client.ClientV2.get_directory(directory_url, net)


def renewal_info(
    directory_url: str, cert_id: str, *, ca_bundle: str = "", seconds: float = ARI_SECONDS
) -> dict[str, Any] | None:
    """The CA's answer for ``cert_id`` as a record, or None when the CA has no ``renewalInfo``.

    Used by 04 (through :func:`fetch_renewal_info`) and by ``octorunbook check --acme-directory``: both
    read one answer the same way. ``seconds`` bounds the directory and ``renewalInfo`` requests together.
    Raises our coded errors (``acme_errors``) for the network; callers decide what that means for them."""
    from octorunbook.acme.errors import acme_errors

    with acme_errors(directory_url):
        started = time.monotonic()
        each = seconds / 3  # the directory, renewalInfo and one retry: together within ``seconds``
        net, directory = _session(directory_url, ca_bundle, each)
        try:
            base = str(directory["renewalInfo"])
        except KeyError:
            return None
        url = f"{base.rstrip('/')}/{cert_id}"
        for attempt in (1, 2):
            response = net.session.get(
                url, verify=net.verify_ssl, headers={"User-Agent": net.user_agent}, allow_redirects=False
            )
            now = datetime.now(UTC)
            retry = retry_after_seconds(response.headers.get("Retry-After"), now)
            short = retry is not None and retry <= RETRY_WAIT_MAX
            if attempt == 2 or response.status_code not in {429, 503} or not short:
                break
            if time.monotonic() - started + float(retry or 0) + each >= seconds:
                break
            time.sleep(
                float(retry or 0)
            )  # the CA asked for a short pause: honoured once, within the deadline
        record: dict[str, Any] = {"id": cert_id, "url": url, "status": response.status_code}
        record["retry_after_seconds"] = retry if retry is not None else DEFAULT_RETRY_AFTER
        record["retry_after_given"] = retry is not None
        record["next_check"] = (now + timedelta(seconds=record["retry_after_seconds"])).isoformat()
        if response.status_code != 200:
            record["error"] = response.text[:300]
            return record
        start, end, explanation = _window(response, url)
        record["window"] = {"start": start.isoformat(), "end": end.isoformat()}
        if isinstance(explanation, str) and explanation:
            record["explanation_url"] = explanation[:2048]
        return record


def _window(response: Any, url: str) -> tuple[datetime, datetime, Any]:
    """The ``suggestedWindow`` (and ``explanationURL``) of a renewalInfo answer: data from the network,
    so anything that is not two readable times is ``ACME_PROTOCOL``, never a traceback."""
    from acme import messages

    try:
        body = response.json()
        info = messages.RenewalInfo.from_json(body)
        start = info.suggested_window.start.astimezone(UTC)
        end = info.suggested_window.end.astimezone(UTC)
    except Exception as exc:  # noqa: BLE001 - JSON, josepy and calendar errors alike: the answer is unreadable
        raise TargetError(
            "ACME_PROTOCOL",
            f"The CA's renewalInfo answer at {url} holds no readable suggestedWindow "
            f"({type(exc).__name__}: {str(exc)[:200]}).",
            "Check that the directory URL is the CA's; report the answer to the CA if it persists. "
            "The renewal rule without ARI decides meanwhile.",
        ) from None
    return start, end, body.get("explanationURL") if isinstance(body, dict) else None


def next_scheduled_run(cert: x509.Certificate, now: datetime) -> datetime:
    """When the schedule runs 04 next: a day on, half a day for a certificate under 10 days."""
    from octorunbook.evidence.lifetime import lifetime_days, runs_per_day

    lifetime = lifetime_days(cert.not_valid_before_utc, cert.not_valid_after_utc)
    return now + timedelta(days=1) / runs_per_day(lifetime)


def fetch_renewal_info(run: Run, cert_id: str) -> dict[str, Any] | None:
    """:func:`renewal_info` for the CA the run's parameters name."""
    p = run.params
    return renewal_info(p.acme_directory_url, cert_id, ca_bundle=p.acme_ca_bundle)


Recorded = Callable[["Run", str, datetime, datetime], "dict[str, Any] | None"]


def ari_due(run: Run, cert: x509.Certificate | None, recorded: Recorded | None = None) -> bool | None:
    """RFC 9773's answer for the portal's certificate ``cert`` (as the store holds it): True (renew now: the chosen time in the CA's window
    has come, or the certificate has expired), False (not yet: the window is recorded), None (no ARI for
    this certificate: the existing rule decides). Sets ``run.state["acme_replaces"]`` when due."""
    p = run.params
    if p.certificate_source != "acme" or cert is None:
        return None
    cert_id = ari_id(cert)
    if cert_id is None:
        return None
    now = datetime.now(UTC)
    if cert.not_valid_after_utc <= now:  # RFC 9773 §4.3: never ask about an expired certificate
        run.extra["ari"] = {"id": cert_id, "expired": True}
        return True
    next_run = next_scheduled_run(cert, now)
    try:
        reused = recorded(run, cert_id, now, next_run) if recorded else None
        record = reused or fetch_renewal_info(run, cert_id)
    except OctorunbookError as exc:
        run.note(
            Finding(
                "ACME_ARI_UNAVAILABLE",
                "warning",
                f"The CA's renewal information could not be read ({exc.code}: {exc.message}); "
                "the renewal rule without ARI decides this run.",
                "Nothing to do if it passes; if it persists, check that the CA is reachable from this host.",
            )
        )
        return None
    if record is None:
        return None
    run.extra["ari"] = record
    if "window" not in record:
        run.note(
            Finding(
                "ACME_ARI_UNAVAILABLE",
                "info" if record["status"] == 404 else "warning",
                f"The CA gave no renewal window for this certificate (HTTP {record['status']}): it may "
                "have come from another CA. The renewal rule without ARI decides this run.",
                "Nothing to do; the next certificate from this CA will have a window.",
            )
        )
        return None
    start = datetime.fromisoformat(record["window"]["start"])
    end = datetime.fromisoformat(record["window"]["end"])
    at = renew_at(cert_id, start, end) if end > start else start
    record["renew_at"] = at.isoformat()
    due = now >= at or at < next_run  # §4.2 step 5: a time before the next run is renewed at now
    record["due"] = due
    if due:
        run.state["acme_replaces"] = cert_id
        why = f" (the CA explains: {record['explanation_url']})" if "explanation_url" in record else ""
        late = now > end
        state = (
            "has passed" if late else "is open" if now >= start else f"opens at {start:%Y-%m-%d %H:%M} UTC"
        )
        early = (
            ""
            if now >= at
            else f"; its chosen time {at:%Y-%m-%d %H:%M} UTC comes before the next scheduled run"
        )
        run.note(
            Finding(
                "ACME_ARI_WINDOW_PASSED" if late else "ACME_ARI_RENEW",
                "warning" if late else "info",
                f"The CA's renewal window {start:%Y-%m-%d %H:%M} – {end:%Y-%m-%d %H:%M} UTC "
                f"{state}{early}: renewing now{why}.",
                "Nothing to do: renewed now. A window the CA set in the past means it wants the certificate "
                "replaced at once (a revocation); otherwise check that scheduled renewals run."
                if late
                else "",
            )
        )
    return due


__all__ = [
    "ARI_SECONDS",
    "ari_due",
    "ari_id",
    "fetch_renewal_info",
    "next_scheduled_run",
    "renew_at",
    "renewal_info",
    "retry_after_seconds",
]
