"""The Windows-shaped certificate store: one named store (``My``, ``WebHosting``) of LocalMachine, as a
``protocols.CertificateStore``, on Windows and on the sandbox alike.

:class:`LocalMachineStore` is the store part of the HTTP.sys topology. It holds what an import into
LocalMachine means wherever it runs:

* the certificate goes in as a one-time PFX: a fresh random password (handed to the driver as a
  ``Secret``, never on disk or in an argv), a 0600 file in a private ``mkdtemp`` folder that is deleted
  in ``finally``;
* the PFX is encrypted for the Windows build that imports it (``compatible`` 3DES, ``aes`` from Server
  2019 on; ``pfx_encryption: auto`` chooses by the host's build), since an old Windows reports an AES
  PFX as a wrong password;
* what the import put into the CA store (``chain_added``) and the roots it refused to install
  (``roots_not_added``) come back on the stored certificate;
* a certificate that arrives without its private key is removed again: ``PFX_NO_PRIVATE_KEY``;
* the key is proven by a signature made and verified (``HasPrivateKey`` alone proves nothing).

Underneath is a small :class:`LocalMachineDriver` that runs the host's own commands on a store named
per call: PowerShell scripts on Windows (``windows/store.py``), a folder on the sandbox
(``sandbox/store.py``). The argv are those the drivers build. One driver serves every named store of a
host: :meth:`LocalMachineStore.sibling` opens ``WebHosting`` beside ``My`` over the same driver (02 says
a certificate is in the other store; a renewal reads the store its binding names).

And :func:`httpsys_parts`, the HTTP.sys topology assembled from it: this store, the HTTP.sys binding
as the front (``httpsys/front.py``) and Octopus listening on its own https prefix
(``octopus/instance.py``).
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol

from ..certificates import (
    ONE_TIME_PFX_KDF_ROUNDS,
    LoadedCertificate,
    PfxEncryption,
    choose_pfx_encryption,
    export_pfx,
)
from ..findings import OctorunbookError, TargetError
from ..redaction import Secret
from . import base
from .httpsys import HttpSys
from .httpsys.front import HttpSysFront
from .octopus import OctopusServer
from .octopus.instance import OctopusServerInstance
from .octopus.urlacl import UrlAcls
from .protocols import Proof, StoredCertificate, TargetParts

KEY_USABLE = ("private key usable", "sign + verify succeeds")


class LocalMachineDriver(Protocol):
    """The host-specific commands under a :class:`LocalMachineStore`, on the store named by ``store``.

    A driver reads and writes; it decides nothing beyond its own coded errors (``STORE_MISSING``,
    ``PFX_WRONG_PASSWORD``, ``KEY_NOT_ACCESSIBLE``…). Import semantics live in the store.
    """

    def store_exists(self, store: str) -> bool: ...

    def import_pfx(
        self, pfx_path: Path, password: Secret, store: str, *, exportable: bool = False
    ) -> StoredCertificate: ...

    def get_certificate(self, thumbprint: str, store: str) -> StoredCertificate | None: ...

    def list_certificates(self, store: str) -> list[StoredCertificate]: ...

    def test_private_key(self, thumbprint: str, store: str) -> base.KeyCheck: ...

    def remove_certificate(self, thumbprint: str, store: str) -> None: ...

    def certificate_pem(self, thumbprint: str, store: str) -> bytes | None: ...


def _no_build() -> int | None:
    return None


def _auto() -> PfxEncryption:
    return "auto"


# The operator's ``pfx_encryption``, read when a certificate is imported (01, 04 take it; 02, 03, 05 do not).
PfxSetting = Callable[[], PfxEncryption]


class LocalMachineStore:
    """``LocalMachine\\<name>`` of one host, through its driver (see the module docstring)."""

    family = "localmachine"

    def __init__(
        self,
        driver: LocalMachineDriver,
        name: str,
        *,
        windows_build: Callable[[], int | None] = _no_build,
        pfx_encryption: PfxSetting = _auto,
    ) -> None:
        self.driver = driver
        self.name = name
        self.kind = type(driver).__name__  # what the record's ``implementations`` has always said
        self.windows_build = windows_build
        self.pfx_encryption = pfx_encryption

    def sibling(self, name: str) -> LocalMachineStore:
        """``LocalMachine\\<name>`` of the same host, over the same driver (itself for its own name)."""
        if name == self.name:
            return self
        return LocalMachineStore(
            self.driver, name, windows_build=self.windows_build, pfx_encryption=self.pfx_encryption
        )

    def encryption(self) -> Literal["compatible", "aes"]:
        """The PFX encryption ``add`` uses: ``pfx_encryption``, with ``auto`` chosen by the host's build."""
        return choose_pfx_encryption(self.pfx_encryption(), self.windows_build())

    # -- reading ----------------------------------------------------------------------------------
    def exists(self) -> bool:
        return self.driver.store_exists(self.name)

    def get(self, thumbprint: str) -> StoredCertificate | None:
        return self.driver.get_certificate(thumbprint, self.name)

    def certificates(self) -> list[StoredCertificate]:
        return self.driver.list_certificates(self.name)

    def certificate_pem(self, thumbprint: str) -> bytes | None:
        return self.driver.certificate_pem(thumbprint, self.name)

    def prove(self, thumbprint: str) -> list[Proof]:
        """The key opens and signs, and the signature verifies with the certificate's public key. A key
        that cannot be opened is the driver's coded error (``KEY_NOT_ACCESSIBLE``), given as the row."""
        check, expected = KEY_USABLE
        try:
            key = self.driver.test_private_key(thumbprint, self.name)
        except OctorunbookError as exc:
            return [Proof(check, expected, exc.message, False, exc.code)]
        seen = f"{key.algorithm} via {key.provider}: {key.detail}"
        return [Proof(check, expected, seen, key.usable, "KEY_NOT_USABLE")]

    # -- changing ---------------------------------------------------------------------------------
    def add(self, certificate: LoadedCertificate, *, exportable: bool = False) -> StoredCertificate:
        """Import through a one-time PFX, read back; one that arrived without its key is removed again.

        The PFX's password is random (192 bits) and used for this import alone, so its key derivation is
        not stretched (``ONE_TIME_PFX_KDF_ROUNDS``): Windows opens it at once."""
        encryption = self.encryption()
        one_time = Secret(secrets.token_urlsafe(24))
        workdir = Path(tempfile.mkdtemp(prefix="octorunbook-"))  # 0700 by mkdtemp
        try:
            pfx = workdir / "import.pfx"
            fd = os.open(pfx, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(
                    export_pfx(certificate, one_time, encryption, kdf_rounds=ONE_TIME_PFX_KDF_ROUNDS)
                )
            stored = self.driver.import_pfx(pfx, one_time, self.name, exportable=exportable)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        if not stored.has_private_key:
            self.remove(stored.thumbprint)
            raise TargetError(
                "PFX_NO_PRIVATE_KEY",
                f"The certificate was imported without its private key (removed again: {stored.thumbprint}).",
                "Export the PFX again with the private key; on Windows Server 2016 use pfx_encryption: "
                "compatible.",
            )
        return stored

    def remove(self, thumbprint: str) -> None:
        self.driver.remove_certificate(thumbprint, self.name)


def httpsys_parts(
    driver: LocalMachineDriver,
    httpsys: HttpSys,
    octopus: OctopusServer,
    host_probe: Callable[[], base.HostInfo],
    store_name: str,
    pfx_encryption: PfxSetting | None = None,
    url_acls: UrlAcls | None = None,
) -> TargetParts:
    """The parts of an HTTP.sys host (Windows or the sandbox): the named LocalMachine store
    (``My``, ``WebHosting``), the HTTP.sys binding as the front, Octopus on its own https prefix."""

    def windows_build() -> int | None:
        return host_probe().windows_build

    return TargetParts(
        LocalMachineStore(
            driver, store_name, windows_build=windows_build, pfx_encryption=pfx_encryption or _auto
        ),
        HttpSysFront(httpsys, octopus, windows_build=windows_build),
        OctopusServerInstance(octopus, url_acls),
    )


if TYPE_CHECKING:
    from .protocols import CertificateStore

    def _fits(store: LocalMachineStore) -> CertificateStore:
        """mypy proves here that the store satisfies the protocol (never called)."""
        return store
