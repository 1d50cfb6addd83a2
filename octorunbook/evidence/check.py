"""``octorunbook check``: is the portal's certificate about to expire? A Nagios/Icinga-style plugin.

It reads the certificate the portal **serves** (a real TLS handshake on the target's loopback
endpoint, the portal hostname as SNI, as :mod:`octorunbook.evidence.tls` does) and, given a parameter file,
the one **bound** on the target (the HTTP.sys ``sslcert`` record, read with the same read-only driver
runbook 03 uses). Then it judges, the way monitoring systems expect::

    0 OK        more than the warning threshold left
    1 WARNING   within the warning threshold: ⅓ of the certificate's own lifetime left, or --warn-days
    2 CRITICAL  within the critical threshold (⅙ of the lifetime left, or --critical-days), expired or
                not yet valid, its names do not
                cover the hostname (browsers refuse it), or the served certificate is not the bound one
                (HTTP.sys still serves an old certificate, or something else answers on the port)
    3 UNKNOWN   cannot connect, cannot read the target, bad arguments

A check changes nothing: it never creates a sandbox, never starts a portal, never writes a binding.
It must start fast (monitoring runs it every minute): nothing here imports papermill, nbformat,
nbconvert, ipywidgets or Jupyter, nor — for a ``--url`` check of a certificate in the reader's profile,
plain or public-CA-shaped (:mod:`octorunbook.evidence.leaf_der`) — cryptography, http.client or the
target drivers; cryptography is loaded after the handshake only for a certificate outside that profile. Tests hold it to that with
``python -X importtime`` (tests/evidence/test_check.py, tests/cli/test_check_start.py).
"""

from __future__ import annotations

import hashlib
import ipaddress
import ssl
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from octorunbook.evidence.deadline import Deadline, sni_for, unverified_context
from octorunbook.evidence.leaf_der import LeafFields, read_leaf
from octorunbook.evidence.lifetime import ABSOLUTE, Thresholds, days_text, lifetime_days, thresholds
from octorunbook.findings import InputError, OctorunbookError

if TYPE_CHECKING:
    from octorunbook.params.core import Parameters
    from octorunbook.targets.protocols import TargetParts

OK, WARNING, CRITICAL, UNKNOWN = 0, 1, 2, 3
STATUS_NAMES = ("OK", "WARNING", "CRITICAL", "UNKNOWN")
DAY = 86400
DEFAULT_WARN_DAYS: int | None = None  # None: by the certificate's lifetime (evidence.lifetime)
DEFAULT_CRITICAL_DAYS: int | None = None


@dataclass(frozen=True)
class ServedCertificate:
    """The leaf certificate a TLS handshake returned, with what expiry monitoring needs of it."""

    thumbprint: str
    subject: str
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]
    not_before: datetime
    not_after: datetime
    tls_version: str
    der: bytes = field(default=b"", repr=False, compare=False)  # for the CA's renewal window (check_alarms)

    def covers(self, hostname: str) -> bool:
        """True when a browser would accept this certificate for ``hostname`` (SAN only: browsers ignore CN).

        A wildcard matches exactly one left-most label, as RFC 6125 and browsers have it.
        """
        name = hostname.strip().rstrip(".").lower()
        try:
            wanted = ipaddress.ip_address(name)
        except ValueError:
            pass  # a DNS name: matched against the DNS entries below
        else:
            return any(ipaddress.ip_address(ip) == wanted for ip in self.ip_addresses)
        for pattern in (n.rstrip(".").lower() for n in self.dns_names):
            if pattern == name:
                return True
            if pattern.startswith("*.") and "." in name:
                label, rest = name.split(".", 1)
                if label and rest == pattern[2:]:
                    return True
        return False

    def to_record(self) -> dict[str, Any]:
        return {
            "thumbprint": self.thumbprint,
            "subject": self.subject,
            "dns_names": list(self.dns_names),
            "ip_addresses": list(self.ip_addresses),
            "not_before": _iso(self.not_before),
            "not_after": _iso(self.not_after),
            "tls_version": self.tls_version,
        }


@dataclass(frozen=True)
class BoundCertificate:
    """What the target's HTTP.sys binding for the HTTPS port names (None fields: nothing bound)."""

    endpoint: str
    thumbprint: str
    store: str
    not_after: datetime | None = None

    def to_record(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "thumbprint": self.thumbprint,
            "store": self.store,
            "not_after": _iso(self.not_after) if self.not_after else None,
        }


@dataclass(frozen=True)
class CheckResult:
    """The verdict, and everything the one-line, JSON and Prometheus renderings need."""

    status: int
    hostname: str
    endpoint: str
    warn_days: float
    critical_days: float
    reasons: tuple[str, ...] = ()
    served: ServedCertificate | None = None
    bound: BoundCertificate | None = None
    checked_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    limits: Thresholds | None = None  # which rule gave the thresholds (None: absolute, as given)

    @property
    def status_name(self) -> str:
        return STATUS_NAMES[self.status]

    @property
    def seconds_left(self) -> float | None:
        if self.served is None:
            return None
        return (self.served.not_after - self.checked_at).total_seconds()

    @property
    def days_left(self) -> int | None:
        seconds = self.seconds_left
        return None if seconds is None else int(seconds // DAY)

    def line(self) -> str:
        """``CERT OK - portal.example.com expires in 84 days | days=84;30;7`` (Nagios plugin guidelines)."""
        days = self.days_left
        if self.served is None or days is None:
            return f"CERT {self.status_name} - {self.hostname}: {'; '.join(self.reasons) or 'no certificate'}"
        summary = f"{self.hostname} {_expiry_phrase(days)}"
        if self.reasons:
            summary = f"{self.hostname}: {'; '.join(self.reasons)}"
        return f"CERT {self.status_name} - {summary} | {self.perfdata(days)}"

    def perfdata(self, days: int) -> str:
        """``days=84;30;15`` and, when the lifetime set a threshold, ``lifetime_days=90`` after it."""
        text = f"days={days};{days_text(self.warn_days)};{days_text(self.critical_days)}"
        if self.limits is not None and self.limits.rule != ABSOLUTE and self.limits.lifetime_days:
            text += f" lifetime_days={days_text(self.limits.lifetime_days)}"
        return text

    def to_record(self) -> dict[str, Any]:
        seconds = self.seconds_left
        return {
            "status": self.status_name,
            "exit_code": self.status,
            "message": self.line(),
            "hostname": self.hostname,
            "endpoint": self.endpoint,
            "days_left": self.days_left,
            "seconds_left": None if seconds is None else int(seconds),
            "warn_days": days_text(self.warn_days),
            "critical_days": days_text(self.critical_days),
            "thresholds": (self.limits or thresholds(None, self.warn_days, self.critical_days)).to_record(),
            "reasons": list(self.reasons),
            "served": self.served.to_record() if self.served else None,
            "bound": self.bound.to_record() if self.bound else None,
            "checked_at": _iso(self.checked_at),
        }


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _expiry_phrase(days: int) -> str:
    if days < 0:
        return f"expired {-days} day{'s' if days != -1 else ''} ago"
    return f"expires in {days} day{'s' if days != 1 else ''}"


def read_served(host: str, port: int, sni: str, timeout: float | Deadline = 10.0) -> ServedCertificate:
    """One TLS handshake (no trust check: *which* certificate is served is the question, not who signed it).

    Raises ``OSError`` (``ssl.SSLError`` included) when nothing answers or the handshake fails, and
    ``NETWORK_TIMEOUT`` (also an ``OSError``) when connect and handshake together outlast ``timeout``.
    """
    deadline = Deadline.of(timeout, f"the TLS handshake with {host}:{port}")
    with deadline.connect(host, port) as raw:
        with deadline.wrap(unverified_context(), raw, sni_for(sni)) as tls:
            der = tls.getpeercert(binary_form=True)
            version = tls.version() or ""
    if der is None:
        raise ssl.SSLError("the server sent no certificate")
    fields = read_leaf(der) or read_with_cryptography(der)
    return ServedCertificate(
        thumbprint=hashlib.sha1(der).hexdigest().upper(),  # noqa: S324 - the Windows thumbprint
        subject=fields.subject,
        dns_names=fields.dns_names,
        ip_addresses=fields.ip_addresses,
        not_before=fields.not_before,
        not_after=fields.not_after,
        tls_version=version,
        der=der,
    )


def read_with_cryptography(der: bytes) -> LeafFields:
    """The same fields read by cryptography: every certificate outside the reader's profile, whatever it holds
    (``ValueError`` for one cryptography cannot read: the check answers UNKNOWN, as it always has)."""
    from cryptography import x509

    leaf = x509.load_der_x509_certificate(der)
    try:
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        dns = tuple(san.get_values_for_type(x509.DNSName))
        ips = tuple(str(ip) for ip in san.get_values_for_type(x509.IPAddress))
    except x509.ExtensionNotFound:
        dns, ips = (), ()
    return LeafFields(
        leaf.subject.rfc4514_string(), dns, ips, leaf.not_valid_before_utc, leaf.not_valid_after_utc
    )


def read_bound(params: Parameters, timeout: float = 60.0) -> BoundCertificate | None:
    """The certificate the target's HTTP.sys binding on ``0.0.0.0:<https_port>`` names; read-only.

    The sandbox must already exist (a check never creates one); on Windows the same ``netsh http show
    sslcert`` and store read as runbook 03 — nothing that changes the host.
    """
    from octorunbook.commands import CommandRunner
    from octorunbook.targets.httpsys import HttpSys
    from octorunbook.targets.protocols import CertificateStore

    runner = CommandRunner(timeout=timeout)
    httpsys: HttpSys
    store: CertificateStore
    if params.target == "windows":
        # netsh and the store only: a check needs neither Octopus.Server.exe nor the instance.
        from octorunbook.commands import netsh_exe
        from octorunbook.targets.localmachine import LocalMachineStore
        from octorunbook.targets.windows import WindowsCertificateStore

        httpsys = HttpSys(netsh_exe(), runner)
        store = LocalMachineStore(WindowsCertificateStore(runner), params.store)
    else:
        from octorunbook.targets import open_existing_target

        target = open_existing_target(params, runner)
        from octorunbook.targets.httpsys.front import HttpSysFront

        front = target.parts.front
        if not isinstance(front, HttpSysFront):  # a front with its own text: what its server block names
            return _front_bound(target.parts, params)
        httpsys, store = front.httpsys, target.parts.store
    binding = httpsys.show(params.https_port)
    if binding is None:
        return None
    not_after = None
    stored = store.sibling(binding.store_name).get(binding.certificate_hash)
    if stored is not None and stored.not_after:
        try:
            not_after = datetime.fromisoformat(stored.not_after.replace("Z", "+00:00"))
        except ValueError:
            not_after = None
    return BoundCertificate(binding.ip_port, binding.certificate_hash, binding.store_name, not_after)


def _front_bound(parts: TargetParts, params: Parameters) -> BoundCertificate | None:
    from octorunbook.targets.protocols import PortalIntent

    state = parts.front.read(PortalIntent.location(params.hostname, params.https_port))
    thumbprint = parts.front.serves(state)
    if not thumbprint:
        return None
    stored = parts.store.get(thumbprint)
    not_after = datetime.fromisoformat(stored.not_after.replace("Z", "+00:00")) if stored else None
    return BoundCertificate(
        f"{parts.front.kind}:{params.https_port}", thumbprint, parts.store.name, not_after
    )


def judge(
    served: ServedCertificate,
    hostname: str,
    *,
    warn_days: float | None = None,
    critical_days: float | None = None,
    endpoint: str,
    bound: BoundCertificate | None = None,
    compare_bound: bool = False,
    now: datetime | None = None,
) -> CheckResult:
    """The verdict for a served certificate (pure: no I/O, so every rule is tested directly).

    ``warn_days`` / ``critical_days`` None: ⅓ and ⅙ of the certificate's own lifetime left."""
    moment = now or datetime.now(UTC)
    limits = thresholds(lifetime_days(served.not_before, served.not_after), warn_days, critical_days)
    warn, crit = limits.warn_days, limits.critical_days
    seconds = (served.not_after - moment).total_seconds()
    days = int(seconds // DAY)
    critical: list[str] = []
    if seconds <= 0:
        critical.append(f"certificate {served.thumbprint} {_expiry_phrase(days)}")
    elif seconds <= crit * DAY:
        critical.append(
            f"certificate {served.thumbprint} {_expiry_phrase(days)} (critical at {_at(limits, crit)})"
        )
    if served.not_before > moment:
        critical.append(f"certificate {served.thumbprint} is not valid before {_iso(served.not_before)}")
    if not served.covers(hostname):
        names = ", ".join(served.dns_names + served.ip_addresses) or "none"
        critical.append(f"served certificate does not cover {hostname} (its names: {names})")
    if compare_bound:
        if bound is None:
            critical.append("nothing is bound in HTTP.sys for this port, yet a certificate is served")
        elif bound.thumbprint.upper() != served.thumbprint:
            critical.append(
                f"served certificate {served.thumbprint} is not the bound one {bound.thumbprint} "
                f"({bound.endpoint})"
            )
    status = CRITICAL if critical else OK
    reasons = tuple(critical)
    if not critical and seconds <= warn * DAY:
        status = WARNING
        reasons = (f"{_expiry_phrase(days)} (warning at {_at(limits, warn, critical=False)})",)
    return CheckResult(
        status, hostname, endpoint, warn, crit, reasons, served, bound, checked_at=moment, limits=limits
    )


def _at(limits: Thresholds, days: float, *, critical: bool = True) -> str:
    """``7`` (absolute) or ``15 days: 1/6 of its 90-day lifetime`` (by lifetime)."""
    rule = limits.critical_rule if critical else limits.warn_rule
    if rule == ABSOLUTE or limits.lifetime_days is None:
        return f"{days_text(days)}"
    share = "1/6" if critical else "1/3"
    return f"{days_text(days)} days: {share} of its {days_text(limits.lifetime_days)}-day lifetime"


def unknown(
    hostname: str,
    endpoint: str,
    reason: str,
    warn_days: float | None = None,
    critical_days: float | None = None,
) -> CheckResult:
    limits = thresholds(None, warn_days, critical_days)
    return CheckResult(
        UNKNOWN, hostname, endpoint, limits.warn_days, limits.critical_days, (reason,), limits=limits
    )


def parse_url(url: str) -> tuple[str, int]:
    """``https://host[:port][/...]`` → (host, port); anything else is an ``InputError``."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url.strip())
        port = parts.port or 443
    except ValueError as exc:
        raise InputError("CHECK_URL_INVALID", f"{url!r} is not a usable URL: {exc}.", _URL_REMEDY) from None
    if parts.scheme.lower() != "https" or not parts.hostname:
        raise InputError("CHECK_URL_INVALID", f"{url!r} is not an https:// URL with a host.", _URL_REMEDY)
    return parts.hostname, port


_CHECKED_CODES = ("TARGET_INVALID", "HOSTNAME_INVALID", "PORT_INVALID")
_URL_REMEDY = (
    "Give the portal's address, e.g. --url https://octopus.example.com:443 --hostname octopus.example.com."
)


def check_endpoint(
    host: str,
    port: int,
    hostname: str,
    *,
    warn_days: int | None = None,
    critical_days: int | None = None,
    params: Parameters | None = None,
    timeout: float | Deadline = 10.0,
) -> CheckResult:
    """Handshake with ``host:port`` as ``hostname``; with ``params``, also compare with the target's binding."""
    endpoint = f"{host}:{port}"
    try:
        served = read_served(host, port, hostname, timeout=timeout)
    except (OSError, ValueError) as exc:
        reason = (
            f"cannot read a certificate from {endpoint}: {exc.code}: {exc.message}"
            if isinstance(exc, OctorunbookError)
            else f"cannot read a certificate from {endpoint}: {exc.strerror or exc}"
            if isinstance(exc, OSError)
            else f"{endpoint} served an unreadable certificate: {exc}"
        )
        return unknown(hostname, endpoint, reason, warn_days, critical_days)
    bound = None
    if params is not None:
        try:
            bound = read_bound(params)
        except OctorunbookError as exc:
            return unknown(
                hostname,
                endpoint,
                f"cannot read the binding on the target: {exc.code}: {exc.message}",
                warn_days,
                critical_days,
            )
    return judge(
        served,
        hostname,
        warn_days=warn_days,
        critical_days=critical_days,
        endpoint=endpoint,
        bound=bound,
        compare_bound=params is not None,
    )


def check_params(
    params: Parameters,
    *,
    warn_days: int | None = None,
    critical_days: int | None = None,
    timeout: float | Deadline = 10.0,
) -> CheckResult:
    """The check for the portal a parameter file describes: its loopback endpoint, its hostname, its binding."""
    for finding in params.check():
        if finding.severity == "error" and finding.code in _CHECKED_CODES:
            raise InputError(finding.code, finding.message, finding.remedy)
    port = params.https_port
    endpoint_host = "127.0.0.1"
    if params.target == "sandbox":
        from octorunbook.targets.sandbox import Sandbox

        sandbox = Sandbox(params.resolved_sandbox_dir())
        try:
            sandbox.require()
        except OctorunbookError as exc:
            return unknown(params.hostname, f"sandbox:{port}", exc.message, warn_days, critical_days)
        mapped = sandbox.meta().get("port_map", {}).get(str(port))
        if mapped is None:
            return unknown(
                params.hostname,
                f"sandbox:{port}",
                f"the sandbox has no listener for port {port} (no https prefix was ever added)",
                warn_days,
                critical_days,
            )
        port = int(mapped)
    return check_endpoint(
        endpoint_host,
        port,
        params.hostname,
        warn_days=warn_days,
        critical_days=critical_days,
        params=params,
        timeout=timeout,
    )
