"""The change journal: a change is either complete and proven, rolled back, or restored by the next run.

Rollback inside a run covers every failure the run lives through. It cannot cover ``kill -9``, a power
cut or a crashed kernel in the middle of "apply, restart": the process that knew the snapshot is gone.
So before the first command that changes the binding, runbook 03 writes the snapshot and the plan to
``change-<instance>.json`` beside the target lock — fsync'd and renamed into place, so it is either
absent or complete — and removes it only once the change is proven over TLS or rolled back.

A run that opens the target and finds a journal says so first (``INTERRUPTED_CHANGE``), shows the
snapshot, and — unless it is a dry run, runbook 02 (which changes nothing) or ``rollback: False`` —
restores it before anything new is planned, in its own audit record. If that restore fails the run
stops (``INTERRUPTED_RESTORE_FAILED``) and the journal stays, so the next run tries again.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from .findings import Finding, OctorunbookError, TargetError
from .params import Parameters
from .render import Panel, Row
from .targets.base import BindingState, Target
from .verify import HttpAnswer, http_get, wait_for_portal


class _Shows(Protocol):
    def show(self, item: Any) -> None: ...


class Run(Protocol):
    """The run a journal belongs to (``runbook.Run`` is one). A protocol, because ``runbook.Run.open``
    calls :func:`recover_interrupted`: the journal sits below the run and must not import it."""

    @property
    def runbook(self) -> str: ...

    @property
    def operator(self) -> str: ...

    @property
    def started_at(self) -> str: ...

    @property
    def params(self) -> Parameters: ...

    @property
    def reporter(self) -> _Shows: ...

    @property
    def findings(self) -> list[Finding]: ...

    @property
    def verification(self) -> list[dict[str, Any]]: ...

    @property
    def state(self) -> dict[str, Any]: ...

    @property
    def extra(self) -> dict[str, Any]: ...

    def require_target(self) -> Target: ...

    def note(self, finding: Finding) -> None: ...

    def change(self, action: str, detail: str, **extra: Any) -> None: ...


JOURNAL_VERSION = 1
WAIT_SECONDS = float(os.environ.get("OCTORUNBOOK_WAIT_SECONDS", "60"))


def journal_path(target: Target) -> Path:
    return target.state_dir / f"change-{target.instance}.json"


def _fsync_dir(folder: Path) -> None:
    if os.name == "nt":  # NTFS has no directory handles to fsync; MoveFileEx is already durable
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_durably(path: Path, data: dict[str, Any]) -> None:
    """Write, fsync, rename over, fsync the folder: after a crash the file is the old or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(json.dumps(data, indent=2))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def journal_topology(target: Target) -> str | None:
    """Who wrote the unfinished journal: ``"parts"`` (03 over the protocols), else None (04's swap, or
    a journal that cannot be read — ``read_journal`` then says so)."""
    try:
        data = json.loads(journal_path(target).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    topology = data.get("topology") if isinstance(data, dict) else None
    return str(topology) if topology else None


class ChangeJournal:
    """The journal of one change under way: ``begin`` before the first change, ``done`` after the proof."""

    def __init__(self, path: Path, data: dict[str, Any]) -> None:
        self.path = path
        self.data = data

    @classmethod
    def begin(
        cls,
        run: Run,
        snapshot: BindingState,
        port: int,
        desired: dict[str, Any],
        commands: list[list[str]],
        **extra: Any,  # what a runbook's own recovery needs (04: renewal_journal.renewal_entry)
    ) -> ChangeJournal:
        target = run.require_target()
        data = {
            "version": JOURNAL_VERSION,
            "phase": "applying",
            "runbook": run.runbook,
            "operator": run.operator,
            "pid": os.getpid(),
            "started_at": run.started_at,
            "instance": target.instance,
            "port": port,
            "snapshot": snapshot.to_record(),
            "desired": desired,
            "commands": [" ".join(c) for c in commands],
        }
        data = {**extra, **data}  # the common fields cannot be overridden
        journal = cls(journal_path(target), data)
        _write_durably(journal.path, data)
        return journal

    def phase(self, phase: str) -> None:
        self.data["phase"] = phase
        _write_durably(self.path, self.data)

    def done(self) -> None:
        """The change was proven or rolled back: nothing is left to restore."""
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        _fsync_dir(self.path.parent)

    @property
    def snapshot(self) -> BindingState:
        return BindingState.from_record(self.data["snapshot"])

    @property
    def port(self) -> int:
        return int(self.data["port"])


def read_journal(target: Target) -> ChangeJournal | None:
    path = journal_path(target)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        journal = ChangeJournal(path, data)
        journal.snapshot, journal.port  # noqa: B018 - both must parse
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise unreadable(path, exc) from None
    return journal


def unreadable(path: Path, exc: Exception, runbook: str = "03", what: str = "the target") -> TargetError:
    """``CHANGE_JOURNAL_UNREADABLE``: a journal exists but cannot be parsed; nothing was changed."""
    return TargetError(
        "CHANGE_JOURNAL_UNREADABLE",
        f"An unfinished change journal {path} exists but cannot be read ({type(exc).__name__}).",
        f"Compare {what} with the last {runbook} audit record's 'before' state and restore it by hand, then "
        "move the journal away. Nothing was changed by this run.",
    )


def probe(target: Target, scheme: str, port: int, hostname: str) -> HttpAnswer:
    """GET /api on ``port`` of the target (through its port map), with ``hostname`` as Host and SNI."""
    host, real = target.endpoint(port)
    return http_get(scheme, host, real, f"{hostname}:{port}" if port not in (80, 443) else hostname)


def restore_commands(target: Target, snapshot: BindingState, port: int) -> list[list[str]]:
    """What restoring ``snapshot`` runs, in full (what a record tells an operator to run by hand)."""
    octo = target.octopus
    old = snapshot.binding
    cmds = [octo.service_argv("stop")]
    if old is None:
        cmds.append([target.httpsys.exe, "http", "delete", "sslcert", f"ipport=0.0.0.0:{port}"])
    else:
        cmds.append(octo.ssl_certificate_argv(old.certificate_hash, old.store_name, port=port))
    cmds.append(octo.configure_argv_for(snapshot.config))
    cmds.append(octo.service_argv("start"))
    return cmds


def restore_snapshot(run: Run, snapshot: BindingState, port: int, label: str, failure_code: str) -> bool:
    """Put the binding and the portal configuration back as ``snapshot`` says; restart; prove it answers.

    Only what differs from the snapshot is restored (a step the failed change never reached is not
    undone twice); if the current state cannot be read, everything is. True when every action
    succeeded and the old first prefix answers again.
    """
    target = run.require_target()
    octo = target.octopus
    old, config = snapshot.binding, snapshot.config
    try:
        now: BindingState | None = BindingState.read(target, port)
    except OctorunbookError:
        now = None
    binding_differs = now is None or (now.binding.to_record() if now.binding else None) != (
        old.to_record() if old else None
    )
    actions: list[tuple[str, Any]] = [(f"{label}: service stop", lambda: octo.service("stop"))]
    if binding_differs and old is None and (now is None or now.binding is not None):
        actions.append((f"{label}: remove binding", lambda: target.httpsys.delete(port)))
    elif binding_differs and old is not None:
        actions.append(
            (
                f"{label}: restore binding",
                lambda: octo.ssl_certificate(old.certificate_hash, old.store_name, port=port),
            )
        )
    if now is None or now.config != config:
        actions.append((f"{label}: restore configuration", lambda: octo.configure_to(config)))
    actions.append((f"{label}: service start", lambda: octo.service("start")))
    complete = True
    for action_label, action in actions:
        try:
            action()
            run.change(action_label, "done")
        except OctorunbookError as exc:
            complete = False
            run.change(action_label, f"FAILED: {exc.code} {exc.message}")
            run.note(
                Finding(
                    failure_code,
                    "error",
                    f"{action_label} failed: {exc.message}",
                    "Restore by hand: "
                    + "; ".join(" ".join(a) for a in restore_commands(target, snapshot, port)),
                )
            )
    first = config.listen_prefixes[0] if config.listen_prefixes else ""
    parts = urlsplit(first)
    old_port = parts.port or (443 if parts.scheme == "https" else 80)
    answer, error = wait_for_portal(
        lambda: probe(target, parts.scheme or "http", old_port, parts.hostname or "localhost"),
        timeout=WAIT_SECONDS,
    )
    ok = answer is not None
    run.verification.append(
        {
            "check": f"after {label}: old prefix answers",
            "expected": f"{first}api answers",
            "seen": f"{answer.status}" if answer else error,
            "ok": ok,
            "code": "ROLLBACK_UNVERIFIED",
        }
    )
    with contextlib.suppress(OctorunbookError):
        run.state["after"] = BindingState.read(target, port).to_record()
    show_restored(run, ok, complete, "old prefix answers", f"{first} → {answer.status if answer else error}")
    return ok and complete


def show_restored(run: Run, ok: bool, complete: bool, check: str, seen: str) -> None:
    """The panel after a rollback or a restore: ⚠ restored and proven, ✖ not (both topologies)."""
    run.reporter.show(
        Panel(
            "Restored the state from before the change",
            "warning" if ok and complete else "error",
            [Row("ok" if ok else "error", check, seen)],
        )
    )


def interrupted_what(data: dict[str, Any]) -> str:
    return (
        f"An earlier change was not finished: {data.get('runbook')} by {data.get('operator')} (pid "
        f"{data.get('pid')}), started {data.get('started_at')}, stopped while '{data.get('phase')}' (killed, "
        "crashed, or left by rollback: False). The target may be half-changed."
    )


def restores_interrupted(run: Run, what: str, by_hand: str, path: Path) -> bool:
    """Say ``INTERRUPTED_CHANGE`` first; True when this run restores the snapshot now (not a dry run,
    not 02, rollback allowed). ``rollback: False`` stops the run here: nothing new is planned."""
    if run.params.dry_run or run.runbook == "02-verify-certificate":
        run.findings.insert(
            0,  # said first: before a stale lock or anything else this run finds
            Finding(
                "INTERRUPTED_CHANGE",
                "warning",
                what + " This run changes nothing, so the snapshot was NOT restored.",
                "Run 01 or 03 (dry_run: False) to restore it first, or by hand: " + by_hand,
                details={"journal": str(path)},
            ),
        )
        return False
    if not run.params.rollback:
        raise TargetError(
            "INTERRUPTED_CHANGE",
            what + " rollback: False, so the snapshot was not restored and nothing new is planned.",
            "Inspect the target, then run again with rollback: True, or restore by hand: " + by_hand,
            details={"journal": str(path)},
        )
    run.findings.insert(
        0,
        Finding(
            "INTERRUPTED_CHANGE",
            "warning",
            what + " Its snapshot is restored now, before anything new is planned.",
            "Read the restoration in this record's changes and verification.",
            details={"journal": str(path)},
        ),
    )
    return True


def recover_interrupted(run: Run) -> None:
    """Called when a run has the target lock: an unfinished journal is reported first, then restored."""
    target = run.require_target()
    journal = read_journal(target)
    if journal is None:
        return
    d = journal.data
    snapshot = journal.snapshot
    cmds = restore_commands(target, snapshot, journal.port)
    by_hand = "; ".join(" ".join(c) for c in cmds) + f"; then delete {journal.path}"
    what = interrupted_what(d)
    run.extra["interrupted_change"] = {**d, "journal": str(journal.path)}
    b = snapshot.binding
    run.reporter.show(
        Panel(
            "INTERRUPTED_CHANGE: the snapshot taken before that change",
            "warning",
            [
                Row("warning", "what", what),
                Row("info", "listen prefixes", ",".join(snapshot.config.listen_prefixes)),
                Row(
                    "info",
                    f"HTTP.sys binding 0.0.0.0:{journal.port}",
                    f"{b.certificate_hash} ({b.store_name})" if b else "none",
                ),
                Row(
                    "info", "ForceSSL / HSTS", f"{snapshot.config.force_ssl} / {snapshot.config.hsts_enabled}"
                ),
                Row("info", "it was applying", "; ".join(d.get("commands", []))),
            ],
        )
    )
    if not restores_interrupted(run, what, by_hand, journal.path):
        return
    journal.phase("restoring")
    run.state["interrupted_snapshot"] = snapshot.to_record()
    if not restore_snapshot(
        run, snapshot, journal.port, "restore interrupted change", "INTERRUPTED_RESTORE_FAILED"
    ):
        raise TargetError(
            "INTERRUPTED_RESTORE_FAILED",
            "The snapshot of the interrupted change could not be restored and proven; nothing new was planned.",
            f"The journal {journal.path} is kept, so the next run tries again. Or restore by hand: "
            + by_hand,
            details={"journal": str(journal.path)},
        )
    journal.done()
