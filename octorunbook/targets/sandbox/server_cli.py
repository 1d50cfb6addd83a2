"""Stand-in ``Octopus.Server`` for the sandbox: the documented syntax, the documented outputs.

Only what octorunbook drives is implemented: ``list-instances``, ``show-configuration``, ``configure``
(web portal options), ``ssl-certificate``, ``service --stop/--start/--restart`` and ``version``.
Options are accepted as ``--name=value`` or ``--name value``, as Octopus's option parser does.
Failure drills (``sandbox init --fail STEP``) make the matching command fail as the real one would.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

from ...findings import TargetError
from ..winsyntax import DEFAULT_INSTANCE, LOCAL_SYSTEM, OCTOPUS_APP_ID
from .host import OCTOPUS_VERSION, Sandbox
from .portal_start import start_portal

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (mypy reads the name)
if TYPE_CHECKING:  # this stand-in is started for every command a sandbox run makes
    from typing import Any

HANG_AFTER_SWAP_SECONDS = 120.0  # long enough to kill the run; ends by itself if nobody does

FLAGS = {
    "console",
    "noconsolelogging",
    "nologo",
    "stop",
    "start",
    "restart",
    "install",
    "uninstall",
    "reconfigure",
}


def parse_options(tokens: list[str]) -> dict[str, str]:
    options: dict[str, str] = {}
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if not token.startswith("--"):
            raise SystemExit(_fail(f"Unexpected argument '{token}'.", 2))
        name, eq, value = token[2:].partition("=")
        if not eq:
            if name.lower() in FLAGS:
                value = "True"
            elif i + 1 < len(tokens):
                i += 1
                value = tokens[i]
            else:
                raise SystemExit(_fail(f"Option --{name} requires a value.", 2))
        options[name.lower()] = value
        i += 1
    return options


def _fail(message: str, code: int = 1) -> int:
    print(message, file=sys.stderr)
    return code


def _is_ip(text: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _truthy(value: str) -> bool:
    return value.strip().lower() in {"true", "1", "yes"}


def validate_prefix(prefix: str) -> str | None:
    parts = urlsplit(prefix)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        return f"'{prefix}' is not a valid HTTP.sys listen prefix (expected http(s)://host:port/)."
    try:
        _ = parts.port
    except ValueError:
        return f"'{prefix}' has an invalid port."
    return None


def prefix_port(prefix: str) -> int:
    parts = urlsplit(prefix)
    return parts.port or (443 if parts.scheme == "https" else 80)


def _flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict):
            flat.update(_flatten(value, name))
        else:
            flat[name] = value
    return flat


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) < 2 or args[0] != "--sandbox-dir":
        return _fail("usage: Octopus.Server <command> [<options>]", 2)
    sandbox = Sandbox(Path(args[1]))
    if len(args) < 3:
        print(
            "Usage: Octopus.Server <command> [<options>]\nCommands: configure, ssl-certificate, service, "
            "show-configuration, list-instances, version"
        )
        return 2
    command, options = args[2], parse_options(args[3:])
    instance = options.get("instance", DEFAULT_INSTANCE)
    handlers = {
        "list-instances": _list_instances,
        "show-configuration": _show_configuration,
        "configure": _configure,
        "ssl-certificate": _ssl_certificate,
        "service": _service,
        "version": _version,
    }
    handler = handlers.get(command)
    if handler is None:
        return _fail(f"Command '{command}' is not supported by this sandbox stand-in.", 2)
    if command not in {"list-instances", "version"} and instance not in sandbox.instances():
        return _fail(
            f"Instance '{instance}' of OctopusServer has not been configured on this machine. "
            f"Available instances: {', '.join(sandbox.instances()) or '(none)'}."
        )
    return handler(sandbox, instance, options)


def _list_instances(sandbox: Sandbox, instance: str, options: dict[str, str]) -> int:
    for name in sandbox.instances():
        print(f"Instance '{name}' uses configuration '{sandbox.instance_path(name)}'.")
    return 0


def _version(sandbox: Sandbox, instance: str, options: dict[str, str]) -> int:
    print(OCTOPUS_VERSION)
    return 0


def _show_configuration(sandbox: Sandbox, instance: str, options: dict[str, str]) -> int:
    data = sandbox.read_json(sandbox.instance_path(instance), {})
    fmt = options.get("format", "XML").lower()
    if fmt == "json-hierarchical":
        print(json.dumps(data, indent=2))
    elif fmt == "json":
        print(json.dumps(_flatten(data)))
    else:
        return _fail("The sandbox stand-in prints only --format=json or --format=json-hierarchical.", 1)
    return 0


def _configure(sandbox: Sandbox, instance: str, options: dict[str, str]) -> int:
    if sandbox.consume_drill("configure"):
        return _fail(
            "Octopus.Shared.ControlledFailureException: The configuration could not be saved: "
            "the configuration file is locked by another process (sandbox drill 'configure')."
        )
    with sandbox.locked():
        data = sandbox.read_json(sandbox.instance_path(instance), {})
        portal = data.setdefault("Octopus", {}).setdefault("WebPortal", {})
        if "weblistenprefixes" in options:
            prefixes = [p.strip() for p in options["weblistenprefixes"].split(",") if p.strip()]
            for prefix in prefixes:
                problem = validate_prefix(prefix)
                if problem:
                    return _fail(problem)
            portal["ListenPrefixes"] = ",".join(prefixes)
            for prefix in prefixes:
                sandbox._map_port_locked(prefix_port(prefix))
        if "trustedproxies" in options:
            proxies = [x.strip() for x in options["trustedproxies"].split(",") if x.strip()]
            invalid = [x for x in proxies if not _is_ip(x)]
            if invalid:
                return _fail(f"--trustedProxies takes IP addresses; '{invalid[0]}' is not one.")
            portal["TrustedProxies"] = ",".join(proxies)
        if "webforcessl" in options:
            portal["ForceSSL"] = str(_truthy(options["webforcessl"]))
        if "hstsenabled" in options:
            portal["HttpStrictTransportSecurityEnabled"] = str(_truthy(options["hstsenabled"]))
        if "hstsmaxage" in options:
            if not options["hstsmaxage"].isdigit():
                return _fail(f"--hstsMaxAge must be a number of seconds, got '{options['hstsmaxage']}'.")
            portal["HttpStrictTransportSecurityMaxAge"] = options["hstsmaxage"]
        sandbox.write_json(sandbox.instance_path(instance), data)
    print("Configuration saved. Restart the Octopus service for the changes to take effect.")
    return 0


def _ssl_certificate(sandbox: Sandbox, instance: str, options: dict[str, str]) -> int:
    thumbprint = "".join(c for c in options.get("thumbprint", "") if c in "0123456789abcdefABCDEF").upper()
    store = options.get("certificate-store", "My")
    ip_address = options.get("ip-address", "0.0.0.0")
    port = options.get("port", "443")
    if len(thumbprint) != 40:
        return _fail("SSL Certificate add failed, Error: 87\nThe parameter is incorrect.")
    if store.lower() not in {"my", "webhosting"}:
        return _fail("Only the 'My' and 'WebHosting' LocalMachine certificate stores are supported.")
    store_dir = next((p for p in sandbox.stores_dir.iterdir() if p.name.lower() == store.lower()), None)
    if store_dir is None:
        return _fail(f"The certificate store LocalMachine\\{store} does not exist.")
    if not (store_dir / f"{thumbprint}.pem").is_file():
        return _fail(f"Could not find a certificate with thumbprint {thumbprint} in LocalMachine\\{store}.")
    if sandbox.consume_drill("ssl-certificate") or not (store_dir / f"{thumbprint}.key").is_file():
        return _fail(
            "SSL Certificate add failed, Error: 1312\n"
            "A specified logon session does not exist. It may already have been terminated."
        )
    with sandbox.locked():
        bindings = sandbox.read_json(sandbox.httpsys_path, {})
        key = f"{ip_address}:{port}"
        previous = bindings.get(key)
        if sandbox.consume_swap_drill(previous, thumbprint):
            # drill 'swap': Octopus removes the old binding, then adding the new one fails (reference: a
            # delete-then-add can fail on the add with 1312) — the port is left unbound
            del bindings[key]
            sandbox.write_json(sandbox.httpsys_path, bindings)
            return _fail(
                "SSL Certificate add failed, Error: 1312\n"
                "A specified logon session does not exist. It may already have been terminated."
            )
        # Modelled as delete + add, the Unconfirmed worst case: per-binding flags are not carried over.
        bindings[key] = {
            "hash": thumbprint,
            "appid": OCTOPUS_APP_ID,
            "store": store,
        }
        sandbox.write_json(sandbox.httpsys_path, bindings)
        if previous and previous.get("hash") != thumbprint:
            sandbox.remember_previous_binding(key, previous)
    if previous and previous.get("hash") != thumbprint and sandbox.consume_drill("hang-after-swap"):
        # drill 'hang-after-swap': the new binding is in place, but the command does not return — the run
        # that waits for it can be killed between the swap and its proof (the change journal's case)
        time.sleep(HANG_AFTER_SWAP_SECONDS)
    print(f"SSL certificate {thumbprint} bound to {key} (LocalMachine\\{store}).")
    return 0


def _service(sandbox: Sandbox, instance: str, options: dict[str, str]) -> int:
    if not any(k in options for k in ("stop", "start", "restart")):
        return _fail("Specify --stop, --start or --restart.", 2)
    if "stop" in options or "restart" in options:
        if sandbox.stop():
            print("Service stopped")
    if "start" in options or "restart" in options:
        refused = _listen_refused(sandbox, instance)
        if refused:
            return _fail(refused)
        if sandbox.consume_drill("service-start"):
            return _fail(
                "System.Net.HttpListenerException (0x80004005): The process cannot access the file because it "
                "is being used by another process (sandbox drill 'service-start')."
            )
        try:
            start_portal(
                sandbox,
                instance,
                hang=sandbox.consume_drill("hang"),
                wrong_certificate=sandbox.consume_drill("wrong-certificate"),
            )
        except TargetError as exc:
            return _fail(f"{exc.message} {exc.finding.details.get('log', '')}")
        print("Service started")
    return 0


def _listen_refused(sandbox: Sandbox, instance: str) -> str:
    """HTTP.sys lets a service account that is not LocalSystem register a prefix only under a reservation."""
    account = sandbox.service_account()
    if account.strip().lower() in LOCAL_SYSTEM:
        return ""
    data = sandbox.read_json(sandbox.instance_path(instance), {})
    prefixes = str(data.get("Octopus", {}).get("WebPortal", {}).get("ListenPrefixes") or "").split(",")
    reserved = {u.lower() for u in sandbox.read_json(sandbox.urlacl_path, {})}
    for prefix in (p.strip() for p in prefixes if p.strip()):
        scheme = prefix.split(":", 1)[0].lower()
        if f"{scheme}://+:{prefix_port(prefix)}/" not in reserved and prefix.lower() not in reserved:
            return (
                f"An Access Denied error was received trying to start the HttpListener. {account} may not listen "
                f"on {prefix} (no URL reservation)."
            )
    return ""


if __name__ == "__main__":
    os.umask(0o077)
    sys.exit(main())
