"""Stand-in for ``Octopus.Server.exe``: list-instances, show-configuration, configure, ssl-certificate, service.

Output follows reference/octopus-server-cli.md: the documented ``list-instances`` text, the
json-hierarchical shape of OctopusDSC's fixture (string values, ``ForceSSL`` casing), and with scenario
``nlog_prefix`` the NLog exception text printed before the JSON (OctopusDSC#179). ``ssl-certificate``
binds through the same HTTP.sys state as the stand-in netsh, so its failures are HTTP.sys's:
``Error: 1312`` for a certificate without a usable key, and ``netsh_<n>`` forces error n. Octopus 4.0+
binds through the HTTP Server API itself: with ``octopus_httpapi`` it prints the Win32 exception and its
English message instead, with ``octopus_hresult`` a COM exception with the HRESULT and a German message.
What Octopus prints around such an error, and its exit codes, are not documented (1 is assumed).
"""

from __future__ import annotations

import json
import sys
from typing import Any

import _state

NLOG_PREFIX = (
    "Migrating OctopusServer instance from registry - HostedOctopus\r\n"
    "NLog.NLogRuntimeException: Exception occurred in NLog ---> System.IO.IOException: The process cannot access "
    "the file 'C:\\Octopus\\Logs\\OctopusServer.txt' because it is being used by another process.\r\n"
    "   at NLog.Targets.FileTarget.Write(LogEventInfo logEvent)\r\n"
    "   --- End of inner exception stack trace ---\r\n"
)


def default_instance() -> dict[str, Any]:
    return {
        "config": "C:\\Octopus\\OctopusServer.config",
        "web": {
            "ListenPrefixes": "http://localhost:80/",
            "ForceSSL": "False",
            "HttpStrictTransportSecurityEnabled": "False",
            "HttpStrictTransportSecurityMaxAge": "3600",
        },
        "service": "running",
    }


def load() -> dict[str, Any]:
    data = _state.read_json("octopus.json", None)
    if not isinstance(data, dict):
        data = {"instances": {"OctopusServer": default_instance()}}
    return data


def parse_options(tokens: list[str]) -> dict[str, str | bool]:
    options: dict[str, str | bool] = {}
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if not token.startswith("--"):
            raise SystemExit(f"Unexpected argument '{token}'")
        name, sep, value = token[2:].partition("=")
        if sep:
            options[name] = value
            i += 1
        elif i + 1 < len(tokens) and not tokens[i + 1].startswith("--"):
            options[name] = tokens[i + 1]
            i += 2
        else:
            options[name] = True
            i += 1
    return options


def hierarchical(web: dict[str, str]) -> dict[str, Any]:
    return {
        "Octopus": {
            "Communications": {"ServicesPort": 10943, "WebSocketPrefix": None},
            "Home": "C:\\Octopus",
            "Server": {"NodeName": "OCTO-WIN01", "TaskCap": "5", "MaintenanceMode": False},
            "WebPortal": {
                "ListenPrefixes": web["ListenPrefixes"],
                "ForceSSL": web["ForceSSL"],
                "RequestLoggingEnabled": "False",
                "RequestMetricLoggingEnabled": "True",
                "CorsWhitelist": None,
                "XFrameOptionAllowFrom": None,
                "HttpStrictTransportSecurityEnabled": web["HttpStrictTransportSecurityEnabled"],
                "HttpStrictTransportSecurityMaxAge": web["HttpStrictTransportSecurityMaxAge"],
                "ContentSecurityPolicyEnabled": "True",
                "ReferrerPolicy": "no-referrer",
                "TrustedRedirectUrls": None,
                "AutoLoginEnabled": "False",
            },
        }
    }


def main(argv: list[str]) -> int:
    _state.log_call("octopus", argv)
    if not argv:
        print("Usage: Octopus.Server <command> [<options>]")
        return 2
    command, options = argv[0], parse_options(argv[1:])
    scenarios = _state.scenarios()
    state = load()
    instances: dict[str, Any] = state["instances"]

    if command == "list-instances":
        for name, instance in instances.items():
            print(f"Instance '{name}' uses configuration '{instance['config']}'.")
        return 0

    name = options.get("instance")
    if not isinstance(name, str) or name not in instances:
        print(
            f"Instance '{name}' of Octopus Server has not been configured on this machine."
        )  # wording undocumented
        return 1
    instance = instances[name]

    if command == "show-configuration":
        text = json.dumps(hierarchical(instance["web"]), indent=2)
        if "nlog_prefix" in scenarios:
            text = NLOG_PREFIX + text
        print(text)
        return 0

    if command == "configure":
        mapping = {
            "webListenPrefixes": "ListenPrefixes",
            "webForceSSL": "ForceSSL",
            "hstsEnabled": "HttpStrictTransportSecurityEnabled",
            "hstsMaxAge": "HttpStrictTransportSecurityMaxAge",
        }
        for option, key in mapping.items():
            if isinstance(options.get(option), str):
                instance["web"][key] = options[option]
        _state.write_json("octopus.json", state)
        print("Configuration changed.")
        return 0

    if command == "ssl-certificate":
        store = str(options.get("certificate-store", "My"))
        if store not in ("My", "WebHosting") or (store == "WebHosting" and "octopus_4_0" in scenarios):
            # The documented text of Octopus 4.0.0-4.0.6 (Issues#3958), which rejected WebHosting.
            print("Only the 'My' and 'Hosting' LocalMachine certificate stores are supported.")
            return 1
        endpoint = f"{options.get('ip-address', '0.0.0.0')}:{options.get('port', '443')}"
        number = _state.add_binding(
            endpoint, str(options.get("thumbprint", "")), _state.OCTOPUS_APP_ID, store, replace=True
        )
        if number and "octopus_httpapi" in scenarios:
            print(f"Binding certificate to {endpoint}")
            print(f"System.ComponentModel.Win32Exception (0x80004005): {_state.NETSH_ERRORS.get(number, '')}")
            print("   at Octopus.Server.Web.HttpSys.SslCertificateBinding.Bind()")
            return 1
        if number and "octopus_hresult" in scenarios:
            german = {
                1312: "Eine angegebene Anmeldesitzung ist nicht vorhanden.",
                1359: "Interner Fehler.",
                87: "Falscher Parameter.",
            }
            print(f"Binding certificate to {endpoint}")
            print(
                f"System.Runtime.InteropServices.COMException (0x8007{number:04X}): {german.get(number, '')}"
            )
            return 1
        if number:
            print(f"Binding certificate to {endpoint}")
            print(f"SSL Certificate add failed, Error: {number}")
            print(_state.NETSH_ERRORS.get(number, ""))
            return 1
        print(f"SSL certificate bound to {endpoint}.")
        return 0

    if command == "service":
        for action in ("stop", "start", "restart"):
            if options.get(action) is True:
                if action != "stop" and "port_in_use" in scenarios:
                    print(
                        "System.Net.HttpListenerException (0x80004005): The process cannot access the file because "
                        "it is being used by another process"
                    )
                    return 100
                instance["service"] = "stopped" if action == "stop" else "running"
        _state.write_json("octopus.json", state)
        print(f"Service is {instance['service']}.")
        return 0

    print(f"Command '{command}' is not supported by this stand-in.")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
