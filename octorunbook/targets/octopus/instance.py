"""Octopus Server terminating TLS itself, behind HTTP.sys, as a ``protocols.OctopusInstance``: its
listen prefixes, ForceSSL and HSTS, changed by ``configure`` and a restart (``service --stop --start``)."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ...findings import Finding
from ..base import PortalConfig
from ..protocols import Action, ChangeLog, PortalIntent, SettingDiff
from . import OctopusServer, build_prefix
from .urlacl import UrlAcl, UrlAcls, needs_reservation, reservation_url


def _hsts(config: PortalConfig) -> str:
    return f"on, max-age={config.hsts_max_age}" if config.hsts_enabled else "off"


class OctopusServerInstance:
    """``OctopusInstance`` that terminates TLS itself (behind HTTP.sys): prefixes, ForceSSL, HSTS."""

    kind = "octopus-server"

    def __init__(self, octopus: OctopusServer, url_acls: UrlAcls | None = None) -> None:
        self.octopus = octopus
        self.name = octopus.instance
        self.url_acls = url_acls  # None: this host cannot say who the service runs as (not managed)

    def require(self) -> None:
        self.octopus.require_instance()

    def http_address(self, intent: PortalIntent, current: PortalConfig) -> tuple[str, int] | None:
        http = next((p for p in current.listen_prefixes if p.lower().startswith("http:")), None)
        if http is None:
            return None
        parts = urlsplit(http.replace("://+", "://wildcard").replace("://*", "://wildcard"))
        host = parts.hostname if parts.hostname not in (None, "wildcard") else intent.hostname
        return str(host), parts.port or 80

    def answers_on(self, state: PortalConfig) -> str | None:
        return state.listen_prefixes[0] if state.listen_prefixes else None

    def kept(self, intent: PortalIntent, current: PortalConfig) -> PortalIntent:
        """Behind HTTP.sys Octopus itself redirects, sends HSTS and listens on http: as configured now."""
        return replace(
            intent,
            force_ssl=current.force_ssl,
            hsts_max_age=current.hsts_max_age if current.hsts_enabled else 0,
            keep_http=any(p.lower().startswith("http:") for p in current.listen_prefixes),
        )

    def read(self, intent: PortalIntent) -> PortalConfig:
        config = self.octopus.show_configuration()
        if self.url_acls is None:
            return config
        account = self.url_acls.service_account(self.name)
        url = reservation_url(intent.https_port)
        if account and not needs_reservation(account):
            return config  # LocalSystem may listen on any URL
        acl = self.url_acls.show(url, account) if account else UrlAcl(url, False)
        return replace(config, url_acl=acl)

    def desired(self, intent: PortalIntent, current: PortalConfig) -> PortalConfig:
        desired = self._desired_portal(intent, current)
        acl = current.url_acl
        if acl is not None and acl.account and not acl.reserved:
            acl = replace(acl, reserved=True, user=acl.account)
        return replace(desired, url_acl=acl)

    def _desired_portal(self, intent: PortalIntent, current: PortalConfig) -> PortalConfig:
        https = build_prefix("https", intent.hostname, intent.https_port)
        prefixes = [
            p for p in current.listen_prefixes if intent.keep_http or not p.lower().startswith("http:")
        ]
        if not any(p.rstrip("/").lower() == https.rstrip("/").lower() for p in prefixes):
            prefixes.append(https)
        hsts = intent.hsts_max_age > 0
        return PortalConfig(
            tuple(prefixes), intent.force_ssl, hsts, intent.hsts_max_age if hsts else current.hsts_max_age
        )

    def diff(self, current: PortalConfig, desired: PortalConfig) -> list[SettingDiff]:
        return [
            SettingDiff(
                "listen prefixes", ",".join(current.listen_prefixes), ",".join(desired.listen_prefixes)
            ),
            SettingDiff("ForceSSL (redirect HTTP)", str(current.force_ssl), str(desired.force_ssl)),
            SettingDiff("HSTS", _hsts(current), _hsts(desired)),
        ] + (
            [SettingDiff(f"URL ACL {current.url_acl.url}", current.url_acl.shown(), desired.url_acl.shown())]
            if current.url_acl is not None and desired.url_acl is not None
            else []
        )

    def findings(self, current: PortalConfig, desired: PortalConfig) -> list[Finding]:
        return self._acl_findings(current) + self._weakened(current, desired)

    def _acl_findings(self, current: PortalConfig) -> list[Finding]:
        acl = current.url_acl
        if acl is None:
            return []
        if not acl.account:
            return [
                Finding(
                    "URLACL_ACCOUNT_UNKNOWN",
                    "warning",
                    f"The logon account of the Octopus service could not be read (sc qc): if it is not "
                    f"LocalSystem it needs a URL reservation for {acl.url}, which this run does not add.",
                    f'Check `sc qc "OctopusDeploy"`; for a custom account run `netsh http add urlacl '
                    f"url={acl.url} user=<account>` before the run.",
                )
            ]
        if acl.reserved and acl.user and acl.user.lower() != acl.account.lower():
            return [
                Finding(
                    "URLACL_OTHER_USER",
                    "warning",
                    f"{acl.url} is reserved for {acl.user}, but Octopus runs as {acl.account}: the reservation "
                    "is left as it is (it may serve another program) and the restart may be refused.",
                    f"If the reservation is Octopus's, replace it: `netsh http delete urlacl url={acl.url}` and "
                    f"`netsh http add urlacl url={acl.url} user={acl.account}`.",
                )
            ]
        return []

    def _weakened(self, current: PortalConfig, desired: PortalConfig) -> list[Finding]:
        weakened = [
            name
            for name, was, will in (
                ("ForceSSL", current.force_ssl, desired.force_ssl),
                ("HSTS", current.hsts_enabled, desired.hsts_enabled),
            )
            if was and not will
        ]
        if not weakened:
            return []
        return [
            Finding(
                "PLAN_WEAKENS_SECURITY",
                "warning",
                f"This run turns {' and '.join(weakened)} OFF (they are on now), because force_ssl / "
                "hsts_max_age are not set in the parameters.",
                "To keep them, run again with force_ssl: True and/or hsts_max_age set; dry_run: True shows the plan.",
            )
        ]

    def actions(self, current: PortalConfig, desired: PortalConfig) -> list[Action]:
        octo = self.octopus
        found = []
        acl = self._to_add(current, desired)
        if acl is not None and self.url_acls is not None:
            found.append(Action("reserve URL", tuple(self.url_acls.add_argv(acl.url, acl.account))))
        if current.portal() != desired.portal():
            found += [
                Action("configure", tuple(octo.configure_argv_for(desired))),
                Action("service restart", tuple(octo.restart_argv())),
            ]
        return found

    def apply(self, current: PortalConfig, desired: PortalConfig, log: ChangeLog) -> None:
        acl = self._to_add(current, desired)
        if acl is not None and self.url_acls is not None:  # before the restart that needs it
            self.url_acls.add(acl.url, acl.account)
            log.change("reserve URL", f"netsh http add urlacl url={acl.url} user={acl.account}")
        if current.portal() != desired.portal():
            self._configure(desired, log, "")

    def restore(self, previous: PortalConfig, log: ChangeLog) -> None:
        self._configure(previous, log, "rollback: ")
        acl = previous.url_acl
        if acl is not None and not acl.reserved and self.url_acls is not None:
            # only a reservation this run added: one that was there before is never touched
            if self.url_acls.show(acl.url, acl.account).reserved:
                self.url_acls.delete(acl.url)
                log.change("rollback: remove URL reservation", f"netsh http delete urlacl url={acl.url}")

    @staticmethod
    def _to_add(current: PortalConfig, desired: PortalConfig) -> UrlAcl | None:
        was, will = current.url_acl, desired.url_acl
        if will is not None and will.reserved and (was is None or not was.reserved) and will.account:
            return will
        return None

    def state_from_record(self, record: dict[str, Any]) -> PortalConfig:
        return PortalConfig(
            tuple(str(x) for x in record["listen_prefixes"]),
            bool(record["force_ssl"]),
            bool(record["hsts_enabled"]),
            int(record["hsts_max_age"]),
            UrlAcl.from_record(record.get("url_acl")),
        )

    def _configure(self, config: PortalConfig, log: ChangeLog, prefix: str) -> None:
        """Octopus's documented order: ``configure`` while the service runs (it writes what the service
        reads at start), then ``service --stop --start``, one command: the portal is down for the restart
        alone (``benchmarks/bench_unavailability.py``), and a run killed between two commands never leaves
        it stopped."""
        self.octopus.configure_to(config)
        log.change(
            prefix + "configure",
            f"prefixes {','.join(config.listen_prefixes)}; ForceSSL {config.force_ssl}; HSTS {_hsts(config)}",
        )
        self.octopus.restart()
        log.change(prefix + "service restart", f"instance {self.name} (service --stop --start)")


if TYPE_CHECKING:
    from ..protocols import OctopusInstance

    def _fits(instance: OctopusServerInstance) -> OctopusInstance[PortalConfig]:
        """mypy proves here that this instance satisfies the protocol (never called)."""
        return instance
