"""The parameters of the nginx topology, checked at the boundary like every other parameter.

``front`` chooses what terminates TLS (``httpsys`` or ``nginx``): for ``target: sandbox`` it chooses
the sandbox's topology, ``target: nginx`` is always nginx and ``target: windows`` always HTTP.sys.
``nginx_bin``, ``nginx_conf_dir``, ``nginx_pid`` and ``cert_dir`` are absolute paths (nginx reads a
relative one against its own prefix) without characters nginx reads as syntax (they are written into its
configuration and into ``-g 'pid …;'``); ``octopus_upstream`` is Octopus's plain-HTTP address.

For ``target: nginx`` the checks that need no command are made here, before a kernel starts (exit 2):
nginx_bin is an executable file, nginx_conf_dir holds nginx.conf, the HTTPS port is neither the HTTP
port the redirect server takes nor the port Octopus itself listens on, and the host name can be an
nginx ``server_name``. Whether nginx runs is the target's state, found when 03 plans (exit 1).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from octorunbook.findings import Finding, InputError

FRONTS = ("httpsys", "nginx")
# Where nginx and its certificates live: absolute, because nginx resolves a relative path against its own
# prefix, not against the directory the runbook was started in. Values: the Debian defaults.
NGINX_DEFAULTS = {
    "nginx_bin": "/usr/sbin/nginx",
    "nginx_conf_dir": "/etc/nginx",
    "nginx_pid": "/run/nginx.pid",
    "cert_dir": "/etc/octorunbook/certs",
}
ABSOLUTE_PATHS = tuple(NGINX_DEFAULTS)
DEFAULT_UPSTREAM = "http://127.0.0.1:8080"


class FrontParameters(Protocol):
    """What the front check reads of the parameters (``params.Parameters`` is one)."""

    @property
    def target(self) -> str: ...

    @property
    def front(self) -> str: ...

    @property
    def octopus_upstream(self) -> str: ...

    @property
    def front_kind(self) -> str: ...

    @property
    def hostname(self) -> str: ...

    @property
    def https_port(self) -> int: ...

    @property
    def keep_http(self) -> bool: ...

    @property
    def force_ssl(self) -> bool: ...

    @property
    def nginx_bin(self) -> str: ...

    @property
    def nginx_conf_dir(self) -> str: ...

    def resolved_sandbox_dir(self) -> Path: ...


def front_problems(p: FrontParameters) -> list[Finding]:
    """Every problem with the front parameters, as error findings. Reads, never writes."""
    problems: list[Finding] = []

    def bad(code: str, message: str, remedy: str) -> None:
        problems.append(Finding(code, "error", message, remedy))

    if p.front not in FRONTS:
        bad(
            "FRONT_INVALID",
            f"front must be 'httpsys' or 'nginx', got {p.front!r}.",
            "Use front: httpsys (Octopus on Windows, HTTP.sys) or front: nginx (Octopus on Linux behind nginx).",
        )
        return problems
    if p.target == "windows" and p.front == "nginx":
        bad(
            "FRONT_INVALID",
            "front: nginx with target: windows: on Windows, HTTP.sys terminates TLS for Octopus.",
            "Use target: nginx on the Linux host running nginx, or front: httpsys on Windows.",
        )
    for name in ABSOLUTE_PATHS:
        value = str(getattr(p, name))
        if not value.startswith("/"):
            bad(
                "PATH_INVALID",
                f"{name} must be an absolute path, got {value[:200]!r}.",
                f"Give {name} as a full path, e.g. {NGINX_DEFAULTS[name]}.",
            )
    from octorunbook.targets.nginx.config import check_hostname, check_upstream
    from octorunbook.targets.nginx.process import unsafe_in_path

    if p.target == "nginx":
        for name in ABSOLUTE_PATHS[1:]:  # written into nginx's configuration or its -g argument
            value = str(getattr(p, name))
            if unsafe_in_path(value) and value.startswith("/"):
                bad(
                    "PATH_INVALID",
                    f"{name} {value[:200]!r} holds {unsafe_in_path(value)!r}, which nginx reads as "
                    "configuration syntax (it is written into the server block or into -g 'pid …;').",
                    f"Use a path of letters, digits and / . - _ such as {NGINX_DEFAULTS[name]}.",
                )
        problems += _installation_problems(p)
    try:
        upstream = check_upstream(p.octopus_upstream)
    except InputError as exc:
        problems.append(exc.finding)
        upstream = ""
    if p.front_kind == "nginx":
        try:
            check_hostname(p.hostname)
        except InputError as exc:
            problems.append(exc.finding)
        problems += _port_problems(p, upstream)
    if p.target == "sandbox":
        from octorunbook.targets.sandbox.host import Sandbox

        try:
            Sandbox(p.resolved_sandbox_dir()).require_front(p.front)
        except InputError as exc:
            problems.append(exc.finding)
    return problems


def _installation_problems(p: FrontParameters) -> list[Finding]:
    """nginx_bin is an executable file and nginx_conf_dir holds nginx.conf (stat only, nothing is run)."""
    problems: list[Finding] = []
    binary, main_conf = Path(p.nginx_bin), Path(p.nginx_conf_dir) / "nginx.conf"
    if p.nginx_bin.startswith("/") and not (
        binary.is_file() and os.access(binary, os.X_OK) and stat.S_ISREG(binary.stat().st_mode)
    ):
        problems.append(
            Finding(
                "NGINX_NOT_FOUND",
                "error",
                f"nginx_bin {p.nginx_bin[:200]!r} is not an executable file.",
                "Install nginx (apt-get install nginx) or set nginx_bin to its path (`command -v nginx`).",
            )
        )
    if p.nginx_conf_dir.startswith("/") and not main_conf.is_file():
        problems.append(
            Finding(
                "NGINX_CONF_NOT_FOUND",
                "error",
                f"nginx_conf_dir {p.nginx_conf_dir[:200]!r} holds no nginx.conf.",
                "Set nginx_conf_dir to the folder of the nginx.conf the running nginx uses "
                "(`nginx -V` shows it as --conf-path; Debian: /etc/nginx).",
            )
        )
    return problems


_LOCAL = {"127.0.0.1", "::1", "localhost", "0.0.0.0", "::"}


def _port_problems(p: FrontParameters, upstream: str) -> list[Finding]:
    """nginx would have to listen where something else must: both end in a failed reload and a rollback."""
    problems: list[Finding] = []
    if p.https_port == 80 and (p.keep_http or p.force_ssl):
        problems.append(
            Finding(
                "NGINX_PORT_CONFLICT",
                "error",
                "https_port 80 is also the HTTP port, where the redirect (force_ssl) or plain-HTTP server listens.",
                "Use https_port 443 (or another free port), or keep_http: false and force_ssl: false.",
            )
        )
    if p.target == "sandbox":
        from octorunbook.targets.sandbox.proxied import UPSTREAM_PORT

        octopus_port, local = UPSTREAM_PORT, True
    else:
        parts = urlsplit(upstream)
        octopus_port = parts.port or (443 if parts.scheme == "https" else 80)
        local = bool(upstream) and (parts.hostname or "") in _LOCAL | {p.hostname.lower()}
    if local and p.https_port == octopus_port:
        problems.append(
            Finding(
                "NGINX_PORT_CONFLICT",
                "error",
                f"https_port {p.https_port} is the port Octopus itself listens on ({upstream or 'the upstream'}): "
                "nginx cannot listen there too.",
                "Use https_port 443 for nginx; Octopus keeps its own HTTP port behind it.",
            )
        )
    return problems
