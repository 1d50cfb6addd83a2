"""The parameters of the nginx topology, checked at the boundary like every other parameter.

``front`` chooses what terminates TLS (``httpsys`` or ``nginx``): for ``target: sandbox`` it chooses
the sandbox's topology, ``target: nginx`` is always nginx and ``target: windows`` always HTTP.sys.
``nginx_bin``, ``nginx_conf_dir``, ``nginx_pid`` and ``cert_dir`` are absolute paths (nginx reads a
relative one against its own prefix); ``octopus_upstream`` is Octopus's plain-HTTP address.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from .findings import Finding, InputError

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
    from .targets.nginx.config import check_upstream

    try:
        check_upstream(p.octopus_upstream)
    except InputError as exc:
        problems.append(exc.finding)
    if p.target == "sandbox":
        from .targets.sandbox.host import Sandbox

        try:
            Sandbox(p.resolved_sandbox_dir()).require_front(p.front)
        except InputError as exc:
            problems.append(exc.finding)
    return problems
