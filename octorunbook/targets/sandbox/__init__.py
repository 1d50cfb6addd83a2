"""The built-in sandbox host: rehearse the whole procedure anywhere, unprivileged, on loopback."""

from .host import DRILLS, Sandbox, default_sandbox_dir, ensure_sandbox

__all__ = ["DRILLS", "Sandbox", "default_sandbox_dir", "ensure_sandbox"]
