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
from typing import TYPE_CHECKING, Any

from ...findings import CommandError
from ..winsyntax import OCTOPUS_APP_ID, SSLCERT_SETTINGS
from .registry import RegistryBinding, decode, parse_reg_query, query_argv
from .sslcert import (
    SslBinding,
    carried_settings,
    meaningful,
    settings_unknown,
    sslcert_argv,
)

if TYPE_CHECKING:  # annotations only: the stand-ins read the names below, and start no command
    from ...commands import CommandResult, CommandRunner

__all__ = [
    "OCTOPUS_APP_ID",
    "SSLCERT_SETTINGS",
    "HttpSys",
    "SslBinding",
    "carried_settings",
    "console_encoding",
    "meaningful",
    "netsh_error",
    "netsh_error_number",
    "parse_show_sslcert",
    "settings_unknown",
    "sslcert_argv",
]

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


_PARAMETER_NAME = re.compile(r"\b([a-z][a-z0-9]*)=")


class HttpSys:
    """HTTP.sys SSL bindings on a host, read with ``netsh http show sslcert``."""

    def __init__(
        self, exe: str, runner: CommandRunner, *, encoding: str | None = None, reg: str | None = None
    ) -> None:
        self.exe = exe
        self.runner = runner
        self.encoding = encoding  # the console code page netsh writes in; None = UTF-8 (the sandbox)
        self.reg = reg  # reg.exe: the language-independent reading of a binding's settings (None: none)
        self._parameters: dict[str, frozenset[str] | None] = {}  # verb -> what its help lists

    def sslcert_parameters(self, verb: str) -> frozenset[str] | None:
        """The parameter names ``netsh http <verb> sslcert help`` lists on this host (``add`` or ``update``),
        read once per verb.

        Parameter names are syntax (``disablelegacytls=``), not translated prose, so they are found in any
        display language. None: the help could not be read (or names not even ``certhash``)."""
        if verb not in self._parameters:
            result = self.runner.run(
                [self.exe, "http", verb, "sslcert", "help"],
                label=f"read which binding settings this netsh's {verb} knows",
                encoding=self.encoding,
            )
            names = frozenset(_PARAMETER_NAME.findall(result.output.lower()))
            self._parameters[verb] = names if "certhash" in names else None
        return self._parameters[verb]

    def add_parameters(self) -> frozenset[str] | None:
        """What ``netsh http add sslcert help`` lists (:meth:`sslcert_parameters`)."""
        return self.sslcert_parameters("add")

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
        """``add`` or ``update`` an ``sslcert`` record with the given settings (renewal keeps them).

        Failure is read the way :meth:`show` and :meth:`delete` read it (console code page, the number of
        a ``word: N`` line in any language); success is not taken from the exit code: the binding is read
        back and compared with what was asked (``BINDING_NOT_AS_ASKED``)."""
        result = self.runner.run(
            sslcert_argv(self.exe, verb, endpoint, thumbprint, app_id, store, settings),
            mutating=True,
            label=f"{verb} HTTP.sys binding",
            encoding=self.encoding,
        )
        if not result.ok:
            number = netsh_error_number(result.output)
            raise netsh_error(number if number is not None else -1, result)
        ip_address, _, port = endpoint.rpartition(":")
        found = self.show(int(port), ip_address)
        asked = {
            "certificate_hash": thumbprint.upper(),
            "application_id": app_id.strip().upper(),
            "store_name": (store or "MY").lower(),
            "settings": meaningful(settings),
        }
        seen: dict[str, Any] | None = None
        if found is not None:
            carried, unknown = self.settings_of(found)
            if unknown:
                raise settings_unknown(found, unknown, "after the change")
            seen = {
                "certificate_hash": found.certificate_hash,
                "application_id": found.application_id,
                "store_name": found.store_name.lower(),
                "settings": carried,
            }
        if seen != asked:
            raise CommandError(
                "BINDING_NOT_AS_ASKED",
                f"netsh reported success, but the binding read back on {endpoint} is not the one asked for.",
                "Compare `asked` and `seen` in the details: this Windows build may ignore a parameter (or "
                "another process changed the binding). The run restores the previous binding; report the "
                "netsh output with this record.",
                details={
                    "argv": list(result.argv),
                    "asked": asked,
                    "seen": seen,
                    "output": result.output[-2000:],
                },
            )

    def read_registry(self, endpoint: str) -> RegistryBinding | None:
        """The binding's registry values through ``reg query`` (None: no reg, or reg could not read it)."""
        if not self.reg:
            return None
        result = self.runner.run(
            query_argv(self.reg, endpoint), label="read HTTP.sys binding (registry)", encoding=self.encoding
        )
        values = parse_reg_query(result.stdout) if result.ok else {}
        return decode(values) if values else None

    def settings_of(self, binding: SslBinding) -> tuple[dict[str, str], dict[str, str]]:
        """``(carried parameters, unknown raw values)`` of a binding.

        netsh's labels are read first: they are the documented interface, and on an English server every
        setting is understood without touching the (undocumented, fact N7) registry layout. As soon as one
        label is not understood (another language, a newer build), the settings come from the registry
        instead, which no language changes; what the registry does not explain either is returned as
        unknown with its raw value, for the caller to refuse on (never a setting silently dropped)."""
        carried, labels = carried_settings(binding)
        if not labels:
            return carried, {}
        unknown = {f"netsh: {label}": binding.fields.get(label, "") for label in labels}
        registry = self.read_registry(binding.ip_port)
        if registry is None:
            unknown["registry"] = "not readable" if self.reg else "not consulted (no reg.exe)"
            return carried, unknown
        if registry.thumbprint != binding.certificate_hash.upper():
            registry.unknown["SslCertHash"] = (
                f"{registry.thumbprint or 'unreadable'} (netsh: {binding.certificate_hash})"
            )
        return dict(registry.settings), dict(registry.unknown)

    def describe(self, binding: SslBinding | None) -> dict[str, Any] | None:
        return binding.to_record() if binding else None
