"""The Windows-shaped certificate store as a ``protocols.CertificateStore``: one named store (``My``,
``WebHosting``) of the LocalMachine store on Windows, or of the sandbox's folder store.

And :func:`httpsys_parts`, the HTTP.sys topology assembled from it: this store, the HTTP.sys binding
as the front (``httpsys/front.py``) and Octopus listening on its own https prefix
(``octopus/instance.py``). Windows and the sandbox share these parts; what differs is underneath, in
the drivers they wrap, so the argv are those the drivers build.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from .. import certificates
from ..redaction import Secret
from . import base
from .httpsys import HttpSys
from .httpsys.front import HttpSysFront
from .octopus import OctopusServer
from .octopus.instance import OctopusServerInstance
from .protocols import Proof, StoredCertificate, TargetParts


class StoreByName:
    """``CertificateStore`` over one named store of today's stores (``store`` passed on every call)."""

    def __init__(
        self,
        store: base.CertificateStore,
        name: str,
        *,
        pfx_encryption: Literal["compatible", "aes"] = "compatible",
    ) -> None:
        self.store = store
        self.name = name
        self.kind = type(store).__name__
        self.family = "localmachine"
        self.pfx_encryption = pfx_encryption

    def exists(self) -> bool:
        return self.store.store_exists(self.name)

    def add(
        self, certificate: certificates.LoadedCertificate, *, exportable: bool = False
    ) -> StoredCertificate:
        """A one-time PFX (0600, random password, in a private folder) imported, then deleted."""
        one_time = Secret(secrets.token_urlsafe(24))
        workdir = Path(tempfile.mkdtemp(prefix="octorunbook-"))
        try:
            pfx = workdir / "import.pfx"
            fd = os.open(pfx, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(certificates.export_pfx(certificate, one_time, self.pfx_encryption))
            return self.store.import_pfx(pfx, one_time, self.name, exportable=exportable)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def get(self, thumbprint: str) -> StoredCertificate | None:
        return self.store.get_certificate(thumbprint, self.name)

    def certificates(self) -> list[StoredCertificate]:
        return self.store.list_certificates(self.name)

    def certificate_pem(self, thumbprint: str) -> bytes | None:
        return self.store.certificate_pem(thumbprint, self.name)

    def prove(self, thumbprint: str) -> list[Proof]:
        key = self.store.test_private_key(thumbprint, self.name)
        return [
            Proof(
                "private key opens and signs",
                "a signature made and verified",
                f"{key.algorithm} ({key.provider}) {key.detail}".strip(),
                key.usable,
                "KEY_NOT_ACCESSIBLE",
            )
        ]

    def remove(self, thumbprint: str) -> None:
        self.store.remove_certificate(thumbprint, self.name)


def httpsys_parts(
    store: base.CertificateStore,
    httpsys: HttpSys,
    octopus: OctopusServer,
    host_probe: Callable[[], base.HostInfo],
    store_name: str,
) -> TargetParts:
    """The parts of an HTTP.sys host (Windows or the sandbox): the named LocalMachine store
    (``My``, ``WebHosting``), the HTTP.sys binding as the front, Octopus on its own https prefix."""
    return TargetParts(
        StoreByName(store, store_name),
        HttpSysFront(httpsys, octopus, windows_build=lambda: host_probe().windows_build),
        OctopusServerInstance(octopus),
    )


if TYPE_CHECKING:
    from .protocols import CertificateStore

    def _fits(store: StoreByName) -> CertificateStore:
        """mypy proves here that the adapted store satisfies the protocol (never called)."""
        return store
