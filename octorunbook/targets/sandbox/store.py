"""The sandbox's LocalMachine certificate stores, backed by a folder: the driver under
``localmachine.LocalMachineStore`` on the sandbox, as ``windows/store.py`` is on Windows.

``stores/<StoreName>/<THUMBPRINT>.pem`` holds the certificate; ``<THUMBPRINT>.key`` holds the private
key, written 0600 like Windows' MachineKeys ACL. As on Windows, the PFX's intermediates go into
``stores/CA`` (Intermediate Certification Authorities, always present) and a self-signed root is not
installed; the portal sends the chain it can build from ``CA``. A store folder that does not exist
is a missing store (``WebHosting`` is absent until IIS is installed): it is never created silently.
"""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from ...files import read_limited
from ...findings import InputError, TargetError
from ...redaction import Secret
from ..base import KeyCheck, StoredCertificate

STORE_MISSING_REMEDY = (
    "The WebHosting store exists only where IIS 8+ is installed. Use store 'My' (Personal), "
    "or install IIS first."
)


def _thumbprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA1()).hex().upper()  # noqa: S303 - Windows thumbprints are SHA-1


def _dns_names(cert: x509.Certificate) -> tuple[str, ...]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return ()
    return tuple(san.get_values_for_type(x509.DNSName))


def _eku(cert: x509.Certificate) -> tuple[str, ...]:
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return ()
    return tuple(oid.dotted_string for oid in eku)


def _iso(cert_time: datetime) -> str:
    return cert_time.strftime("%Y-%m-%dT%H:%M:%SZ")


class DirectoryCertificateStore:
    """The LocalMachine stores emulated in a folder (a ``LocalMachineDriver``: the store named per call)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _dir(self, store: str) -> Path:
        path = self.root / store
        if not path.is_dir():
            raise TargetError(
                "STORE_MISSING",
                f"The LocalMachine\\{store} certificate store does not exist on this host.",
                STORE_MISSING_REMEDY,
            )
        return path

    def store_exists(self, store: str) -> bool:
        return (self.root / store).is_dir()

    def import_pfx(
        self, pfx_path: Path, password: Secret, store: str, *, exportable: bool = False
    ) -> StoredCertificate:
        folder = self._dir(store)
        try:
            data = read_limited(pfx_path, what="PFX file")
        except InputError as exc:
            raise InputError(exc.code, f"Cannot read {pfx_path}: {exc.message}", "Check pfx_path.") from None
        try:
            key, cert, extra = pkcs12.load_key_and_certificates(data, password.reveal().encode())
        except ValueError:
            raise InputError(
                "PFX_WRONG_PASSWORD",
                "The PFX cannot be opened with this password (or uses an encryption this host cannot read).",
                "Check the password in the environment variable named by pfx_password_env.",
            ) from None
        if key is None or cert is None:
            raise InputError(
                "PFX_NO_PRIVATE_KEY",
                "The PFX holds no private key for its certificate; HTTP.sys cannot serve it.",
                "Export the certificate again *with* its private key (PFX, 'Yes, export the private key').",
            )
        thumb = _thumbprint(cert)
        (folder / f"{thumb}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        chain_added = self._add_intermediates(extra)
        key_path = folder / f"{thumb}.key"
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
        os.chmod(key_path, 0o600)
        (folder / f"{thumb}.exportable").write_text("1" if exportable else "0")
        stored = self.get_certificate(thumb, store)
        assert stored is not None
        roots = tuple(
            f"{_thumbprint(c)} {c.subject.rfc4514_string()}" for c in extra if c.subject == c.issuer
        )
        return replace(stored, chain_added=chain_added, roots_not_added=roots)

    def _add_intermediates(self, extra: list[x509.Certificate]) -> tuple[str, ...]:
        """The keyless, non-self-signed certificates into ``CA``; the thumbprints this call added."""
        ca = self.root / "CA"
        ca.mkdir(exist_ok=True)
        added = []
        for certificate in extra:
            path = ca / f"{_thumbprint(certificate)}.pem"
            if certificate.subject == certificate.issuer or path.exists():
                continue
            path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
            added.append(_thumbprint(certificate))
        return tuple(added)

    def _load(self, thumbprint: str, store: str) -> tuple[x509.Certificate, Path] | None:
        path = self._dir(store) / f"{thumbprint.upper()}.pem"
        if not path.is_file():
            return None
        pem = read_limited(path, what="certificate", follow=False)
        return x509.load_pem_x509_certificates(pem)[0], path

    def get_certificate(self, thumbprint: str, store: str) -> StoredCertificate | None:
        loaded = self._load(thumbprint, store)
        if loaded is None:
            return None
        cert, path = loaded
        key_path = path.with_suffix(".key")
        exportable = path.with_suffix(".exportable")
        has_key = key_path.is_file()
        return StoredCertificate(
            thumbprint=_thumbprint(cert),
            store=store,
            subject=cert.subject.rfc4514_string(),
            dns_names=_dns_names(cert),
            not_before=_iso(cert.not_valid_before_utc),
            not_after=_iso(cert.not_valid_after_utc),
            has_private_key=has_key,
            key_provider="sandbox (folder)" if has_key else "",
            key_exportable=(read_limited(exportable, 16, follow=False).strip() == b"1")
            if exportable.is_file()
            else None,
            eku_oids=_eku(cert),
        )

    def list_certificates(self, store: str) -> list[StoredCertificate]:
        found = []
        for pem in sorted(self._dir(store).glob("*.pem")):
            cert = self.get_certificate(pem.stem, store)
            if cert is not None:
                found.append(cert)
        return found

    def certificate_pem(self, thumbprint: str, store: str) -> bytes | None:
        loaded = self._load(thumbprint, store)
        return None if loaded is None else read_limited(loaded[1], what="certificate", follow=False)

    def private_key_path(self, thumbprint: str, store: str) -> Path:
        return self._dir(store) / f"{thumbprint.upper()}.key"

    def test_private_key(self, thumbprint: str, store: str) -> KeyCheck:
        loaded = self._load(thumbprint, store)
        if loaded is None:
            raise TargetError(
                "CERT_NOT_FOUND",
                f"No certificate {thumbprint} in LocalMachine\\{store}.",
                "Run 01 to import it, or check the thumbprint and store.",
            )
        cert, path = loaded
        try:
            pem = read_limited(path.with_suffix(".key"), what="private key", follow=False)
            key = serialization.load_pem_private_key(pem, None)
        except (OSError, ValueError, InputError):
            raise TargetError(
                "KEY_NOT_ACCESSIBLE",
                "The certificate says it has a private key, but the key cannot be opened (Keyset does not exist).",
                "Re-import the PFX with its private key into the LocalMachine store (run 01 again).",
            ) from None
        payload = bytes(range(32))
        public = cert.public_key()
        try:
            if isinstance(key, rsa.RSAPrivateKey) and isinstance(public, rsa.RSAPublicKey):
                signature = key.sign(payload, padding.PKCS1v15(), hashes.SHA256())
                public.verify(signature, payload, padding.PKCS1v15(), hashes.SHA256())
                algorithm = f"RSA {key.key_size}"
            elif isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(
                public, ec.EllipticCurvePublicKey
            ):
                signature = key.sign(payload, ec.ECDSA(hashes.SHA256()))
                public.verify(signature, payload, ec.ECDSA(hashes.SHA256()))
                algorithm = f"ECDSA {key.curve.name}"
            else:
                return KeyCheck(False, type(key).__name__, "sandbox (folder)", "unsupported key type")
        except Exception as exc:  # InvalidSignature: the key does not belong to the certificate
            return KeyCheck(False, type(key).__name__, "sandbox (folder)", f"sign/verify failed: {exc!r}")
        return KeyCheck(
            True, algorithm, "sandbox (folder)", "signed 32 bytes and verified with the certificate"
        )

    def remove_certificate(self, thumbprint: str, store: str) -> None:
        folder = self._dir(store)
        for suffix in (".pem", ".key", ".exportable"):
            (folder / f"{thumbprint.upper()}{suffix}").unlink(missing_ok=True)
