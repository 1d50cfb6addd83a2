"""The way back for 03 on any topology: restore each part, prove the old state, and recover a change a
killed run left half-done.

It sits below ``runbook`` (which calls :func:`recover_interrupted` from ``Run.open``) and below ``bind``
(whose rollback calls :func:`restore_parts`), so it names the run through ``journal.Run``, a protocol,
and imports neither. It is the restorer of every checkpoint: 03, 04 (a renewal is 03's change with only
the front's certificate different) and 05, on every front.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any
from urllib.parse import urlsplit

from octorunbook.evidence.tls import tls_handshake, wait_for_portal
from octorunbook.findings import Finding, OctorunbookError, TargetError
from octorunbook.render import Panel, Row
from octorunbook.runbooks.undo import (
    WAIT_SECONDS,
    Checkpoint,
    Run,
    interrupted_what,
    probe,
    reject,
    restorer,
    restores_interrupted,
    show_restored,
)
from octorunbook.targets.protocols import OctopusInstance, Part, PortalIntent, TargetParts, TlsFront


def topology(run: Run) -> TargetParts:
    """The parts 03 drives on this target: its own (nginx), or HTTP.sys's with the ``store`` parameter."""
    return run.require_target().parts


def observed(run: Run, ports: list[int]) -> dict[int, str]:
    """What each port serves over TLS now: the thumbprint, or "" for no TLS (what a rollback proves again)."""
    found = {port: served_thumbprint(run, port) for port in dict.fromkeys(ports)}
    return {port: "" if seen.startswith("no TLS") else seen for port, seen in found.items()}


def served_thumbprint(run: Run, port: int) -> str:
    """The thumbprint served on ``port`` now, or why none is (``no TLS: …``)."""
    host, real = run.require_target().endpoint(port)
    try:
        return tls_handshake(host, real, run.params.hostname).thumbprint
    except OSError as exc:
        return f"no TLS: {exc}"


class _Labelled:
    """A part reports its restore as ``rollback: …``; a restore after a crash says what it is instead."""

    def __init__(self, run: Run, label: str) -> None:
        self.run, self.label = run, label

    def change(self, action: str, detail: str) -> None:
        self.run.change(self.label + ": " + action.removeprefix("rollback: "), detail)


def restore_parts(
    run: Run,
    pairs: list[tuple[Part[Any], Any]],
    front: tuple[TlsFront[Any], Any],
    instance: tuple[OctopusInstance[Any], Any],
    where: PortalIntent,
    label: str,
    failure_code: str,
    served_before: dict[int, str] | None = None,
) -> bool:
    """Give each part its previous state, in reverse order; prove the previous state is served again.

    A part already in its previous state (the failed change never reached it) is left alone: no second
    reload or restart. ``served_before`` is what each watched port served over TLS before the change
    (the run's https_port, and the port the old front served on when the run moves it; "" for no TLS):
    each must serve the same again — another site on a shared port included. Without it (an older
    journal) the front's previous state says what ``where.https_port`` must serve. True when every
    restore succeeded, every watched port serves what it did, and the portal answers on its previous prefix.
    """
    complete = True
    log = _Labelled(run, label)
    for part, previous in reversed(pairs):
        try:
            if part.read(where) == previous and not _stopped(run, part, instance, previous):
                run.change(f"{label}: {part.kind} already as before", "the failed change did not alter it")
                continue
        except OctorunbookError:
            pass  # cannot read it: restore it anyway
        try:
            part.restore(previous, log)
        except OctorunbookError as exc:
            complete = False
            run.change(f"{label}: restore {part.kind}", f"FAILED: {exc.code} {exc.message}")
            run.note(
                Finding(
                    failure_code,
                    "error",
                    f"{label}: restoring the {part.kind} part failed: {exc.message}",
                    exc.remedy or "Restore it by hand from the record's state.before.",
                )
            )
    for (
        part,
        previous,
    ) in pairs:  # each part reads back as it was: settings included, not only the certificate
        try:
            same, seen = part.read(where) == previous, "as before"
        except OctorunbookError as exc:
            same, seen = False, f"cannot read it: {exc.code}"
        complete = complete and same
        run.verification.append(
            {
                "check": f"after {label}: {part.kind} as before",
                "expected": "every setting as in the snapshot",
                "seen": seen if same or seen != "as before" else "differs",
                "ok": same,
                "code": failure_code,
            }
        )
    prefix = instance[0].answers_on(instance[1])
    answered = _answers(run, prefix, label) if prefix else ""  # first: it waits out a restart
    front_part, front_previous = front
    watched = served_before or {where.https_port: front_part.serves(front_previous)}
    ok, shown_ports = not prefix or answered.startswith("2"), []
    for port, expected in sorted(watched.items()):
        seen = served_thumbprint(run, port)
        same = seen == expected if expected else seen.startswith("no TLS")
        ok = ok and same
        run.verification.append(
            {
                "check": f"after {label}: port {port} serves what it served before",
                "expected": expected or "no TLS on the port (none before)",
                "seen": seen,
                "ok": same,
                "code": "ROLLBACK_UNVERIFIED",
            }
        )
        shown_ports.append(f"port {port}: expected {expected or 'none'}; seen {seen}")
    shown = "; ".join(shown_ports) + (f"; {prefix} → {answered}" if prefix else "")
    with contextlib.suppress(OctorunbookError):
        run.state["after"] = {part.kind: part.read(where).to_record() for part, _ in pairs}
    show_restored(run, ok, complete, "previous state served", shown)
    return ok and complete


def _stopped(run: Run, part: Part[Any], instance: tuple[OctopusInstance[Any], Any], previous: Any) -> bool:
    """The instance's configuration is as before but its portal does not answer on its prefix at all
    (a run killed inside the restart left the service stopped): its restore restarts it."""
    if part is not instance[0]:
        return False
    prefix = instance[0].answers_on(previous)
    if not prefix:
        return False
    parts = urlsplit(prefix)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        answer = probe(run.require_target(), parts.scheme or "http", port, parts.hostname or "localhost")
    except ConnectionRefusedError:
        return True  # nothing listens: stopped (a slow answer is not proof of that, so only a refusal counts)
    except OSError:
        return False
    # HTTP.sys itself answering (no application registered for the prefix) says so in its Server header
    return answer.status in (404, 503) and "HTTPAPI" in (answer.header("Server") or "")


def _answers(run: Run, prefix: str, label: str) -> str:
    """Wait for ``prefix``'s ``/api`` to answer again (after a restart); the status seen, or why not."""
    parts = urlsplit(prefix)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    target = run.require_target()
    answer, error = wait_for_portal(
        lambda deadline: probe(target, parts.scheme or "http", port, parts.hostname or "localhost", deadline),
        timeout=WAIT_SECONDS,
    )
    seen = str(answer.status) if answer is not None else error or "no answer"
    run.verification.append(
        {
            "check": f"after {label}: old prefix answers",
            "expected": f"{prefix}api answers",
            "seen": seen,
            "ok": answer is not None,
            "code": "ROLLBACK_UNVERIFIED",
        }
    )
    return "200" if answer is not None else seen


def forget_added(run: Run, thumbprint: str, label: str) -> None:
    """After a proven restore only: remove the certificate the undone change put into the store (04's
    replacement) — if the store still holds it and no place on the front serves it (``CERT_STILL_BOUND``:
    kept, with where). Never a certificate the change found in the store: the checkpoint names only
    what the run itself imported."""
    if not thumbprint:
        return
    parts = topology(run)
    store = parts.store
    try:
        if not store.exists() or store.get(thumbprint) is None:
            return
        users = parts.front.users(thumbprint)
        if users:
            run.note(
                Finding(
                    "CERT_STILL_BOUND",
                    "warning",
                    f"The certificate {thumbprint} the undone change imported is kept: {', '.join(users)} "
                    "serves it.",
                    "Remove it by hand once nothing uses it.",
                    details={"bindings": users},
                )
            )
            return
        store.remove(thumbprint)
        run.change(
            f"{label}: remove new certificate", f"{thumbprint} from {store.name} (imported by that run)"
        )
    except OctorunbookError as exc:
        run.change(f"{label}: remove new certificate", f"FAILED: {exc.code} {exc.message}")
        run.note(
            Finding(
                "RETIRE_FAILED",
                "warning",
                f"The previous state is back, but removing {thumbprint} (imported by that run) failed: "
                f"{exc.message}",
                f"Remove it from {store.name} by hand once nothing uses it.",
            )
        )


# ---- the change journal for protocol parts -------------------------------------------------------


def restore_by_hand(pairs: list[tuple[Part[Any], Any]], where: PortalIntent) -> str:
    """The exact commands that give each part its snapshot back from where it is now (each part's own
    ``actions``), for an operator who restores by hand; a description when the parts cannot be read."""
    commands: list[str] = []
    for part, previous in reversed(pairs):
        try:
            now = part.read(where)
        except OctorunbookError:
            return ""
        commands += [a.text() for a in part.actions(now, previous)]
    return "; ".join(commands)


@restorer("parts")
def recover_interrupted(run: Run, checkpoint: Checkpoint) -> None:
    """An unfinished checkpoint of 03 or 05 (any topology) is reported first, then each part restored.

    Each part rebuilds its previous state from the checkpoint through its own validation
    (``state_from_record`` refuses what it could not have written for this target), so a checkpoint
    cannot name a file this front does not manage or a certificate the store does not hold."""
    parts = topology(run)
    data = checkpoint.data
    snapshot = checkpoint.snapshot
    try:
        pairs: list[tuple[Part[Any], Any]] = [
            (part, part.state_from_record(snapshot[part.kind])) for part in (parts.front, parts.instance)
        ]
        where = PortalIntent.location(run.params.hostname, checkpoint.port)
    except (OctorunbookError, ValueError, KeyError, TypeError) as exc:
        raise reject(
            checkpoint, f"its snapshot does not fit this target ({type(exc).__name__}: {exc})"
        ) from None
    path = checkpoint.path
    what = interrupted_what(data)
    commands = restore_by_hand(pairs, where)
    by_hand = commands or f"put back the states in {path} (snapshot)"
    if checkpoint.added:
        by_hand += f"; remove {checkpoint.added} from {parts.store.name} (imported by that run)"
    by_hand += f"; then delete {path}"
    run.extra["interrupted_change"] = {**data, "journal": str(path)}
    run.reporter.show(
        Panel(
            "INTERRUPTED_CHANGE: the snapshot taken before that change",
            "warning",
            [
                Row("warning", "what", what),
                *(Row("info", kind, json.dumps(state)[:300]) for kind, state in snapshot.items()),
                Row("info", "it was applying", "; ".join(data.get("commands", []))),
            ],
        )
    )
    if not restores_interrupted(run, what, by_hand, path):
        return
    checkpoint.phase("restoring")
    run.state["interrupted_snapshot"] = snapshot
    if not restore_parts(
        run,
        pairs,
        (parts.front, pairs[0][1]),
        (parts.instance, pairs[1][1]),
        where,
        "restore interrupted change",
        "INTERRUPTED_RESTORE_FAILED",
        checkpoint.served_before,
    ):
        raise TargetError(
            "INTERRUPTED_RESTORE_FAILED",
            "The snapshot of the interrupted change could not be restored and proven; nothing new was planned.",
            f"The checkpoint {path} is kept, so the next run tries again. Or by hand: {by_hand}.",
            details={"journal": str(path)},
        )
    forget_added(run, checkpoint.added, "restore interrupted change")
    checkpoint.done()


__all__ = [
    "observed",
    "recover_interrupted",
    "restore_by_hand",
    "restore_parts",
    "forget_added",
    "served_thumbprint",
    "topology",
]
