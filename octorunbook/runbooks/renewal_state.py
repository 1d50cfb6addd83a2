"""Runbook 04, part 1: what the portal has now, whether renewal is due, and the new certificate.

Renew or rotate the portal certificate with no restart and no downtime, on every front. A renewal is
03's change with only the front's certificate different (``renew``): HTTP.sys looks its ``sslcert``
binding up at handshake time and nginx reloads gracefully, so Octopus keeps running. The order:

1. **read** what is served now (TLS handshake), what the front names on the port and what the store
   holds; decide — more than the renewal threshold left and no ``force_renew``: prove the current
   certificate and end ``unchanged``. The threshold is a third of the certificate's own lifetime (half
   under 10 days: :mod:`octorunbook.evidence.lifetime`), or ``renew_before_days`` when set above 0;
2. **obtain and judge** the new certificate (same sources and findings as 01) plus the renewal's own
   check: a certificate that expires sooner, drops the portal's hostname or is weaker is
   ``RENEWAL_REGRESSES``; then import it (01's import, idempotent);
3. **swap** (``renew``): the front takes the new certificate, every per-binding setting carried; the
   proof shows the *new* thumbprint served and the front exactly as planned;
4. **retire** the old certificate only after the proof (``retire_old``) and only when nothing on the
   front still serves it; on any failure the old state is restored and proven, and the replacement
   this run imported is removed again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from octorunbook import certificates
from octorunbook.evidence.lifetime import (
    CRITICAL_FRACTION,
    SHORT_LIVED_DAYS,
    days_text,
    lifetime_days,
    renew_before,
)
from octorunbook.evidence.tls import TlsEvidence, tls_handshake
from octorunbook.findings import Finding, TargetError, VerificationError
from octorunbook.render import Panel, Row
from octorunbook.runbooks.run import Run
from octorunbook.targets.base import Target
from octorunbook.targets.protocols import PortalIntent, StoredCertificate


@dataclass(frozen=True)
class Current:
    """What the portal has now: what the front names on the port, what a client is served, and the
    named certificate as the store holds it."""

    endpoint: str  # HTTP.sys: the sslcert record's ip:port; nginx: ``nginx:<port>``
    thumbprint: str
    store: str
    front: dict[str, Any]  # the front's state as read (its record)
    served: TlsEvidence | None
    served_error: str
    stored: StoredCertificate | None
    certificate: x509.Certificate | None

    @property
    def not_after(self) -> datetime | None:
        if self.certificate is not None:
            return self.certificate.not_valid_after_utc
        if self.served is not None and self.served.not_after:
            return datetime.fromisoformat(self.served.not_after)
        return None

    @property
    def lifetime_days(self) -> float | None:
        """``notAfter - notBefore`` of the bound certificate, when the store gave it."""
        cert = self.certificate
        return None if cert is None else lifetime_days(cert.not_valid_before_utc, cert.not_valid_after_utc)

    def renew_before(self, renew_before_days: int) -> tuple[float, str]:
        """Days left at which to renew, and the rule (``lifetime`` or ``absolute``)."""
        return renew_before(self.lifetime_days, renew_before_days)

    def seconds_left(self, now: datetime | None = None) -> float | None:
        end = self.not_after
        return None if end is None else (end - (now or datetime.now(UTC))).total_seconds()

    def days_left(self, now: datetime | None = None) -> int | None:
        seconds = self.seconds_left(now)
        return None if seconds is None else int(seconds // 86400)

    def to_record(self) -> dict[str, Any]:
        return {
            "bound": {"endpoint": self.endpoint, "thumbprint": self.thumbprint, "store": self.store},
            "front": self.front,
            "served": self.served.to_record() if self.served else {"error": self.served_error},
            "in_store": self.stored.to_record() if self.stored else None,
            "days_left": self.days_left(),
            "lifetime_days": None if self.lifetime_days is None else days_text(self.lifetime_days),
        }


def read_current(run: Run) -> Current:
    """Served, named by the front and stored — read only. Nothing on the port: nothing to renew (run 03)."""
    parts = run.require_target().parts
    p = run.params
    front = parts.front
    with run.step():
        parts.instance.require()
        state = front.read(PortalIntent.location(p.hostname, p.https_port))
        thumbprint = front.serves(state)
        if not thumbprint:
            raise TargetError(
                "NOT_BOUND",
                f"The {front.kind} front serves no certificate on port {p.https_port}: there is nothing to renew.",
                "Add it first with 01 → 03 (`octorunbook run params.yaml`), or check https_port.",
            )
        served, error = served_now(run.require_target(), p.https_port, p.hostname)
        stored = parts.store.get(thumbprint) if parts.store.exists() else None
        pem = parts.store.certificate_pem(thumbprint) if stored else None
        cert = x509.load_pem_x509_certificates(pem)[0] if pem else None
        endpoint = str(getattr(state, "endpoint", "") or f"{front.kind}:{p.https_port}")
        current = Current(
            endpoint,
            thumbprint,
            stored.store if stored else parts.store.name,
            state.to_record(),
            served,
            error,
            stored,
            cert,
        )
        run.state["before"] = current.to_record()
        run.extra["implementations"] = parts.kinds()
        show_current(run, current, f"named by the {front.kind} front")
        if served is not None and served.thumbprint != thumbprint:
            raise VerificationError(
                "SERVED_NOT_BOUND",
                f"The portal serves {served.thumbprint}, but the {front.kind} front names {thumbprint} on "
                f"{endpoint}.",
                REMEDY_SERVED_NOT_BOUND.get(front.kind, REMEDY_SERVED_NOT_BOUND["nginx"]),
            )
    return current


REMEDY_SERVED_NOT_BOUND = {
    "httpsys": "Something else answers on this port, or a hostname (SNI) binding overrides the IP binding: "
    "`netsh http show sslcert` lists them. Resolve that before renewing.",
    "nginx": "Another server block or process answers on this port (`nginx -T | grep -n listen`); resolve "
    "that before renewing.",
}


def show_current(run: Run, current: Current, bound_label: str) -> None:
    """The panel 04 opens with: what is bound, what is served, when it expires."""
    days = current.days_left()
    before, rule = current.renew_before(run.params.renew_before_days)
    why = _rule_text(current, before, rule, run.params.renew_before_days)
    served = current.served
    rows = [
        Row("info", bound_label, f"{current.thumbprint} ({current.store})"),
        Row(
            "ok" if served and served.thumbprint == current.thumbprint else "warning",
            "served over TLS",
            served.thumbprint if served else f"no answer: {current.served_error}",
        ),
        Row(
            "info" if days is None or days > before else "warning",
            "expires",
            f"{current.not_after:%Y-%m-%d} ({days} days left; renews {why})"
            if current.not_after
            else "unknown",
        ),
    ]
    run.reporter.show(Panel("What the portal has now", "info", rows))


def _rule_text(current: Current, before: float, rule: str, renew_before_days: int) -> str:
    """``with 30 days left (renew_before_days)`` or ``with 15 days left (1/3 of its 45-day lifetime)``."""
    if rule == "absolute":
        source = "renew_before_days" if renew_before_days > 0 else "lifetime unknown"
        return f"with {days_text(before)} days left ({source})"
    lifetime = current.lifetime_days or 0.0
    share = "1/2" if lifetime < SHORT_LIVED_DAYS else "1/3"
    return f"with {days_text(before)} days left ({share} of its {days_text(lifetime)}-day lifetime)"


def served_now(target: Target, port: int, hostname: str) -> tuple[TlsEvidence | None, str]:
    host, real = target.endpoint(port)
    try:
        return tls_handshake(host, real, hostname), ""
    except OSError as exc:
        return None, str(exc) or type(exc).__name__


def renewal_due(run: Run, current: Current) -> bool:
    """True when this run should replace the certificate; otherwise the current one was proven and kept."""
    p = run.params
    seconds = current.seconds_left()
    days = current.days_left()
    before, rule = current.renew_before(p.renew_before_days)
    run.note(  # the record says which rule decided
        Finding(
            "RENEWAL_RULE",
            "info",
            f"Renews {_rule_text(current, before, rule, p.renew_before_days)}.",
            "",
            details={"rule": rule, "renew_before_days": days_text(before)},
        )
    )
    if p.force_renew:
        run.note(Finding("RENEWAL_FORCED", "info", "force_renew: replacing the certificate now.", ""))
        return True
    if seconds is not None and seconds > before * 86400:
        keep_current(
            run,
            current,
            f"Nothing to renew: {days} days left; renews {_rule_text(current, before, rule, p.renew_before_days)}",
        )
        return False
    return True


def renewal_decision(run: Run, current: Current) -> bool:
    """The CA's word first (ARI, RFC 9773: :func:`octorunbook.acme.ari.ari_due`); without ARI for this
    certificate, or with ``force_renew``, :func:`renewal_due` decides as it always has.

    ARI's "not yet" does not outrank the operator or the calendar: an explicit ``renew_before_days`` that
    has been reached renews (``RENEWAL_OVERRIDE``), and so does a certificate with less than ⅙ of its
    lifetime left whatever the CA's window says (``ACME_ARI_LATE``): a wrong window must not let the
    portal lapse. Any renewal of a certificate the CA knows names it in ``replaces``."""
    from octorunbook.acme.ari import ari_due
    from octorunbook.evidence.check_alarms import recorded_answer

    due = None if run.params.force_renew else ari_due(run, current.certificate, recorded_answer)
    if due is None:
        due = renewal_due(run, current)
    elif not due:
        due = _override_due(run, current)
        if not due:
            ari: dict[str, Any] = run.extra.get("ari") or {}
            window: dict[str, Any] = ari.get("window") or {}
            keep_current(
                run,
                current,
                f"Nothing to renew: the CA suggests renewing between {window.get('start')} and "
                f"{window.get('end')} (this portal at {ari.get('renew_at')})",
            )
    if due:
        _name_replaced(run, current)
    return due


def _override_due(run: Run, current: Current) -> bool:
    """ARI said "not yet": renew all the same when ``renew_before_days`` is reached or ⅙ of the lifetime
    is all that is left (the CA's window is then later than any sound renewal)."""
    p = run.params
    seconds, lifetime = current.seconds_left(), current.lifetime_days
    if seconds is None:
        return False
    days = days_text(seconds / 86400)
    if p.renew_before_days > 0 and seconds <= p.renew_before_days * 86400:
        run.note(
            Finding(
                "RENEWAL_OVERRIDE",
                "info",
                f"The CA's window has not come, but {days} days are left and renew_before_days is "
                f"{p.renew_before_days}: the explicit setting wins, renewing now.",
                "",
                details={"rule": "renew_before_days", "renew_before_days": p.renew_before_days},
            )
        )
        return True
    if lifetime is not None and seconds < lifetime * CRITICAL_FRACTION * 86400:
        run.note(
            Finding(
                "ACME_ARI_LATE",
                "warning",
                f"The CA's renewal window has not come, but only {days} of the certificate's "
                f"{days_text(lifetime)} days are left (under 1/6): renewing now so the portal does not lapse.",
                "Nothing to do for this portal: renewed now. If it recurs, the CA's renewalInfo is wrong "
                "or late: report it to the CA, or set renew_before_days.",
            )
        )
        return True
    return False


def _name_replaced(run: Run, current: Current) -> None:
    """``replaces`` for any renewal of a certificate whose ARI ID the CA answered for (a window, or an
    expired certificate it issued), whichever rule decided; a CA that refuses the link gets the order
    again without it (:func:`octorunbook.acme.neworder.new_order`)."""
    ari: dict[str, Any] = run.extra.get("ari") or {}
    cert_id = ari.get("id")
    if isinstance(cert_id, str) and cert_id and ("window" in ari or ari.get("expired") is True):
        run.state["acme_replaces"] = cert_id


def keep_current(run: Run, current: Current, headline: str) -> None:
    """Not due: the current certificate is proven (answering, covering the hostname) and kept."""
    p = run.params
    with run.step():  # a coded record, never a traceback
        if current.served is None:
            raise VerificationError(
                "PORTAL_NOT_ANSWERING",
                f"The portal does not answer over HTTPS: {current.served_error}.",
                "Read the Octopus server log; `octorunbook check` shows the same from a monitor.",
            )
        require_hostname_covered(run, p.https_port, p.hostname)
    run.reporter.show(Panel(headline, "ok", [Row("ok", "served and bound", current.thumbprint)]))
    run.state["after"] = run.state.get("before")
    run.verification.append(
        {
            "check": "served certificate (SHA-1 thumbprint)",
            "expected": current.thumbprint,
            "seen": current.served.thumbprint,
            "ok": True,
            "code": "SERVED_WRONG_CERTIFICATE",
        }
    )


def require_hostname_covered(run: Run, port: int, hostname: str) -> None:
    """The served certificate must be valid for ``hostname`` (the SAN rule ``octorunbook check`` applies)."""
    from octorunbook.evidence.check import read_served

    host, real = run.require_target().endpoint(port)
    try:
        served = read_served(host, real, hostname)
    except OSError as exc:
        raise VerificationError(
            "PORTAL_NOT_ANSWERING",
            f"The portal does not answer over HTTPS: {exc or type(exc).__name__}.",
            "Read the Octopus server log; `octorunbook check` shows the same from a monitor.",
        ) from exc
    if not served.covers(hostname):
        names = ", ".join(served.dns_names + served.ip_addresses) or "none"
        raise VerificationError(
            "SERVED_NOT_FOR_HOSTNAME",
            f"The served certificate {served.thumbprint} does not cover {hostname} (its names: {names}); "
            "browsers reject it, so there is nothing sound to keep.",
            "Renew now with a certificate that names the hostname (`octorunbook renew PARAMS --force`), "
            "or correct `hostname` in the parameters.",
        )


def _strength(key: object) -> int:
    """Comparable security bits (NIST SP 800-57): RSA 2048 = 112, 3072 = 128, P-256 = 128, P-384 = 192."""
    if isinstance(key, rsa.RSAPublicKey):
        size = key.key_size
        return 80 if size < 2048 else 112 if size < 3072 else 128 if size < 7680 else 192
    if isinstance(key, ec.EllipticCurvePublicKey):
        return key.curve.key_size // 2
    return 0


def judge_renewal(run: Run, current: Current, new: certificates.LoadedCertificate) -> None:
    """The renewal's own findings: a replacement must not expire sooner, drop the hostname, or be weaker."""
    p = run.params
    problems: list[str] = []
    info = new.info
    old = current.certificate
    if old is not None and info.not_after < old.not_valid_after_utc:
        problems.append(
            f"it expires sooner ({info.not_after:%Y-%m-%d}) than the current one "
            f"({old.not_valid_after_utc:%Y-%m-%d})"
        )
    if not any(certificates.hostname_matches(name, p.hostname) for name in info.dns_names):
        problems.append(f"it does not name the portal's hostname {p.hostname}")
    if old is not None:
        if _strength(new.certificate.public_key()) < _strength(old.public_key()):
            problems.append(
                f"its key is weaker ({info.key_description}) than the current one "
                f"({certificates.inspect(old).key_description})"
            )
        old_names = set(certificates.inspect(old).dns_names)
        dropped = sorted(n for n in old_names if n not in set(info.dns_names))
        if dropped:
            run.note(
                Finding(
                    "RENEWAL_DROPS_NAMES",
                    "warning",
                    f"The new certificate no longer names {', '.join(dropped)}.",
                    "Clients that use those names will see a name mismatch; include them if they are still used.",
                )
            )
    if info.thumbprint == current.thumbprint:
        raise TargetError(
            "RENEWAL_SAME_CERTIFICATE",
            f"The 'new' certificate {info.thumbprint} is the one already bound.",
            "Point the source at the renewed certificate (pfx_path / pem files / thumbprint).",
        )
    if problems:
        raise TargetError(
            "RENEWAL_REGRESSES",
            "The new certificate would make the portal worse: " + "; ".join(problems) + ".",
            "Get a certificate that lasts longer, names the portal's hostname and has a key at least as "
            "strong; nothing was changed.",
        )


@dataclass(frozen=True)
class Replacement:
    certificate: certificates.LoadedCertificate
    imported_now: bool  # this run put it into the store (rollback removes it again)

    @property
    def thumbprint(self) -> str:
        return self.certificate.info.thumbprint


def obtain_replacement(run: Run, current: Current, prompt: Any = None) -> Replacement | None:
    """When renewal is due: obtain the new certificate (01's sources), judge it, import it. Else None."""
    from octorunbook.runbooks.steps import import_certificate, obtain_certificate

    if not renewal_decision(run, current):
        return None
    loaded = obtain_certificate(run, prompt)
    with run.step():
        judge_renewal(run, current, loaded)
    before = run.state.get("before")
    import_certificate(run, loaded)
    imported_now = not (run.state.get("before") or {}).get("in_store")
    run.state["import"] = run.state.get("before")
    run.state["before"] = before
    return Replacement(loaded, imported_now and not run.params.dry_run)


__all__ = [
    "Current",
    "Replacement",
    "judge_renewal",
    "keep_current",
    "obtain_replacement",
    "read_current",
    "renewal_decision",
    "renewal_due",
]
