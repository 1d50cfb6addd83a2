"""One writer for everything octorunbook renders for another program to read.

Each destination has one function here. It checks the value against that destination's syntax and
returns the text to write, or raises ``RENDER_UNSAFE`` (an :class:`InputError`, nothing written) when
the value cannot be expressed there *exactly*. A value is escaped only where the format defines the
escape (systemd's ``%%`` and ``$$``, POSIX shell quoting, XML entities, Prometheus label escapes); where it has none, the value is
refused: never "escaped and hoped".

Refused everywhere: control characters (line breaks above all: one more ``ExecStart=`` or one more
crontab line), Unicode format characters (bidirectional overrides make a file read differently from
what it does), surrogates and line/paragraph separators.

==================  =========================================================================
destination         function, and what is refused besides the above
==================  =========================================================================
systemd             :func:`systemd_exec` (``ExecStart=`` words: double-quoted with C escapes
                    when needed, ``%``/``$`` doubled; an empty word, a relative program),
                    :func:`systemd_path` (``WorkingDirectory=``: not unquoted by systemd, so
                    bare; relative, or white space at either end), :func:`systemd_text`
cron                :func:`cron_line` (``%``: cron turns it into a line break and its escape
                    differs between crons; a line over cron's 1000 characters)
nginx               :func:`nginx_argument` (``; { } # ' " \\ $``, empty; quoted when it holds
                    white space), :func:`nginx_directive`, :func:`nginx_comment`
Windows             :func:`windows_argument` (an argv element for ``powershell.exe -File``:
                    ``"``), :func:`task_argument` (a value inside ``"…"`` in a Scheduled Task's
                    arguments: ``"``, ``%`` (the Task Scheduler expands ``%VAR%``), a trailing
                    backslash, a leading dash), :func:`xml_text` (characters XML 1.0 cannot carry)
JSON (Ansible)      :func:`json_document` (NaN and infinities, which are not JSON)
Prometheus          :func:`prometheus_label` (a label value of the text exposition format:
                    ``\\``, ``"`` and a line feed escaped as the format defines; any other
                    control or format character refused)
==================  =========================================================================

A caller whose refusal code was released before this module keeps it (``code=``: ``PATH_INVALID`` for
nginx paths, ``NGINX_DIRECTIVE_INVALID`` for extra directives); the details always name the destination.

The property tests (``tests/test_emit.py``) parse each output back with a parser of their own and
prove it is exactly one directive or argument with the same value, or a refusal.
"""

from __future__ import annotations

import json
import re
import shlex
import unicodedata
from collections.abc import Sequence
from typing import Any, NoReturn

from octorunbook.findings import InputError

RENDER_UNSAFE = "RENDER_UNSAFE"
CRON_MAX_LINE = 1000  # cronie and Vixie cron read at most MAX_COMMAND (1000) characters of a line

_UNPRINTABLE_CATEGORIES = {"Cc", "Cf", "Cs", "Zl", "Zp"}
_SYSTEMD_BARE = re.compile(r"[A-Za-z0-9_@%+=:,./-]+")  # no quote, white space, backslash or ';'
_NGINX_SYNTAX = re.compile(r"[;{}#'\"\\$]")
_NGINX_WORD = r"""(?:[^{};#'"\\\s]+|"[^"\\]*"|'[^'\\]*')"""  # bare, or quoted without a backslash
_NGINX_DIRECTIVE = re.compile(rf"[a-z_][a-z0-9_]*(?: +{_NGINX_WORD})* *;")
_XML_CHAR = "[^\x09\x0a\x0d\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"  # compiled when used: 4 ms
_DASHES = ("-", "\u2013", "\u2014", "\u2015")  # PowerShell reads each as the dash of a parameter name


def _shown(value: str) -> str:
    return repr(value[:200]) + ("…" if len(value) > 200 else "")


def refuse(destination: str, what: str, value: str, why: str, remedy: str = "", code: str = "") -> NoReturn:
    """Raise the one refusal of this module (``code``: a caller's released code, else RENDER_UNSAFE)."""
    raise InputError(
        code or RENDER_UNSAFE,
        f"The {what} {_shown(value)} cannot be written into {destination}: {why}.",
        remedy or f"Change the {what} so it holds only printable characters without the ones named.",
        details={"destination": destination, "what": what, "why": why},
    )


def unprintable(value: str) -> str:
    """The first character of ``value`` no destination takes (a control or format character), or ''."""
    for char in value:
        if unicodedata.category(char) in _UNPRINTABLE_CATEGORIES:
            return char
    return ""


def _printable(destination: str, what: str, value: str, code: str = "") -> None:
    char = unprintable(value)
    if char:
        name = unicodedata.name(char, f"U+{ord(char):04X}")
        refuse(
            destination, what, value, f"it holds the control or format character {name} ({char!r})", code=code
        )


# -- systemd -------------------------------------------------------------------------------------------
def _systemd_word(word: str, what: str) -> str:
    _printable("a systemd unit", what, word)
    if not word:
        refuse("a systemd unit", what, word, "an empty word cannot be written on an ExecStart= line")
    text = word.replace("%", "%%").replace("$", "$$")
    if _SYSTEMD_BARE.fullmatch(text):
        return text
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def systemd_exec(argv: Sequence[str], what: str = "command") -> str:
    """The value of ``ExecStart=`` running exactly ``argv`` (program first, absolute)."""
    if not argv or not argv[0].startswith("/"):
        refuse(
            "a systemd unit",
            what,
            argv[0] if argv else "",
            "the program must be an absolute path (a leading @ - : + ! is a systemd prefix)",
        )
    return " ".join(_systemd_word(word, what) for word in argv)


def systemd_text(value: str, what: str = "text") -> str:
    """A free-text setting (``Description=``): specifiers doubled; no white space at either end
    (systemd strips it)."""
    _printable("a systemd unit", what, value)
    if value != value.strip(" \t"):
        refuse("a systemd unit", what, value, "systemd strips white space at either end of a setting")
    return value.replace("%", "%%")


def systemd_path(value: str, what: str = "path") -> str:
    """A path setting (``WorkingDirectory=``): systemd resolves specifiers but does not unquote it."""
    if not value.startswith("/"):
        refuse("a systemd unit", what, value, "it must be an absolute path")
    return systemd_text(value, what)


# -- cron ----------------------------------------------------------------------------------------------
def cron_line(minute: int, hour: int | Sequence[int], argv: Sequence[str], *, cwd: str, comment: str) -> str:
    """``M H * * * cd CWD && ARGV  # COMMENT``: one crontab line, each word quoted for sh; ``hour`` may be
    several hours (``17 3,15 * * *``: twice a day)."""
    hours = (hour,) if isinstance(hour, int) else tuple(hour)
    for what, value in (
        ("folder", cwd),
        *((f"command word {i}", a) for i, a in enumerate(argv)),
        ("comment", comment),
    ):
        _printable("a crontab line", what, value)
        if "%" in value:
            refuse(
                "a crontab line",
                what,
                value,
                "cron turns % into a line break, and crons differ on how (or whether) it can be escaped",
                "Keep the parameter file and octorunbook in folders whose paths hold no '%', or use a systemd timer.",
            )
    if not hours or not (0 <= minute <= 59 and all(isinstance(h, int) and 0 <= h <= 23 for h in hours)):
        refuse("a crontab line", "time", f"{hours}:{minute}", "it is not a time of day")
    line = f"{minute} {','.join(str(h) for h in hours)} * * * cd {shlex.quote(cwd)} && {shlex.join(argv)}  # {comment}"
    if len(line.encode("utf-8")) >= CRON_MAX_LINE:
        refuse("a crontab line", "line", line, f"cron reads at most {CRON_MAX_LINE} characters of a line")
    return line


# -- sh ------------------------------------------------------------------------------------------------
def sh_exec(argv: Sequence[str], what: str = "command word") -> str:
    """``exec ARGV "$@"``: the last line of a POSIX sh wrapper running exactly ``argv`` with the wrapper's
    own arguments after it; each word single-quoted (``$``, backticks, quotes and ``;`` stay text)."""
    for index, word in enumerate(argv):
        _printable("a sh script", f"{what} {index}", word)
    return f'exec {shlex.join(argv)} "$@"'


# -- nginx ---------------------------------------------------------------------------------------------
def nginx_argument(
    value: str, what: str = "value", *, code: str = "", remedy: str = "", quote: bool = False
) -> str:
    """One argument of an nginx directive: double-quoted when it holds white space (or ``quote``), else bare."""
    destination = "nginx's configuration"
    _printable(destination, what, value, code)
    bad = "".join(sorted(set(_NGINX_SYNTAX.findall(value))))
    if bad:
        refuse(destination, what, value, f"it holds {bad!r}, which nginx reads as syntax", remedy, code)
    if not value:
        refuse(destination, what, value, "an empty argument", remedy, code)
    return f'"{value}"' if quote or re.search(r"\s", value) else value


def nginx_directive(line: str, what: str = "directive", *, code: str = "", remedy: str = "") -> str:
    """One simple directive written as given (``client_max_body_size 100m;``): a name, bare
    arguments, ``;``: no block, quote, escape or comment."""
    _printable("nginx's configuration", what, line, code)
    text = line.strip(" ")
    if not _NGINX_DIRECTIVE.fullmatch(text):
        refuse(
            "nginx's configuration",
            what,
            line,
            "it is not one simple directive (name, arguments, ';')",
            remedy,
            code,
        )
    return text


def nginx_comment(text: str, what: str = "comment") -> str:
    """A ``# …`` comment line: it ends at the line's end, so only a line break could escape it."""
    _printable("nginx's configuration", what, text)
    return f"# {text}"


# -- Windows -------------------------------------------------------------------------------------------
def windows_argument(value: str, what: str = "argument") -> str:
    """One argv element for ``powershell.exe -File SCRIPT``: Python quotes it for the Windows command
    line (``subprocess.list2cmdline``); powershell.exe re-parses that line, so a double quote is refused."""
    _printable("a PowerShell command line", what, value)
    if '"' in value:
        refuse(
            "a PowerShell command line",
            what,
            value,
            'powershell.exe -File does not reliably keep a " in an argument',
        )
    return value


def task_argument(value: str, what: str = "path") -> str:
    """``"VALUE"``: a value inside double quotes in a Scheduled Task's arguments, as
    ``register-renewal-task.ps1`` writes them (the task's command line is parsed by CommandLineToArgvW)."""
    destination = "a Scheduled Task's arguments"
    windows_argument(value, what)
    for char, why in (("%", "the Task Scheduler expands %VARIABLE% in a task's arguments"),):
        if char in value:
            refuse(destination, what, value, why)
    if value.endswith("\\"):
        refuse(destination, what, value, "a trailing backslash would escape the closing double quote")
    if not value or value.startswith(_DASHES):
        refuse(
            destination, what, value, "an empty value, or one starting with a dash, reads as a parameter name"
        )
    return f'"{value}"'


def xml_text(value: str, what: str = "value") -> str:
    """``value`` as XML 1.0 character data or attribute text (``& < > " '`` as entities)."""
    from xml.sax.saxutils import escape  # here: it imports urllib.request, 10 ms every other writer skips

    bad = re.search(_XML_CHAR, value)  # re's own cache keeps it compiled after the first
    if bad:
        refuse("an XML document", what, value, f"XML 1.0 cannot carry the character {bad.group()!r}")
    _printable("an XML document", what, value)  # a tab or line break would not survive an attribute
    return escape(value, {'"': "&quot;", "'": "&apos;"})


# -- JSON ----------------------------------------------------------------------------------------------
def json_document(value: Any, *, indent: int | None = 2) -> str:
    """Strict JSON (what Ansible's ``from_json`` reads): ASCII only, NaN and infinities refused."""
    try:
        return json.dumps(value, indent=indent, ensure_ascii=True, allow_nan=False, sort_keys=False)
    except ValueError as exc:
        refuse("a JSON document", "value", str(exc), "NaN and infinities are not JSON")


# -- Prometheus ----------------------------------------------------------------------------------------
def prometheus_label(value: str, what: str = "label value") -> str:
    """The inside of ``name="…"`` in the Prometheus text exposition format (node-exporter's textfile
    collector): ``\\`` as ``\\\\``, ``"`` as ``\\"``, a line feed as ``\\n``, the only escapes the format
    has; any other control or format character is refused."""
    char = unprintable(value.replace("\n", ""))  # a line feed has its escape
    if char:
        name = unicodedata.name(char, f"U+{ord(char):04X}")
        refuse(
            "a Prometheus textfile",
            what,
            value,
            f"it holds the control or format character {name} ({char!r})",
        )
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
