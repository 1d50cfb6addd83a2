"""The form's read-only, lazy look at the target (stores, certificates, the last import)."""

from __future__ import annotations

from typing import Any

from octorunbook.params.core import Parameters
from octorunbook.targets.base import StoredCertificate, Target
from octorunbook.targets.protocols import CertificateStore
from octorunbook.ui.style import reason_of


class TargetView:
    """Read-only, lazy look at the target for the form: stores, certificates, the last import.

    The sandbox is only looked at when it already exists (``open_target`` would create it, and a form
    must not change anything); a Windows target is opened once, on first need, since that runs commands.
    """

    def __init__(self, params: Parameters) -> None:
        self.params = params
        self._windows: Target | None = None
        self._windows_error = ""

    def open(self) -> tuple[Target | None, str]:
        """The target, or None and why not (said next to the field, never raised)."""
        from octorunbook.commands import CommandRunner

        if self.params.target == "sandbox":
            from octorunbook.targets.sandbox import Sandbox

            root = self.params.resolved_sandbox_dir()
            sandbox = Sandbox(root)
            if not sandbox.exists():
                return None, f"the sandbox {root} does not exist yet: running the cells below creates it"
            return sandbox.open_target(self.params.instance, CommandRunner()), ""
        if self._windows is None and not self._windows_error:
            try:
                from octorunbook.targets import open_target

                self._windows = open_target(self.params, CommandRunner())
            except Exception as exc:  # not on Windows, not elevated, no Octopus: say so, do not fail
                self._windows_error = f"cannot look at this host: {reason_of(exc)}"
        return self._windows, self._windows_error

    def _store(self, store: str) -> CertificateStore | None:
        """``LocalMachine\\<store>`` of the target; None when the target keeps no LocalMachine stores
        (nginx: PEM files in cert_dir)."""
        target, why = self.open()
        if target is None:
            raise LookupError(why)
        if target.parts.store.family != "localmachine":
            return None
        return target.parts.store.sibling(store)

    def store_exists(self, store: str) -> bool | None:
        target, _ = self.open()
        if target is None:
            return None
        named = self._store(store)
        return named is not None and named.exists()

    def certificates(self, store: str) -> list[StoredCertificate]:
        """Certificates in LocalMachine\\<store> that have a private key: the only ones a binding can use."""
        named = self._store(store)
        if named is None or not named.exists():
            raise LookupError(f"LocalMachine\\{store} does not exist on this host")
        return [c for c in named.certificates() if c.has_private_key]

    def certificate(self, thumbprint: str, store: str) -> StoredCertificate | None:
        named = self._store(store)
        if named is None or not named.exists():
            raise LookupError(f"LocalMachine\\{store} does not exist on this host")
        return named.get(thumbprint)

    def last_import(self) -> dict[str, Any] | None:
        target, _ = self.open()
        return None if target is None else target.recall("last-import")
