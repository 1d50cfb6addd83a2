"""The built-in sandbox host: rehearse the whole procedure anywhere, unprivileged, on loopback."""

from .host import DRILLS, Sandbox, ensure_sandbox

__all__ = ["DRILLS", "Sandbox", "ensure_sandbox"]
