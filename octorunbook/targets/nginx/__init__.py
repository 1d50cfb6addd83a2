"""The nginx target's parts: a PEM-directory store and nginx as the TLS front (a managed server block).

``NginxSandbox`` runs a real nginx under a private prefix, for rehearsals and tests.
"""

from typing import TYPE_CHECKING

from .front import NginxFront, NginxSiteState
from .process import NginxInstallation, NginxVersion
from .sandbox import NginxSandbox
from .store import DEFAULT_ROOT, PemDirectoryStore

__all__ = [
    "DEFAULT_ROOT",
    "NginxFront",
    "NginxInstallation",
    "NginxSandbox",
    "NginxSiteState",
    "NginxVersion",
    "PemDirectoryStore",
]

if TYPE_CHECKING:
    from ..protocols import CertificateStore, TlsFront

    def _fits(
        front: NginxFront, store: PemDirectoryStore
    ) -> tuple[TlsFront[NginxSiteState], CertificateStore]:
        """mypy proves here that the nginx parts satisfy the protocols (never called)."""
        return front, store
