"""Where nginx is, how to address its running master, and what /proc says about its processes.

``NginxInstallation`` holds the three parameters (``nginx_bin``, ``nginx_conf_dir``, ``nginx_pid``, with
Debian's defaults) and builds every argv from them, so the plan shows exactly what apply runs. A reload
is observed, not assumed: ``nginx -s reload`` only sends a signal, and the proof that the master took
the new configuration is a new generation of worker processes.

Which master: ``nginx -s reload`` signals the pid in the pid file the *configuration* names (its ``pid``
directive wins over ``-g``), so that is the file read here too (``nginx_pid`` only when the configuration
names none); and the pid in it must be an nginx master, because a pid file left behind by a stopped nginx
may hold the pid of any process by now (it would be watched for workers that never come).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from octorunbook.emit import nginx_argument
from octorunbook.files import read_limited

from ...commands import CommandResult
from ...findings import OctorunbookError, TargetError

_PID_DIRECTIVE = re.compile(r"^\s*pid\s+([^;]+);", re.M)
MAX_CONFIG_FILE = 1024 * 1024  # an nginx configuration file is kilobytes; a FIFO or /dev/zero is refused


def nginx_path(path: Path | str, what: str = "path", *, quote: bool = False) -> str:
    """``path`` as it is written into nginx's configuration: refused (``PATH_INVALID``) when it holds
    syntax or a control character, quoted when it holds white space (nginx would split it into two
    arguments), bare otherwise (so files written before keep their text): :func:`octorunbook.emit.nginx_argument`."""
    return nginx_argument(
        str(path),
        what,
        code="PATH_INVALID",
        quote=quote,
        remedy="Use a path of letters, digits and / . - _ (the defaults are /etc/nginx and /etc/octorunbook/certs).",
    )


@contextlib.contextmanager
def site_lock(site: Path) -> Iterator[None]:
    """Hold an exclusive lock on the managed file's folder while the file is compared, replaced and reloaded.

    The runbooks' own lock lives in ``state/`` beside ``cert_dir``: two operators with different cert_dir
    values would not see each other's. The folder is where both must write; locking its descriptor
    creates no file in it (``conf.d`` holds only what nginx should read)."""
    folder = site.parent if site.parent.is_dir() else site.parent.parent
    fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def read_config(path: Path) -> str | None:
    """The text of a configuration file, read without hanging or filling memory; None when it cannot be
    read (missing, a folder, a FIFO, over a megabyte)."""
    try:
        return read_limited(path, MAX_CONFIG_FILE, what="nginx configuration file").decode("utf-8", "replace")
    except OctorunbookError:
        return None


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
        if self.declared_pid_file() is None:
            argv += ["-g", f"pid {nginx_path(self.pid_file, 'pid file')};"]
        return argv + list(options)

    def declared_pid_file(self) -> Path | None:
        """The pid file the main configuration names itself (None when it names none)."""
        match = _PID_DIRECTIVE.search(read_config(self.main_conf) or "")
        if match is None:
            return None
        path = Path(match.group(1).strip().strip("'\""))
        if not path.is_absolute():
            return (self.prefix / path) if self.prefix is not None else self.pid_file
        return path

    @property
    def master_pid_file(self) -> Path:
        """The pid file ``nginx -s reload`` reads: the configuration's own, else ``nginx_pid``."""
        return self.declared_pid_file() or self.pid_file


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


def is_master(pid: int) -> bool:
    """``pid`` is an nginx master process (its title says so; unknown when /proc cannot tell).

    nginx writes its pid file before the master sets its title, so for a moment after a start (longer on a
    busy machine) the master still shows the command line it was started with: an nginx binary's argv
    counts as the master too (a worker or a stale pid never looks like that)."""
    try:
        title = Path(f"/proc/{pid}/cmdline").read_bytes()
    except FileNotFoundError:
        return False
    except OSError:
        return True
    if title.startswith(b"nginx: master process"):
        return True
    program = title.split(b"\0", 1)[0]
    return program.rsplit(b"/", 1)[-1] == b"nginx"


def retiring(pid: int) -> bool:
    try:
        return b"shutting down" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True  # gone


def scratch_config(scratch: Path, fullchain: Path, privkey: Path) -> str:
    """A throwaway nginx.conf that only loads the certificate and key (``nginx -t`` on them, nothing bound)."""

    def at(name: str) -> str:
        return nginx_path(scratch / name, "temporary folder")  # TMPDIR may hold a space

    return (
        f"error_log {at('error.log')};\n"
        "events {}\n"
        "http {\n"
        f"    client_body_temp_path {at('body')}; proxy_temp_path {at('proxy')};\n"
        f"    fastcgi_temp_path {at('fastcgi')}; uwsgi_temp_path {at('uwsgi')}; scgi_temp_path {at('scgi')};\n"
        f"    access_log off;\n"
        "    server {\n"
        "        listen 127.0.0.1:8443 ssl;\n"  # nginx -t binds no socket: any port will do
        f"        ssl_certificate {nginx_path(fullchain, 'certificate path')};\n"
        f"        ssl_certificate_key {nginx_path(privkey, 'key path')};\n"
        "    }\n"
        "}\n"
    )
