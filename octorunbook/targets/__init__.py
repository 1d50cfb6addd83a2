"""Targets: the only code that knows a machine (drivers, hosts, the registry, the state home).

``open_target`` picks the host a runbook acts on from the parameters (``registry``), and
``require_fit`` says whether that host, as it stands, can take them.
"""

from __future__ import annotations

from pathlib import Path

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

    from octorunbook.params.core import Parameters

    from ..commands import CommandRunner
    from .base import OCTOPUS_APP_ID as OCTOPUS_APP_ID
    from .base import HostInfo as HostInfo
    from .base import KeyCheck as KeyCheck
    from .base import PortalConfig as PortalConfig
    from .base import SslBinding as SslBinding
    from .base import StoredCertificate as StoredCertificate
    from .base import Target as Target
    from .lock import TargetLock as TargetLock
    from .registry import TargetFactory
    from .state import StateHome as StateHome

# Loaded on first use (PEP 562): a module of a subpackage -- each sandbox stand-in a run starts, the
# check plugin -- imports this package first, and should not pay for every driver to read one flag.
_LAZY = {
    **dict.fromkeys(
        (
            "OCTOPUS_APP_ID",
            "HostInfo",
            "KeyCheck",
            "PortalConfig",
            "SslBinding",
            "StoredCertificate",
            "Target",
        ),
        "base",
    ),
    "StateHome": "state",
    "TargetLock": "lock",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _factory(kind: str) -> TargetFactory:
    from .registry import factory

    return factory(kind)


def open_target(params: Parameters, runner: CommandRunner) -> Target:
    """The sandbox (created on first use) unless the operator chose ``target: windows`` or ``nginx``."""
    return _factory(params.target).open(params, runner, False)


def open_existing_target(params: Parameters, runner: CommandRunner) -> Target:
    """The target as it is, for readers (a check): a sandbox must exist already, nothing is started."""
    return _factory(params.target).open(params, runner, True)


def state_dir_for(params: Parameters) -> Path:
    """Where the target's protected state home is, from the parameters alone (nothing is opened)."""
    return _factory(params.target).state_dir(params)


def require_fit(params: Parameters) -> None:
    """``InputError`` when the target as it stands cannot take these parameters, though their shape is
    fine: a sandbox created for the other front (``SANDBOX_FRONT_MISMATCH``). Reads only.

    ``Parameters.check`` checks shape and knows no target; this is the target's half of the check. A
    procedure asks it before taking the lock, and opening the target for a change asks it again."""
    _factory(params.target).require_fit(params)


def target_id(kind: str, instance: str) -> str:
    """The name every state file carries and is checked against: the kind and the normalised instance."""
    from .state import normalised_instance

    return f"{kind}/{normalised_instance(instance)}"


def lock_keys(instance: str, https_port: int) -> list[str]:
    """What a change holds: the instance (however it is spelled) and the TLS endpoint it serves."""
    from .lock import lock_keys as lock_keys_for

    return lock_keys_for(instance, https_port)


def procedure_lock(params: Parameters, first: str) -> TargetLock:
    """The target's lock, found without opening the target (nothing is started here; the state home is
    checked, and created private when missing). Parameters the target cannot take are refused first
    (:func:`require_fit`), before the state home is touched."""
    from .lock import TargetLock
    from .state import StateHome

    require_fit(params)
    guard = None
    if params.target == "windows":  # a DACL, not a mode, makes it private: read and set through the seam
        from ..commands import CommandRunner as Runner
        from .windows import windows_state_guard

        guard = windows_state_guard(Runner())
    home = StateHome.open(state_dir_for(params), target_id(params.target, params.instance), guard)
    keys = lock_keys(params.instance, params.https_port)
    return TargetLock(home, keys, f"procedure from {first}" if first else "procedure")


__all__ = [  # the lazy names first, then this module's functions
    *_LAZY,
    "lock_keys",
    "open_existing_target",
    "open_target",
    "procedure_lock",
    "require_fit",
    "state_dir_for",
    "target_id",
]
