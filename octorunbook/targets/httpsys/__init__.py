"""HTTP.sys SSL bindings through ``netsh http``: the same driver for Windows and the sandbox's stand-in.

``netsh http show sslcert`` output is localised and grows new fields with every Windows build, so it
is parsed as generic ``key : value`` records and matched on what does not change: the ``ip:port``
value that opens each record, the 40-hex certificate hash and the ``{GUID}`` application id. The
store name is taken by label when English, else by its documented position (fourth field).

netsh writes in the console's OEM code page (850 on a German server, 437 on an English one), not UTF-8:
the Windows target decodes with :func:`console_encoding`. Its prose is localised too (``Error: 2``,
``Fehler: 2``, ``Erreur : 2``), so only the number at the end of a ``word : number`` line is read, and
a delete is confirmed by reading the binding back, not by the words netsh printed.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass, field
from typing import Any

from ...commands import CommandResult, CommandRunner
from ...findings import CommandError

OCTOPUS_APP_ID = "{E2096A4C-2391-4BE1-9F17-E353F930E7F1}"  # the application id Octopus binds with

_HEX40 = re.compile(r"^[0-9A-Fa-f]{40}$")
_GUID = re.compile(r"^\{?[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}\}?$")
_ENDPOINT = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[0-9.]+|[A-Za-z0-9.*+-]+):\d{1,5}$")

# netsh errors (reference §3.3): number -> (code, message, remedy)
NETSH_ERRORS: dict[int, tuple[str, str, str]] = {
    183: (
        "BINDING_EXISTS",
        "HTTP.sys already has a certificate binding on this address and port.",
        "The runbook replaces Octopus's own binding itself; if another application owns it, free the port first.",
    ),
    1312: (
        "KEY_NOT_USABLE_BY_HTTPSYS",
        "HTTP.sys cannot use the certificate's private key (a specified logon session does not exist).",
        "Re-import the PFX into the LocalMachine store with its private key (not CurrentUser), then run 02 to prove "
        "the key works.",
    ),
    1359: (
        "KEY_NOT_USABLE_BY_HTTPSYS",
        "HTTP.sys reported an internal error using the private key; the key is probably in a CNG key storage "
        "provider it cannot use.",
        'Re-import the PFX into a CryptoAPI provider, e.g. `certutil -importPFX -csp "Microsoft RSA SChannel '
        'Cryptographic Provider" My file.pfx`, then run 02 and 03 again.',
    ),
    87: (
        "NETSH_BAD_PARAMETER",
        "netsh rejected the binding parameters (malformed thumbprint or application id).",
        "Check the thumbprint is 40 hex characters with no hidden characters; octorunbook strips them, so report this.",
    ),
    5: (
        "NOT_ELEVATED",
        "Access is denied: changing HTTP.sys bindings needs an elevated (Administrator) session.",
        "Start JupyterLab or the terminal with 'Run as administrator' and run again.",
    ),
}


# "Error: 183", "Fehler: 183", "Erreur : 183": a word, a colon, the Win32 error number ending the line.
_ERROR_NUMBER = re.compile(r"(?:^|[\s,.;])[^\W\d_]+\s?:\s*(\d{1,5})\s*\.?\s*$", re.M)


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


def console_encoding() -> str | None:
    """The code page console tools such as netsh write in: ``OCTORUNBOOK_CONSOLE_CODEPAGE`` if set, else
    (on Windows) the console's output code page, or the OEM code page when there is no console."""
    override = os.environ.get("OCTORUNBOOK_CONSOLE_CODEPAGE", "").strip()
    if override:
        return f"cp{override}" if override.isdigit() else override
    if sys.platform == "win32":
        import ctypes

        kernel32 = ctypes.windll.kernel32
        return f"cp{kernel32.GetConsoleOutputCP() or kernel32.GetOEMCP()}"
    return None


def netsh_error_number(text: str) -> int | None:
    """The Win32 error number netsh reported, in any display language (the last ``word: N`` line)."""
    numbers = _ERROR_NUMBER.findall(text)
    return int(numbers[-1]) if numbers else None


def netsh_error(number: int, result: CommandResult) -> CommandError:
    code, message, remedy = NETSH_ERRORS.get(
        number,
        ("NETSH_FAILED", f"netsh failed with error {number}.", "Read the command output in the record."),
    )
    return CommandError(
        code,
        f"{message} (Error: {number})",
        remedy,
        details={"argv": list(result.argv), "exit_code": result.exit_code, "output": result.output[-4000:]},
    )


def parse_show_sslcert(text: str) -> list[SslBinding]:
    """Every binding record in ``netsh http show sslcert`` output."""
    records: list[list[tuple[str, str]]] = []
    current: list[tuple[str, str]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            if current:
                records.append(current)
                current = []
            continue
        key, sep, value = line.partition(" : ")
        if not sep:
            # "IP:port                      :0.0.0.0:443" never happens, but "Key :value" might.
            match = re.match(r"^(.*?)\s+:\s*(.*)$", line)
            if not match:
                continue
            key, value = match.group(1), match.group(2)
        key, value = key.strip(), value.strip()
        if _ENDPOINT.match(value) and current and any(_ENDPOINT.match(v) for _, v in current[:1]):
            records.append(current)
            current = []
        current.append((key, value))
    if current:
        records.append(current)
    bindings = []
    for fields in records:
        if not fields or not _ENDPOINT.match(fields[0][1]):
            continue
        values = [v for _, v in fields]
        cert_hash = next((v for v in values if _HEX40.match(v.replace(" ", ""))), "")
        app_id = next((v for v in values if _GUID.match(v)), "")
        store = next((v for k, v in fields if "store name" in k.lower() and "ctl" not in k.lower()), None)
        if store is None:
            store = fields[3][1] if len(fields) > 3 else ""
        if store.strip().lower() in {"(null)", ""}:
            store = "MY"  # netsh prints (null) when certstorename was omitted; HTTP.sys then uses MY
        bindings.append(
            SslBinding(
                ip_port=fields[0][1],
                certificate_hash=cert_hash.replace(" ", "").upper(),
                application_id=app_id.upper() if app_id.startswith("{") else "{" + app_id.upper() + "}",
                store_name=store,
                fields=dict(fields),
            )
        )
    return bindings


class HttpSys:
    """HTTP.sys SSL bindings on a host, read with ``netsh http show sslcert``."""

    def __init__(self, exe: str, runner: CommandRunner, *, encoding: str | None = None) -> None:
        self.exe = exe
        self.runner = runner
        self.encoding = encoding  # the console code page netsh writes in; None = UTF-8 (the sandbox)

    def show(self, port: int, ip_address: str = "0.0.0.0") -> SslBinding | None:
        endpoint = f"{ip_address}:{port}"
        result = self.runner.run(
            [self.exe, "http", "show", "sslcert", f"ipport={endpoint}"],
            label="read HTTP.sys binding",
            encoding=self.encoding,
        )
        # A missing binding is reported with a non-zero exit and an error text whose wording is not
        # documented: "no record for this endpoint in the output" is what we rely on.
        for binding in parse_show_sslcert(result.stdout):
            if binding.ip_port == endpoint:
                return binding
        number = netsh_error_number(result.output) if not result.ok else None
        if number is not None and number != 2:
            # Access denied, bad parameter...: "no binding" would be a guess that a plan then overwrites.
            raise netsh_error(number, result)
        return None

    def show_all(self) -> list[SslBinding]:
        """Every ``sslcert`` record (``netsh http show sslcert`` without an endpoint): what binds a certificate."""
        result = self.runner.run(
            [self.exe, "http", "show", "sslcert"], label="read HTTP.sys bindings", encoding=self.encoding
        )
        if not result.ok:
            number = netsh_error_number(result.output)
            raise netsh_error(number if number is not None else -1, result)
        return parse_show_sslcert(result.stdout)

    def delete(self, port: int, ip_address: str = "0.0.0.0") -> None:
        """Remove a binding. Only used to roll back a binding this run created."""
        result = self.runner.run(
            [self.exe, "http", "delete", "sslcert", f"ipport={ip_address}:{port}"],
            mutating=True,
            label="remove HTTP.sys binding (rollback)",
            encoding=self.encoding,
        )
        # Confirmed by reading back, in any language: gone (or never there, error 2) is success.
        if self.show(port, ip_address) is None:
            return
        number = netsh_error_number(result.output)
        raise netsh_error(number if number is not None else -1, result)

    def set_binding(
        self, verb: str, endpoint: str, thumbprint: str, app_id: str, store: str, settings: dict[str, str]
    ) -> None:
        """``add`` or ``update`` an ``sslcert`` record with the given settings (renewal keeps them)."""
        result = self.runner.run(
            sslcert_argv(self.exe, verb, endpoint, thumbprint, app_id, store, settings),
            mutating=True,
            label=f"{verb} HTTP.sys binding",
        )
        if not result.ok:
            match = re.search(r"Error:\s*(\d+)", result.output)
            raise netsh_error(int(match.group(1)) if match else -1, result)

    def describe(self, binding: SslBinding | None) -> dict[str, Any] | None:
        return binding.to_record() if binding else None


# The per-binding settings after the store name, in the order netsh prints them (reference §3.2):
# (label, add/update parameter, default as printed). Old flags print Enabled/Disabled, new ones Set/Not Set.
SSLCERT_SETTINGS: tuple[tuple[str, str, str], ...] = (
    ("Verify Client Certificate Revocation", "verifyclientcertrevocation", "Enabled"),
    (
        "Verify Revocation Using Cached Client Certificate Only",
        "verifyrevocationwithcachedclientcertonly",
        "Disabled",
    ),
    ("Usage Check", "usagecheck", "Enabled"),
    ("Revocation Freshness Time", "revocationfreshnesstime", "0"),
    ("URL Retrieval Timeout", "urlretrievaltimeout", "0"),
    ("Ctl Identifier", "sslctlidentifier", "(null)"),
    ("Ctl Store Name", "sslctlstorename", "(null)"),
    ("DS Mapper Usage", "dsmapperusage", "Disabled"),
    ("Negotiate Client Certificate", "clientcertnegotiation", "Disabled"),
    ("Reject Connections", "reject", "Disabled"),
    ("Disable HTTP2", "disablehttp2", "Not Set"),
    ("Disable QUIC", "disablequic", "Not Set"),
    ("Disable TLS1.2", "disabletls12", "Not Set"),
    ("Disable TLS1.3", "disabletls13", "Not Set"),
    ("Disable OCSP Stapling", "disableocspstapling", "Not Set"),
    ("Enable Token Binding", "enabletokenbinding", "Not Set"),
    ("Log Extended Events", "logextendedevents", "Not Set"),
    ("Disable Legacy TLS Versions", "disablelegacytls", "Not Set"),
    ("Enable Session Ticket", "enablesessionticket", "Not Set"),
    ("Disable Session ID", "disablesessionid", "Not Set"),
)
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
