"""The parameters of the nginx topology, checked at the boundary like every other parameter.

``front`` chooses what terminates TLS (``httpsys`` or ``nginx``): for ``target: sandbox`` it chooses
the sandbox's topology, ``target: nginx`` is always nginx and ``target: windows`` always HTTP.sys.
``nginx_bin``, ``nginx_conf_dir``, ``nginx_pid`` and ``cert_dir`` are absolute paths (nginx reads a
relative one against its own prefix) without characters nginx reads as syntax (they are written into its
configuration and into ``-g 'pid …;'``); ``octopus_upstream`` is Octopus's plain-HTTP address.

For ``target: nginx`` the checks that need no command are made here, before a kernel starts (exit 2):
nginx_bin is an executable file, nginx_conf_dir holds nginx.conf, the HTTPS port is neither the HTTP
port the redirect server takes nor the port Octopus itself listens on, and the host name can be an
nginx ``server_name``. Whether nginx runs is the target's state, found when 03 plans (exit 1), and
whether a sandbox was made for this front is asked of the target before a procedure starts
(``targets.require_fit``): this module checks shape only and imports no target.

The rules for what nginx's configuration can hold (:func:`check_upstream`, :func:`check_hostname`, and
for paths the one writer's :func:`octorunbook.emit.nginx_argument`) are pure, and live here: the parameters are refused by them at the boundary, and
the nginx target's writer applies the same rules again to every value it renders.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from octorunbook.emit import nginx_argument
from octorunbook.findings import Finding, InputError

__all__ = [
    "ABSOLUTE_PATHS",
    "DEFAULT_UPSTREAM",
    "FRONTS",
    "NGINX_DEFAULTS",
    "OCTOPUS_HTTP_PORT",
    "FrontParameters",
    "check_hostname",
    "check_upstream",
    "front_problems",
]

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
OCTOPUS_HTTP_PORT = 8080  # where Octopus's Linux container (and the sandbox's stand-in) serves plain HTTP
DEFAULT_UPSTREAM = f"http://127.0.0.1:{OCTOPUS_HTTP_PORT}"

_HOSTNAME = re.compile(
    r"^(\*\.)?([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$"
)
_UPSTREAM_HOST = re.compile(
    r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_]([A-Za-z0-9._-]{0,251}[A-Za-z0-9_])?)$"
)  # compose names have _


def check_upstream(upstream: str) -> str:
    """``http://host:port`` (or https): a host name or IP address, a port 1-65535, no user, no path, no
    query, nothing nginx would read as syntax (nginx -t would refuse ``:99999`` only after 01 and 02 ran)."""
    parts = urlsplit(upstream.strip())
    try:
        port = parts.port  # ValueError above 65535 or not a number
    except ValueError:
        port = 0
    host = parts.netloc if port is None else parts.netloc.rsplit(":", 1)[0]
    if (
        parts.scheme not in {"http", "https"}
        or not parts.hostname
        or not _UPSTREAM_HOST.match(host)
        or port == 0
        or parts.path not in {"", "/"}
        or parts.query
        or parts.fragment
        or re.search(r"[\s;{}'\"$#\\@]", upstream)
    ):
        raise InputError(
            "NGINX_UPSTREAM_INVALID",
            f"octopus_upstream {upstream!r} is not the address of Octopus's HTTP listener.",
            "Give it as http://HOST:PORT, e.g. http://127.0.0.1:8080 (the Linux container listens on 8080).",
        )
    return f"{parts.scheme}://{parts.netloc}"


def check_hostname(hostname: str) -> str:
    """``hostname`` as an nginx ``server_name`` (lower case), or ``HOSTNAME_INVALID``."""
    if not _HOSTNAME.fullmatch(hostname or ""):
        raise InputError(
            "HOSTNAME_INVALID",
            f"{hostname!r} cannot be an nginx server_name.",
            "Use the name operators type in the browser, e.g. octopus.example.com.",
        )
    return hostname.lower()


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
    if p.target == "nginx":
        for name in ABSOLUTE_PATHS[1:]:  # written into nginx's configuration or its -g argument
            value = str(getattr(p, name))
            if not value.startswith("/"):
                continue
            try:  # the one rule of emit.py: nginx's syntax, control and format characters
                nginx_argument(
                    value,
                    name,
                    code="PATH_INVALID",
                    remedy=f"Use a path of letters, digits and / . - _ such as {NGINX_DEFAULTS[name]}.",
                )
            except InputError as exc:
                problems.append(exc.finding)
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
    if p.target == "sandbox":  # the stand-in Octopus listens where the Linux container does
        octopus_port, local = OCTOPUS_HTTP_PORT, True
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
