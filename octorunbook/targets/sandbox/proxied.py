"""The sandbox's nginx topology (``sandbox init DIR --front nginx``): Octopus on Linux behind nginx.

The stand-in Octopus portal listens on plain HTTP (``http://+:8080/``, mapped like every port), and a
real nginx under ``DIR/nginx`` (a private prefix, loopback high ports from the same port map)
terminates TLS in front of it. The parts a run drives are the nginx target's own: the PEM-directory
store in ``DIR/nginx/certs``, the managed server block in ``DIR/nginx/conf.d``, and the stand-in
Octopus as the instance behind the proxy. This module is where the sandbox and nginx meet, so neither
implementation imports the other.
"""

from __future__ import annotations

from pathlib import Path

from ...findings import InputError, OctorunbookError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (mypy reads the name)
if TYPE_CHECKING:  # imported where used: the stand-ins' every start imports this module (host.py)
    from contextlib import AbstractContextManager
    from typing import Any, Protocol

    from ...commands import CommandRunner
    from ..nginx import NginxSandbox
    from ..octopus import OctopusServer
    from ..protocols import TargetParts

# The stand-in serves plain HTTP where the Linux container does: params.nginx's OCTOPUS_HTTP_PORT
# (tests/targets/sandbox/test_sandbox.py holds them equal; that module is too heavy to import here).
UPSTREAM_PORT = 8080


if TYPE_CHECKING:  # a type for annotations: no class is made at run time

    class Sandbox(Protocol):
        """What the nginx front needs of the sandbox folder (``host.Sandbox`` is one): its root, its port map,
        its metadata under its lock, and its drill. A protocol, so ``host`` can use this module directly."""

        @property
        def root(self) -> Path: ...

        @property
        def meta_path(self) -> Path: ...

        def map_port(self, port: int) -> int: ...

        def meta(self) -> dict[str, Any]: ...

        def write_json(self, path: Path, data: Any) -> None: ...

        def locked(self) -> AbstractContextManager[None]: ...

        def drill(self) -> str | None: ...

        def stop(self) -> bool: ...


def nginx_of(sandbox: Sandbox, runner: CommandRunner | None = None) -> NginxSandbox:
    import shutil  # here: every stand-in command imports this module (through the host), few reach nginx

    from ..nginx import NginxSandbox
    from ..nginx.sandbox import DEFAULT_BIN

    bin_path = str(sandbox.meta().get("nginx_bin") or shutil.which("nginx") or DEFAULT_BIN)
    return NginxSandbox(
        sandbox.root / "nginx", nginx_bin=bin_path, runner=runner, port_mapper=sandbox.map_port
    )


def upstream(sandbox: Sandbox) -> str:
    """Octopus's plain-HTTP address as nginx reaches it: the mapped upstream port on loopback."""
    return f"http://127.0.0.1:{sandbox.map_port(UPSTREAM_PORT)}"


def start_front(sandbox: Sandbox) -> int:
    """Write nginx's private prefix (idempotent) and start its master (or find it running)."""
    import shutil

    proxy = nginx_of(sandbox)
    if shutil.which(proxy.nginx_bin) is None:
        raise InputError(
            "NGINX_NOT_FOUND",
            f"The nginx front needs nginx, and {proxy.nginx_bin} is not an executable.",
            "Install it (apt-get install nginx; it need not run as a service), or use the HTTP.sys front.",
        )
    try:
        proxy.init()
        with sandbox.locked():
            meta = sandbox.meta()
            meta["nginx_bin"] = proxy.nginx_bin
            sandbox.write_json(sandbox.meta_path, meta)
        return proxy.start()
    except OctorunbookError:
        sandbox.stop()  # the stand-in portal started first: no process is left behind a failed init
        raise


def stop_front(sandbox: Sandbox) -> bool:
    return nginx_of(sandbox).stop()


def front_status(sandbox: Sandbox) -> dict[str, Any]:
    proxy = nginx_of(sandbox)
    site = proxy.prefix / "conf.d" / "octopus-portal.conf"
    return {
        "nginx_pid": proxy.pid(),
        "nginx_prefix": str(proxy.prefix),
        "nginx_site": str(site) if site.is_file() else None,
        "upstream": upstream(sandbox),
        "certificates": [c.thumbprint for c in proxy.store().certificates()],
    }


def open_parts(sandbox: Sandbox, octopus: OctopusServer, runner: CommandRunner) -> TargetParts:
    from ..nginx.sandbox import DRILLS as NGINX_FRONT_DRILLS
    from ..octopus.proxied import ProxiedOctopusInstance
    from ..protocols import TargetParts

    proxy = nginx_of(sandbox, runner)
    drill = sandbox.drill()
    address = upstream(sandbox)
    return TargetParts(
        store=proxy.store(),
        front=proxy.front(address, drill=drill if drill in NGINX_FRONT_DRILLS else None),
        instance=ProxiedOctopusInstance(octopus, octopus.instance, address),
    )
