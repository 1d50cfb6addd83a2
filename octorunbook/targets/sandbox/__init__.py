"""The built-in sandbox host: rehearse the whole procedure anywhere, unprivileged, on loopback.

The names are loaded on first use: the stand-ins (``Octopus.Server``, ``netsh``, ``reg``, ``sc``) are
modules of this package, and every command a sandbox run issues starts one of them, which would
otherwise import the whole host (and the nginx front) before it reads its first argument."""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (mypy reads the name)
if TYPE_CHECKING:
    from typing import Any

    from .host import DRILLS, Sandbox, ensure_sandbox

__all__ = ["DRILLS", "Sandbox", "ensure_sandbox"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import host

        return getattr(host, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
