"""A real nginx under a private prefix: the nginx topology, rehearsed by any user on loopback.

Layout of ``PREFIX``::

    nginx.conf            the main configuration: no root paths, includes conf.d/*.conf
    conf.d/               where the front writes its managed server block
    certs/                the PEM directory store
    logs/, temp/          error and access logs, nginx's temporary files
    nginx.pid             the master's pid file
    ports.json            the port map: 443 and 80 (privileged) mapped to free high ports on 127.0.0.1

nginx is started as ``nginx -p PREFIX/ -c PREFIX/nginx.conf -g 'pid PREFIX/nginx.pid;'`` (it forks and
outlives the caller, as a service would) and stopped with ``nginx -s quit``. As root its workers run as
root too: the prefix may be a private temporary directory nobody else can enter.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import signal
import socket
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from ...commands import CommandRunner
from ...emit import nginx_argument
from ...files import MAX_PARAMETER_FILE, read_limited
from ...findings import CommandError, InputError, TargetError
from .front import NginxFront
from .process import NginxInstallation, alive, nginx_messages, nginx_path
from .store import PemDirectoryStore

DEFAULT_BIN = "/usr/sbin/nginx"
DRILLS = ("bad-directive",)
DRILL_DIRECTIVE = "octorunbook_drill_unknown_directive on;"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main_config(prefix: Path) -> str:
    """The private main configuration; every path quoted when it holds a space (``/home/me/My Sandbox``)."""
    user = f"user {pwd.getpwuid(os.geteuid()).pw_name};\n" if os.geteuid() == 0 else ""

    def at(relative: str) -> str:
        return nginx_path(prefix / relative, "sandbox folder")

    return (
        "# written by octorunbook: a private nginx (no root paths, loopback high ports)\n"
        f"{user}"
        "worker_processes 1;\n"
        f"error_log {at('logs/error.log')} notice;\n"
        "events { worker_connections 256; }\n"
        "http {\n"
        f"    access_log {at('logs/access.log')};\n"
        f"    client_body_temp_path {at('temp/body')};\n"
        f"    proxy_temp_path {at('temp/proxy')};\n"
        f"    fastcgi_temp_path {at('temp/fastcgi')};\n"
        f"    uwsgi_temp_path {at('temp/uwsgi')};\n"
        f"    scgi_temp_path {at('temp/scgi')};\n"
        "    include conf.d/*.conf;\n"
        "}\n"
    )


class NginxSandbox:
    """A private nginx in ``prefix``; ``front``/``store`` give the parts a target is made of."""

    def __init__(
        self,
        prefix: Path,
        *,
        nginx_bin: str = DEFAULT_BIN,
        runner: CommandRunner | None = None,
        port_mapper: Callable[[int], int] | None = None,
    ):
        """``port_mapper``: the sandbox host's port map (``Sandbox.map_port``) when nginx runs in front
        of its stand-in portal; by default the prefix keeps its own in ``ports.json``."""
        self.prefix = Path(prefix).resolve()
        self.nginx_bin = nginx_bin
        self.runner = runner or CommandRunner(timeout=60)
        self.port_mapper = port_mapper

    @property
    def installation(self) -> NginxInstallation:
        return NginxInstallation(
            bin=self.nginx_bin, conf_dir=self.prefix, pid_file=self.prefix / "nginx.pid", prefix=self.prefix
        )

    @property
    def ports_path(self) -> Path:
        return self.prefix / "ports.json"

    def init(self) -> None:
        """Write the prefix (idempotent: an existing one keeps its port map)."""
        if self.prefix.exists() and not self.prefix.is_dir():
            raise InputError(
                "SANDBOX_DIR_INVALID", f"{self.prefix} is a file, not a folder.", "Choose a folder."
            )
        nginx_argument(  # nginx is given paths inside it: the one rule of emit.py
            str(self.prefix),
            "sandbox folder",
            code="SANDBOX_DIR_INVALID",
            remedy="Choose a folder whose path has letters, digits, spaces and / . - _ only.",
        )
        for sub in ("conf.d", "logs", "temp"):
            (self.prefix / sub).mkdir(parents=True, exist_ok=True)
        (self.prefix / "nginx.conf").write_text(main_config(self.prefix))
        if not self.ports_path.is_file():
            self.ports_path.write_text(json.dumps({"443": _free_port(), "80": _free_port()}))

    def map_port(self, port: int) -> int:
        """The real loopback port for a virtual one (443, 80 and any other asked for)."""
        if self.port_mapper is not None:
            return self.port_mapper(port)
        mapping: dict[str, int] = json.loads(
            read_limited(self.ports_path, MAX_PARAMETER_FILE, what="sandbox port map", follow=False)
        )
        if str(port) not in mapping:
            mapping[str(port)] = port if port >= 1024 else _free_port()
            self.ports_path.write_text(json.dumps(mapping))
        return int(mapping[str(port)])

    def store(self) -> PemDirectoryStore:
        return PemDirectoryStore(self.prefix / "certs")

    def front(
        self, upstream: str, *, drill: str | None = None, extra_directives: Sequence[str] = ()
    ) -> NginxFront:
        if drill is not None and drill not in DRILLS:
            raise InputError(
                "DRILL_UNKNOWN", f"Unknown nginx drill {drill!r}.", f"Choose one of: {', '.join(DRILLS)}."
            )
        extra = tuple(extra_directives) + ((DRILL_DIRECTIVE,) if drill == "bad-directive" else ())
        return NginxFront(
            self.installation,
            self.runner,
            site_path=self.prefix / "conf.d" / "octopus-portal.conf",
            upstream=upstream,
            port_mapper=self.map_port,
            listen_address="127.0.0.1",
            extra_directives=extra,
        )

    def pid(self) -> int | None:
        try:
            pid = int(read_limited(self.installation.pid_file, 64, what="pid file").strip())
        except (OSError, ValueError, InputError):
            return None
        return pid if alive(pid) else None

    def start(self, timeout: float = 10.0) -> int:
        """Start the master (or find it running); its pid."""
        running = self.pid()
        if running is not None:
            return running
        result = self.runner.run(self.installation.argv(), mutating=True, label="start nginx (sandbox)")
        if not result.ok:
            raise CommandError(
                "NGINX_START_FAILED",
                f"nginx did not start: {nginx_messages(result.output)}",
                "Read the message (a port in use, a missing path) and the log in "
                + str(self.prefix / "logs"),
                details={"argv": list(result.argv), "output": result.output[-4000:]},
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid = self.pid()
            if pid is not None:
                return pid
            time.sleep(0.02)
        raise TargetError(
            "NGINX_START_FAILED", "nginx wrote no pid file.", "Read " + str(self.prefix / "logs")
        )

    def stop(self, timeout: float = 10.0) -> bool:
        """Stop gracefully (``nginx -s quit``), then by signal; True when one was running."""
        pid = self.pid()
        if pid is None:
            return False
        with contextlib.suppress(CommandError):
            self.runner.run(self.installation.argv("-s", "quit"), mutating=True, label="stop nginx (sandbox)")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and alive(pid):
            time.sleep(0.02)
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if alive(pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
                time.sleep(0.2)
        return True
