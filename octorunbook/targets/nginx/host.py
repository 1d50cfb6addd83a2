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
from typing import TYPE_CHECKING, NoReturn

from ...findings import TargetError
from ..base import HostInfo, KeyCheck, StoredCertificate, Target
from ..httpsys import HttpSys
from ..octopus import OctopusServer
from ..octopus.proxied import ProxiedOctopusInstance
from ..protocols import TargetParts
from . import NginxFront, NginxInstallation, PemDirectoryStore

if TYPE_CHECKING:
    from octorunbook.params.core import Parameters

    from ...commands import CommandRunner
    from ...redaction import Secret


def state_dir(params: Parameters) -> Path:
    return Path(params.cert_dir).parent / "state"


class NoWindowsStore:
    """Where a Windows target has LocalMachine stores: none here (01 and 02 use the PEM store)."""

    def _refuse(self) -> NoReturn:
        raise TargetError(
            "STORE_NOT_ON_THIS_TARGET",
            "target: nginx keeps certificates as PEM files in cert_dir, not in a LocalMachine store.",
            "Use the runbooks 01-03, which use cert_dir on this target.",
        )

    def store_exists(self, store: str) -> bool:
        return False

    def import_pfx(
        self, pfx_path: Path, password: Secret, store: str, *, exportable: bool = False
    ) -> StoredCertificate:
        self._refuse()

    def get_certificate(self, thumbprint: str, store: str) -> StoredCertificate | None:
        return None

    def list_certificates(self, store: str) -> list[StoredCertificate]:
        return []

    def test_private_key(self, thumbprint: str, store: str) -> KeyCheck:
        self._refuse()

    def remove_certificate(self, thumbprint: str, store: str) -> None:
        self._refuse()

    def certificate_pem(self, thumbprint: str, store: str) -> bytes | None:
        return None


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
        store=NoWindowsStore(),
        octopus=octopus,
        httpsys=HttpSys("netsh", runner),
        runner=runner,
        state_dir=state_dir(params),
        parts=parts,
        host_probe=lambda: HostInfo(platform.platform(), None, True, host),
    )
