"""Stand-in ``powershell`` that also answers ``read-schannel.ps1`` and ``set-schannel.ps1``.

The registry lives in ``$FAKE_WINDOWS_DIR/registry.json`` as ``{key path (lower case): {name: {"type", "value"}}}``
(Windows registry paths are case-insensitive). Which values ``read-schannel.ps1`` reads is taken from the
real script's text, so a path changed in the script and not in octorunbook (or the other way) fails a test.
Every other script is handed to the shared stand-in (``powershell.py``) unchanged.

``FAKE_SCENARIO``: windows_2016 (build 14393), windows_2022 (20348), default 17763; not_elevated (the
write fails with access denied after the previous values were read, which the answer still carries).
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import _state
import powershell

ACCESS_DENIED = -2147024891


def registry() -> dict[str, dict[str, dict[str, Any]]]:
    data = _state.read_json("registry.json", {})
    return data if isinstance(data, dict) else {}


def read_value(path: str, name: str) -> tuple[str, Any]:
    entry = registry().get(path.lower(), {}).get(name)
    return (entry["type"], entry["value"]) if entry else ("", None)


def wanted_values(script: Path) -> list[tuple[str, str]]:
    """The (path, name) pairs the real read-schannel.ps1 lists, in its order."""
    text = script.read_text(encoding="utf-8-sig")
    base = re.search(r"\$schannel = '([^']+)'", text)
    pairs = []
    for prefix, path, name in re.findall(r"@\((\$schannel \+ )?'([^']+)', '([^']+)'\)", text):
        pairs.append(((base.group(1) if prefix and base else "") + path, name))
    return pairs


def build() -> int:
    scenarios = _state.scenarios()
    return 14393 if "windows_2016" in scenarios else 20348 if "windows_2022" in scenarios else 17763


def read_schannel(script: Path, p: dict[str, Any]) -> dict[str, Any]:
    values = []
    for path, name in wanted_values(script):
        kind, value = read_value(path, name)
        values.append({"path": path, "name": name, "type": kind, "value": value})
    return {"status": "ok", "windows_build": build(), "values": values}


def set_schannel(script: Path, p: dict[str, Any]) -> dict[str, Any]:
    plan = json.loads(Path(p["PlanPath"]).read_text(encoding="utf-8"))
    changes = list(plan["changes"])
    for change in changes:
        if not str(change["path"]).startswith("HKLM:\\"):
            return {
                "status": "error",
                "phase": "read-plan",
                "message": f"Refusing a path outside HKLM: '{change['path']}'.",
            }
        if change["type"] not in ("DWord", "String"):
            return {
                "status": "error",
                "phase": "read-plan",
                "message": f"Unsupported value type '{change['type']}'.",
            }
    previous = []
    for change in changes:
        kind, value = read_value(change["path"], change["name"])
        previous.append(
            {"path": change["path"], "name": change["name"], "type": kind or change["type"], "value": value}
        )
    if "not_elevated" in _state.scenarios():
        return {
            "status": "not_elevated",
            "phase": "apply",
            "message": "Requested registry access is not allowed.",
            "hresult": ACCESS_DENIED,
            "previous": previous,
        }
    data = registry()
    for change in changes:
        key = data.setdefault(change["path"].lower(), {})
        if change["value"] is None:
            key.pop(change["name"], None)
        else:
            value = int(change["value"]) if change["type"] == "DWord" else str(change["value"])
            if change["type"] == "DWord" and not 0 <= value <= 0xFFFFFFFF:
                return {"status": "error", "phase": "apply", "message": f"DWORD out of range: {value}"}
            key[change["name"]] = {"type": change["type"], "value": value}
    _state.write_json("registry.json", data)
    return {
        "status": "ok",
        "applied": len(changes),
        "previous": previous,
        "reboot_required": True,
    }


HANDLERS = {"read-schannel.ps1": read_schannel, "set-schannel.ps1": set_schannel}


def main(argv: list[str]) -> int:
    options = powershell.EXPECTED_OPTIONS
    script = Path(argv[len(options)]) if len(argv) > len(options) else None
    if script is None or script.name not in HANDLERS:
        return powershell.main(argv)
    _state.log_call("powershell", argv)
    if argv[: len(options)] != options or not script.is_file():
        sys.stderr.write(f"fake powershell: unexpected invocation {argv!r}\n")
        return 64
    try:
        params = powershell.bind(script, argv[len(options) + 1 :])
    except powershell.Refused as exc:
        sys.stderr.write(f"{script.name} : {exc}\r\n")
        return 1
    result = HANDLERS[script.name](script, params)
    powershell.emit(result)
    return 0 if result.get("status") == "ok" else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
