"""Stand-in ``reg query`` for the sandbox: an HTTP.sys binding's registry values, from its binding file.

Only ``reg query <HKLM\\...\\SslBindingInfo|SslSniBindingInfo\\endpoint>`` is spoken, printing the layout
``reg.exe`` documents (the key, then ``    Name    REG_TYPE    data`` lines; DWORDs as ``0x…``, binaries as
upper-case hex), with the values the netsh parameters of the binding set (``registry_values``). An
unknown key prints reg's error and exits 1. Drill: a binding entry's ``registry_extra`` values (name ->
``[type, data]``) are printed too, as a newer Windows build's values would be.
"""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

from ..winsyntax import (
    CHECK_MODE_PARAMETERS,
    FLAG_PARAMETERS,
    FRESHNESS_TIME_ENABLED,
    PARAMETERS_KEY,
    VALUE_PARAMETERS,
)
from .host import Sandbox

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (mypy reads the name)
if TYPE_CHECKING:  # this stand-in is started for every command a sandbox run makes
    from typing import Any

NOT_FOUND = "ERROR: The system was unable to find the specified registry key or value."


def registry_values(binding: dict[str, Any]) -> list[tuple[str, str, str]]:
    """``(name, type, data)`` as the HTTP service would store a binding made with these parameters."""
    flags: dict[str, str] = {k: str(v).lower() for k, v in (binding.get("flags") or {}).items()}
    bits = sum(bit for bit, parameter in FLAG_PARAMETERS.items() if flags.get(parameter) == "enable")
    mode = sum(
        bit for bit, (parameter, value) in CHECK_MODE_PARAMETERS.items() if flags.get(parameter) == value
    )
    numbers = {name: flags.get(parameter, "") for name, parameter in VALUE_PARAMETERS.items()}
    if numbers["DefaultRevocationFreshnessTime"] not in {"", "0"}:
        mode |= FRESHNESS_TIME_ENABLED
    app_id = uuid.UUID(str(binding.get("appid", "")).strip("{}"))
    values = [
        ("AppId", "REG_BINARY", app_id.bytes_le.hex().upper()),
        ("DefaultCertCheckMode", "REG_DWORD", f"0x{mode:x}"),
        ("DefaultFlags", "REG_DWORD", f"0x{bits:x}"),
        (
            "DefaultRevocationFreshnessTime",
            "REG_DWORD",
            f"0x{int(numbers['DefaultRevocationFreshnessTime'] or 0):x}",
        ),
        (
            "DefaultRevocationUrlRetrievalTimeout",
            "REG_DWORD",
            f"0x{int(numbers['DefaultRevocationUrlRetrievalTimeout'] or 0):x}",
        ),
        ("DefaultSslCtlIdentifier", "REG_SZ", numbers["DefaultSslCtlIdentifier"]),
        ("DefaultSslCtlStoreName", "REG_SZ", numbers["DefaultSslCtlStoreName"]),
        ("SslCertHash", "REG_BINARY", str(binding.get("hash", "")).upper()),
        ("SslCertStoreName", "REG_SZ", str(binding.get("store") or "MY")),
    ]
    extra: dict[str, list[str]] = binding.get("registry_extra") or {}
    return values + [(name, kind, data) for name, (kind, data) in sorted(extra.items())]


def render(key: str, values: list[tuple[str, str, str]]) -> str:
    lines = ["", key.replace("HKLM\\", "HKEY_LOCAL_MACHINE\\", 1)]
    lines += [f"    {name}    {kind}    {data}" for name, kind, data in values]
    return "\n".join(lines) + "\n\n"


def answer(bindings: dict[str, dict[str, Any]], argv: list[str]) -> tuple[int, str]:
    """``(exit code, output)`` of ``reg <argv>`` against these bindings."""
    if len(argv) != 2 or argv[0].lower() != "query":
        return 1, 'ERROR: Invalid syntax.\nType "REG QUERY /?" for usage.\n'
    key = argv[1]
    for folder in ("SslBindingInfo", "SslSniBindingInfo"):
        prefix = f"{PARAMETERS_KEY}\\{folder}\\"
        if key.lower().startswith(prefix.lower()):
            endpoint = key[len(prefix) :]
            if endpoint in bindings:
                return 0, render(key, registry_values(bindings[endpoint]))
    return 1, NOT_FOUND + "\n"


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    sandbox = Sandbox(Path(args[1]))
    with sandbox.locked():
        bindings: dict[str, dict[str, Any]] = sandbox.read_json(sandbox.httpsys_path, {})
    code, text = answer(bindings, args[2:])
    print(text, end="")
    return code


if __name__ == "__main__":
    sys.exit(main())
