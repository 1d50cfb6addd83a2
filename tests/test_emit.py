"""Property tests of the one writer: arbitrary text thrown at each destination is either refused with
``RENDER_UNSAFE`` (or the caller's released code) or written so that the destination's own parsing rules,
implemented here independently of :mod:`octorunbook.emit`, read back exactly one directive or argument
with the same value. Real parsers where they exist (``shlex``, ``xml.etree``, ``json``, ``nginx -t``,
``systemd-analyze``)."""

from __future__ import annotations

import json
import math
import re
import shlex
import shutil
import subprocess
import unicodedata
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from octorunbook import emit
from octorunbook.findings import InputError
from octorunbook.ops.schedule import Schedule
from octorunbook.ops.schedule_systemd import crontab_line, unit_texts

FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# What each format reads as syntax, mixed into arbitrary text so the properties meet it often.
SPECIAL = list(" \t\n\r\x00\x0b\x85\u2028\u202e\ufeff\"'\\%$;{}#`&|<>=@:+!-\u2013/~*")
REFUSED_EVERYWHERE = ("Cc", "Cf", "Cs", "Zl", "Zp")
ANY_TEXT = st.text(alphabet=st.one_of(st.sampled_from(SPECIAL), st.characters()), max_size=40)
# Half the examples without the characters every destination refuses, so the round trip is exercised too.
PRINTABLE = st.text(
    alphabet=st.one_of(
        st.sampled_from([c for c in SPECIAL if unicodedata.category(c) not in REFUSED_EVERYWHERE]),
        st.characters(blacklist_categories=REFUSED_EVERYWHERE),
    ),
    max_size=40,
)
# And short words made mostly of syntax: a trailing backslash, a lone ';', '"a\\"b"' come up often.
DENSE = st.text(alphabet=st.sampled_from([*SPECIAL, "a", "b", "C"]), max_size=8)
TEXT = st.one_of(PRINTABLE, ANY_TEXT, DENSE)


def texts(max_size: int) -> st.SearchStrategy[list[str]]:
    return st.one_of(*(st.lists(s, max_size=max_size) for s in (PRINTABLE, ANY_TEXT, DENSE)))


def refused(call: Any, *args: Any, **kwargs: Any) -> tuple[bool, Any]:
    try:
        return False, call(*args, **kwargs)
    except InputError as exc:
        assert exc.code in {"RENDER_UNSAFE", "PATH_INVALID", "NGINX_DIRECTIVE_INVALID"}, exc
        assert "destination" in exc.finding.details and exc.remedy
        return True, None


# -- systemd: specifiers on the line, then words (extract_first_word UNQUOTE|CUNESCAPE), then $ -----------
def systemd_specifiers(value: str) -> str:
    out, i = [], 0
    while i < len(value):
        if value[i] == "%":
            assert value[i + 1 : i + 2] == "%", f"a specifier would be resolved: {value!r}"
            out.append("%")
            i += 2
        else:
            out.append(value[i])
            i += 1
    return "".join(out)


def systemd_env(word: str) -> str:
    assert not (word.startswith("$") and word[1:2] not in {"$", "{"}), "a $WORD would be split from the env"
    out, i = [], 0
    while i < len(word):
        if word[i] == "$":
            assert word[i + 1 : i + 2] == "$", f"a variable would be expanded: {word!r}"
            out.append("$")
            i += 2
        else:
            out.append(word[i])
            i += 1
    return "".join(out)


def systemd_exec_parse(value: str) -> list[list[str]]:
    """The commands of one ``ExecStart=`` value (a lone ``;`` separates commands)."""
    line = systemd_specifiers(value)
    commands: list[list[str]] = [[]]
    i, n, ws = 0, len(line), " \t\n\r"
    while True:
        while i < n and line[i] in ws:
            i += 1
        if i >= n:
            break
        if line[i] == ";" and (i + 1 == n or line[i + 1] in ws):
            commands.append([])
            i += 1
            continue
        word, quoted = [], False
        while i < n and (quoted or line[i] not in ws):
            c = line[i]
            if c == '"':
                quoted = not quoted
            elif c == "\\":
                assert quoted and line[i + 1 : i + 2] in {"\\", '"'}, (
                    f"an escape the writer never uses: {line!r}"
                )
                word.append(line[i + 1])
                i += 1
            else:
                assert quoted or c != "'", "single quotes are never written"
                word.append(c)
            i += 1
        assert not quoted, f"an unterminated quote: {line!r}"
        commands[-1].append(systemd_env("".join(word)))
    return commands


@FAST
@example([";", "\\;", "$HOME", "${X}", "%h", "a\\", '"q"', "'s'"], "my prog")
@given(texts(4), PRINTABLE)
def test_systemd_exec_reads_back_as_one_command_with_the_same_words(words: list[str], program: str) -> None:
    argv = ["/opt/" + program, *words]
    was_refused, value = refused(emit.systemd_exec, argv)
    if not was_refused:
        assert "\n" not in value and "\r" not in value
        assert systemd_exec_parse(value) == [argv]


@FAST
@given(TEXT)
def test_systemd_path_and_text_read_back_after_specifiers(value: str) -> None:
    was_refused, out = refused(emit.systemd_path, "/" + value)
    if not was_refused:
        assert systemd_specifiers(out) == "/" + value and out == out.strip(" \t\n\r")  # systemd's strip


@FAST
@given(TEXT, TEXT)
def test_a_unit_has_exactly_one_exec_start_and_working_directory_with_the_values(
    folder: str, name: str
) -> None:
    schedule = Schedule(name or "n", "03:17", Path("/srv", folder, "params.yaml"), "/opt/o rb/octorunbook")
    was_refused, units = refused(unit_texts, schedule)
    if was_refused:
        return
    lines = re.split(r"[\n\r\0]", units.service)  # systemd's read_line ends a line at any of them
    starts = [line for line in lines if line.startswith("ExecStart=")]
    folders = [line for line in lines if line.startswith("WorkingDirectory=")]
    assert len(starts) == 1 and len(folders) == 1
    timer = re.split(r"[\n\r\0]", units.timer)
    assert [line for line in timer if line.startswith("Unit=")] == [
        f"Unit={schedule.name.replace('%', '%%')}.service"
    ]
    assert systemd_exec_parse(starts[0].removeprefix("ExecStart=")) == [list(schedule.command)]
    assert systemd_specifiers(folders[0].removeprefix("WorkingDirectory=")) == str(
        schedule.params_path.parent
    )


# -- cron: five fields, cronie's % rule, then sh (shlex) ----------------------------------------------
def cron_command(line: str) -> str:
    fields = re.fullmatch(r"(\S+)[ \t]+(\S+)[ \t]+(\S+)[ \t]+(\S+)[ \t]+(\S+)[ \t]+(.*)", line, re.S)
    assert fields, line
    out, escaped = [], False  # cronie's do_command: an unescaped % ends the command (the rest is stdin)
    for ch in fields.group(6):
        if escaped:
            out.append(ch)
            escaped = False
        elif ch == "\\":
            out.append(ch)
            escaped = True
        elif ch == "%":
            break
        else:
            out.append(ch)
    return "".join(out)


@FAST
@example("srv/a b", ["a\\%"])
@example("srv/a b", ["#x", "&&", "'", "", "a\\", "$(id)", "`id`"])
@given(TEXT, texts(3))
def test_a_crontab_line_is_one_line_running_exactly_the_command_in_the_folder(
    cwd: str, words: list[str]
) -> None:
    argv = ["/opt/octorunbook", *words]
    was_refused, line = refused(emit.cron_line, 17, 3, argv, cwd="/" + cwd, comment="octorunbook:renew")
    if was_refused:
        return
    assert "\n" not in line and "\r" not in line and len(line) < emit.CRON_MAX_LINE
    assert shlex.split(cron_command(line), comments=True) == ["cd", "/" + cwd, "&&", *argv]
    assert line.endswith("  # octorunbook:renew")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts(3))
def test_a_sh_wrapper_runs_exactly_its_words_then_its_own_arguments(words: list[str]) -> None:
    """Run by a real /bin/sh: ``$(…)``, backticks, quotes and ``;`` in a word (a sandbox folder's name)
    stay text; the wrapper's own arguments follow. (Issue 28's stand-ins: a folder named
    ``inj$(touch PWNED)`` used to run ``touch`` at every command.)"""
    was_refused, line = refused(emit.sh_exec, ["printf", "%s\\0", *words])
    if was_refused:
        return
    done = subprocess.run(["/bin/sh", "-c", line, "sh", "after;$(x)"], capture_output=True, check=True)
    assert done.stdout.decode("utf-8", "surrogateescape").split("\0")[:-1] == [*words, "after;$(x)"]


@FAST
@given(TEXT)
def test_the_schedule_crontab_line_is_refused_or_exact(folder: str) -> None:
    schedule = Schedule("octorunbook-renew", "03:17", Path("/srv", folder, "p.yaml"), "/opt/octorunbook")
    was_refused, line = refused(crontab_line, schedule)
    if not was_refused:
        command = shlex.split(cron_command(line), comments=True)
        assert command == ["cd", str(schedule.params_path.parent), "&&", *schedule.command]


# -- nginx: its tokenizer (ngx_conf_read_token), written here ------------------------------------------
def nginx_tokens(text: str) -> list[list[str]]:
    """The directives of ``text`` (each: name, arguments), blocks flattened with '{' / '}' markers."""
    directives: list[list[str]] = []
    current: list[str] = []
    i, n, ws = 0, len(text), " \t\r\n"
    while i < n:
        c = text[i]
        if c in ws:
            i += 1
        elif c == "#":
            while i < n and text[i] != "\n":
                i += 1
        elif c in ";{}":
            directives.append([*current, c])
            current = []
            i += 1
        else:
            word = []
            quote = c if c in "\"'" else ""
            i += 1 if quote else 0
            while i < n:
                c = text[i]
                if c == "\\" and i + 1 < n:
                    word.append({"t": "\t", "r": "\r", "n": "\n"}.get(text[i + 1], text[i + 1]))
                    i += 2
                    continue
                if quote and c == quote:
                    i += 1
                    break
                if not quote and (c in ws or c in ";{}"):
                    break
                word.append(c)
                i += 1
            else:
                assert not quote, "an unterminated quote swallows the rest of the file"
            current.append("".join(word))
    assert not current, f"a directive without ';': {current}"
    return directives


@FAST
@example("/etc/my certs/a.pem")
@example("a\\")
@example("$host")
@given(TEXT)
def test_an_nginx_argument_reads_back_as_the_one_argument_of_one_directive(value: str) -> None:
    was_refused, arg = refused(emit.nginx_argument, value)
    if not was_refused:
        quoted = emit.nginx_argument(value, quote=True)
        assert nginx_tokens(f"include {quoted};") == [["include", value, ";"]]
        assert nginx_tokens(f"server_name {arg};\nlisten 80;") == [
            ["server_name", value, ";"],
            ["listen", "80", ";"],
        ]
        assert "$" not in value  # ssl_certificate would read a variable


@FAST
@example("x", ["a;b"])
@example("add_header", ['"a\\"', 'b"'])
@example("x", ['"a\\"'])
@example("add_header", ["X-A", "\"default-src 'self'; img-src *\""])
@given(TEXT, texts(3))
def test_an_extra_directive_is_exactly_one_directive_or_refused(name: str, words: list[str]) -> None:
    line = " ".join([name.lower() or "x", *words]) + ";"
    was_refused, out = refused(emit.nginx_directive, line)
    if not was_refused:
        assert out == line.strip(" ")
        parsed = nginx_tokens(f"{out}\nlisten 80;")
        assert len(parsed) == 2 and parsed[0][-1] == ";" and parsed[1] == ["listen", "80", ";"]


@FAST
@given(TEXT)
def test_an_nginx_comment_hides_nothing_after_it(text: str) -> None:
    was_refused, comment = refused(emit.nginx_comment, text)
    if not was_refused:
        assert nginx_tokens(f"{comment}\nlisten 80;") == [["listen", "80", ";"]]


NGINX = shutil.which("nginx")


@pytest.mark.nginx
@pytest.mark.skipif(NGINX is None, reason="nginx is not installed here")
@pytest.mark.parametrize(
    "value",
    ["/srv/my certs/fullchain.pem", "/srv/ü/ßtrange.pem", "/x;include /tmp/evil.conf;#", "/a\nb", "$host"],
)
def test_nginx_t_reads_an_accepted_argument_as_one_argument(tmp_path: Path, value: str) -> None:
    was_refused, arg = refused(emit.nginx_argument, value)
    if was_refused:
        return
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\n"
        f"http {{ server {{ listen 127.0.0.1:1; root {arg}; }} }}\n"
    )
    done = subprocess.run(
        [str(NGINX), "-t", "-p", f"{tmp_path}/", "-e", f"{tmp_path}/error.log", "-c", str(conf)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


# -- Windows: CommandLineToArgvW (msvcrt 2008 rules), written here -------------------------------------
def windows_argv(line: str) -> list[str]:
    """CommandLineToArgvW after the program name: backslashes count only before a quote."""
    args: list[str] = []
    i, n = 0, len(line)
    while True:
        while i < n and line[i] in " \t":
            i += 1
        if i >= n:
            return args
        arg: list[str] = []
        quoted = False
        while i < n and (quoted or line[i] not in " \t"):
            if line[i] == "\\":
                j = i
                while j < n and line[j] == "\\":
                    j += 1
                if j < n and line[j] == '"':
                    arg.append("\\" * ((j - i) // 2))
                    if (j - i) % 2:
                        arg.append('"')
                        j += 1
                else:
                    arg.append("\\" * (j - i))
                i = j
            elif line[i] == '"':
                if quoted and line[i + 1 : i + 2] == '"':
                    arg.append('"')
                    i += 2
                else:
                    quoted = not quoted
                    i += 1
            else:
                arg.append(line[i])
                i += 1
        args.append("".join(arg))


@FAST
@given(texts(4))
def test_powershell_file_arguments_survive_the_windows_command_line(values: list[str]) -> None:
    results = [refused(emit.windows_argument, v) for v in values]
    if any(r for r, _ in results):
        return
    line = subprocess.list2cmdline(["powershell.exe", "-File", "C:\\s\\x.ps1", *[v for _, v in results]])
    assert windows_argv(line)[3:] == values
    assert not any('"' in v for v in values)


@FAST
@example("C:\\dir\\")
@example("%ProgramData%\\x")
@example("-Force")
@example("\u2013Force")
@given(TEXT)
def test_a_task_argument_in_task_xml_reads_back_as_one_argument(value: str) -> None:
    was_refused, quoted = refused(emit.task_argument, value)
    if was_refused:
        return
    arguments = (
        '-NoProfile -File "C:\\Program Files\\octorunbook\\run-renewal-task.ps1" -ParamsPath ' + quoted
    )
    document = f"<Task><Exec><Arguments>{emit.xml_text(arguments)}</Arguments></Exec></Task>"
    text = ET.fromstring(document).findtext("Exec/Arguments")
    assert text == arguments and "%" not in text  # the Task Scheduler expands %VAR% here
    assert windows_argv(text) == [
        "-NoProfile",
        "-File",
        "C:\\Program Files\\octorunbook\\run-renewal-task.ps1",
        "-ParamsPath",
        value,
    ]


@FAST
@given(TEXT)
def test_xml_text_reads_back_from_an_element_and_an_attribute(value: str) -> None:
    was_refused, text = refused(emit.xml_text, value)
    if not was_refused:
        element = ET.fromstring(f"<a v=\"{text}\" w='{text}'>{text}</a>")
        assert element.get("v") == value and element.get("w") == value and (element.text or "") == value


# -- JSON (what the Ansible role reads with from_json) ---------------------------------------------------
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=10,
)


def _finite(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return all(_finite(v) for v in value)
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    return True


@FAST
@given(JSON)
def test_json_document_is_ascii_strict_json_with_the_same_value(value: Any) -> None:
    was_refused, text = refused(emit.json_document, value)
    assert was_refused == (not _finite(value))
    if not was_refused:
        assert text.isascii() and json.loads(text) == value


# -- Prometheus (node-exporter's textfile collector) -----------------------------------------------------
def prometheus_label_value(line: str) -> str:
    """The value of the one label of ``m{l="…"} 1``, read as the text exposition format's parser reads it:
    ``\\\\``, ``\\"`` and ``\\n`` are the only escapes; an unescaped ``"`` ends the value."""
    assert "\n" not in line and line.startswith('m{l="')
    chars, index = [], len('m{l="')
    escapes = {"\\": "\\", '"': '"', "n": "\n"}
    while line[index] != '"':
        if line[index] == "\\":
            chars.append(escapes[line[index + 1]])  # any other escape is a parse error
            index += 2
        else:
            chars.append(line[index])
            index += 1
    assert line[index:] == '"} 1', line
    return "".join(chars)


@given(TEXT)
@example("C:\\certs\\")
@example('say "hi"\nm{l="x"} 2')
def test_a_prometheus_label_value_reads_back_as_the_same_value_on_one_line(value: str) -> None:
    was_refused, text = refused(emit.prometheus_label, value)
    assert was_refused == any(unicodedata.category(c) in REFUSED_EVERYWHERE for c in value.replace("\n", ""))
    if not was_refused:
        assert prometheus_label_value(f'm{{l="{text}"}} 1') == value


def test_a_refusal_names_the_destination_and_the_character() -> None:
    with pytest.raises(InputError) as caught:
        emit.systemd_exec(["/opt/octorunbook", "renew", "/srv/x\nExecStart=/bin/sh"])
    assert caught.value.code == "RENDER_UNSAFE"
    assert caught.value.finding.details["destination"] == "a systemd unit"
    assert "LINE FEED" in caught.value.message or "\\n" in caught.value.message


def test_everyday_values_are_written_as_before() -> None:
    csp = "add_header Content-Security-Policy \"default-src 'self'; img-src *\" always;"
    assert emit.nginx_directive(csp) == csp
    assert emit.nginx_argument("/etc/my certs/a.pem") == '"/etc/my certs/a.pem"'
    assert emit.systemd_exec(["/opt/o rb/octorunbook", "renew", "/etc/100%/p.yaml"]) == (
        '"/opt/o rb/octorunbook" renew /etc/100%%/p.yaml'
    )
    assert (
        emit.task_argument("C:\\ProgramData\\octorunbook\\p.yaml") == '"C:\\ProgramData\\octorunbook\\p.yaml"'
    )
