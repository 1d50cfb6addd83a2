"""The HTTP.sys binding as a ``protocols.TlsFront``: the ``sslcert`` record on one endpoint, made by
``Octopus.Server ssl-certificate`` and removed by ``netsh http delete sslcert`` (Windows, and the
sandbox's stand-in through the same command seam).

The binding's state includes its non-default per-binding settings (``disablelegacytls``,
``dsmapperusage`` …), because Octopus's ``ssl-certificate`` rebinds with defaults and silently drops
them. A change that keeps the endpoint and the application swaps in place — ``netsh http update
sslcert`` with every setting carried (delete and re-add with them on builds without ``update``) — and a
restore puts the settings back the same way: what the operator set on the binding survives 03, 04, 05
and their rollbacks."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from ...findings import Finding, TargetError
from ..octopus import OctopusServer
from ..protocols import Action, ChangeLog, PortalIntent, Proof, SettingDiff, StoredCertificate
from . import OCTOPUS_APP_ID, SSLCERT_SETTINGS, HttpSys, SslBinding, settings_unknown, sslcert_argv

# netsh http update sslcert does not exist on Server 2012 R2 (build 9600) and older.
UPDATE_SSLCERT_MIN_BUILD = 9601
_PARAMETERS = {parameter for _, parameter, _ in SSLCERT_SETTINGS}
_SETTING_VALUE = re.compile(r"^(enable|disable|[0-9]{1,10}|[A-Za-z0-9 ._{}-]{1,128})$")
_THUMBPRINT = re.compile(r"^([0-9A-F]{40})?$")
_ENDPOINT = re.compile(r"^[0-9.]{7,15}:[0-9]{1,5}$")
_STORE = re.compile(r"^(|My|WebHosting)$", re.IGNORECASE)
_APP_ID = re.compile(r"^(|\{?[0-9A-Fa-f]{8}(-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}\}?)$")


@dataclass(frozen=True)
class HttpSysBinding:
    """The HTTP.sys ``sslcert`` record on one endpoint (``thumbprint`` empty: no binding)."""

    endpoint: str
    thumbprint: str = ""
    store: str = field(default="", compare=False)  # Windows store names ignore case: store_key compares
    store_key: str = ""
    application_id: str = ""
    settings: tuple[tuple[str, str], ...] = ()  # non-default per-binding settings, as add/update parameters
    # settings neither netsh's labels nor the registry explain (raw values): a swap is refused while any
    unknown: tuple[tuple[str, str], ...] = field(default=(), compare=False)

    def to_record(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "thumbprint": self.thumbprint,
            "store": self.store,
            "application_id": self.application_id,
            "settings": dict(self.settings),
        } | ({"unknown_settings": dict(self.unknown)} if self.unknown else {})

    @property
    def carried(self) -> dict[str, str]:
        return dict(self.settings)

    @property
    def port(self) -> int:
        return int(self.endpoint.rsplit(":", 1)[1])

    def text(self) -> str:
        return f"{self.thumbprint} ({self.store})" if self.thumbprint else "none"


def _binding(
    endpoint: str, thumbprint: str, store: str, application_id: str, settings: dict[str, str] | None = None
) -> HttpSysBinding:
    """Compared as Windows compares them: thumbprint, store name and application id ignore case."""
    carried = tuple(sorted((settings or {}).items()))
    return HttpSysBinding(
        endpoint, thumbprint.upper(), store, store.lower(), application_id.strip().upper(), carried
    )


class HttpSysFront:
    """``TlsFront``: the HTTP.sys binding, made by ``Octopus.Server ssl-certificate``."""

    kind = "httpsys"

    def __init__(
        self,
        httpsys: HttpSys,
        octopus: OctopusServer,
        ip_address: str = "0.0.0.0",
        windows_build: Callable[[], int | None] | None = None,
    ) -> None:
        self.httpsys = httpsys
        self.octopus = octopus
        self.ip_address = ip_address
        self.windows_build = windows_build or (lambda: None)

    def read(self, intent: PortalIntent) -> HttpSysBinding:
        endpoint = f"{self.ip_address}:{intent.https_port}"
        found = self.httpsys.show(intent.https_port, self.ip_address)
        if found is None:
            return HttpSysBinding(endpoint)
        settings, unknown = self.httpsys.settings_of(found)
        state = _binding(endpoint, found.certificate_hash, found.store_name, found.application_id, settings)
        return replace(state, unknown=tuple(sorted(unknown.items())))

    def _require_known(self, state: HttpSysBinding) -> None:
        """``BINDING_SETTINGS_UNKNOWN`` before any change: a rebind would drop what was not understood."""
        if state.unknown:
            binding = SslBinding(state.endpoint, state.thumbprint, state.application_id, state.store)
            raise settings_unknown(binding, dict(state.unknown), "before the change")

    def require_supported(self, current: HttpSysBinding, carried: dict[str, str]) -> None:
        """``BINDING_SETTING_UNSUPPORTED`` before any change: a setting this host's netsh does not list in
        ``add sslcert help`` — or in ``update sslcert help`` when the re-bind updates in place — would be
        refused (or, worse, accepted and dropped). Dropping it silently would weaken the binding, so the
        operator decides. A help that cannot be read proves nothing either way: the read-back after the
        change (``BINDING_NOT_AS_ASKED``) still holds."""
        if not carried:
            return
        verbs = ["add"]
        if current.thumbprint and not self._lacks_update():
            verbs.append("update")
        for verb in verbs:
            known = self.httpsys.sslcert_parameters(verb)
            missing = sorted(k for k in carried if known is not None and k.lower() not in known)
            if missing:
                raise TargetError(
                    "BINDING_SETTING_UNSUPPORTED",
                    f"The binding on {current.endpoint} has {', '.join(missing)}, which `netsh http {verb} "
                    "sslcert help` on this host does not list: re-binding would lose it. Nothing was changed.",
                    f"Compare `netsh http show sslcert` with `netsh http {verb} sslcert help` (an update may be "
                    "missing: Server 2019 needs KB4490481 for disablelegacytls). Install it, or remove the "
                    "setting from the binding yourself if you accept losing it, and run again.",
                    details={"unsupported": missing, "carried": carried, "help": f"{verb} sslcert"},
                )

    def netsh_lists(self, parameter: str) -> bool | None:
        """Whether ``netsh http add sslcert help`` on this host lists ``parameter`` (names are syntax, the same
        in every display language). None: the help could not be read."""
        known = self.httpsys.add_parameters()
        return None if known is None else parameter.lower() in known

    def _lacks_update(self) -> bool:
        build = self.windows_build()
        return build is not None and build < UPDATE_SSLCERT_MIN_BUILD

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
        self._require_known(current)
        certificate = intent.certificate
        carried = current.carried if current.thumbprint else {}  # what the operator set on the binding stays
        self.require_supported(current, carried)
        return _binding(current.endpoint, certificate.thumbprint, certificate.store, OCTOPUS_APP_ID, carried)

    def diff(self, current: HttpSysBinding, desired: HttpSysBinding) -> list[SettingDiff]:
        """The binding, then each non-default per-binding setting on either side (carried: the same)."""
        keys = sorted(set(current.carried) | set(desired.carried))
        return [SettingDiff(f"HTTP.sys binding {current.endpoint}", current.text(), desired.text())] + [
            SettingDiff(
                f"  setting {k}", current.carried.get(k, "default"), desired.carried.get(k, "default")
            )
            for k in keys
        ]

    def findings(self, current: HttpSysBinding, desired: HttpSysBinding) -> list[Finding]:
        return []

    def method(self, current: HttpSysBinding, desired: HttpSysBinding) -> str:
        """How ``desired`` is put on the endpoint: Octopus's own command when no setting needs keeping;
        ``netsh-update`` (in place, settings carried) when some do; ``netsh-delete-add`` on builds
        without ``update sslcert``; ``netsh-add`` when there is no binding to update."""
        if not desired.settings:
            return "octopus"
        if not current.thumbprint:
            return "netsh-add"
        return "netsh-delete-add" if self._lacks_update() else "netsh-update"

    def explain(self, current: HttpSysBinding, desired: HttpSysBinding) -> dict[str, Any]:
        """The method ``argv`` uses and why, with the settings it carries (the plan's title, the record)."""
        method = self.method(current, desired)
        kept = ", ".join(sorted(desired.carried))
        why = {
            "octopus": "only default per-binding settings: Octopus's own documented command rebinds the port "
            "(no restart; listen prefixes unchanged)",
            "netsh-update": f"non-default settings to keep ({kept}): `Octopus.Server ssl-certificate` would drop "
            "them, `netsh http update sslcert` replaces the hash and keeps them",
            "netsh-delete-add": f"non-default settings to keep ({kept}) and Windows build {self.windows_build()} "
            "has no `netsh http update sslcert`: delete and re-add with every setting (a gap of milliseconds)",
            "netsh-add": f"no binding on {desired.endpoint} yet: add it with every setting ({kept})",
        }[method]
        return {"method": method, "why": why, "carried_settings": desired.carried}

    def prints_legacy_tls_flag(self, port: int) -> bool | None:
        """Whether this host's ``netsh http show sslcert`` prints *Disable Legacy TLS Versions* for the binding on
        ``port`` — the flag exists here (Server 2019 needs KB4490481 as well as the build). None: the labels
        are in another language, so netsh cannot say (the caller falls back to the build number)."""
        found = self.httpsys.show(port, self.ip_address)
        if found is None:
            return False
        labels = {label.strip().lower() for label in found.fields}
        if "disable legacy tls versions" in labels:
            return True
        return None if "certificate hash" not in labels else False

    def users(self, thumbprint: str) -> list[str]:
        """Every ``sslcert`` record (IP, ``[::]`` and hostname ones, any port) that binds ``thumbprint``."""
        wanted = thumbprint.upper()
        return [b.ip_port for b in self.httpsys.show_all() if b.certificate_hash.upper() == wanted]

    def argv(self, current: HttpSysBinding, desired: HttpSysBinding) -> list[list[str]]:
        """The exact commands that take the endpoint from ``current`` to ``desired``."""
        if not desired.thumbprint:
            return [[self.httpsys.exe, "http", "delete", "sslcert", f"ipport={desired.endpoint}"]]
        method = self.method(current, desired)
        if method == "octopus":
            return [
                self.octopus.ssl_certificate_argv(
                    desired.thumbprint, desired.store, ip_address=self.ip_address, port=desired.port
                )
            ]
        args = (desired.endpoint, desired.thumbprint, OCTOPUS_APP_ID, desired.store, desired.carried)
        if method == "netsh-update":
            return [sslcert_argv(self.httpsys.exe, "update", *args)]
        delete = [[self.httpsys.exe, "http", "delete", "sslcert", f"ipport={desired.endpoint}"]]
        return (delete if current.thumbprint else []) + [sslcert_argv(self.httpsys.exe, "add", *args)]

    def actions(self, current: HttpSysBinding, desired: HttpSysBinding) -> list[Action]:
        if current == desired:
            return []
        return [Action("bind certificate (HTTP.sys)", tuple(argv)) for argv in self.argv(current, desired)]

    def _put(self, current: HttpSysBinding, desired: HttpSysBinding) -> None:
        method = self.method(current, desired)
        if method == "octopus":
            self.octopus.ssl_certificate(
                desired.thumbprint, desired.store, ip_address=self.ip_address, port=desired.port
            )
            self._read_back(desired)
            return
        args = (desired.endpoint, desired.thumbprint, OCTOPUS_APP_ID, desired.store, desired.carried)
        if method == "netsh-update":
            self.httpsys.set_binding("update", *args)
            return
        if current.thumbprint:
            self.httpsys.delete(current.port, self.ip_address)
        self.httpsys.set_binding("add", *args)

    def _read_back(self, desired: HttpSysBinding) -> None:
        """``Octopus.Server.exe ssl-certificate`` says nothing netsh would: the binding is read back."""
        found = self.read(PortalIntent.location("localhost", desired.port))
        seen = (found.thumbprint.upper(), (found.store or "MY").lower())
        if seen != (desired.thumbprint.upper(), (desired.store or "MY").lower()):
            raise TargetError(
                "BINDING_NOT_AS_ASKED",
                f"Octopus.Server.exe ssl-certificate reported success, but {desired.endpoint} binds "
                f"{found.thumbprint or 'nothing'} ({found.store or '-'}), not {desired.thumbprint} ({desired.store}).",
                f"Run `netsh http show sslcert ipport={desired.endpoint}`; bind by hand if needed and run again.",
                details={"asked": desired.to_record(), "seen": found.to_record()},
            )

    def apply(self, current: HttpSysBinding, desired: HttpSysBinding, log: ChangeLog) -> None:
        if current == desired:
            return
        self._put(current, desired)
        log.change("bind certificate", f"{desired.endpoint}: {current.text()} → {desired.text()}")

    def restore(self, previous: HttpSysBinding, log: ChangeLog) -> None:
        """Put ``previous`` back, its per-binding settings included (read what is there now first)."""
        if previous.thumbprint:
            now = self.read(PortalIntent.location("localhost", previous.port))
            self._put(now, previous)
            log.change("rollback: restore binding", f"{previous.endpoint}: {previous.text()}")
        else:
            self.httpsys.delete(previous.port, self.ip_address)
            log.change("rollback: remove binding", previous.endpoint)

    def with_settings(self, state: HttpSysBinding, settings: dict[str, str]) -> HttpSysBinding:
        """``state`` with per-binding ``settings`` (05 turns legacy TLS off this way, in place)."""
        self._require_known(state)
        return replace(state, settings=tuple(sorted(settings.items())))

    def prove_can_serve(self, certificate: StoredCertificate) -> list[Proof]:
        """HTTP.sys says whether it can use a key only when binding; the store's key test is the proof."""
        return []

    def serves(self, state: HttpSysBinding) -> str:
        return state.thumbprint

    def serves_at(self, state: HttpSysBinding) -> int | None:
        return state.port if state.thumbprint else None

    def state_from_record(self, record: dict[str, Any]) -> HttpSysBinding:
        """A binding from a checkpoint, refused unless every value is one this front could have read on
        this endpoint: a checkpoint never names another endpoint, a command or a free-text setting."""
        endpoint = str(record["endpoint"])
        thumbprint = str(record.get("thumbprint", "")).upper()
        store = str(record.get("store", ""))
        application_id = str(record.get("application_id", ""))
        settings = {str(k): str(v) for k, v in dict(record.get("settings") or {}).items()}
        if not _ENDPOINT.fullmatch(endpoint) or not endpoint.startswith(self.ip_address + ":"):
            raise ValueError(f"the endpoint {endpoint!r} is not one this front manages")
        if not _THUMBPRINT.fullmatch(thumbprint) or not _STORE.fullmatch(store):
            raise ValueError("the thumbprint or store is not one Octopus binds")
        if not _APP_ID.fullmatch(application_id):
            raise ValueError("the application id is not a GUID")
        if any(k not in _PARAMETERS or not _SETTING_VALUE.fullmatch(v) for k, v in settings.items()):
            raise ValueError("a per-binding setting is not one netsh knows")
        return _binding(endpoint, thumbprint, store, application_id, settings)


if TYPE_CHECKING:
    from ..protocols import TlsFront

    def _fits(front: HttpSysFront) -> TlsFront[HttpSysBinding]:
        """mypy proves here that this front satisfies the protocol (never called)."""
        return front
