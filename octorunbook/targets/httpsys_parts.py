"""The HTTP.sys topology seen through ``protocols``: a LocalMachine store, the HTTP.sys binding as the
TLS front, and an Octopus Server that listens on its own https prefix.

Windows and the sandbox share these parts; what differs is underneath, in the drivers they wrap
(``Octopus.Server ssl-certificate``, ``netsh http show/delete sslcert``, ``configure``, ``service``
through the command seam), so the argv are those the drivers build. Runbook 03 drives them through
``bind.py`` exactly as it drives nginx.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

from .. import certificates
from ..findings import Finding, TargetError
from ..redaction import Secret
from . import base
from .base import OCTOPUS_APP_ID, PortalConfig
from .httpsys import HttpSys
from .octopus import OctopusServer, build_prefix
from .protocols import Action, ChangeLog, PortalIntent, Proof, SettingDiff, StoredCertificate, TargetParts


class StoreByName:
    """``CertificateStore`` over one named store of today's stores (``store`` passed on every call)."""

    def __init__(
        self,
        store: base.CertificateStore,
        name: str,
        *,
        pfx_encryption: Literal["compatible", "aes"] = "compatible",
    ) -> None:
        self.store = store
        self.name = name
        self.kind = type(store).__name__
        self.pfx_encryption = pfx_encryption

    def exists(self) -> bool:
        return self.store.store_exists(self.name)

    def add(
        self, certificate: certificates.LoadedCertificate, *, exportable: bool = False
    ) -> StoredCertificate:
        """A one-time PFX (0600, random password, in a private folder) imported, then deleted."""
        one_time = Secret(secrets.token_urlsafe(24))
        workdir = Path(tempfile.mkdtemp(prefix="octorunbook-"))
        try:
            pfx = workdir / "import.pfx"
            fd = os.open(pfx, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(certificates.export_pfx(certificate, one_time, self.pfx_encryption))
            return self.store.import_pfx(pfx, one_time, self.name, exportable=exportable)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def get(self, thumbprint: str) -> StoredCertificate | None:
        return self.store.get_certificate(thumbprint, self.name)

    def certificates(self) -> list[StoredCertificate]:
        return self.store.list_certificates(self.name)

    def certificate_pem(self, thumbprint: str) -> bytes | None:
        return self.store.certificate_pem(thumbprint, self.name)

    def prove(self, thumbprint: str) -> list[Proof]:
        key = self.store.test_private_key(thumbprint, self.name)
        return [
            Proof(
                "private key opens and signs",
                "a signature made and verified",
                f"{key.algorithm} ({key.provider}) {key.detail}".strip(),
                key.usable,
                "KEY_NOT_ACCESSIBLE",
            )
        ]

    def remove(self, thumbprint: str) -> None:
        self.store.remove_certificate(thumbprint, self.name)


@dataclass(frozen=True)
class HttpSysBinding:
    """The HTTP.sys ``sslcert`` record on one endpoint (``thumbprint`` empty: no binding)."""

    endpoint: str
    thumbprint: str = ""
    store: str = field(default="", compare=False)  # Windows store names ignore case: store_key compares
    store_key: str = ""
    application_id: str = ""

    def to_record(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "thumbprint": self.thumbprint,
            "store": self.store,
            "application_id": self.application_id,
        }

    @property
    def port(self) -> int:
        return int(self.endpoint.rsplit(":", 1)[1])

    def text(self) -> str:
        return f"{self.thumbprint} ({self.store})" if self.thumbprint else "none"


def _binding(endpoint: str, thumbprint: str, store: str, application_id: str) -> HttpSysBinding:
    """Compared as Windows compares them: thumbprint, store name and application id ignore case."""
    return HttpSysBinding(endpoint, thumbprint.upper(), store, store.lower(), application_id.strip().upper())


class HttpSysFront:
    """``TlsFront``: the HTTP.sys binding, made by ``Octopus.Server ssl-certificate``."""

    kind = "httpsys"

    def __init__(self, httpsys: HttpSys, octopus: OctopusServer, ip_address: str = "0.0.0.0") -> None:
        self.httpsys = httpsys
        self.octopus = octopus
        self.ip_address = ip_address

    def read(self, intent: PortalIntent) -> HttpSysBinding:
        endpoint = f"{self.ip_address}:{intent.https_port}"
        found = self.httpsys.show(intent.https_port, self.ip_address)
        if found is None:
            return HttpSysBinding(endpoint)
        return _binding(endpoint, found.certificate_hash, found.store_name, found.application_id)

    def desired(self, intent: PortalIntent, current: HttpSysBinding) -> HttpSysBinding:
        if current.thumbprint and current.application_id.strip().upper() != OCTOPUS_APP_ID:
            raise TargetError(
                "PORT_IN_USE",
                f"Port {current.port} is bound in HTTP.sys to another application (appid "
                f"{current.application_id}, certificate {current.thumbprint}).",
                "Binding Octopus would replace that application's HTTPS (IIS uses "
                "{4dc3e181-e14b-4a21-b022-59fc669b0914}). Choose another https_port, or remove that binding first.",
                details={"holder": current.to_record()},
            )
        certificate = intent.certificate
        return _binding(current.endpoint, certificate.thumbprint, certificate.store, OCTOPUS_APP_ID)

    def diff(self, current: HttpSysBinding, desired: HttpSysBinding) -> list[SettingDiff]:
        return [SettingDiff(f"HTTP.sys binding {current.endpoint}", current.text(), desired.text())]

    def findings(self, current: HttpSysBinding, desired: HttpSysBinding) -> list[Finding]:
        return []

    def _bind_argv(self, state: HttpSysBinding) -> list[str]:
        return self.octopus.ssl_certificate_argv(
            state.thumbprint, state.store, ip_address=self.ip_address, port=state.port
        )

    def actions(self, current: HttpSysBinding, desired: HttpSysBinding) -> list[Action]:
        return (
            []
            if current == desired
            else [Action("bind certificate (HTTP.sys)", tuple(self._bind_argv(desired)))]
        )

    def apply(self, current: HttpSysBinding, desired: HttpSysBinding, log: ChangeLog) -> None:
        if current == desired:
            return
        self.octopus.ssl_certificate(
            desired.thumbprint, desired.store, ip_address=self.ip_address, port=desired.port
        )
        log.change("bind certificate", f"{desired.endpoint}: {current.text()} → {desired.text()}")

    def restore(self, previous: HttpSysBinding, log: ChangeLog) -> None:
        if previous.thumbprint:
            self.octopus.ssl_certificate(
                previous.thumbprint, previous.store, ip_address=self.ip_address, port=previous.port
            )
            log.change("rollback: restore binding", f"{previous.endpoint}: {previous.text()}")
        else:
            self.httpsys.delete(previous.port, self.ip_address)
            log.change("rollback: remove binding", previous.endpoint)

    def prove_can_serve(self, certificate: StoredCertificate) -> list[Proof]:
        """HTTP.sys says whether it can use a key only when binding; the store's key test is the proof."""
        return []

    def serves(self, state: HttpSysBinding) -> str:
        return state.thumbprint

    def state_from_record(self, record: dict[str, Any]) -> HttpSysBinding:
        return _binding(
            str(record["endpoint"]),
            str(record.get("thumbprint", "")),
            str(record.get("store", "")),
            str(record.get("application_id", "")),
        )


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

    def http_port(self, intent: PortalIntent, current: PortalConfig) -> int | None:
        http = next((p for p in current.listen_prefixes if p.lower().startswith("http:")), None)
        return None if http is None else urlsplit(http).port or 80

    def answers_on(self, state: PortalConfig) -> str | None:
        return state.listen_prefixes[0] if state.listen_prefixes else None

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
            Action("service stop", tuple(octo.service_argv("stop"))),
            Action("service start", tuple(octo.service_argv("start"))),
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
        reads at start), then ``service --stop``, ``--start``: the portal is down for the restart alone
        (``benchmarks/bench_unavailability.py``)."""
        self.octopus.configure_to(config)
        log.change(
            prefix + "configure",
            f"prefixes {','.join(config.listen_prefixes)}; ForceSSL {config.force_ssl}; HSTS {_hsts(config)}",
        )
        self.octopus.service("stop")
        log.change(prefix + "service stop", f"instance {self.name}")
        self.octopus.service("start")
        log.change(prefix + "service start", f"instance {self.name}")


def httpsys_parts(target: base.Target, store: str) -> TargetParts:
    """The parts of an HTTP.sys target (Windows or the sandbox) with ``store`` (``My``, ``WebHosting``);
    a target that carries its own parts (nginx) keeps them."""
    if target.parts is not None:
        return target.parts
    return TargetParts(
        StoreByName(target.store, store),
        HttpSysFront(target.httpsys, target.octopus),
        OctopusServerInstance(target.octopus),
    )


if TYPE_CHECKING:
    from .protocols import CertificateStore, OctopusInstance, TlsFront

    def _fits(
        store: StoreByName, front: HttpSysFront, instance: OctopusServerInstance
    ) -> tuple[CertificateStore, TlsFront[HttpSysBinding], OctopusInstance[PortalConfig]]:
        """mypy proves here that today's drivers, adapted, satisfy the protocols (never called)."""
        return store, front, instance
