"""The protected home for everything octorunbook keeps per target — read back as data, never obeyed.

A checkpoint, a lock, the memory of the last import: each is a file octorunbook wrote earlier, and each
decides something later (what a restore puts back, which certificate a proof expects). A file is only
as trustworthy as the folder it sits in and the process that wrote it, so this module owns both:

* **the folder** (:meth:`StateHome.open`): on POSIX it must belong to the user running octorunbook, be
  mode 0700, and no component of its path may be writable by another user — except a sticky folder
  (``/tmp``) owned by root or that user, where others cannot rename what is ours. That is the rule
  ``sudo`` and ``ssh`` apply to the files they trust. A folder that fails it is ``STATE_DIR_UNSAFE``
  before anything is read or written in it. On Windows the folder's owner and DACL are checked and
  set through the target's command seam (:class:`FolderGuard`), because a Windows ACL is not a mode.
* **each file**: written without following links (``O_NOFOLLOW``; ``O_EXCL`` for the temporary file),
  fsync'd, renamed into place, the folder fsync'd; read bounded, from the opened descriptor, owned by
  us and writable by nobody else. Its content is an envelope naming its kind and this target, with an
  HMAC keyed by a per-target secret (``home.key``, created 0600 from its first byte). A file failing any
  check is moved to ``quarantine/`` and reported as ``STATE_UNTRUSTED``; nothing in it is acted on.

* **plain private files** (:meth:`StateHome.folder`, :meth:`~StateHome.write_private`,
  :meth:`~StateHome.read_private`): what another program must read as it is — the SCHANNEL plan a
  PowerShell script applies, the ACME account key — sits in a checked 0700 sub-folder, written and read
  with the same no-follow, 0600, owned-by-us guarantees, without the envelope; a secret is refused when
  others may read it.
* **leftovers**: a write cut short by ``kill -9`` leaves its temporary file; opening the home (or a
  sub-folder) removes those of its own shape whose writer is gone, and nothing else
  (:func:`.state_files.clean_leftovers`).

Validating what a file *says* (thumbprints, ports, paths) is the reader's job: the MAC proves we wrote
it, not that it still describes the target. Readers re-derive paths from the current parameters and
prove values against the target before acting.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import re
import secrets
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from ..findings import TargetError
from .state_files import Refused as _Refused
from .state_files import check_opened, clean_leftovers, fsync_folder, peek, read_bytes, write_bytes

FORMAT = "octorunbook-state/1"
KEY_NAME = "home.key"
QUARANTINE = "quarantine"
MAX_STATE_FILE = 4 * 1024 * 1024  # a checkpoint holds two nginx server blocks at most
_NAME = re.compile(r"^[a-z][a-z0-9-]{0,80}\.(json|lock)$")
_PART = re.compile(r"^[a-z0-9][a-z0-9.-]{0,80}$")  # a private sub-folder's name: no dot first, no separator
_PLAIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,120}$")  # a plain private file's name: no dot first
_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_O_BINARY = getattr(os, "O_BINARY", 0)
_O_CLOEXEC = getattr(os, "O_CLOEXEC", 0)


class FolderGuard(Protocol):
    """How a folder is made private on a platform whose protection is not a POSIX mode (Windows)."""

    def protect(self, folder: Path) -> None:
        """Create ``folder`` (if missing) with its final protection, or refuse: ``STATE_DIR_UNSAFE``."""
        ...


def unsafe(folder: Path, why: str, remedy: str = "") -> TargetError:
    return TargetError(
        "STATE_DIR_UNSAFE",
        f"The state folder {folder} cannot be trusted: {why}. octorunbook keeps the checkpoints a restore "
        "acts on there, so it reads and writes nothing in it.",
        remedy
        or "Give the folder (and each folder above it) to the user running octorunbook, writable by that user "
        f"only (e.g. chown root: {folder} && chmod 0700 {folder}; no group- or world-writable parent "
        "without the sticky bit), or move cert_dir / sandbox_dir somewhere private. Nothing was changed.",
        details={"state_dir": str(folder)},
    )


def untrusted(path: Path, why: str, moved_to: Path | None) -> TargetError:
    where = f" It was moved to {moved_to}." if moved_to else ""
    return TargetError(
        "STATE_UNTRUSTED",
        f"The state file {path.name} cannot be trusted ({why}); nothing in it is acted on.{where}",
        "Compare the target with the last audit record's 'before' state and restore it by hand if needed, "
        "then clear the quarantine with `octorunbook recover <params.yaml> --discard` (it shows what the "
        "file held first). Nothing was changed by this run.",
        details={"file": str(path), "why": why, "quarantined": str(moved_to or "")},
    )


def _owner_ok(info: os.stat_result, uid: int) -> bool:
    return info.st_uid == uid


def check_path_components(folder: Path, uid: int | None = None) -> None:
    """Refuse a folder some other user could swap: each existing component, owner and write bits."""
    if os.name == "nt":
        return
    uid = os.geteuid() if uid is None else uid
    current = Path(folder.anchor or "/")
    for part in folder.parts[1:]:
        current = current / part
        try:
            info = os.lstat(current)
        except FileNotFoundError:
            return  # created below, by us, 0700
        if stat.S_ISLNK(info.st_mode):
            target = Path(os.path.realpath(current))
            check_path_components(target, uid)  # a link is as safe as where it leads, and who owns it
            info = os.lstat(current)
            if info.st_uid not in (0, uid):
                raise unsafe(folder, f"{current} is a link owned by uid {info.st_uid}")
            continue
        if not stat.S_ISDIR(info.st_mode):
            raise unsafe(folder, f"{current} is not a folder")
        if info.st_uid not in (0, uid):
            raise unsafe(folder, f"{current} belongs to uid {info.st_uid}, not to root or uid {uid}")
        writable_by_others = info.st_mode & (stat.S_IWGRP | stat.S_IWOTH)
        if writable_by_others and not info.st_mode & stat.S_ISVTX:
            raise unsafe(
                folder, f"{current} is writable by other users (mode {stat.S_IMODE(info.st_mode):04o})"
            )


@dataclass(frozen=True)
class Quarantined:
    """One file set aside: where it is now, why, and its text (bounded) for the operator to read."""

    path: Path
    why: str
    text: str


class StateHome:
    """One target's protected folder: checked on open, then every file in and out goes through here."""

    def __init__(self, root: Path, target_id: str) -> None:
        self.root = root
        self.target_id = target_id
        self._key: bytes | None = None

    @classmethod
    def open(cls, root: Path, target_id: str, guard: FolderGuard | None = None) -> StateHome:
        """The checked home at ``root`` (created 0700 when missing); ``STATE_DIR_UNSAFE`` otherwise."""
        home = cls(Path(os.path.abspath(root)), target_id)
        home.ensure(guard)
        return home

    def ensure(self, guard: FolderGuard | None = None) -> None:
        root = self.root
        if guard is not None:
            guard.protect(root)
        if os.name == "nt":
            if guard is None:
                root.mkdir(parents=True, exist_ok=True)
            return
        check_path_components(root.parent)
        try:
            os.makedirs(root.parent, exist_ok=True)
            os.mkdir(root, 0o700)
        except FileExistsError:
            pass
        except OSError as exc:
            raise unsafe(root, f"it cannot be created ({exc.strerror})") from None
        info = os.lstat(root)
        if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
            raise unsafe(root, "it is a link or not a folder")
        if not _owner_ok(info, os.geteuid()):
            raise unsafe(
                root, f"it belongs to uid {info.st_uid}, not to uid {os.geteuid()} who runs octorunbook"
            )
        if stat.S_IMODE(info.st_mode) & 0o077:
            raise unsafe(root, f"its mode is {stat.S_IMODE(info.st_mode):04o}, not 0700")
        for sub in (QUARANTINE,):
            self._subfolder(sub)
        clean_leftovers(root)  # a write cut short by kill -9 left its temporary file

    @staticmethod
    def check_existing(root: Path) -> None:
        """Refuse an unsafe state folder before anything else runs (it is created later, if missing)."""
        if os.name == "nt":
            return
        root = Path(os.path.abspath(root))
        check_path_components(root.parent)
        try:
            info = os.lstat(root)
        except FileNotFoundError:
            return
        if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
            raise unsafe(root, "it is a link or not a folder")
        if info.st_uid != os.geteuid():
            raise unsafe(
                root, f"it belongs to uid {info.st_uid}, not to uid {os.geteuid()} who runs octorunbook"
            )
        if stat.S_IMODE(info.st_mode) & 0o077:
            raise unsafe(root, f"its mode is {stat.S_IMODE(info.st_mode):04o}, not 0700")

    def _subfolder(self, name: str, parent: Path | None = None) -> Path:
        path = (parent or self.root) / name
        with contextlib.suppress(FileExistsError):
            os.mkdir(path, 0o700)
        info = os.lstat(path)
        if os.name != "nt":
            mode = stat.S_IMODE(info.st_mode)
            why = (
                "is a link"
                if stat.S_ISLNK(info.st_mode)
                else "is not a folder"
                if not stat.S_ISDIR(info.st_mode)
                else f"belongs to uid {info.st_uid}"
                if info.st_uid != os.geteuid()
                else f"has mode {mode:04o}, not 0700"
                if mode & 0o077
                else ""
            )
            if why:
                raise unsafe(self.root, f"{path} {why}: it is not a private folder of ours")
        return path

    # ---- private plain files (read by something other than octorunbook: a script, a CA client) ----
    def folder(self, *parts: str) -> Path:
        """The private sub-folder ``root/<parts…>``, each level created 0700 or checked: a link, another
        owner or a mode other than 0700 is ``STATE_DIR_UNSAFE``. A killed write's leftovers are removed."""
        current = self.root
        for part in parts:
            if not _PART.fullmatch(part):
                raise ValueError(f"not a state sub-folder name: {part!r}")
            current = self._subfolder(part, current)
        clean_leftovers(current)
        return current

    def write_private(self, folder: Path, name: str, data: bytes, *, exclusive: bool = False) -> Path:
        """``data`` as the plain file ``name`` in ``folder`` (one of :meth:`folder`'s), 0600, durably,
        never through a link; ``exclusive``: ``FileExistsError`` if anything is there already. For a file
        a script must read as it is (no envelope): what it says is checked by whoever reads it back."""
        path = self._private_path(folder, name)
        write_bytes(folder, path, data, exclusive=exclusive)
        return path

    def read_private(self, folder: Path, name: str, limit: int, *, secret: bool = False) -> bytes | None:
        """The bytes of the plain file ``name`` in ``folder``; None when absent. A link, another owner, a
        file others may write (``secret``: or read), more than ``limit`` bytes: quarantined, ``STATE_UNTRUSTED``."""
        path = self._private_path(folder, name)
        try:
            return read_bytes(path, limit, secret=secret)
        except FileNotFoundError:
            return None
        except _Refused as exc:
            raise untrusted(path, str(exc), self.quarantine(path, str(exc))) from None

    def _private_path(self, folder: Path, name: str) -> Path:
        if not _PLAIN.fullmatch(name):
            raise ValueError(f"not a private file name: {name!r}")
        if folder != self.root and self.root not in folder.parents:
            raise ValueError(f"{folder} is not a folder of the state home {self.root}")
        return folder / name

    # ---- the secret that authenticates every file ------------------------------------------------
    def key(self) -> bytes:
        if self._key is None:
            path = self.root / KEY_NAME
            try:
                data = self._read_bytes(path, 256)
            except FileNotFoundError:
                data = secrets.token_bytes(32)
                try:
                    self._write_bytes(path, data, exclusive=True)
                except FileExistsError:  # another run made it first
                    data = self._read_bytes(path, 256)
            if len(data) != 32:
                raise unsafe(self.root, f"{KEY_NAME} is not a key octorunbook made")
            self._key = data
        return self._key

    def _mac(self, kind: str, body: Any) -> str:
        message = json.dumps([FORMAT, kind, self.target_id, body], sort_keys=True, separators=(",", ":"))
        return hmac.new(self.key(), message.encode("utf-8"), hashlib.sha256).hexdigest()

    # ---- files --------------------------------------------------------------------------------
    def path(self, name: str) -> Path:
        if not _NAME.fullmatch(name):
            raise ValueError(f"not a state file name: {name!r}")
        return self.root / name

    def write(self, name: str, kind: str, body: dict[str, Any]) -> Path:
        """Write ``body`` as ``name``, authenticated, durably; never through a link."""
        path = self.path(name)
        envelope = {"format": FORMAT, "kind": kind, "target": self.target_id, "body": body}
        envelope["mac"] = self._mac(kind, body)
        self._write_bytes(path, json.dumps(envelope, indent=1).encode("utf-8"))
        return path

    def read(self, name: str, kind: str) -> dict[str, Any] | None:
        """The body of ``name`` if we wrote it for this target; None when absent.

        Anything else — a link, another owner, loose permissions, a bad MAC, another kind or target,
        not JSON — is moved to quarantine and raised as ``STATE_UNTRUSTED``."""
        path = self.path(name)
        try:
            raw = self._read_bytes(path, MAX_STATE_FILE)
        except FileNotFoundError:
            return None
        except _Refused as exc:
            raise untrusted(path, str(exc), self.quarantine(path, str(exc))) from None
        why = ""
        body: Any = None
        try:
            envelope = json.loads(raw.decode("utf-8"))
            if not isinstance(envelope, dict) or envelope.get("format") != FORMAT:
                why = "not written by this version of octorunbook"
            elif envelope.get("kind") != kind:
                why = f"it is a {envelope.get('kind')!r}, not a {kind!r}"
            elif envelope.get("target") != self.target_id:
                why = f"it names another target ({envelope.get('target')!r})"
            else:
                body = envelope.get("body")
                mac = envelope.get("mac")
                if not isinstance(body, dict) or not isinstance(mac, str):
                    why = "it has no body or no MAC"
                elif not hmac.compare_digest(mac, self._mac(kind, body)):
                    why = "its MAC does not match (not written by octorunbook on this target, or altered)"
        except (UnicodeDecodeError, ValueError):
            why = "it is not JSON"
        if why:
            raise untrusted(path, why, self.quarantine(path, why))
        assert isinstance(body, dict)
        return body

    def remove(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path(name))
        self._fsync_folder()

    def exists(self, name: str) -> bool:
        return os.path.lexists(self.path(name))

    # ---- quarantine ---------------------------------------------------------------------------
    def quarantine(self, path: Path, why: str) -> Path | None:
        """Move ``path`` (a file, a link: moved, never followed) aside with a note of why."""
        folder = self._subfolder(QUARANTINE)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        moved = folder / f"{stamp}-{path.name}"
        try:
            os.rename(path, moved)
        except OSError:
            return None
        with contextlib.suppress(OSError):
            self._write_bytes(folder / f"{stamp}-{path.name}.why", why.encode("utf-8"), exclusive=True)
        self._fsync_folder()
        return moved

    def quarantined(self) -> list[Quarantined]:
        folder = self.root / QUARANTINE
        try:
            names = sorted(os.listdir(folder))
        except OSError:
            return []
        found = []
        for name in names:
            if name.endswith(".why"):
                continue
            path = folder / name
            why = peek(folder / f"{name}.why", 2000) or "unknown"
            found.append(Quarantined(path, why, peek(path, 20000)))
        return found

    def discard_quarantine(self) -> list[Quarantined]:
        """Remove everything in quarantine (what it held was shown by the caller first)."""
        gone = self.quarantined()
        folder = self.root / QUARANTINE
        with contextlib.suppress(OSError):
            for name in os.listdir(folder):
                with contextlib.suppress(OSError):
                    os.unlink(folder / name)  # unlink removes a link, never what it points at
        return gone

    # ---- bytes on disk ------------------------------------------------------------------------
    def open_lock(self, name: str) -> int:
        """A descriptor on ``name`` for an OS lock: created 0600 if missing, never through a link."""
        path = self.path(name)
        flags = os.O_RDWR | os.O_CREAT | _O_NOFOLLOW | _O_CLOEXEC | _O_BINARY
        try:
            fd = os.open(path, flags, 0o600)
        except OSError as exc:
            raise untrusted(path, f"it cannot be opened as a lock ({exc.strerror})", None) from None
        try:
            check_opened(fd)
        except _Refused as exc:
            os.close(fd)
            raise untrusted(path, str(exc), self.quarantine(path, str(exc))) from None
        return fd

    def _write_bytes(self, path: Path, data: bytes, *, exclusive: bool = False) -> None:
        write_bytes(path.parent, path, data, exclusive=exclusive)

    def _read_bytes(self, path: Path, limit: int) -> bytes:
        return read_bytes(path, limit)

    def _fsync_folder(self) -> None:
        fsync_folder(self.root)


def normalised_instance(instance: str) -> str:
    """Windows names services case-insensitively: ``OctopusServer`` and ``octopusserver`` are one."""
    return instance.strip().casefold()


def slug(text: str) -> str:
    """A file-name-safe, collision-resistant form of ``text`` (a key for lock and checkpoint names)."""
    readable = re.sub(r"[^a-z0-9]+", "-", text.casefold()).strip("-")[:40] or "x"
    return f"{readable}-{hashlib.sha256(text.encode('utf-8')).hexdigest()[:12]}"


def iter_names(home: StateHome) -> Iterator[str]:
    """The state files in ``home`` (not the key, the quarantine or temporary files)."""
    with contextlib.suppress(OSError):
        for name in sorted(os.listdir(home.root)):
            if _NAME.fullmatch(name):
                yield name


__all__ = [
    "FolderGuard",
    "Quarantined",
    "StateHome",
    "check_path_components",
    "iter_names",
    "normalised_instance",
    "slug",
    "unsafe",
    "untrusted",
]
