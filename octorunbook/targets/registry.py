"""Targets by name: ``target: sandbox | windows | nginx`` → the factory that opens it, and where its state lives.

Every door (a runbook, a procedure's lock, a check, ``recover``) finds a target here, so adding a
topology is one entry, not another ``if params.target == …`` in each caller. A factory opens the target
as it is (``existing=True``: a reader must not create or start anything), says where the target's
protected state home is, from the parameters alone, so a lock can be taken before anything is opened,
and refuses parameters the target as it stands cannot take (the parameter parser checks shape only and
knows no target).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from octorunbook.params.core import Parameters

    from ..certificates import PfxEncryption
    from ..commands import CommandRunner
    from .base import Target
    from .localmachine import PfxSetting


def _pfx_encryption(params: Parameters) -> PfxSetting:
    """``pfx_encryption``, read only when a LocalMachine import needs it: 01 and 04 take the parameter,
    and a runbook that opens the same target without importing must not read it."""
    return lambda: cast("PfxEncryption", params.pfx_encryption)  # checked by Parameters.check()


def _fits_any(params: Parameters) -> None:
    """A target that takes any parameters of the right shape."""


@dataclass(frozen=True)
class TargetFactory:
    """How one kind of target is opened, where its state home is, and what it refuses before either.

    ``require_fit`` reads only and raises ``InputError`` (exit 2): it runs before a procedure takes
    the lock, so a misfit stops before anything is created, started or changed.
    """

    open: Callable[[Parameters, CommandRunner, bool], Target]
    state_dir: Callable[[Parameters], Path]
    require_fit: Callable[[Parameters], None] = _fits_any


def _open_sandbox(params: Parameters, runner: CommandRunner, existing: bool) -> Target:
    from .sandbox import Sandbox, ensure_sandbox

    if existing:
        sandbox = Sandbox(params.resolved_sandbox_dir())
        sandbox.require()
    else:
        sandbox = ensure_sandbox(params.resolved_sandbox_dir(), front=params.front)
    return sandbox.open_target(
        params.instance,
        runner,
        params.store,
        _pfx_encryption(params),
    )


def _sandbox_state(params: Parameters) -> Path:
    return params.resolved_sandbox_dir() / "state"  # where ``Sandbox.open_target`` keeps it


def _sandbox_fit(params: Parameters) -> None:
    """``SANDBOX_FRONT_MISMATCH`` when the sandbox was created for the other front (one that does not
    exist yet fits: the first run creates it with ``front``)."""
    from .sandbox import Sandbox

    Sandbox(params.resolved_sandbox_dir()).require_front(params.front)


def _open_windows(params: Parameters, runner: CommandRunner, existing: bool) -> Target:
    from .windows import open_windows_target

    return open_windows_target(
        instance=params.instance,
        server_exe=params.server_exe,
        runner=runner,
        store=params.store,
        pfx_encryption=_pfx_encryption(params),
    )


def _windows_state(params: Parameters) -> Path:
    from .windows import default_state_dir

    return default_state_dir()


def _open_nginx(params: Parameters, runner: CommandRunner, existing: bool) -> Target:
    from .nginx.host import open_nginx_target

    return open_nginx_target(params, runner)


def _nginx_state(params: Parameters) -> Path:
    from .nginx.host import state_dir

    return state_dir(params)


TARGETS: dict[str, TargetFactory] = {
    "sandbox": TargetFactory(_open_sandbox, _sandbox_state, _sandbox_fit),
    "windows": TargetFactory(_open_windows, _windows_state),
    "nginx": TargetFactory(_open_nginx, _nginx_state),
}


def factory(name: str) -> TargetFactory:
    """The factory for ``target: name`` (the parameter parser has already refused other names)."""
    try:
        return TARGETS[name]
    except KeyError:
        raise ValueError(f"no target named {name!r}; known: {', '.join(TARGETS)}") from None


__all__ = ["TARGETS", "TargetFactory", "factory"]
