"""What ``sandbox init`` refuses before it creates anything: an unknown front or drill, a port out of
range, and a folder that is a file or whose name no stand-in can carry (a control character: the
stand-ins are sh wrappers that name the folder, and a refusal after the folders exist left them behind)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ...findings import InputError


def require_init_arguments(
    root: Path, front: str, fronts: Sequence[str], drills: Sequence[str], fail: str | None, http_port: int
) -> None:
    """``InputError`` (with its code and remedy) for the first argument ``sandbox init`` cannot take."""
    if front not in fronts:
        raise InputError(
            "FRONT_INVALID", f"front must be 'httpsys' or 'nginx', got {front!r}.", "Use one of those."
        )
    if fail is not None and fail not in drills:
        raise InputError(
            "DRILL_UNKNOWN",
            f"Unknown failure drill {fail!r} for the {front} front.",
            f"Choose one of: {', '.join(drills)}.",
        )
    if not 1 <= http_port <= 65535:
        raise InputError("PORT_INVALID", f"http_port must be 1-65535, got {http_port}.", "Use 80 (mapped).")
    if root.exists() and not root.is_dir():
        raise InputError("SANDBOX_DIR_INVALID", f"{root} is a file, not a folder.", "Choose a folder.")
    from ...emit import unprintable  # here: the stand-ins import host.py, and never need the writers

    odd = unprintable(str(root.resolve()))
    if odd:
        raise InputError(
            "SANDBOX_DIR_INVALID",
            f"The sandbox folder {str(root)!r} has the control character {odd!r} in its path.",
            "Choose a folder whose path has no line break, tab or other control character. Nothing was created.",
        )
