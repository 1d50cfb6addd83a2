"""Stand-in ``netsh http ... sslcert`` for the sandbox, printing the documented English output."""

from __future__ import annotations

import sys
from pathlib import Path

from .host import Sandbox

_FIELDS_TAIL = """    Verify Client Certificate Revocation : Enabled
    Verify Revocation Using Cached Client Certificate Only : Disabled
    Usage Check                  : Enabled
    Revocation Freshness Time    : 0
    URL Retrieval Timeout        : 0
    Ctl Identifier               : (null)
    Ctl Store Name               : (null)
    DS Mapper Usage              : Disabled
    Negotiate Client Certificate : Disabled
    Reject Connections           : Disabled
    Disable HTTP2                : Not Set
    Disable QUIC                 : Not Set
    Disable TLS1.2               : Not Set
    Disable TLS1.3               : Not Set
"""


def render(bindings: dict[str, dict[str, str]]) -> str:
    lines = ["", "SSL Certificate bindings:", "-------------------------", ""]
    for endpoint, binding in sorted(bindings.items()):
        lines += [
            f"    IP:port                      : {endpoint}",
            f"    Certificate Hash             : {binding['hash'].lower()}",
            f"    Application ID               : {binding['appid'].lower()}",
            f"    Certificate Store Name       : {binding.get('store') or '(null)'}",
            _FIELDS_TAIL,
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    sandbox = Sandbox(Path(args[1]))
    words = args[2:]
    params = dict(w.split("=", 1) for w in words if "=" in w)
    verbs = [w.lower() for w in words if "=" not in w]
    if verbs[:1] != ["http"] or len(verbs) < 3 or verbs[2] != "sslcert":
        print("The following command was not found: " + " ".join(words) + ".")
        return 1
    action = verbs[1]
    with sandbox.locked():
        bindings: dict[str, dict[str, str]] = sandbox.read_json(sandbox.httpsys_path, {})
        endpoint = params.get("ipport", "")
        if action == "show":
            shown = {endpoint: bindings[endpoint]} if endpoint in bindings else ({} if endpoint else bindings)
            if endpoint and not shown:
                print("\nThe system cannot find the file specified.\n")
                return 1
            print(render(shown))
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
            if action == "add" and endpoint in bindings:
                print(
                    "\nSSL Certificate add failed, Error: 183\nCannot create a file when that file already "
                    "exists.\n"
                )
                return 1
            bindings[endpoint] = {
                "hash": params["certhash"].upper(),
                "appid": params["appid"].upper(),
                "store": params.get("certstorename", "MY"),
            }
            sandbox.write_json(sandbox.httpsys_path, bindings)
            print(f"\nSSL Certificate successfully {'added' if action == 'add' else 'updated'}\n")
            return 0
    print("The following command was not found: " + " ".join(words) + ".")
    return 1


if __name__ == "__main__":
    sys.exit(main())
