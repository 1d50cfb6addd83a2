"""What a target host is: its parts (``targets.protocols``: the certificate store, the TLS front, the
Octopus instance) and its host facts — where to connect, the Windows build, its state home and its small
memory. The drivers (``Octopus.Server``, ``netsh``, PowerShell) live inside the parts that use them;
nothing reaches around a part to its driver.

Three kinds (``TargetKind``):

* ``windows`` — the LocalMachine store through PowerShell scripts, ``Octopus.Server.exe``, ``netsh http``;
* ``sandbox`` — a folder-backed LocalMachine store, a stand-in ``Octopus.Server`` and ``netsh`` that
  speak the documented syntax and output, and a portal process with a real TLS listener on loopback;
* ``nginx`` — a PEM-directory store and nginx in front of Octopus's plain HTTP.

The Octopus and HTTP.sys drivers (``octopus.py``, ``httpsys.py``) are the same code for Windows and the
sandbox, so a rehearsal on the sandbox exercises exactly what will run on the server. The certificate
store exists once, as ``Target.parts.store`` (the LocalMachine semantics are ``localmachine.py``).

Arrows: this module imports the drivers, never the reverse. Each driver owns the value it parses
(``SslBinding`` and ``OCTOPUS_APP_ID`` in ``httpsys``, ``PortalConfig`` in ``octopus``) and
``StoredCertificate`` is the one in ``protocols``; they are re-exported here for existing callers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ..findings import OctorunbookError
from .httpsys import OCTOPUS_APP_ID as OCTOPUS_APP_ID
from .httpsys import SslBinding as SslBinding
from .octopus import PortalConfig as PortalConfig
from .protocols import StoredCertificate as StoredCertificate
from .state import FolderGuard, StateHome, normalised_instance, slug

if TYPE_CHECKING:
    from ..commands import CommandRunner
    from .protocols import TargetParts

TargetKind = Literal["sandbox", "windows", "nginx"]
STORES = ("My", "WebHosting")


@dataclass(frozen=True)
class KeyCheck:
    """Proof that the private key can be opened and used: a signature made and verified (what a
    ``localmachine.LocalMachineDriver`` reports; the store turns it into a ``Proof``)."""

    usable: bool
    algorithm: str
    provider: str
    detail: str = ""


@dataclass(frozen=True)
class HostInfo:
    """Facts about the host that decide how we act (PFX encryption, elevation)."""

    os: str
    windows_build: int | None
    elevated: bool
    computer_name: str

    def to_record(self) -> dict[str, Any]:
        return asdict(self)


def memory_name(key: str, instance: str) -> str:
    """The state file that remembers ``key`` (e.g. ``last-import``) for ``instance``."""
    return f"memory-{slug(key + ' ' + normalised_instance(instance))}.json"


@dataclass
class Target:
    """A host we act on: its parts (store, TLS front, Octopus instance), its Octopus and HTTP.sys drivers."""

    kind: TargetKind
    host: str
    instance: str
    runner: CommandRunner
    state_dir: Path
    # What a runbook drives: the store, the TLS front and the Octopus instance (``targets.protocols``);
    # the certificate store is ``parts.store`` and nowhere else.
    parts: TargetParts
    connect_host: str = "127.0.0.1"
    port_mapper: Callable[[int], int] | None = None

    @property
    def front_kind(self) -> str:
        return self.parts.front.kind

    def endpoint(self, port: int) -> tuple[str, int]:
        """Where to connect to reach ``port`` on this host (the sandbox maps privileged ports).

        We connect to loopback and send the portal hostname as SNI and Host header: that checks this
        server's own HTTP.sys binding, not whatever a DNS name or a load balancer points at.
        """
        return (self.connect_host, self.port_mapper(port) if self.port_mapper else port)

    host_probe: Callable[[], HostInfo] | None = None

    def host_info(self) -> HostInfo:
        if self.host_probe is None:
            import platform

            return HostInfo(platform.platform(), None, True, self.host)
        return self.host_probe()

    # How the state home is made private where a mode is not enough (a Windows DACL); None: POSIX rules.
    state_guard: FolderGuard | None = None
    _home: StateHome | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def id(self) -> str:
        """The name every state file of this target carries: kind and normalised instance."""
        return f"{self.kind}/{normalised_instance(self.instance)}"

    def state(self) -> StateHome:
        """The protected state home (checked once per run: ``STATE_DIR_UNSAFE`` before any read)."""
        if self._home is None:
            self._home = StateHome.open(self.state_dir, self.id, self.state_guard)
        return self._home

    def memory_name(self, key: str) -> str:
        return memory_name(key, self.instance)

    # Small persistent memory per target: the certificate most recently imported by runbook 01.
    def remember(self, key: str, value: dict[str, Any]) -> None:
        self.state().write(self.memory_name(key), "memory", {"key": key, "value": value})

    def recall(self, key: str) -> dict[str, Any] | None:
        """What was remembered under ``key``, if this target's home holds it authenticated; an untrusted
        file is quarantined (and reported by the next run that changes the target) and forgotten here."""
        try:
            body = self.state().read(self.memory_name(key), "memory")
        except OctorunbookError:
            return None
        if body is None or body.get("key") != key or not isinstance(body.get("value"), dict):
            return None
        value: dict[str, Any] = body["value"]
        return value
