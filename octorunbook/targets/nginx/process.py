"""Where nginx is, how to address its running master, and what /proc says about its processes.

``NginxInstallation`` holds the three parameters (``nginx_bin``, ``nginx_conf_dir``, ``nginx_pid``, with
Debian's defaults) and builds every argv from them, so the plan shows exactly what apply runs. A reload
is observed, not assumed: ``nginx -s reload`` only sends a signal, and the proof that the master took
the new configuration is a new generation of worker processes.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...commands import CommandResult
from ...findings import TargetError

_PID_DIRECTIVE = re.compile(r"^\s*pid\s+[^;]+;", re.M)


@dataclass(frozen=True)
class NginxInstallation:
    """Where nginx is and how to address its running master (``-p`` only for private prefixes)."""

    bin: str = "/usr/sbin/nginx"
    conf_dir: Path = Path("/etc/nginx")
    pid_file: Path = Path("/run/nginx.pid")
    prefix: Path | None = None

    @property
    def main_conf(self) -> Path:
        return self.conf_dir / "nginx.conf"

    def argv(self, *options: str, conf: Path | None = None) -> list[str]:
        """``nginx [-p PREFIX/] -c CONF [-g 'pid PID;'] OPTIONS``: ``-g pid`` only when the main
        configuration does not name a pid file itself (nginx refuses a duplicate ``pid``)."""
        argv = [self.bin]
        if self.prefix is not None:
            argv += ["-p", f"{self.prefix}/"]
        argv += ["-c", str(conf or self.main_conf)]
        try:
            declares_pid = bool(_PID_DIRECTIVE.search(self.main_conf.read_text()))
        except OSError:
            declares_pid = False
        if not declares_pid:
            argv += ["-g", f"pid {self.pid_file};"]
        return argv + list(options)


@dataclass(frozen=True)
class NginxVersion:
    version: tuple[int, ...]
    http2_module: bool

    @property
    def http2(self) -> str:
        """How this nginx spells HTTP/2: a ``listen`` parameter before 1.25.1, a directive since."""
        if not self.http2_module or self.version < (1, 9, 5):
            return ""
        return "directive" if self.version >= (1, 25, 1) else "listen"

    @property
    def text(self) -> str:
        return ".".join(str(n) for n in self.version)


def parse_version(output: str) -> NginxVersion:
    """``nginx -V`` output (stderr): ``nginx version: nginx/1.22.1`` and the configure arguments."""
    match = re.search(r"nginx/(\d+(?:\.\d+)*)", output)
    if match is None:
        raise TargetError(
            "NGINX_VERSION_UNKNOWN",
            "`nginx -V` printed no version.",
            "Check nginx_bin points at nginx.",
            details={"output": output[-2000:]},
        )
    return NginxVersion(tuple(int(n) for n in match.group(1).split(".")), "--with-http_v2_module" in output)


def command_details(result: CommandResult) -> dict[str, Any]:
    return {"argv": list(result.argv), "exit_code": result.exit_code, "output": result.output[-4000:]}


def nginx_messages(output: str) -> str:
    """nginx's own complaint: its ``[emerg]``/``[error]`` lines, else the last line of its output."""
    lines = [ln.strip() for ln in output.splitlines() if re.search(r"\[(emerg|alert|crit|error)\]", ln)]
    if not lines:
        lines = [ln.strip() for ln in output.strip().splitlines()[-1:]]
    return "; ".join(lines) or "(no output)"


def workers(master: int) -> frozenset[int]:
    """The master's children, from /proc: a new set after a reload is the proof it happened."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) > 1 and fields[1] == str(master) and fields[0] != "Z":
            found.add(int(entry.name))
    return frozenset(found)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return True


def retiring(pid: int) -> bool:
    try:
        return b"shutting down" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True  # gone
