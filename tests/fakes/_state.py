"""State shared by the stand-in executables, kept in ``$FAKE_WINDOWS_DIR`` (stdlib + cryptography only).

Layout::

    argv.log                         one JSON line per stand-in invocation (never a secret value)
    stores/<Store>/<THUMB>.json      the LocalMachine store: DER, key PEM, provider (a missing folder is a missing store)
    httpsys.json                     HTTP.sys SSL bindings keyed "ip:port"
    octopus.json                     Octopus instances, their web portal settings and service state
    acls.json                        Windows owners and DACLs of folders and files, by path

Imported by the stand-ins as a plain module (their folder is ``sys.path[0]``), never as ``tests.fakes``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

OCTOPUS_APP_ID = "{E2096A4C-2391-4BE1-9F17-E353F930E7F1}"
IIS_APP_ID = "{4dc3e181-e14b-4a21-b022-59fc669b0914}"
PASSWORD_ENV = "OCTORUNBOOK_PFX_PASSWORD_CHILD"


def root() -> Path:
    value = os.environ.get("FAKE_WINDOWS_DIR")
    if not value:
        sys.stderr.write("FAKE_WINDOWS_DIR is not set\n")
        sys.exit(70)
    return Path(value)


def scenarios() -> set[str]:
    return {s.strip() for s in os.environ.get("FAKE_SCENARIO", "success").split(",") if s.strip()}


def log_call(tool: str, argv: list[str], **extra: Any) -> None:
    """Record argv and the *names* of OCTORUNBOOK_* variables; whether the PFX password arrived by env."""
    password = os.environ.get(PASSWORD_ENV)
    entry = {
        "tool": tool,
        "argv": argv,
        "env_names": sorted(k for k in os.environ if k.startswith("OCTORUNBOOK_")),
        "password_in_env": password is not None,
        "password_sha256": hashlib.sha256(password.encode()).hexdigest() if password is not None else None,
        **extra,
    }
    with (root() / "argv.log").open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(entry) + "\n")


def read_json(name: str, default: Any) -> Any:
    path = root() / name
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return default


def write_json(name: str, data: Any) -> None:
    path = root() / name
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=2), encoding="utf-8")
    tmp.replace(path)


def store_dir(store: str) -> Path:
    return root() / "stores" / store


def store_exists(store: str) -> bool:
    if store.lower() == "webhosting" and "webhosting_missing" in scenarios():
        return False
    if store.upper() == "CA":  # Intermediate Certification Authorities: on every Windows machine
        store_dir(store).mkdir(parents=True, exist_ok=True)
    return store_dir(store).is_dir()


def stored(store: str, thumbprint: str) -> dict[str, Any] | None:
    path = store_dir(store) / f"{thumbprint.upper()}.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


# -- HTTP.sys ------------------------------------------------------------------------------------
NETSH_ERRORS = {
    2: "The system cannot find the file specified.",
    5: "Access is denied.",
    87: "The parameter is incorrect.",
    183: "Cannot create a file when that file already exists.",
    1312: "A specified logon session does not exist. It may already have been terminated.",
    1359: "An internal error occurred.",
}


def bindings() -> dict[str, dict[str, str]]:
    data = read_json("httpsys.json", {})
    return data if isinstance(data, dict) else {}


def add_binding(endpoint: str, certhash: str, appid: str, store: str | None, *, replace: bool) -> int:
    """Add an SSL binding the way HTTP.sys judges it; returns 0 or the netsh error number."""
    forced = [int(m.group(1)) for s in scenarios() if (m := re.fullmatch(r"netsh_(\d+)", s))]
    if forced:
        return forced[0]
    if not re.fullmatch(r"[0-9A-Fa-f]{40}", certhash) or not re.fullmatch(r"\{[0-9A-Fa-f-]{36}\}", appid):
        return 87
    current = bindings()
    if endpoint in current and not replace:
        return 183
    cert = stored(store or "My", certhash)
    if cert is None or not cert.get("key_pem"):
        return 1312  # no certificate with a usable key in LocalMachine\<store>
    current[endpoint] = {
        "hash": certhash.lower(),
        "appid": appid,
        "store": store if store is not None else "(null)",
    }
    write_json("httpsys.json", current)
    return 0
