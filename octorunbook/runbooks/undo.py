"""The one undo engine's record: a checkpoint is written before the first change and removed after the proof.

Rollback inside a run covers every failure the run lives through. It cannot cover ``kill -9``, a power
cut or a crashed kernel in the middle of a change: the process that knew the previous state is gone.
So before the first command that changes the target, runbooks 03, 04 and 05 write a *checkpoint* —
the previous state of every part they will change, what they will run, and what each watched port
served — into the target's protected state home (``targets.state``), authenticated and durable. It
moves through documented phases (``applying`` → ``rolling back`` / ``left by rollback: False``, and
``restoring`` when a later run puts it back) and is removed once the change is proven or rolled back.

A run that finds a checkpoint says so first (``INTERRUPTED_CHANGE``), shows the snapshot, and — unless it
is a dry run, runbook 02 (which changes nothing) or ``rollback: False`` — hands it to the restorer of its
kind (``parts`` for 03, 04 and 05 on every front) before anything new is planned. If that
restore fails the run stops (``INTERRUPTED_RESTORE_FAILED``) and the checkpoint stays for the next run.

The checkpoint is data, never an instruction: it is read only if the state home authenticates it for
this target, every field is validated as a parameter would be, and each restorer re-derives paths from
the current parameters and proves values on the target before acting. A checkpoint that fails any of
that is quarantined (``STATE_UNTRUSTED``) and, until an operator has looked at it and run
``octorunbook recover --discard``, no run changes the target.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from octorunbook import crashpoints
from octorunbook.evidence.deadline import Deadline
from octorunbook.evidence.tls import HttpAnswer, http_get
from octorunbook.findings import Finding, TargetError
from octorunbook.params.core import Parameters
from octorunbook.render import Panel, Row
from octorunbook.runbooks.record import RunExtras, RunState
from octorunbook.targets.base import Target
from octorunbook.targets.state import StateHome, normalised_instance, slug, untrusted


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
    def state(self) -> RunState: ...

    @property
    def extra(self) -> RunExtras: ...

    def require_target(self) -> Target: ...

    def note(self, finding: Finding) -> None: ...

    def change(self, action: str, detail: str, **extra: Any) -> None: ...


CHECKPOINT_VERSION = 2
CHECKPOINT_KIND = "checkpoint"
PHASES = ("applying", "rolling back", "left by rollback: False", "restoring")
WAIT_SECONDS = float(os.environ.get("OCTORUNBOOK_WAIT_SECONDS", "60"))
_RUNBOOK = re.compile(r"^0[1-5]-[a-z0-9-]{1,40}$")
_THUMBPRINT_OR_NONE = re.compile(r"^([0-9A-Fa-f]{40}|[0-9A-Fa-f]{64})?$")
_ADDED = re.compile(r"^([0-9A-F]{40})?$")  # a thumbprint as the store names it, or none
_LEGACY = re.compile(r"^change-.*\.json$")

Restorer = Callable[["Run", "Checkpoint"], None]
RESTORERS: dict[str, Restorer] = {}


def restorer(kind: str) -> Callable[[Restorer], Restorer]:
    """Register how a checkpoint of ``kind`` is put back (each runbook family registers its own)."""

    def register(function: Restorer) -> Restorer:
        RESTORERS[kind] = function
        return function

    return register


def checkpoint_name(instance: str) -> str:
    return f"checkpoint-{slug(normalised_instance(instance))}.json"


class Checkpoint:
    """One change under way: ``begin`` before the first change, ``phase`` as it goes, ``done`` after the proof."""

    def __init__(self, home: StateHome, name: str, data: dict[str, Any]) -> None:
        self.home = home
        self.name = name
        self.data = data

    @property
    def path(self) -> Path:
        return self.home.root / self.name

    @property
    def kind(self) -> str:
        return str(self.data["kind"])

    @property
    def port(self) -> int:
        return int(self.data["port"])

    @property
    def snapshot(self) -> dict[str, Any]:
        snapshot: dict[str, Any] = self.data["snapshot"]
        return snapshot

    @property
    def added(self) -> str:
        """The certificate this change put into the store ("" none): a restore removes it again, once
        the previous state is proven and nothing on the front serves it."""
        return str(self.data.get("added", ""))

    @property
    def served_before(self) -> dict[int, str]:
        return {int(port): str(seen) for port, seen in self.data["served_before"].items()}

    @classmethod
    def begin(
        cls,
        run: Run,
        kind: str,
        port: int,
        snapshot: dict[str, Any],
        commands: list[str],
        served_before: dict[int, str] | None = None,
        **extra: Any,  # what the kind's restorer needs (``added``: the certificate 04 imported)
    ) -> Checkpoint:
        if kind not in RESTORERS:
            raise ValueError(f"no restorer for checkpoint kind {kind!r}")
        target = run.require_target()
        data = {
            **extra,
            "version": CHECKPOINT_VERSION,
            "kind": kind,
            "phase": "applying",
            "runbook": run.runbook,
            "operator": run.operator,
            "pid": os.getpid(),
            "started_at": run.started_at,
            "instance": target.instance,
            "port": port,
            "snapshot": snapshot,
            "served_before": {str(p): seen for p, seen in (served_before or {}).items()},
            "commands": commands,
        }  # the common fields come last: ``extra`` cannot override them
        checkpoint = cls(target.state(), checkpoint_name(target.instance), data)
        checkpoint._save()
        crashpoints.reached("checkpoint:begun")
        return checkpoint

    def _save(self) -> None:
        self.home.write(self.name, CHECKPOINT_KIND, self.data)

    def phase(self, phase: str) -> None:
        if phase not in PHASES:
            raise ValueError(f"unknown checkpoint phase {phase!r}")
        self.data["phase"] = phase
        self._save()
        crashpoints.reached("checkpoint:" + phase.replace(" ", "-").replace(":", ""))

    def done(self) -> None:
        """The change was proven or rolled back: nothing is left to restore."""
        crashpoints.reached("checkpoint:finalising")
        self.home.remove(self.name)
        crashpoints.reached("checkpoint:finalised")


def _validate(data: dict[str, Any], target: Target) -> str:
    """Why ``data`` is not a checkpoint of this target, or "" (every field checked as a parameter is)."""
    checks: list[tuple[bool, str]] = [
        (data.get("version") == CHECKPOINT_VERSION, "unknown version"),
        (data.get("kind") in RESTORERS, "unknown kind"),
        (data.get("phase") in PHASES, "unknown phase"),
        (isinstance(data.get("runbook"), str) and bool(_RUNBOOK.fullmatch(data["runbook"])), "bad runbook"),
        (isinstance(data.get("pid"), int) and data["pid"] > 0, "bad pid"),
        (
            isinstance(data.get("instance"), str)
            and normalised_instance(data["instance"]) == normalised_instance(target.instance),
            "it names another instance",
        ),
        (isinstance(data.get("port"), int) and 1 <= data["port"] <= 65535, "bad port"),
        (isinstance(data.get("snapshot"), dict), "no snapshot"),
        (
            isinstance(data.get("commands"), list) and all(isinstance(c, str) for c in data["commands"]),
            "bad commands",
        ),
        (isinstance(data.get("served_before"), dict), "bad served_before"),
        (
            isinstance(data.get("added", ""), str) and bool(_ADDED.fullmatch(data.get("added", ""))),
            "added names something that is not a thumbprint",
        ),
    ]
    for ok, why in checks:
        if not ok:
            return why
    for port, seen in data["served_before"].items():
        if not (str(port).isdigit() and 1 <= int(port) <= 65535):
            return "bad port in served_before"
        if not isinstance(seen, str) or not _THUMBPRINT_OR_NONE.fullmatch(seen):
            return "served_before holds something that is not a thumbprint"
    return ""


def reject(checkpoint: Checkpoint, why: str) -> TargetError:
    """Quarantine a checkpoint whose content a restorer refused, and say so (``STATE_UNTRUSTED``)."""
    return untrusted(checkpoint.path, why, checkpoint.home.quarantine(checkpoint.path, why))


def read_checkpoint(target: Target) -> Checkpoint | None:
    """The unfinished checkpoint of ``target``, authenticated and validated; None when there is none.

    ``STATE_UNTRUSTED`` (the file quarantined) for anything else, an older unauthenticated journal too."""
    home = target.state()
    for name in os.listdir(home.root):
        if _LEGACY.fullmatch(name):
            path = home.root / name
            why = "a change journal of an older octorunbook, which carried no authentication"
            raise untrusted(path, why, home.quarantine(path, why))
    name = checkpoint_name(target.instance)
    data = home.read(name, CHECKPOINT_KIND)
    if data is None:
        return None
    checkpoint = Checkpoint(home, name, data)
    why = _validate(data, target)
    if why:
        raise reject(checkpoint, why)
    return checkpoint


def quarantined_checkpoints(target: Target) -> list[str]:
    """What an operator has not yet looked at: checkpoints set aside as untrusted (they block changes)."""
    return [
        f"{q.path} ({q.why})"
        for q in target.state().quarantined()
        if "checkpoint-" in q.path.name or "change-" in q.path.name
    ]


def recover_interrupted(run: Run) -> None:
    """Called when a run has the target lock: an unfinished checkpoint is reported first, then restored.

    A quarantined checkpoint stops every run that would change the target until it is discarded."""
    target = run.require_target()
    changes = not (run.params.dry_run or run.runbook == "02-verify-certificate")
    try:
        held = quarantined_checkpoints(target)
        if held:
            raise TargetError(
                "STATE_UNTRUSTED",
                "A checkpoint of an earlier change was set aside as untrusted: " + "; ".join(held) + ". The "
                "target may be half-changed and octorunbook will not guess how to restore it.",
                "Compare the target with the last audit record's 'before' state and restore it by hand if "
                "needed, then run `octorunbook recover <params.yaml> --discard` (it shows what the file held).",
                details={"quarantined": held},
            )
        checkpoint = read_checkpoint(target)
    except TargetError as exc:
        if exc.code != "STATE_UNTRUSTED" or changes:
            raise
        run.findings.insert(
            0, Finding(exc.code, "warning", exc.message, exc.remedy, details=exc.finding.details)
        )
        return
    if checkpoint is None:
        return
    RESTORERS[checkpoint.kind](run, checkpoint)


def probe(
    target: Target, scheme: str, port: int, hostname: str, timeout: float | Deadline = 5.0
) -> HttpAnswer:
    """GET /api on ``port`` of the target (through its port map), with ``hostname`` as Host and SNI;
    the whole exchange ends at ``timeout`` (seconds, or the caller's deadline)."""
    host, real = target.endpoint(port)
    host_header = f"{hostname}:{port}" if port not in (80, 443) else hostname
    return http_get(scheme, host, real, host_header, timeout=timeout)


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
