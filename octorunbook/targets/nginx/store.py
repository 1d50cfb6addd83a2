"""A certificate store for nginx: one directory of PEM files per certificate.

Layout (default root ``/etc/octorunbook/certs``)::

    <root>/                        0700, owned by the user running the runbook
      <THUMBPRINT>/                0700, one per certificate
        fullchain.pem              the leaf first, then its chain (what ``ssl_certificate`` wants)
        privkey.pem                0600, PKCS#8, unencrypted (nginx reads it at every reload)

Why one directory per certificate: a renewal writes a *new* directory, so the files nginx is serving
are never rewritten under it; the front switches paths, tests, reloads, and rollback switches back to
files that are still there. A directory is written complete under a temporary name and renamed into
place, so a crash never leaves half a certificate under its thumbprint.

Whoever can write into the root can swap the files nginx serves, or plant ``<root>/<THUMBPRINT>`` as a
symbolic link so the key is written where they choose. So the root must be owned by the user running
the runbook and writable by nobody else, and a certificate's directory must be a real directory of that
user, never a link: otherwise nothing is written (``PEM_STORE_UNSAFE``), and 02 fails the same way.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ... import certificates
from ...files import read_limited
from ...findings import InputError, OctorunbookError, TargetError
from ..protocols import PemFiles, Proof, StoredCertificate

DEFAULT_ROOT = Path("/etc/octorunbook/certs")
FULLCHAIN = "fullchain.pem"
PRIVKEY = "privkey.pem"


def _thumbprint(text: str) -> str:
    return certificates.normalize_thumbprint(text)


class PemDirectoryStore:
    """``CertificateStore`` over ``<root>/<THUMBPRINT>/{fullchain,privkey}.pem``."""

    kind = "pem-directory"
    family = "pem-directory"

    def __init__(self, root: Path = DEFAULT_ROOT) -> None:
        self.root = Path(root)
        self.name = str(self.root)

    def files(self, thumbprint: str) -> PemFiles:
        folder = self.root / _thumbprint(thumbprint)
        return PemFiles(folder / FULLCHAIN, folder / PRIVKEY)

    def exists(self) -> bool:
        """Usable: the directory exists, or the first ``add`` can create it (its nearest existing
        ancestor is writable). Unlike a Windows store, a PEM store is ours to create."""
        if self.root.is_dir():
            return True
        ancestor = self.root.parent
        while not ancestor.exists() and ancestor != ancestor.parent:
            ancestor = ancestor.parent
        return ancestor.is_dir() and os.access(ancestor, os.W_OK | os.X_OK)

    def add(
        self, certificate: certificates.LoadedCertificate, *, exportable: bool = False
    ) -> StoredCertificate:
        """Write the certificate's directory (complete, then renamed into place) and read it back.

        ``exportable`` has no meaning for a key that lives in a file; the record says so.
        """
        key = certificate.private_key
        if key is None:
            raise InputError(
                "PFX_NO_PRIVATE_KEY",
                "nginx needs the certificate's private key, and this certificate came without one.",
                "Give the PFX with its private key, or the PEM key file beside the certificate.",
            )
        thumb = certificate.info.thumbprint
        chain = [certificate.certificate, *certificate.chain]
        fullchain = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain)
        privkey = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        try:
            self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
            _require_safe(self.root, self.root / thumb)
            staging = Path(tempfile.mkdtemp(prefix=f".{thumb}.", dir=self.root))  # 0700 by mkdtemp
            try:
                _write(staging / FULLCHAIN, fullchain, 0o644)
                _write(staging / PRIVKEY, privkey, 0o600)
                final = self.root / thumb
                if final.is_dir():  # the same certificate again: replace file by file, atomically each
                    for name in (FULLCHAIN, PRIVKEY):
                        os.replace(staging / name, final / name)
                    os.chmod(final, 0o700)
                else:
                    os.rename(staging, final)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
        except OSError as exc:
            raise TargetError(
                "PEM_STORE_NOT_WRITABLE",
                f"Cannot write the certificate into {self.root}: {exc.strerror} ({exc.filename}).",
                "Run as the user that owns the certificate directory (root for /etc/octorunbook/certs), or "
                "choose another directory.",
            ) from None
        stored = self.get(thumb)
        assert stored is not None
        return stored

    def get(self, thumbprint: str) -> StoredCertificate | None:
        files = self.files(thumbprint)
        try:
            leaf = _read_leaf(files.fullchain)
        except InputError as exc:
            if exc.code == "FILE_NOT_FOUND":
                return None
            raise
        info = certificates.inspect(leaf)
        return StoredCertificate(
            thumbprint=info.thumbprint,
            store=self.name,
            subject=info.subject,
            dns_names=info.dns_names,
            not_before=_iso(info.not_before),
            not_after=_iso(info.not_after),
            has_private_key=files.privkey.is_file(),
            key_provider="PEM file" if files.privkey.is_file() else "",
            key_exportable=True,
            eku_oids=info.eku_oids,
            location="file",
            files=files,
        )

    def certificates(self) -> list[StoredCertificate]:
        if not self.root.is_dir():
            return []
        found = []
        for folder in sorted(self.root.iterdir()):
            if folder.is_dir() and len(folder.name) == 40 and not folder.name.startswith("."):
                stored = self.get(folder.name)
                if stored is not None:
                    found.append(stored)
        return found

    def certificate_pem(self, thumbprint: str) -> bytes | None:
        try:
            return read_limited(self.files(thumbprint).fullchain, what="certificate chain")
        except InputError as exc:
            if exc.code == "FILE_NOT_FOUND":
                return None
            raise

    def prove(self, thumbprint: str) -> list[Proof]:
        """02 for a PEM store: the files are there, the key opens and is the certificate's, and only
        their owner can read the key and enter the directory."""
        thumb = _thumbprint(thumbprint)
        files = self.files(thumb)
        rows: list[Proof] = []
        try:
            loaded = certificates.load_pem_pair(files.fullchain, files.privkey)
        except OctorunbookError as exc:
            code = "CERT_NOT_FOUND" if exc.code == "FILE_NOT_FOUND" else exc.code
            rows.append(
                Proof(
                    "certificate and key files",
                    f"{files.fullchain}, {files.privkey}",
                    exc.message,
                    False,
                    code,
                )
            )
            return rows
        rows.append(
            Proof(
                "private key belongs to the certificate",
                thumb,
                f"{loaded.info.thumbprint} ({loaded.info.key_description})",
                loaded.info.thumbprint == thumb,
                "KEY_MISMATCH",
            )
        )
        uid = os.geteuid()
        for path, limit, code in (
            (files.privkey, 0o600, "KEY_FILE_TOO_OPEN"),
            (files.privkey.parent, 0o700, "CERT_DIR_TOO_OPEN"),
        ):
            info = path.lstat()  # a link is not the file: whoever owns its target decides what nginx reads
            mode = stat.S_IMODE(info.st_mode)
            seen = f"{mode:04o}, owner uid {info.st_uid}"
            ok = mode & ~limit == 0 and info.st_uid == uid
            if stat.S_ISLNK(info.st_mode):
                seen, ok = f"a symbolic link to {os.readlink(path)}", False
            elif code == "CERT_DIR_TOO_OPEN" and (problem := _unsafe_root(self.root)):
                seen, ok = f"{seen}; {problem}", False
            rows.append(
                Proof(
                    f"mode and owner of {path}", f"{limit:04o} or stricter, owner uid {uid}", seen, ok, code
                )
            )
        return rows

    def remove(self, thumbprint: str) -> None:
        shutil.rmtree(self.root / _thumbprint(thumbprint), ignore_errors=True)

    def sibling(self, name: str) -> PemDirectoryStore:
        """Itself: a PEM target keeps one store, ``cert_dir`` (a LocalMachine name such as ``My`` is not
        a directory to guess at)."""
        if name == self.name:
            return self
        raise TargetError(
            "STORE_NOT_ON_THIS_TARGET",
            f"This target keeps certificates as PEM files in {self.name}, not in a store called {name!r}.",
            "Use the store this target was opened with (cert_dir); LocalMachine stores exist on Windows only.",
        )


def _unsafe_root(root: Path) -> str:
    """Why others could change what is in ``root`` (empty when they cannot)."""
    info = root.stat()
    if info.st_uid != os.geteuid():
        return f"the store {root} belongs to uid {info.st_uid}, not to uid {os.geteuid()} running the runbook"
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return f"the store {root} is writable by others ({stat.S_IMODE(info.st_mode):04o})"
    return ""


def _require_safe(root: Path, folder: Path) -> None:
    """``PEM_STORE_UNSAFE`` unless only this user can change ``root`` and ``folder`` (when it exists) is
    this user's own directory, not a link."""
    problem = _unsafe_root(root)
    try:
        info = folder.lstat()
    except FileNotFoundError:
        info = None
    if not problem and info is not None:
        if stat.S_ISLNK(info.st_mode):
            problem = f"{folder} is a symbolic link (to {os.readlink(folder)})"
        elif not stat.S_ISDIR(info.st_mode):
            problem = f"{folder} is not a directory"
        elif info.st_uid != os.geteuid():
            problem = f"{folder} belongs to uid {info.st_uid}"
    if problem:
        raise TargetError(
            "PEM_STORE_UNSAFE",
            f"The certificate store is not safe to write a private key into: {problem}. Nothing was written.",
            f"Make {root} a directory owned by the user running the runbook with mode 0700 (chown, chmod "
            "700), remove anything in it you did not put there, and run again.",
        )


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _write(path: Path, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(path, mode)  # the umask may have taken bits away; never added any


def _read_leaf(path: Path) -> x509.Certificate:
    data = read_limited(path, what="certificate")
    try:
        return x509.load_pem_x509_certificates(data)[0]
    except ValueError:
        raise TargetError(
            "PEM_UNREADABLE",
            f"{path} holds no readable PEM certificate.",
            "Run 01 again to rewrite the certificate's directory.",
        ) from None
