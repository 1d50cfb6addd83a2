"""Stand-in ``netsh http ... sslcert`` for the sandbox, printing the documented English output.

A sandbox whose ``sandbox.json`` says ``"netsh_language": "de"`` prints ``show sslcert`` as a German server
might: every label and every Enabled/Set word translated (the German words are illustrative, not a
transcript); the values that identify a binding (endpoint, hash, GUID, store) stay as they are.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ..winsyntax import SSLCERT_SETTINGS
from .host import Sandbox

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (mypy reads the name)
if TYPE_CHECKING:  # this stand-in is started for every command a sandbox run makes
    from typing import Any

_PARAMETERS = {parameter for _, parameter, _ in SSLCERT_SETTINGS}


def _shown(default: str, given: str) -> str:
    """How netsh prints a value given as ``enable``/``disable`` (or a number / identifier)."""
    word = given.strip().lower()
    if word in {"enable", "disable"}:
        on = word == "enable"
        if default in {"Set", "Not Set"}:
            return "Set" if on else "Not Set"
        return "Enabled" if on else "Disabled"
    return given


_GERMAN_WORDS = {
    "Enabled": "Aktiviert",
    "Disabled": "Deaktiviert",
    "Set": "Festgelegt",
    "Not Set": "Nicht festgelegt",
}
_GERMAN = {
    "SSL Certificate bindings:": "SSL-Zertifikatbindungen:",
    "IP:port": "IP:Port",
    "Certificate Hash": "Zertifikathash",
    "Application ID": "Anwendungs-ID",
    "Certificate Store Name": "Zertifikatspeichername",
    "Verify Client Certificate Revocation": "Überprüfung der Clientzertifikatsperre",
    "Verify Revocation Using Cached Client Certificate Only": "Sperrüberprüfung nur mit zwischengespeichertem "
    "Clientzertifikat",
    "Usage Check": "Verwendungsüberprüfung",
    "Revocation Freshness Time": "Aktualitätszeit der Sperrung",
    "URL Retrieval Timeout": "URL-Abruftimeout",
    "Ctl Identifier": "Ctl-Bezeichner",
    "Ctl Store Name": "Ctl-Speichername",
    "DS Mapper Usage": "DS-Zuordnungsverwendung",
    "Negotiate Client Certificate": "Clientzertifikat aushandeln",
    "Reject Connections": "Verbindungen ablehnen",
    "Disable HTTP2": "HTTP2 deaktivieren",
    "Disable QUIC": "QUIC deaktivieren",
    "Disable TLS1.2": "TLS1.2 deaktivieren",
    "Disable TLS1.3": "TLS1.3 deaktivieren",
    "Disable OCSP Stapling": "OCSP-Anheftung deaktivieren",
    "Enable Token Binding": "Tokenbindung aktivieren",
    "Log Extended Events": "Erweiterte Ereignisse protokollieren",
    "Disable Legacy TLS Versions": "Legacy-TLS-Versionen deaktivieren",
    "Enable Session Ticket": "Sitzungsticket aktivieren",
    "Disable Session ID": "Sitzungs-ID deaktivieren",
}


def _line(label: str, value: str, german: bool) -> str:
    if german:
        label, value = _GERMAN.get(label, label), _GERMAN_WORDS.get(value, value)
    return f"    {label:<28} : {value}"


def _tail(binding: dict[str, Any], german: bool) -> str:
    flags: dict[str, str] = binding.get("flags") or {}
    lines = []
    for label, parameter, default in SSLCERT_SETTINGS:
        value = _shown(default, flags[parameter]) if parameter in flags else default
        lines.append(_line(label, value, german))
    return "\n".join(lines) + "\n"


def render(bindings: dict[str, dict[str, Any]], language: str = "en") -> str:
    german = language == "de"
    title = _GERMAN["SSL Certificate bindings:"] if german else "SSL Certificate bindings:"
    lines = ["", title, "-" * len(title), ""]
    for endpoint, binding in sorted(bindings.items()):
        lines += [
            _line("Hostname:port" if endpoint[:1].isalpha() else "IP:port", endpoint, german),
            _line("Certificate Hash", binding["hash"].lower(), german),
            _line("Application ID", binding["appid"].lower(), german),
            _line("Certificate Store Name", binding.get("store") or "(null)", german),
            _tail(binding, german),
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    sandbox = Sandbox(Path(args[1]))
    words = args[2:]
    params = dict(w.split("=", 1) for w in words if "=" in w)
    verbs = [w.lower() for w in words if "=" not in w]
    if verbs[:3] in (["http", "add", "sslcert"], ["http", "update", "sslcert"]) and verbs[3:] in (
        ["help"],
        ["?"],
    ):
        meta = sandbox.meta()
        lacking = [*(meta.get("netsh_lacks") or []), *(meta.get(f"netsh_{verbs[1]}_lacks") or [])]
        lacks = {str(n).lower() for n in lacking}
        print(usage(verbs[1], [p for p in sorted(_PARAMETERS) if p not in lacks]))
        return 0
    if verbs[:1] == ["http"] and len(verbs) == 3 and verbs[2] == "urlacl":
        return urlacl(sandbox, verbs[1], params)
    if verbs[:1] != ["http"] or len(verbs) < 3 or verbs[2] != "sslcert":
        print("The following command was not found: " + " ".join(words) + ".")
        return 1
    action = verbs[1]
    with sandbox.locked():
        bindings: dict[str, dict[str, Any]] = sandbox.read_json(sandbox.httpsys_path, {})
        endpoint = params.get("ipport") or params.get("hostnameport") or ""  # an SNI record: name:port
        if action == "show":
            shown = {endpoint: bindings[endpoint]} if endpoint in bindings else ({} if endpoint else bindings)
            if endpoint and not shown:
                print("\nThe system cannot find the file specified.\n")
                return 1
            print(render(shown, str(sandbox.meta().get("netsh_language") or "en")))
            return 0
        if action == "delete":
            if endpoint not in bindings:
                print(
                    "\nSSL Certificate deletion failed, Error: 2\nThe system cannot find the file specified.\n"
                )
                return 1
            del bindings[endpoint]
            sandbox.write_json(sandbox.httpsys_path, bindings)
            print("\nSSL Certificate successfully deleted\n")
            return 0
        if action in {"add", "update"}:
            if not endpoint or "certhash" not in params or "appid" not in params:
                print(
                    "\nOne or more essential parameters were not entered.\nVerify the required parameters, "
                    "and reenter them.\n"
                )
                return 1
            if action == "update" and endpoint not in bindings:
                print(
                    "\nSSL Certificate update failed, Error: 2\nThe system cannot find the file specified.\n"
                )
                return 1
            if action == "add" and endpoint in bindings:
                print(
                    "\nSSL Certificate add failed, Error: 183\nCannot create a file when that file already "
                    "exists.\n"
                )
                return 1
            unknown = sorted(
                k
                for k in params
                if k not in _PARAMETERS | {"ipport", "hostnameport", "certhash", "appid", "certstorename"}
            )
            if unknown:
                print(f"\nThe parameter is incorrect.\nUnknown parameter: {unknown[0]}\n")
                return 1
            previous = bindings.get(endpoint)
            if action == "update" and sandbox.consume_swap_drill(previous, params["certhash"]):
                # drill 'swap': the update loses the binding and then fails, as a delete-then-add can (1312)
                del bindings[endpoint]
                sandbox.write_json(sandbox.httpsys_path, bindings)
                print(
                    "\nSSL Certificate update failed, Error: 1312\nA specified logon session does not exist. "
                    "It may already have been terminated.\n"
                )
                return 1
            bindings[endpoint] = {
                "hash": params["certhash"].upper(),
                "appid": params["appid"].upper(),
                "store": params.get("certstorename", "MY"),
                "flags": {k: v for k, v in params.items() if k in _PARAMETERS},
            }
            if previous and previous.get("hash") != bindings[endpoint]["hash"]:
                sandbox.remember_previous_binding(endpoint, previous)
            sandbox.write_json(sandbox.httpsys_path, bindings)
            print(f"\nSSL Certificate successfully {'added' if action == 'add' else 'updated'}\n")
            return 0
    print("The following command was not found: " + " ".join(words) + ".")
    return 1


def usage(verb: str, parameters: list[str]) -> str:
    """``netsh http add sslcert help`` as Windows prints it: the syntax, then one line per parameter.
    (A build without a setting does not list it: ``sandbox.json`` ``netsh_lacks`` models one, and
    ``netsh_update_lacks`` one whose ``update`` lags behind its ``add``.)"""
    lines = [
        f"\nUsage: {verb} sslcert [ipport=]IP Address:port | [hostnameport=]<name:port> | [ccs=]<port>",
        "         [certhash=]string",
        "         [appid=]GUID",
        "         [[certstorename=]string]",
    ]
    lines += [f"         [{name}=]enable|disable" for name in parameters]
    lines += [
        "\nParameters:\n",
        "    Tag              Value",
        "    ipport         - IP address and port for the binding.",
    ]
    return "\n".join(lines) + "\n"


def urlacl(sandbox: Sandbox, action: str, params: dict[str, str]) -> int:
    """``netsh http show|add|delete urlacl``: the reservations in ``urlacl.json`` (URL -> user);
    ``sandbox.json`` ``urlacl_add_noop`` makes ``add`` print success and reserve nothing."""
    url = params.get("url", "")
    with sandbox.locked():
        reservations: dict[str, str] = sandbox.read_json(sandbox.urlacl_path, {})
        found = {u: user for u, user in reservations.items() if not url or u.lower() == url.lower()}
        if action == "show":
            print("\nURL Reservations:\n-----------------\n")
            for reserved, user in sorted(found.items()):
                print(f"    Reserved URL            : {reserved}\n        User: {user}")
                print(
                    "            Listen: Yes\n            Delegate: No\n            SDDL: D:(A;;GX;;;S-1-5-21-0)\n"
                )
            return 0
        if action == "add" and url and params.get("user"):
            if found:
                print(
                    "\nUrl reservation add failed, Error: 183\nCannot create a file when that file already exists.\n"
                )
                return 1
            if sandbox.meta().get("urlacl_add_noop"):  # drill: success printed, nothing reserved
                print("\nURL reservation successfully added\n")
                return 0
            reservations[url] = params["user"]
        elif action == "delete" and url:
            if not found:
                print(
                    "\nUrl reservation delete failed, Error: 2\nThe system cannot find the file specified.\n"
                )
                return 1
            for reserved in found:
                del reservations[reserved]
        else:
            print("\nOne or more essential parameters were not entered.\n")
            return 1
        sandbox.write_json(sandbox.urlacl_path, reservations)
    print(f"\nURL reservation successfully {'added' if action == 'add' else 'deleted'}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
