"""Driver for ``Octopus.Server.exe``: the same code runs the real exe and the sandbox's stand-in.

Argv follows the documented syntax and OctopusDSC's unattended usage (values as separate tokens,
booleans as ``True``/``False``, ``--console`` on every call); see reference/octopus-server-cli.md.
Exit codes of Octopus.Server.exe are not documented beyond "non-zero is failure", so failures are
classified by the documented messages in the output and otherwise reported with the output itself.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from ...findings import CommandError, TargetError
from ...jsontext import find_json_object
from ..httpsys import netsh_error
from .urlacl import UrlAcl

if TYPE_CHECKING:  # annotations only: the stand-ins import this package for its names
    from ...commands import CommandResult, CommandRunner

ServiceAction = Literal["stop", "start", "restart"]


@dataclass(frozen=True)
class PortalConfig:
    """The web portal part of an Octopus instance's configuration."""

    listen_prefixes: tuple[str, ...]
    force_ssl: bool
    hsts_enabled: bool
    hsts_max_age: int
    url_acl: UrlAcl | None = None  # the https URL's reservation, read only for a custom service account

    def to_record(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "listen_prefixes": list(self.listen_prefixes),
            "force_ssl": self.force_ssl,
            "hsts_enabled": self.hsts_enabled,
            "hsts_max_age": self.hsts_max_age,
        }
        if self.url_acl is not None:
            record["url_acl"] = self.url_acl.to_record()
        return record

    def portal(self) -> PortalConfig:
        """The Octopus configuration alone (what ``configure`` and a restart change)."""
        return PortalConfig(self.listen_prefixes, self.force_ssl, self.hsts_enabled, self.hsts_max_age)


_INSTANCE_LINE = re.compile(r"Instance '(?P<name>[^']+)' uses configuration '(?P<config>[^']*)'")

# Documented failure messages (reference §1.9, §5) -> (code, remedy).
_KNOWN_FAILURES: tuple[tuple[str, str, str], ...] = (
    (
        "being used by another process",
        "PORT_IN_USE",
        "Another application (IIS, Skype, another Octopus instance) holds this prefix or port. "
        "Free it (netsh http show urlacl / show sslcert) or choose another https_port.",
    ),
    (
        "address already in use",
        "PORT_IN_USE",
        "Another process listens on this port. Free it or choose another https_port.",
    ),
    (
        "The format of the specified network name is invalid",
        "PREFIX_INVALID",
        "A listen prefix names an IP address this server does not own. Use the hostname or + instead.",
    ),
    (
        "Access Denied error was received trying to start the HttpListener",
        "URLACL_MISSING",
        "The Octopus service account may not listen on this URL: run the runbook as Administrator, or add "
        "`netsh http add urlacl url=<prefix> user=<service account>`.",
    ),
    (
        "Only the 'My' and 'Hosting' LocalMachine certificate stores are supported",
        "STORE_NOT_SUPPORTED",
        "This Octopus version (4.0.0-4.0.6) rejects WebHosting: upgrade Octopus or use store My.",
    ),
)

# Since Octopus 4.0 ``ssl-certificate`` binds through the HTTP Server API itself: it prints the Win32
# message or an HRESULT (0x8007xxxx = Win32 error xxxx) rather than netsh's "Error: N". English
# messages are matched by text; the HRESULT is the same in every language.
_WIN32_MESSAGES: tuple[tuple[str, int], ...] = (
    ("A specified logon session does not exist", 1312),
    ("An internal error occurred", 1359),
    ("The parameter is incorrect", 87),
    ("Cannot create a file when that file already exists", 183),
)
_HRESULT_WIN32 = re.compile(r"0x8007([0-9A-Fa-f]{4})\b")
_HRESULT_DECIMAL = re.compile(r"(?<![\d.])-(214\d{7})(?!\d)")
_NETSH_ERROR = re.compile(r"Error:\s*(\d+)")


def win32_error_number(output: str) -> int | None:
    """The Win32 error behind a failed binding: netsh's ``Error: N`` (any language), an HRESULT
    ``0x8007xxxx`` (hex or signed decimal), or a known Win32 message."""
    match = _HRESULT_WIN32.search(output)
    if match:
        return int(match.group(1), 16)
    for decimal in _HRESULT_DECIMAL.finditer(output):
        value = (-int(decimal.group(1))) & 0xFFFFFFFF
        if value & 0xFFFF0000 == 0x80070000:
            return value & 0xFFFF
    for message, number in _WIN32_MESSAGES:
        if message.lower() in output.lower():
            return number
    netsh = _NETSH_ERROR.search(output)
    return int(netsh.group(1)) if netsh else None


def build_prefix(scheme: str, hostname: str, port: int) -> str:
    """A listen prefix; an IPv6 literal goes in brackets (``https://[::1]:443/``), as URLs require."""
    host = f"[{hostname}]" if ":" in hostname and not hostname.startswith("[") else hostname
    return f"{scheme}://{host}:{port}/"


def split_prefixes(value: str) -> tuple[str, ...]:
    """Split a ListenPrefixes value: comma-separated, ``;`` accepted for backwards compatibility (DSC)."""
    parts = re.split(r"[;,]", value or "")
    return tuple(p.strip() for p in parts if p.strip())


def _lookup(data: Mapping[str, Any], *path: str) -> Any:
    """Case-insensitive lookup, hierarchical (``Octopus.WebPortal.X``) or flat (``"Octopus.WebPortal.X"``)."""
    flat_key = ".".join(path).lower()
    for key, value in data.items():
        if key.lower() == flat_key:
            return value
    node: Any = data
    for part in path:
        if not isinstance(node, Mapping):
            return None
        match = [v for k, v in node.items() if k.lower() == part.lower()]
        if not match:
            return None
        node = match[0]
    return node


def _as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in {"true", "1", "yes"}


def _as_int(value: Any, default: int) -> int:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return default


def parse_show_configuration(text: str) -> PortalConfig:
    """Parse ``show-configuration --format=json-hierarchical`` (or flat ``json``) output.

    Octopus sometimes prints log or exception text before the JSON (OctopusDSC#179): everything
    before the first ``{`` is dropped. Keys are matched case-insensitively (``ForceSSL`` vs
    ``ForceSsl``) and values are normalised from strings.
    """
    data = find_json_object(text, lambda d: any(k.lower().startswith("octopus") for k in d))
    if data is None:
        raise TargetError(
            "OCTOPUS_CONFIG_UNREADABLE",
            "show-configuration printed no JSON configuration that can be read.",
            "Run the same command by hand as Administrator and look at its output.",
            details={"output": text[-2000:]},
        )
    prefixes = _lookup(data, "Octopus", "WebPortal", "ListenPrefixes")
    return PortalConfig(
        listen_prefixes=split_prefixes(str(prefixes or "")),
        force_ssl=_as_bool(_lookup(data, "Octopus", "WebPortal", "ForceSSL")),
        hsts_enabled=_as_bool(_lookup(data, "Octopus", "WebPortal", "HttpStrictTransportSecurityEnabled")),
        hsts_max_age=_as_int(_lookup(data, "Octopus", "WebPortal", "HttpStrictTransportSecurityMaxAge"), 0),
    )


def parse_trusted_proxies(text: str) -> tuple[str, ...]:
    """``Octopus.WebPortal.TrustedProxies`` from show-configuration output: the proxies whose
    ``X-Forwarded-*`` headers Octopus believes (comma-separated; empty when none is configured)."""
    data = find_json_object(text, lambda d: any(k.lower().startswith("octopus") for k in d)) or {}
    return split_prefixes(str(_lookup(data, "Octopus", "WebPortal", "TrustedProxies") or ""))


def parse_list_instances(text: str) -> dict[str, str]:
    return {m["name"]: m["config"] for m in _INSTANCE_LINE.finditer(text)}


def classify_failure(result: CommandResult, code: str, what: str) -> CommandError:
    """Turn a failed Octopus.Server.exe call into a coded error, by the documented messages."""
    output = result.output
    for needle, known_code, remedy in _KNOWN_FAILURES:
        if needle.lower() in output.lower():
            return CommandError(known_code, f"{what} failed: {needle}.", remedy, details=_details(result))
    number = win32_error_number(output)
    if number is not None:
        return netsh_error(number, result)
    last = output.strip().splitlines()[-1] if output.strip() else "(no output)"
    return CommandError(
        code,
        f"{what} failed with exit code {result.exit_code}: {last}",
        "Read the command output in the record; fix the cause and run again (a rollback has restored the old state).",
        details=_details(result),
    )


def _details(result: CommandResult) -> dict[str, Any]:
    return {"argv": list(result.argv), "exit_code": result.exit_code, "output": result.output[-4000:]}


class OctopusServer:
    """One Octopus Server instance, driven through its command line."""

    def __init__(self, exe: str, instance: str, runner: CommandRunner) -> None:
        self.exe = exe
        self.instance = instance
        self.runner = runner

    def _argv(self, command: str, *options: str) -> list[str]:
        return [self.exe, command, "--console", "--instance", self.instance, *options]

    def list_instances(self) -> dict[str, str]:
        result = self.runner.run([self.exe, "list-instances", "--console"], label="list Octopus instances")
        if not result.ok:
            raise classify_failure(result, "LIST_INSTANCES_FAILED", "list-instances")
        return parse_list_instances(result.stdout)

    def require_instance(self) -> None:
        instances = self.list_instances()
        if self.instance not in instances:
            known = ", ".join(sorted(instances)) or "none"
            raise TargetError(
                "INSTANCE_NOT_FOUND",
                f"There is no Octopus instance named {self.instance!r} on this server (found: {known}).",
                "Set the `instance` parameter to one of the instances listed, as Octopus Manager shows them.",
            )

    def show_configuration(self) -> PortalConfig:
        return parse_show_configuration(self.show_configuration_text())

    def show_configuration_text(self) -> str:
        """``show-configuration --format=json-hierarchical`` output, for the parsers of this module."""
        result = self.runner.run(
            [
                self.exe,
                "show-configuration",
                "--format=json-hierarchical",
                "--noconsolelogging",
                "--console",
                "--instance",
                self.instance,
            ],
            label="read Octopus configuration",
        )
        if not result.ok:
            raise classify_failure(result, "SHOW_CONFIGURATION_FAILED", "show-configuration")
        return result.stdout

    def configure_argv(
        self,
        *,
        listen_prefixes: tuple[str, ...] | None = None,
        force_ssl: bool | None = None,
        hsts_enabled: bool | None = None,
        hsts_max_age: int | None = None,
        trusted_proxies: tuple[str, ...] | None = None,
    ) -> list[str]:
        """The argv of ``configure`` for the settings given (empty when there is nothing to set)."""
        options: list[str] = []
        if trusted_proxies is not None:  # honoured since Octopus 3.5.2 (X-Forwarded-Proto/-Host)
            options += ["--trustedProxies", ",".join(trusted_proxies)]
        if listen_prefixes is not None:
            options += ["--webListenPrefixes", ",".join(listen_prefixes)]
        if force_ssl is not None:
            options += ["--webForceSSL", str(force_ssl)]
        if hsts_enabled is not None:
            options += ["--hstsEnabled", str(hsts_enabled)]
        if hsts_max_age is not None:
            options += ["--hstsMaxAge", str(hsts_max_age)]
        return self._argv("configure", *options) if options else []

    def configure(
        self,
        *,
        listen_prefixes: tuple[str, ...] | None = None,
        force_ssl: bool | None = None,
        hsts_enabled: bool | None = None,
        hsts_max_age: int | None = None,
        trusted_proxies: tuple[str, ...] | None = None,
    ) -> None:
        argv = self.configure_argv(
            listen_prefixes=listen_prefixes,
            force_ssl=force_ssl,
            hsts_enabled=hsts_enabled,
            hsts_max_age=hsts_max_age,
            trusted_proxies=trusted_proxies,
        )
        if not argv:
            return
        result = self.runner.run(argv, mutating=True, label="configure web portal")
        if not result.ok:
            raise classify_failure(result, "CONFIGURE_FAILED", "Octopus.Server configure")

    def configure_argv_for(self, config: PortalConfig) -> list[str]:
        """``configure`` argv that makes the web portal settings equal ``config``."""
        return self.configure_argv(
            listen_prefixes=config.listen_prefixes,
            force_ssl=config.force_ssl,
            hsts_enabled=config.hsts_enabled,
            hsts_max_age=config.hsts_max_age,
        )

    def configure_to(self, config: PortalConfig) -> None:
        self.configure(
            listen_prefixes=config.listen_prefixes,
            force_ssl=config.force_ssl,
            hsts_enabled=config.hsts_enabled,
            hsts_max_age=config.hsts_max_age,
        )

    def ssl_certificate_argv(
        self, thumbprint: str, store: str, *, ip_address: str = "0.0.0.0", port: int = 443
    ) -> list[str]:
        return self._argv(
            "ssl-certificate",
            "--thumbprint",
            thumbprint,
            "--certificate-store",
            store,
            "--ip-address",
            ip_address,
            "--port",
            str(port),
        )

    def ssl_certificate(
        self, thumbprint: str, store: str, *, ip_address: str = "0.0.0.0", port: int = 443
    ) -> None:
        result = self.runner.run(
            self.ssl_certificate_argv(thumbprint, store, ip_address=ip_address, port=port),
            mutating=True,
            label="bind certificate (HTTP.sys)",
        )
        if not result.ok:
            raise classify_failure(result, "SSL_CERTIFICATE_FAILED", "Octopus.Server ssl-certificate")

    def service_argv(self, action: ServiceAction) -> list[str]:
        return self._argv("service", f"--{action}")

    def restart_argv(self) -> list[str]:
        """``service --stop --start``: the restart Octopus documents on its HTTPS page, as one command.

        ``--stop`` stops the service if it runs, ``--start`` starts it if it does not: the service runs
        afterwards whether it ran before or not (``--restart`` alone leaves a stopped service stopped). One
        command, so no run of octorunbook can stop between the stop and the start and leave the portal down."""
        return self._argv("service", "--stop", "--start")

    def restart(self) -> None:
        result = self.runner.run(self.restart_argv(), mutating=True, label="service restart", timeout=600)
        if not result.ok:
            raise classify_failure(result, "SERVICE_RESTART_FAILED", "Octopus.Server service --stop --start")

    def service(self, action: ServiceAction) -> None:
        result = self.runner.run(
            self.service_argv(action), mutating=True, label=f"service {action}", timeout=600
        )
        if not result.ok:
            code = {"stop": "SERVICE_STOP_FAILED", "start": "SERVICE_START_FAILED"}.get(
                action, "SERVICE_RESTART_FAILED"
            )
            raise classify_failure(result, code, f"Octopus.Server service --{action}")
