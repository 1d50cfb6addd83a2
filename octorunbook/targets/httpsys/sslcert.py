"""The ``sslcert`` record and its per-binding settings: what netsh prints, what add/update take.

Shared by the driver (``HttpSys``), the front and the stand-ins: the English labels netsh prints for each
setting with its add/update parameter and default, the record as parsed, the argv that sets a record,
and the refusal when a setting cannot be read (``BINDING_SETTINGS_UNKNOWN``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ...findings import CommandError
from ..winsyntax import OCTOPUS_APP_ID, SSLCERT_SETTINGS


@dataclass(frozen=True)
class SslBinding:
    """One HTTP.sys ``sslcert`` record, as ``netsh http show sslcert`` prints it."""

    ip_port: str
    certificate_hash: str
    application_id: str
    store_name: str
    fields: dict[str, str] = field(default_factory=dict)

    @property
    def is_octopus(self) -> bool:
        return self.application_id.strip().upper() == OCTOPUS_APP_ID

    def to_record(self) -> dict[str, Any]:
        return {
            "ip_port": self.ip_port,
            "certificate_hash": self.certificate_hash,
            "application_id": self.application_id,
            "store_name": self.store_name,
        }


_SETTING_BY_LABEL = {label.lower(): (parameter, default) for label, parameter, default in SSLCERT_SETTINGS}
_IDENTITY_LABELS = {
    "ip:port",
    "hostname:port",
    "certificate hash",
    "application id",
    "certificate store name",
}
_EXTENDED_LABELS = {
    "extended properties",
    "propertyid",
    "receive window",
    "max settings per frame",
    "max settings per minute",
}


def carried_settings(binding: SslBinding) -> tuple[dict[str, str], list[str]]:
    """The binding's non-default per-binding settings as ``add/update sslcert`` parameters.

    A rebind (delete + add, or Octopus's own ``ssl-certificate``) silently drops these: win-acme users
    lost ``dsmapperusage`` that way (win-acme #1768) and a Server 2019+ binding loses
    ``disablelegacytls``. Returns ``(parameters, unrecognised labels)``: a label we cannot map (another
    language, a newer build) is reported, never guessed.
    """
    carried: dict[str, str] = {}
    unknown: list[str] = []
    for label, value in binding.fields.items():
        key = label.strip().lower()
        if key in _IDENTITY_LABELS or key in _EXTENDED_LABELS:
            continue
        setting = _SETTING_BY_LABEL.get(key)
        if setting is None:
            unknown.append(label)
            continue
        parameter, default = setting
        if value.strip().lower() == default.lower():
            continue
        word = value.strip().lower()
        if word in {"enabled", "set"}:
            carried[parameter] = "enable"
        elif word in {"disabled", "not set"}:
            carried[parameter] = "disable"
        elif word != "(null)":
            carried[parameter] = value.strip()
    return carried, unknown


def sslcert_argv(
    exe: str, verb: str, endpoint: str, thumbprint: str, app_id: str, store: str, settings: dict[str, str]
) -> list[str]:
    """``netsh http add|update sslcert`` with every carried setting, as one argv (no shell quoting)."""
    argv = [
        exe,
        "http",
        verb,
        "sslcert",
        f"ipport={endpoint}",
        f"certhash={thumbprint}",
        f"appid={app_id}",
        f"certstorename={store}",
    ]
    return argv + [f"{k}={v}" for k, v in sorted(settings.items())]


def _default_parameter(printed: str) -> str:
    word = printed.lower()
    return {"enabled": "enable", "disabled": "disable", "not set": "disable", "(null)": ""}.get(word, printed)


_DEFAULTS = {parameter: _default_parameter(printed) for _, parameter, printed in SSLCERT_SETTINGS}


def meaningful(settings: dict[str, str]) -> dict[str, str]:
    """``settings`` without the parameters given at their default: what a read-back shows as set."""
    return {k: v for k, v in settings.items() if v.strip().lower() != _DEFAULTS.get(k, "\0").lower()}


def settings_unknown(binding: SslBinding, unknown: dict[str, str], when: str) -> CommandError:
    """``BINDING_SETTINGS_UNKNOWN``: a rebind would drop what could not be read, so none is made."""
    return CommandError(
        "BINDING_SETTINGS_UNKNOWN",
        f"The per-binding settings of {binding.ip_port} cannot all be read {when}: "
        + ", ".join(f"{k} = {v}" for k, v in sorted(unknown.items())),
        "No swap is made while a setting cannot be read (a rebind would silently drop it). Read the binding with "
        "`netsh http show sslcert ipport=<ip:port>` and `reg query "
        "HKLM\\SYSTEM\\CurrentControlSet\\Services\\HTTP\\Parameters\\SslBindingInfo\\<ip:port>`, "
        "and attach both to an issue (docs/windows-facts.md N6-N7); or reset the setting you do not need "
        "and run again.",
        details={"endpoint": binding.ip_port, "unknown": dict(unknown), "netsh_fields": dict(binding.fields)},
    )
