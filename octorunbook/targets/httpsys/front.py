"""The HTTP.sys binding as a ``protocols.TlsFront``: the ``sslcert`` record on one endpoint, made by
``Octopus.Server ssl-certificate`` and removed by ``netsh http delete sslcert`` (Windows, and the
sandbox's stand-in through the same command seam)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ...findings import Finding, TargetError
from ..octopus import OctopusServer
from ..protocols import Action, ChangeLog, PortalIntent, Proof, SettingDiff, StoredCertificate
from . import OCTOPUS_APP_ID, HttpSys


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

    def serves_at(self, state: HttpSysBinding) -> int | None:
        return state.port if state.thumbprint else None

    def state_from_record(self, record: dict[str, Any]) -> HttpSysBinding:
        return _binding(
            str(record["endpoint"]),
            str(record.get("thumbprint", "")),
            str(record.get("store", "")),
            str(record.get("application_id", "")),
        )


if TYPE_CHECKING:
    from ..protocols import TlsFront

    def _fits(front: HttpSysFront) -> TlsFront[HttpSysBinding]:
        """mypy proves here that this front satisfies the protocol (never called)."""
        return front
