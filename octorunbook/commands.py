r"""The one seam through which every external command runs.

Every call is recorded for the audit record: argv (secrets masked), exit code, seconds, and whether it
changed anything. Passwords travel in the child's environment (``secret_env``), never in argv: a
registered secret found in argv is refused before anything starts.

Executables come from the environment so tests (and operators with unusual installs) can put stand-ins
there: ``OCTORUNBOOK_POWERSHELL`` (default ``%SystemRoot%\System32\WindowsPowerShell\v1.0\powershell.exe``),
``OCTORUNBOOK_NETSH`` (default ``%SystemRoot%\System32\netsh.exe``); Octopus.Server.exe comes from the
``server_exe`` parameter. Never a bare name: Windows looks a bare name up in the current directory and the
Python folder first, which an elevated session must not trust. A 32-bit Python reaches the 64-bit tools
through ``Sysnative`` (``System32`` would be redirected to ``SysWOW64``).
"""

from __future__ import annotations

import ntpath
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from . import crashpoints
from .findings import CommandError, InputError
from .redaction import SECRETS, Secret, looks_like_secret_name

# What a long-lived child (the sandbox portal) may inherit: enough to run Python and find its files.
# Everything else — above all the variable holding the PFX password, whatever it is called, registered
# or not (a shell that exported it before `octorunbook sandbox init`) — stays behind.
DAEMON_ENVIRONMENT = frozenset(
    {
        "PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TEMP", "TMP",
        "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "SYSTEMROOT", "SystemRoot", "WINDIR", "COMSPEC",
        "PATHEXT", "USERPROFILE", "APPDATA", "LOCALAPPDATA", "PROGRAMDATA", "OCTORUNBOOK_HOME",
    }
)  # fmt: skip


def child_environment(base: Mapping[str, str] | None = None, *, daemon: bool = False) -> dict[str, str]:
    """The environment a child starts with: never a registered secret, never a variable whose name
    looks secret; a ``daemon`` (a process that outlives the run) gets only :data:`DAEMON_ENVIRONMENT`."""
    known = SECRETS.values()
    return {
        k: v
        for k, v in (os.environ if base is None else base).items()
        if v not in known
        and not looks_like_secret_name(k)
        and (not daemon or k in DAEMON_ENVIRONMENT or k.startswith("LC_"))
    }


@dataclass(frozen=True)
class CommandRecord:
    """What the audit record keeps of one command: never its output, never a secret."""

    argv: tuple[str, ...]
    exit_code: int | None
    seconds: float
    mutating: bool = False
    label: str = ""

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["argv"] = list(self.argv)
        data["seconds"] = round(self.seconds, 3)
        return data


@dataclass(frozen=True)
class CommandResult:
    argv: tuple[str, ...]
    exit_code: int
    stdout: str
    stderr: str
    seconds: float

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    @property
    def output(self) -> str:
        return (self.stdout + ("\n" + self.stderr if self.stderr else "")).strip()


@dataclass
class CommandRunner:
    """Runs commands, records them, and never lets a secret into argv or a record."""

    timeout: float = 300.0
    records: list[CommandRecord] = field(default_factory=list)
    on_record: Callable[[CommandRecord], None] | None = None
    base_env: Mapping[str, str] | None = None

    def run(
        self,
        argv: Sequence[str],
        *,
        mutating: bool = False,
        label: str = "",
        secret_env: Mapping[str, Secret] | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float | None = None,
        encoding: str | None = None,
    ) -> CommandResult:
        argv = tuple(str(a) for a in argv)
        if any(SECRETS.contains_secret(a) for a in argv):
            raise InputError(
                "SECRET_IN_ARGV",
                "A secret would have been passed on a command line, where other users and logs can see it "
                "(an argument contains the password's text).",
                "If a file path contains the password text, rename the file; otherwise report this. Nothing was run.",
            )
        # A child gets a secret only when it is handed one: the operator's password variable is not
        # inherited by netsh, Octopus.Server.exe or a portal process that outlives the run.
        child_env = child_environment({**(self.base_env or os.environ), **(env or {})})
        for name, secret in (secret_env or {}).items():
            child_env[name] = secret.reveal()
        redacted = tuple(SECRETS.redact(a) for a in argv)
        point = command_point(argv)
        crashpoints.reached(point + ":before")
        started = time.monotonic()
        try:
            proc = _start(argv, child_env, timeout or self.timeout)
        except FileNotFoundError as exc:
            self._record(CommandRecord(redacted, None, time.monotonic() - started, mutating, label))
            raise CommandError(
                "COMMAND_NOT_FOUND",
                f"Cannot run {redacted[0]!r}: {exc.strerror}.",
                "Check the path (server_exe, OCTORUNBOOK_POWERSHELL, OCTORUNBOOK_NETSH).",
                details={"argv": list(redacted)},
            ) from None
        except PermissionError as exc:  # a file without the execute bit, or a folder
            self._record(CommandRecord(redacted, None, time.monotonic() - started, mutating, label))
            raise CommandError(
                "COMMAND_NOT_EXECUTABLE",
                f"Cannot run {redacted[0]!r}: {exc.strerror}.",
                "Point the parameter at the program itself (server_exe, nginx_bin, OCTORUNBOOK_POWERSHELL, "
                "OCTORUNBOOK_NETSH), not at a folder or a file that is not executable.",
                details={"argv": list(redacted)},
            ) from None
        except LaunchLost as exc:
            self._record(CommandRecord(redacted, None, time.monotonic() - started, mutating, label))
            raise CommandError(
                "COMMAND_LOST",
                f"{' '.join(redacted)} was started, but how it ended is unknown: {exc}.",
                "Look at the target before anything else; a procedure run again reads it first and proves "
                "what it finds.",
                details={"argv": list(redacted)},
            ) from None
        except subprocess.TimeoutExpired:
            self._record(CommandRecord(redacted, None, time.monotonic() - started, mutating, label))
            raise CommandError(
                "COMMAND_TIMEOUT",
                f"{' '.join(redacted)} did not finish within {timeout or self.timeout:.0f} s.",
                "Check the target host; the command may still be running there.",
                details={"argv": list(redacted)},
            ) from None
        seconds = time.monotonic() - started
        self._record(CommandRecord(redacted, proc.returncode, seconds, mutating, label))
        crashpoints.reached(point + ":after")
        return CommandResult(
            redacted,
            proc.returncode,
            SECRETS.redact(_decode(proc.stdout, encoding)),
            SECRETS.redact(_decode(proc.stderr, encoding)),
            seconds,
        )

    def _record(self, record: CommandRecord) -> None:
        self.records.append(record)
        if self.on_record is not None:
            self.on_record(record)

    @property
    def mutating_records(self) -> list[CommandRecord]:
        return [r for r in self.records if r.mutating]


# A host may start some of its own commands itself: the sandbox runs its stand-ins from a fork server
# (targets/sandbox/forkserver.py), each still a process of its own. A launcher answers (exit code, stdout,
# stderr), raises subprocess.TimeoutExpired as subprocess.run does (the child killed), or answers None when
# the command is not one it starts, or cannot start it: then the command runs through subprocess as any other.
Launcher = Callable[[tuple[str, ...], dict[str, str], float], "tuple[int, bytes, bytes] | None"]
_LAUNCHERS: list[Launcher] = []


class LaunchLost(Exception):
    """A launcher started the command but cannot say how it ended (the process that ran it is gone)."""


def add_launcher(launcher: Launcher) -> None:
    """Let ``launcher`` start the commands it knows (once, however often it is added)."""
    if launcher not in _LAUNCHERS:
        _LAUNCHERS.append(launcher)


def _start(argv: tuple[str, ...], env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[bytes]:
    for launcher in _LAUNCHERS:
        done = launcher(argv, env, timeout)
        if done is not None:
            return subprocess.CompletedProcess(list(argv), *done)
    return subprocess.run(
        list(argv), stdin=subprocess.DEVNULL, capture_output=True, env=env, timeout=timeout, check=False
    )


_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_.-]*")
_OPTION = re.compile(r"--?[A-Za-z][A-Za-z0-9_-]*")


def command_point(argv: Sequence[str]) -> str:
    """The crash point of a command (``crashpoints``): ``command:<program>:<verb>``, never a value.

    The verb is the sub-command words that lead argv (``netsh http update sslcert``, ``Octopus.Server
    configure``); a program that takes options only (``nginx -c CONF -s reload``) is named by its
    options' names. Values (paths, thumbprints, script text) are left out: one may be a secret.
    """
    program = re.split(r"[\\/]", str(argv[0]))[-1] if argv else ""
    words: list[str] = []
    for arg in argv[1:5]:  # four: `netsh http add sslcert help` reads, `netsh http add sslcert` changes
        if not _WORD.fullmatch(arg):
            break
        words.append(arg)
    if not words:
        words = [arg.split("=", 1)[0] for arg in argv[1:] if _OPTION.fullmatch(arg.split("=", 1)[0])]
    return f"command:{program}:{' '.join(words)}"


def _decode(data: bytes, encoding: str | None = None) -> str:
    """Decode console output: a BOM wins; else ``encoding`` (the console code page a tool writes in) if
    given; else UTF-8, else latin-1."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    if encoding:
        return data.decode(encoding, errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def windows_system_folder() -> str:
    """``%SystemRoot%\\System32``, or ``Sysnative`` from a 32-bit Python on 64-bit Windows."""
    root = os.environ.get("SystemRoot") or os.environ.get("SYSTEMROOT") or "C:\\Windows"
    wow64 = bool(os.environ.get("PROCESSOR_ARCHITEW6432")) and sys.maxsize <= 2**32
    return ntpath.join(root, "Sysnative" if wow64 else "System32")


def powershell_exe() -> str:
    return os.environ.get("OCTORUNBOOK_POWERSHELL") or ntpath.join(
        windows_system_folder(), "WindowsPowerShell", "v1.0", "powershell.exe"
    )


def netsh_exe() -> str:
    return os.environ.get("OCTORUNBOOK_NETSH") or ntpath.join(windows_system_folder(), "netsh.exe")


def reg_exe() -> str:
    """``reg.exe``: reads HTTP.sys bindings from the registry, in no display language."""
    return os.environ.get("OCTORUNBOOK_REG") or ntpath.join(windows_system_folder(), "reg.exe")
