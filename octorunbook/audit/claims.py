"""Claims: a run's proof, to the next run, that a notebook in ``.in-progress/`` is one it wrote.

The next run chains — and signs — a notebook a killed run left in ``.in-progress/``. Anyone who can
drop a file into the audit folder could otherwise have a notebook of their making signed into the
trail. So every save of a running notebook also writes a *claim* beside it (``<notebook>.claim``):
the audit folder, the notebook's name, the writer's pid and uid, a random claim id, and the SHA-256
of the bytes just saved (and of the save before, see below), authenticated with an HMAC-SHA256 keyed
by a secret the folder's other writers cannot read. The next run chains the notebook only if its claim
verifies and one of those hashes is the hash of the file (:mod:`.interrupted`); anything else is
moved to ``quarantine/`` (:mod:`.quarantine`).

**The key** lives in the operator's protected home, ``$OCTORUNBOOK_HOME/audit/home.key``
(``~/.octorunbook`` by default; ``%ProgramData%\\octorunbook`` on Windows), created 0600 with
``O_EXCL | O_NOFOLLOW`` in a folder checked as every state home is (:class:`..targets.state.StateHome`:
ours, 0700, no other user able to write any component of its path). One key per operator home, not
per audit folder: the claim names its audit folder, so a claim copied into another folder does not
verify. A killed run is therefore adopted by the next run of the same operator (same home); another
operator's run sets it aside with the reason, and ``audit list`` shows it.

**Order and cost.** A save writes the claim first, then the notebook (each a temporary file created
with the record's mode, renamed into place). A run killed between the two leaves a claim one save
ahead, so a claim vouches for the last two hashes. Hashing the bytes already in memory and one HMAC
cost microseconds; a save costs one small extra write, and neither is fsync'd (thirty saves a run):
a ``kill -9`` loses nothing, but after a power cut the last save may not have reached the disk — the
notebook then fails its hash and is set aside with that reason, not chained.

**A claim settles once.** The claim id goes into the manifest line of the record it became (the run's
own record, or the interrupted record of a killed run): a notebook and claim copied aside during a run
and put back later name a settled id, and are set aside instead of being chained twice.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import threading
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from octorunbook.files import MAX_RECORD_FILE

from ..findings import OctorunbookError
from .files import file_mode, write_replacing
from .folder import Folder
from .quarantine import SetAside, set_aside
from .records import iso

IN_PROGRESS = ".in-progress"
CLAIM_SUFFIX = ".claim"
FORMAT = "octorunbook-claim/1"
HOME_ENV = "OCTORUNBOOK_HOME"
KEY_HOME = "audit"
MAX_CLAIM = 4096
_HEX = frozenset("0123456789abcdef")


def operator_home() -> Path:
    """``$OCTORUNBOOK_HOME``, else ``~/.octorunbook`` (``%ProgramData%\\octorunbook`` on Windows)."""
    chosen = os.environ.get(HOME_ENV, "").strip()
    if chosen:
        return Path(chosen).expanduser()
    if os.name == "nt":
        program_data = os.environ.get("ProgramData") or os.environ.get("PROGRAMDATA") or r"C:\ProgramData"
        return Path(program_data) / "octorunbook"
    return Path.home() / ".octorunbook"


def key_home() -> Path:
    """The protected folder that holds the claim key."""
    return Path(os.path.abspath(operator_home() / KEY_HOME))


_KEYS: dict[str, bytes] = {}
_KEYS_GUARD = threading.Lock()


def claim_key() -> bytes:
    """The secret claims are authenticated with, made on first use; ``STATE_DIR_UNSAFE`` when its
    folder is not private (a run then refuses to start: its notebook could not be claimed)."""
    from ..targets.state import FolderGuard, StateHome

    folder = key_home()
    with _KEYS_GUARD:
        if str(folder) not in _KEYS:
            guard: FolderGuard | None = None
            if os.name == "nt":  # a DACL, not a mode, makes the key's folder private
                from ..commands import CommandRunner
                from ..targets.windows import windows_state_guard

                guard = windows_state_guard(CommandRunner())
            _KEYS[str(folder)] = StateHome.open(folder, KEY_HOME, guard).key()
        return _KEYS[str(folder)]


def existing_claim_key() -> tuple[bytes | None, str]:
    """For readers (``audit list``/``verify``): this user's key if there is one — never made here —
    else None and why the claims cannot be checked."""
    from ..targets.state import KEY_NAME

    folder = key_home()
    if str(folder) not in _KEYS and not os.path.lexists(folder / KEY_NAME):
        return None, (
            f"its claim cannot be checked here: there is no claim key in {folder} (only the operator whose "
            "runs wrote it holds that key)"
        )
    try:
        return claim_key(), ""
    except OctorunbookError as exc:
        return None, f"its claim cannot be checked here: {exc.message}"


@dataclass(frozen=True)
class Claim:
    """What a run vouches for: this notebook, in this audit folder, saved with one of these hashes."""

    audit_dir: str
    notebook: str
    claim_id: str
    pid: int
    uid: int
    saved: str
    sha256: tuple[str, ...]


def _mac(key: bytes, fields: dict[str, Any]) -> str:
    message = json.dumps([FORMAT, fields], sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hmac.new(key, message.encode("ascii"), hashlib.sha256).hexdigest()


def seal(key: bytes, claim: Claim) -> bytes:
    """The claim file's bytes: its fields and their MAC."""
    fields = asdict(claim)
    fields["sha256"] = list(claim.sha256)
    return json.dumps({"format": FORMAT, **fields, "mac": _mac(key, fields)}, sort_keys=True).encode("ascii")


def _is_hex(value: Any, length: int) -> bool:
    return isinstance(value, str) and len(value) == length and set(value) <= _HEX


def unseal(key: bytes, raw: bytes, *, audit_dir: str, notebook: str) -> Claim:
    """The claim in ``raw`` if it was made with ``key`` for ``notebook`` in ``audit_dir``.

    Raises ``ValueError`` whose message is the reason (in our words: nothing from the file is echoed).
    """
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ValueError("its claim is not JSON") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ValueError("its claim is not one octorunbook writes")
    fields = {k: v for k, v in data.items() if k not in ("format", "mac")}
    mac = data.get("mac")
    if not isinstance(mac, str) or not hmac.compare_digest(mac, _mac(key, fields)):
        raise ValueError(
            "its claim does not verify (made without this operator's claim key, or altered since)"
        )
    hashes = fields.get("sha256")
    if not (
        set(fields) == {"audit_dir", "notebook", "claim_id", "pid", "uid", "saved", "sha256"}
        and isinstance(hashes, list)
        and 1 <= len(hashes) <= 2
        and all(_is_hex(h, 64) for h in hashes)
        and _is_hex(fields["claim_id"], 32)
        and isinstance(fields["pid"], int)
        and isinstance(fields["uid"], int)
        and isinstance(fields["saved"], str)
    ):
        raise ValueError("its claim is malformed")
    if fields["audit_dir"] != audit_dir or fields["notebook"] != notebook:
        raise ValueError("its claim was made for another notebook or audit folder (copied here)")
    return Claim(
        audit_dir=audit_dir,
        notebook=notebook,
        claim_id=fields["claim_id"],
        pid=fields["pid"],
        uid=fields["uid"],
        saved=fields["saved"],
        sha256=tuple(hashes),
    )


def real_audit_dir(scratch: Path) -> str:
    """The audit folder a claim names: the real path of ``.in-progress``'s parent."""
    return os.path.realpath(scratch.parent)


def claim_name(notebook: str) -> str:
    return notebook + CLAIM_SUFFIX


@dataclass(frozen=True)
class _Saved:
    claim_id: str
    sha256: str


_SAVED: dict[str, _Saved] = {}
_FOLDERS: dict[str, tuple[int, str]] = {}  # folder -> (file mode, real audit folder)
_GUARD = threading.Lock()


def _folder_facts(folder: Path) -> tuple[int, str]:
    with _GUARD:
        facts = _FOLDERS.get(str(folder))
    if facts is None:
        facts = (file_mode(folder), real_audit_dir(folder))
        with _GUARD:
            _FOLDERS[str(folder)] = facts
    return facts


def is_running_notebook(path: Path) -> bool:
    """True for a notebook saved into an audit folder's ``.in-progress/`` (claimed on every save)."""
    return path.parent.name == IN_PROGRESS and path.name.endswith(".ipynb")


def save_running_notebook(path: Path, data: bytes) -> None:
    """One save of a running notebook: its claim first (inside ``.in-progress/``), then the notebook.

    Both are created with the record's mode (0640/0600) from their first byte and renamed into place.
    """
    mode, audit_dir = _folder_facts(path.parent)
    digest = hashlib.sha256(data).hexdigest()
    with _GUARD:
        previous = _SAVED.get(str(path))
    claim_id = previous.claim_id if previous else secrets.token_hex(16)
    if is_running_notebook(path):
        hashes = (digest,) if previous is None or previous.sha256 == digest else (digest, previous.sha256)
        claim = Claim(
            audit_dir=audit_dir,
            notebook=path.name,
            claim_id=claim_id,
            pid=os.getpid(),
            uid=os.geteuid() if hasattr(os, "geteuid") else -1,
            saved=iso(datetime.now(UTC)),
            sha256=hashes,
        )
        write_replacing(path.with_name(claim_name(path.name)), seal(claim_key(), claim), mode)
    write_replacing(path, data, mode)
    with _GUARD:
        _SAVED[str(path)] = _Saved(claim_id, digest)


def saved_by_this_process(path: Path) -> tuple[str, str] | None:
    """(claim id, SHA-256 of the last save) of a notebook this process saved, else None."""
    with _GUARD:
        saved = _SAVED.get(str(path))
    return (saved.claim_id, saved.sha256) if saved else None


def forget_running_notebook(path: Path) -> None:
    """Remove a stored run's notebook and its claim from ``.in-progress/`` (notebook first: a claim
    left alone names nothing and is removed by the next run)."""
    path.unlink(missing_ok=True)
    path.with_name(claim_name(path.name)).unlink(missing_ok=True)
    with _GUARD:
        _SAVED.pop(str(path), None)


def read_own_notebook(path: Path) -> tuple[bytes, str]:
    """(bytes, claim id) of a notebook this process saved, exactly as it saved it last.

    Whoever can write ``.in-progress/`` could replace the file between the run's last save and this
    read, and the run would then store — and sign — their notebook as its own record. So the bytes must
    hash to the last save; a file that does not is set aside and ``STATE_UNTRUSTED`` raised.
    """
    saved = saved_by_this_process(path)
    audit_dir = path.parent.parent
    relative = f"{path.parent.name}/{path.name}"
    with Folder(path.parent) as folder:
        try:
            data, _ = folder.read(path.name, MAX_RECORD_FILE)
        except (OSError, ValueError) as exc:
            why = f"it cannot be read back ({getattr(exc, 'strerror', None) or exc})"
        else:
            if saved is not None and hashlib.sha256(data).hexdigest() == saved[1]:
                return data, saved[0]
            why = "its content is not what this run saved last (replaced while the run went on)"
        item = set_aside(audit_dir, folder, relative, [path.name, claim_name(path.name)], why)
    raise (item or SetAside(relative, why)).error(audit_dir)
