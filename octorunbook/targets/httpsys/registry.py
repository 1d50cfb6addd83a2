"""An HTTP.sys binding read from the registry with ``reg query``: the view no display language changes.

``netsh http show sslcert`` translates its labels (and, on some languages, its values), so a German or
French server's per-binding settings cannot be read from it. The HTTP service keeps each binding under
``HKLM\\SYSTEM\\CurrentControlSet\\Services\\HTTP\\Parameters\\SslBindingInfo\\<ip:port>`` (hostname bindings
under ``SslSniBindingInfo\\<host:port>``), one value per ``HTTP_SERVICE_CONFIG_SSL_PARAM`` member:
``SslCertHash``, ``AppId``, ``SslCertStoreName``, ``DefaultCertCheckMode``, ``DefaultRevocationFreshnessTime``,
``DefaultRevocationUrlRetrievalTimeout``, ``DefaultSslCtlIdentifier``, ``DefaultSslCtlStoreName``,
``DefaultFlags``. ``reg query`` prints value names and types untranslated (``    DefaultFlags    REG_DWORD
0x400``); only those lines are parsed, never its (localised) prose.

The flag bits and check-mode values are http.h's (confirmed, ``docs/windows-facts.md`` N6); that the registry
stores the struct members under these names with the same bits is not documented (N7, unconfirmed). So
decoding is strict: a bit, a check-mode value or a non-empty value this module does not know is returned as
*unknown* with its raw text, never dropped, and the caller refuses to rebind (``BINDING_SETTINGS_UNKNOWN``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..winsyntax import (
    CHECK_MODE_PARAMETERS,
    FLAG_PARAMETERS,
    FRESHNESS_TIME_ENABLED,
    PARAMETERS_KEY,
    VALUE_PARAMETERS,
)

_IDENTITY = {"SslCertHash", "AppId", "SslCertStoreName"}

_VALUE_LINE = re.compile(r"^\s+(\S+)\s+(REG_[A-Z_]+)(?:\s+(.*?))?\s*$")


@dataclass(frozen=True)
class RegistryBinding:
    """One binding's registry values, decoded: ``settings`` as add/update parameters, ``unknown`` raw."""

    thumbprint: str
    store_name: str
    settings: dict[str, str] = field(default_factory=dict)
    unknown: dict[str, str] = field(default_factory=dict)
    values: dict[str, str] = field(default_factory=dict)  # name -> "REG_TYPE data", as reg printed them


def binding_key(endpoint: str) -> str:
    """The registry key of the binding on ``endpoint`` (``ip:port``, ``[v6]:port`` or ``host:port``)."""
    host = endpoint.rsplit(":", 1)[0]
    ip_like = host.startswith("[") or re.fullmatch(r"[0-9.]+", host) is not None
    return f"{PARAMETERS_KEY}\\{'SslBindingInfo' if ip_like else 'SslSniBindingInfo'}\\{endpoint}"


def query_argv(reg: str, endpoint: str) -> list[str]:
    return [reg, "query", binding_key(endpoint)]


def parse_reg_query(text: str) -> dict[str, tuple[str, str]]:
    """``name -> (type, data)`` for every value line ``reg query`` printed (key lines have no type)."""
    values: dict[str, tuple[str, str]] = {}
    for line in text.splitlines():
        match = _VALUE_LINE.match(line)
        if match:
            values[match.group(1)] = (match.group(2), match.group(3) or "")
    return values


def _number(kind: str, data: str) -> int | None:
    try:
        return int(data, 16) if kind in {"REG_DWORD", "REG_QWORD"} and data.lower().startswith("0x") else None
    except ValueError:
        return None


def decode(values: dict[str, tuple[str, str]]) -> RegistryBinding:
    """The per-binding settings in ``values``, the same parameters ``carried_settings`` gives for English
    netsh output (non-default only); anything not understood goes to ``unknown``."""
    settings: dict[str, str] = {}
    unknown: dict[str, str] = {}
    raw = {name: f"{kind} {data}".strip() for name, (kind, data) in values.items()}
    hash_kind, hash_data = values.get("SslCertHash", ("", ""))
    thumbprint = (
        hash_data.upper() if hash_kind == "REG_BINARY" and re.fullmatch(r"[0-9A-Fa-f]{40}", hash_data) else ""
    )
    if not thumbprint:
        unknown["SslCertHash"] = raw.get("SslCertHash", "missing")
    store_kind, store_data = values.get("SslCertStoreName", ("REG_SZ", ""))
    for name, (kind, data) in values.items():
        if name in _IDENTITY:
            continue
        if name == "DefaultFlags":
            flags = _number(kind, data)
            if flags is None:
                unknown[name] = raw[name]
                continue
            for bit, parameter in FLAG_PARAMETERS.items():
                if flags & bit:
                    settings[parameter] = "enable"
            rest = flags & ~sum(FLAG_PARAMETERS)
            if rest:
                unknown[name] = f"{raw[name]} (bits 0x{rest:X} not understood)"
        elif name == "DefaultCertCheckMode":
            mode = _number(kind, data)
            if mode is None:
                unknown[name] = raw[name]
                continue
            for bit, (parameter, value) in CHECK_MODE_PARAMETERS.items():
                if mode & bit:
                    settings[parameter] = value
            rest = mode & ~sum(CHECK_MODE_PARAMETERS)
            freshness = _number(*values.get("DefaultRevocationFreshnessTime", ("", "")))
            if rest & FRESHNESS_TIME_ENABLED and freshness:
                rest &= ~FRESHNESS_TIME_ENABLED
            if rest:
                unknown[name] = f"{raw[name]} (bits 0x{rest:X} not understood)"
        elif name in VALUE_PARAMETERS:
            number = _number(kind, data)
            if kind == "REG_SZ":
                if data and data.lower() != "(null)":
                    settings[VALUE_PARAMETERS[name]] = data
            elif number is None:
                unknown[name] = raw[name]
            elif number:
                settings[VALUE_PARAMETERS[name]] = str(number)
        elif _number(kind, data) != 0 and data.strip("0") != "":
            unknown[name] = raw[name]  # a value a newer build added: not understood unless zero or empty
    store = store_data if store_kind == "REG_SZ" and store_data else "MY"
    return RegistryBinding(thumbprint, store, settings, unknown, raw)
