"""Ed25519 signatures over manifest lines: proof of who wrote the chain, not only that it is consistent.

A hash chain alone proves consistency: anyone who can write the folder can edit a record and recompute
every hash after it. A signature over each line's ``line_hash`` (which covers the record's SHA-256 and,
through ``prev``, every earlier line) can only be made with the private key, so a verifier holding the
public key knows every signed line was written by the key's holder.

The private key must therefore live where the audit folder's writers cannot read it *through the folder*:
outside the audit directory (refused otherwise, ``AUDIT_KEY_IN_AUDIT_DIR``), readable by its owner only
(``AUDIT_KEY_TOO_OPEN``, as ssh refuses), unencrypted PEM (an unattended run has nobody to ask for a
passphrase). Its path comes from ``store_record(signing_key=...)`` or the environment variable
``OCTORUNBOOK_AUDIT_SIGNING_KEY``. ``cryptography`` is imported only when a key is used.
"""

from __future__ import annotations

import base64
import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..files import read_limited
from ..findings import InputError

SIGNING_KEY_ENV = "OCTORUNBOOK_AUDIT_SIGNING_KEY"
MAX_KEY_BYTES = 64 * 1024


def key_id(public_raw: bytes) -> str:
    """A short, stable name of a public key: the first 32 hex digits of SHA-256 over its raw bytes."""
    return hashlib.sha256(public_raw).hexdigest()[:32]


def _public_raw(public_key: Any) -> bytes:
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    raw: bytes = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return raw


@dataclass(frozen=True)
class SigningKey:
    """A loaded Ed25519 private key and the id of its public half."""

    path: Path
    key: Any
    key_id: str

    def sign(self, line_hash: str) -> str:
        return base64.b64encode(self.key.sign(line_hash.encode("ascii"))).decode("ascii")


@dataclass(frozen=True)
class PublicKey:
    """A loaded Ed25519 public key, as ``audit verify --public-key`` uses it."""

    path: Path
    key: Any
    key_id: str

    def problem(self, entry: dict[str, Any]) -> str:
        """Why ``entry`` is not proven signed by this key; empty when it is."""
        sig, signer = entry.get("sig"), entry.get("signer")
        if not sig:
            return "is not signed"
        if signer != self.key_id:
            return f"is signed by key {str(signer)[:16]}…, not by {self.key_id[:16]}… ({self.path.name})"
        from cryptography.exceptions import InvalidSignature

        try:
            self.key.verify(base64.b64decode(str(sig), validate=True), str(entry.get("line_hash")).encode())
        except (InvalidSignature, ValueError):
            return "has a signature that does not verify (the line was changed after it was signed)"
        return ""


def _read_key_file(path: Path, code: str, what: str) -> bytes:
    """The key file's bytes, through the one bounded reader (a FIFO or a device in its place is refused
    from the opened descriptor, never blocked on)."""
    try:
        return read_limited(path, MAX_KEY_BYTES, what=what)
    except InputError as exc:
        if exc.code == "FILE_NOT_REGULAR":
            raise InputError(
                code, f"The {what} {path} is not a regular file.", "Point at the key file."
            ) from None
        if exc.code == "FILE_TOO_LARGE":
            raise InputError(
                code, f"The {what} {path} is too large to be a key.", "Check the path."
            ) from None
        raise InputError(
            "AUDIT_KEY_NOT_FOUND",
            f"The {what} {path} cannot be read: {exc.message}",
            "Check the path, or make a key pair with `octorunbook audit keygen`.",
        ) from None


def signing_key_path(explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """The configured private key path: ``explicit`` first, then ``$OCTORUNBOOK_AUDIT_SIGNING_KEY``."""
    chosen = os.fspath(explicit) if explicit else os.environ.get(SIGNING_KEY_ENV, "")
    return Path(chosen).expanduser() if chosen.strip() else None


def load_signing_key(audit_dir: Path, explicit: str | os.PathLike[str] | None = None) -> SigningKey | None:
    """The signing key configured for ``audit_dir``, checked; None when no key is configured."""
    path = signing_key_path(explicit)
    if path is None:
        return None
    resolved, folder = path.resolve(), audit_dir.resolve()
    if resolved == folder or folder in resolved.parents:
        raise InputError(
            "AUDIT_KEY_IN_AUDIT_DIR",
            f"The audit signing key {path} is inside the audit directory {audit_dir}.",
            "Keep the private key outside the audit directory (anyone who can write the records could "
            "read it there and re-sign a rewritten chain); move it and point the setting at it.",
        )
    data = _read_key_file(resolved, "AUDIT_KEY_INVALID", "audit signing key")
    if os.name == "posix" and stat.S_IMODE(resolved.stat().st_mode) & 0o077:
        raise InputError(
            "AUDIT_KEY_TOO_OPEN",
            f"The audit signing key {path} can be read by other users "
            f"(mode {stat.S_IMODE(resolved.stat().st_mode):04o}).",
            f"chmod 600 {path}",
        )
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        key = load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise InputError(
            "AUDIT_KEY_INVALID",
            f"The audit signing key {path} is not an unencrypted PEM private key ({exc}).",
            "Make one with `octorunbook audit keygen KEYFILE` (passphrases are not supported: an "
            "unattended run has nobody to ask).",
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise InputError(
            "AUDIT_KEY_INVALID",
            f"The audit signing key {path} is a {type(key).__name__}, not Ed25519.",
            "Make an Ed25519 key with `octorunbook audit keygen KEYFILE`.",
        )
    return SigningKey(path=resolved, key=key, key_id=key_id(_public_raw(key.public_key())))


def load_public_key(path: str | os.PathLike[str]) -> PublicKey:
    """An Ed25519 public key from a PEM file (``audit keygen`` writes ``KEYFILE.pub``)."""
    file = Path(path).expanduser()
    data = _read_key_file(file, "AUDIT_PUBLIC_KEY_INVALID", "public key")
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from cryptography.hazmat.primitives.serialization import load_pem_public_key

    try:
        key = load_pem_public_key(data)
    except (ValueError, TypeError) as exc:
        raise InputError(
            "AUDIT_PUBLIC_KEY_INVALID",
            f"{file} is not a PEM public key ({exc}).",
            "Pass the .pub file `octorunbook audit keygen` wrote next to the private key.",
        ) from None
    if not isinstance(key, Ed25519PublicKey):
        raise InputError(
            "AUDIT_PUBLIC_KEY_INVALID", f"{file} is not an Ed25519 public key.", "Pass the .pub file."
        )
    return PublicKey(path=file, key=key, key_id=key_id(_public_raw(key)))


def generate_key_pair(private_path: str | os.PathLike[str]) -> tuple[Path, Path, str]:
    """Write a new Ed25519 private key (0600, never over an existing file) and ``<path>.pub`` beside it."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import (
        Encoding,
        NoEncryption,
        PrivateFormat,
        PublicFormat,
    )

    private = Path(private_path).expanduser()
    public = private.with_name(private.name + ".pub")
    for path in (private, public):
        if path.exists():
            raise InputError(
                "AUDIT_KEY_EXISTS",
                f"{path} already exists.",
                "Choose a new path; a key is never overwritten.",
            )
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    try:
        fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
    except OSError as exc:
        raise InputError(
            "AUDIT_KEY_UNWRITABLE", f"Cannot create {private}: {exc.strerror}.", "Choose a folder you own."
        ) from None
    with os.fdopen(fd, "wb") as handle:
        if os.name == "posix":
            os.fchmod(handle.fileno(), 0o600)
        handle.write(pem)
    public.write_bytes(key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo))
    return private, public, key_id(_public_raw(key.public_key()))
