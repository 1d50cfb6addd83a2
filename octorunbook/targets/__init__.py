"""Targets: the host a runbook acts on. ``open_target`` picks one from the parameters."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import OCTOPUS_APP_ID, HostInfo, KeyCheck, PortalConfig, SslBinding, StoredCertificate, Target
from .lock import TargetLock

if TYPE_CHECKING:
    from ..commands import CommandRunner
    from ..params import Parameters


def open_target(params: Parameters, runner: CommandRunner) -> Target:
    """The sandbox (created on first use) unless the operator chose ``target: windows`` or ``nginx``."""
    if params.target == "nginx":
        from .nginx.host import open_nginx_target

        return open_nginx_target(params, runner)
    if params.target == "windows":
        from .windows import open_windows_target

        return open_windows_target(instance=params.instance, server_exe=params.server_exe, runner=runner)
    from .sandbox import ensure_sandbox

    sandbox = ensure_sandbox(params.resolved_sandbox_dir(), front=params.front)
    return sandbox.open_target(params.instance, runner)


def open_existing_target(params: Parameters, runner: CommandRunner) -> Target:
    """The target as it is, for readers (a check): a sandbox must exist already, nothing is started."""
    if params.target == "nginx":
        from .nginx.host import open_nginx_target

        return open_nginx_target(params, runner)
    from .sandbox import Sandbox

    sandbox = Sandbox(params.resolved_sandbox_dir())
    sandbox.require()
    return sandbox.open_target(params.instance, runner)


def procedure_lock(params: Parameters, first: str) -> TargetLock:
    """The target's lock, found without opening the target (nothing is created or started here)."""
    if params.target == "windows":
        from .windows import default_state_dir

        state_dir = default_state_dir()
    elif params.target == "nginx":
        from .nginx.host import state_dir as nginx_state_dir

        state_dir = nginx_state_dir(params)
    else:
        state_dir = params.resolved_sandbox_dir() / "state"  # where ``Sandbox.open_target`` keeps it
    return TargetLock(state_dir, params.instance, f"procedure from {first}" if first else "procedure")


__all__ = [
    "OCTOPUS_APP_ID",
    "HostInfo",
    "KeyCheck",
    "PortalConfig",
    "SslBinding",
    "StoredCertificate",
    "Target",
    "open_existing_target",
    "open_target",
    "procedure_lock",
]
