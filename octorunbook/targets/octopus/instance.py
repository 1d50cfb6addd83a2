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


def _hsts(config: PortalConfig) -> str:
    return f"on, max-age={config.hsts_max_age}" if config.hsts_enabled else "off"


class OctopusServerInstance:
    """``OctopusInstance`` that terminates TLS itself (behind HTTP.sys): prefixes, ForceSSL, HSTS."""

    kind = "octopus-server"

    def __init__(self, octopus: OctopusServer) -> None:
        self.octopus = octopus
        self.name = octopus.instance

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
        return self.octopus.show_configuration()

    def desired(self, intent: PortalIntent, current: PortalConfig) -> PortalConfig:
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
        ]

    def findings(self, current: PortalConfig, desired: PortalConfig) -> list[Finding]:
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
        if current == desired:
            return []
        octo = self.octopus
        return [
            Action("configure", tuple(octo.configure_argv_for(desired))),
            Action("service restart", tuple(octo.restart_argv())),
        ]

    def apply(self, current: PortalConfig, desired: PortalConfig, log: ChangeLog) -> None:
        if current != desired:
            self._configure(desired, log, "")

    def restore(self, previous: PortalConfig, log: ChangeLog) -> None:
        self._configure(previous, log, "rollback: ")

    def state_from_record(self, record: dict[str, Any]) -> PortalConfig:
        return PortalConfig(
            tuple(str(x) for x in record["listen_prefixes"]),
            bool(record["force_ssl"]),
            bool(record["hsts_enabled"]),
            int(record["hsts_max_age"]),
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
