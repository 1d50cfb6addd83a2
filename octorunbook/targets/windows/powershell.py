"""Running the shipped PowerShell scripts and reading the one JSON object each prints.

Every script is run the same way, with no profile, no prompts and no execution-policy surprises::

    powershell.exe -NoProfile -NonInteractive -ExecutionPolicy Bypass -File <script> -Name value ...

``-File`` with a list argv (no shell, no ``-Command`` string) leaves one rule: powershell.exe re-parses
its command line, so an argument with a double quote or a control character is refused
(``RENDER_UNSAFE``, :func:`octorunbook.emit.windows_argument`). A password never travels here at all:
it goes in the child's environment (``secret_env``).

The scripts build plain values and format dates themselves, but the reader does not trust that:

* the object is found by decoding from each ``{`` in turn (a profile, a module or a warning may print
  before it, and may contain braces of its own);
* Windows PowerShell 5.1 serialises a ``DateTime`` as ``/Date(ms)/``; every such string anywhere in the
  object is turned into ISO 8601 UTC before any value object sees it;
* 5.1 with some type data loaded serialises an array as ``{"value": [...], "Count": n}``; that wrapper is
  unwrapped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from octorunbook.commands import CommandResult, CommandRunner, powershell_exe
from octorunbook.emit import windows_argument
from octorunbook.findings import CommandError, TargetError
from octorunbook.jsontext import find_json_object
from octorunbook.redaction import Secret

SCRIPTS_DIR = Path(__file__).resolve().parent / "scripts"
POWERSHELL_OPTIONS = ("-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass")

_MS_DATE = re.compile(r"^/Date\((-?\d+)(?:[+-]\d{4})?\)/$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ISO_FRACTION = re.compile(r"(\.\d{6})\d+")

# HRESULTs the scripts report (signed 32-bit, as .NET gives them).
HRESULT_NAMES = {
    0x80070002: "ERROR_FILE_NOT_FOUND",
    0x80070005: "E_ACCESSDENIED",
    0x80070056: "ERROR_INVALID_PASSWORD",
    0x80090008: "NTE_BAD_ALGID",
    0x80090014: "NTE_BAD_PROV_TYPE",
    0x80090016: "NTE_BAD_KEYSET",
}


def script_path(name: str) -> Path:
    return SCRIPTS_DIR / name


def script_argv(name: str, *arguments: str) -> list[str]:
    """The exact argv for one shipped script (named arguments as separate tokens); each argument is one
    powershell.exe can carry unchanged (:func:`octorunbook.emit.windows_argument`), else RENDER_UNSAFE."""
    checked = [windows_argument(a, f"argument of {name}") for a in arguments]
    return [powershell_exe(), *POWERSHELL_OPTIONS, "-File", str(script_path(name)), *checked]


def format_hresult(value: Any) -> str:
    try:
        number = int(value) & 0xFFFFFFFF
    except (TypeError, ValueError):
        return ""
    if not number:
        return ""
    name = HRESULT_NAMES.get(number)
    return f"0x{number:08X}" + (f" {name}" if name else "")


def hresult_is(value: Any, expected: int) -> bool:
    try:
        return int(value) & 0xFFFFFFFF == expected
    except (TypeError, ValueError):
        return False


def iso_utc(value: str) -> str:
    """A date from a script as ``YYYY-MM-DDTHH:MM:SSZ``: ISO 8601 (any offset) or 5.1's ``/Date(ms)/``.

    Raises ValueError for anything else. A date without an offset is taken as UTC: the scripts
    convert with ``ToUniversalTime()`` before formatting.
    """
    text = value.strip()
    match = _MS_DATE.match(text)
    if match:
        # The milliseconds count from the Unix epoch in UTC; the optional offset is only a display hint.
        # (Not fromtimestamp: on Windows it refuses dates before 1970, such as DateTime.MinValue.)
        try:
            moment = _EPOCH + timedelta(milliseconds=int(match.group(1)))
        except OverflowError:
            raise ValueError(f"date out of range: {value!r}") from None
    else:
        moment = datetime.fromisoformat(_ISO_FRACTION.sub(r"\1", text).replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
    # isoformat, not strftime("%Y"): glibc does not zero-pad years before 1000.
    return moment.astimezone(UTC).replace(microsecond=0, tzinfo=None).isoformat() + "Z"


def normalise(value: Any) -> Any:
    """Undo Windows PowerShell 5.1 serialisation quirks everywhere in a decoded object."""
    if isinstance(value, str):
        return iso_utc(value) if _MS_DATE.match(value.strip()) else value
    if isinstance(value, list):
        return [normalise(v) for v in value]
    if isinstance(value, dict):
        if set(value) == {"value", "Count"} and isinstance(value["value"], list):
            return normalise(value["value"])
        return {str(k): normalise(v) for k, v in value.items()}
    return value


def extract_json_object(text: str) -> dict[str, Any] | None:
    """The script's result object: the first decodable JSON object carrying a ``status``."""
    return find_json_object(text, lambda d: isinstance(d.get("status"), str))


def strings(value: Any) -> tuple[str, ...]:
    """A list of strings from a script, tolerating a single value or 5.1's ETS-wrapped strings."""
    if value is None:
        return ()
    if isinstance(value, (str, dict)):
        value = [value]
    out: list[str] = []
    for item in value if isinstance(value, Sequence) else ():
        if isinstance(item, dict) and "value" in item:
            item = item["value"]
        if isinstance(item, str) and item:
            out.append(item)
    return tuple(out)


def _details(result: CommandResult, data: Mapping[str, Any] | None = None) -> dict[str, Any]:
    details: dict[str, Any] = {"argv": list(result.argv), "exit_code": result.exit_code}
    if data is not None:
        details["result"] = dict(data)
    else:
        details["stdout"] = result.stdout[-2000:]
    if result.stderr.strip():
        details["stderr"] = result.stderr[-2000:]
    return details


def parse_result(result: CommandResult, script: str) -> dict[str, Any]:
    data = extract_json_object(result.stdout)
    if data is None:
        # PowerShell's error text: the message first, then "At line:..." and "+ CategoryInfo ..." lines.
        said = [
            line.strip()
            for line in result.stderr.splitlines()
            if line.strip() and not line.strip().startswith(("+", "At line:", "At "))
        ]
        hint = f" PowerShell said: {said[0]}" if said else ""
        raise TargetError(
            "POWERSHELL_OUTPUT_UNREADABLE",
            f"{script} printed no result octorunbook can read (exit code {result.exit_code}).{hint}",
            "Run the same command by hand in an elevated PowerShell and read its output. If PowerShell refused "
            "to run the script, check that group policy allows '-ExecutionPolicy Bypass' and that the session "
            "is not in Constrained Language mode.",
            details=_details(result),
        )
    return dict(normalise(data))


def run_script(
    runner: CommandRunner,
    script: str,
    arguments: Sequence[str] = (),
    *,
    label: str,
    mutating: bool = False,
    secret_env: Mapping[str, Secret] | None = None,
    timeout: float | None = None,
) -> tuple[dict[str, Any], CommandResult]:
    result = runner.run(
        script_argv(script, *arguments),
        mutating=mutating,
        label=label,
        secret_env=secret_env,
        timeout=timeout,
    )
    return parse_result(result, script), result


def script_failure(data: Mapping[str, Any], result: CommandResult, script: str, code: str) -> CommandError:
    """A generic failure reported by a script (status ``error`` or one the caller does not expect)."""
    message = str(data.get("message") or data.get("outer_message") or "no message")
    hresult = format_hresult(data.get("hresult"))
    phase = str(data.get("phase") or "")
    return CommandError(
        code,
        f"{script} failed{f' while {phase}' if phase else ''}: {message}{f' ({hresult})' if hresult else ''}",
        "Read the message and the command in the record. Run the runbook from an elevated session "
        "('Run as administrator'); if it persists, run the script by hand to see the full error.",
        details=_details(result, data),
    )


def not_elevated(result: CommandResult, data: Mapping[str, Any], what: str) -> TargetError:
    return TargetError(
        "NOT_ELEVATED",
        f"Access is denied while {what}: the LocalMachine certificate store needs an elevated session.",
        "Start JupyterLab (or the terminal running papermill) with 'Run as administrator' and run again.",
        details=_details(result, data),
    )


def script_details(result: CommandResult, data: Mapping[str, Any] | None = None) -> dict[str, Any]:
    return _details(result, data)
