"""``OctopusInstance`` behind a TLS-offloading proxy (nginx): Octopus keeps serving plain HTTP.

Behind nginx, Octopus does not listen on https, redirect or send HSTS — the front does. What Octopus
needs is to believe the proxy: since 3.5.2 it builds its links from ``X-Forwarded-Proto`` and
``X-Forwarded-Host``, but only for requests that come from a *trusted proxy*
(``Octopus.Server configure --trustedProxies``). So this part reads the trusted proxies, wants the
proxy's address among them, and — only when it is missing — adds it (configure, then ``service
--stop --start``: Octopus reads its configuration at start). The listen prefixes are recorded, never
changed: they are the upstream nginx proxies to.

Octopus in a container is often configured by its environment, with no ``Octopus.Server`` on the host
running the runbook: then ``server_exe`` is empty, nothing is read or set, and the plan says so
(``TRUSTED_PROXIES_NOT_CHECKED``).
"""

from __future__ import annotations

import contextlib
import ipaddress
import socket
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ...findings import Finding
from ..protocols import Action, ChangeLog, PortalIntent, SettingDiff
from . import OctopusServer, parse_show_configuration, parse_trusted_proxies


@dataclass(frozen=True)
class ProxiedOctopusState:
    """What this part reads and sets: the trusted proxies (the listen prefixes are recorded only)."""

    trusted_proxies: tuple[str, ...]
    listen_prefixes: tuple[str, ...] = ()
    managed: bool = True  # False: no Octopus.Server to ask (a container configured by its environment)

    def to_record(self) -> dict[str, Any]:
        return {
            "trusted_proxies": list(self.trusted_proxies),
            "listen_prefixes": list(self.listen_prefixes),
            "managed": self.managed,
        }


def proxy_address(upstream: str) -> str:
    """The address Octopus sees the proxy's connections come from: the local address this host uses
    to reach the upstream (a UDP ``connect`` sends nothing; it only picks the route)."""
    host = urlsplit(upstream).hostname or "127.0.0.1"
    with contextlib.suppress(ValueError):
        if ipaddress.ip_address(host).is_loopback:
            return "127.0.0.1" if ":" not in host else "::1"
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.connect((host, urlsplit(upstream).port or 80))
            return str(sock.getsockname()[0])
    except OSError:
        return "127.0.0.1"


class ProxiedOctopusInstance:
    """``OctopusInstance`` for Octopus serving plain HTTP behind a TLS-offloading proxy."""

    kind = "octopus-behind-proxy"

    def __init__(self, octopus: OctopusServer | None, name: str, upstream: str) -> None:
        self.octopus = octopus
        self.name = name
        self.upstream = upstream
        self.proxy = proxy_address(upstream)

    def require(self) -> None:
        if self.octopus is not None:
            self.octopus.require_instance()

    def http_address(self, intent: PortalIntent, current: ProxiedOctopusState) -> tuple[str, int] | None:
        return intent.hostname, intent.http_port  # the front's HTTP server (redirect or plain proxy)

    def answers_on(self, state: ProxiedOctopusState) -> str | None:
        return None  # reached through the front only: the front's restore proof covers it

    def kept(self, intent: PortalIntent, current: ProxiedOctopusState) -> PortalIntent:
        """Behind a proxy the front redirects and sends HSTS; Octopus decides none of the intent."""
        return intent

    def read(self, intent: PortalIntent) -> ProxiedOctopusState:
        if self.octopus is None:
            return ProxiedOctopusState((), managed=False)
        text = self.octopus.show_configuration_text()
        return ProxiedOctopusState(
            parse_trusted_proxies(text), parse_show_configuration(text).listen_prefixes
        )

    def desired(self, intent: PortalIntent, current: ProxiedOctopusState) -> ProxiedOctopusState:
        if not current.managed or self.proxy in current.trusted_proxies:
            return current
        return ProxiedOctopusState(
            (*current.trusted_proxies, self.proxy), current.listen_prefixes, current.managed
        )

    def diff(self, current: ProxiedOctopusState, desired: ProxiedOctopusState) -> list[SettingDiff]:
        if not current.managed:
            return [SettingDiff("Octopus trusted proxies", "not read (no server_exe)", "not changed")]
        return [
            SettingDiff(
                "Octopus trusted proxies",
                ",".join(current.trusted_proxies) or "none",
                ",".join(desired.trusted_proxies) or "none",
            ),
            SettingDiff(
                "Octopus listen prefixes (plain HTTP, proxied)",
                ",".join(current.listen_prefixes),
                ",".join(desired.listen_prefixes),
            ),
        ]

    def findings(self, current: ProxiedOctopusState, desired: ProxiedOctopusState) -> list[Finding]:
        found = []
        if not current.managed:
            found.append(
                Finding(
                    "TRUSTED_PROXIES_NOT_CHECKED",
                    "info",
                    f"No server_exe: whether Octopus trusts the proxy at {self.proxy} was not read or set.",
                    "Make sure Octopus trusts the proxy (Octopus.Server configure --trustedProxies "
                    f"{self.proxy}, or the container's configuration), or set server_exe.",
                )
            )
        if any(p.lower().startswith("https:") for p in current.listen_prefixes):
            found.append(
                Finding(
                    "OCTOPUS_LISTENS_ON_HTTPS",
                    "warning",
                    "Octopus itself listens on an https prefix; behind nginx it is reached over plain HTTP.",
                    f"Check that octopus_upstream ({self.upstream}) names its plain-HTTP listener.",
                )
            )
        return found

    def _configure_argv(self, state: ProxiedOctopusState) -> list[str]:
        assert self.octopus is not None
        return self.octopus.configure_argv(trusted_proxies=state.trusted_proxies)

    def actions(self, current: ProxiedOctopusState, desired: ProxiedOctopusState) -> list[Action]:
        if current == desired or self.octopus is None:
            return []
        return [
            Action("configure trusted proxies", tuple(self._configure_argv(desired))),
            Action("service restart", tuple(self.octopus.restart_argv())),
        ]

    def apply(self, current: ProxiedOctopusState, desired: ProxiedOctopusState, log: ChangeLog) -> None:
        if current != desired:
            self._configure(desired, log, "")

    def restore(self, previous: ProxiedOctopusState, log: ChangeLog) -> None:
        if previous.managed and self.octopus is not None:
            self._configure(previous, log, "rollback: ")

    def _configure(self, state: ProxiedOctopusState, log: ChangeLog, prefix: str) -> None:
        assert self.octopus is not None
        self.octopus.configure(trusted_proxies=state.trusted_proxies)
        log.change(prefix + "configure", f"trusted proxies {','.join(state.trusted_proxies) or 'none'}")
        self.octopus.restart()  # one command: a killed run never leaves the service stopped
        log.change(prefix + "service restart", f"instance {self.name} (service --stop --start)")

    def state_from_record(self, record: dict[str, Any]) -> ProxiedOctopusState:
        return ProxiedOctopusState(
            tuple(str(x) for x in record.get("trusted_proxies", [])),
            tuple(str(x) for x in record.get("listen_prefixes", [])),
            bool(record.get("managed", True)),
        )


if TYPE_CHECKING:
    from ..protocols import OctopusInstance

    def _fits(instance: ProxiedOctopusInstance) -> OctopusInstance[ProxiedOctopusState]:
        """mypy proves here that this part satisfies the protocol (never called)."""
        return instance
