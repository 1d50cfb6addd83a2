"""``target: nginx``: this Linux host, where nginx terminates TLS in front of Octopus's plain HTTP.

The parts come from the parameters: the PEM-directory store in ``cert_dir``, the nginx front from
``nginx_bin`` / ``nginx_conf_dir`` / ``nginx_pid`` (Debian's defaults) proxying to
``octopus_upstream``, and Octopus behind the proxy (driven through ``server_exe`` when it is given; a
container configured by its environment has none). octorunbook's own memory for this target (last
import, locks, the change journal) lives in ``state/`` beside ``cert_dir``.
"""

from __future__ import annotations

import platform
import socket
from pathlib import Path
from typing import TYPE_CHECKING

from ..base import HostInfo, Target
from ..octopus import OctopusServer
from ..octopus.proxied import ProxiedOctopusInstance
from ..protocols import TargetParts
from . import NginxFront, NginxInstallation, PemDirectoryStore

if TYPE_CHECKING:
    from octorunbook.params.core import Parameters

    from ...commands import CommandRunner


def state_dir(params: Parameters) -> Path:
    return Path(params.cert_dir).parent / "state"


def open_nginx_target(params: Parameters, runner: CommandRunner) -> Target:
    octopus = OctopusServer(params.server_exe or "Octopus.Server", params.instance, runner)
    installation = NginxInstallation(
        bin=params.nginx_bin, conf_dir=Path(params.nginx_conf_dir), pid_file=Path(params.nginx_pid)
    )
    parts = TargetParts(
        store=PemDirectoryStore(Path(params.cert_dir)),
        front=NginxFront(installation, runner, upstream=params.octopus_upstream),
        instance=ProxiedOctopusInstance(
            octopus if params.server_exe else None, params.instance, params.octopus_upstream
        ),
    )
    host = socket.gethostname()
    return Target(
        kind="nginx",
        host=host,
        instance=params.instance,
        runner=runner,
        state_dir=state_dir(params),
        parts=parts,
        host_probe=lambda: HostInfo(platform.platform(), None, True, host),
    )
