"""The way back for a target of parts (the nginx topology): restore each part, prove the old state, and
recover a change a killed run left half-done.

It sits below ``runbook`` (which calls :func:`recover_interrupted` from ``Run.open``) and below ``bind``
(whose rollback calls :func:`restore_parts`), so it names the run through ``journal.Run``, a protocol,
and imports neither.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from .findings import Finding, OctorunbookError, TargetError
from .journal import ChangeJournal, Run, interrupted_what, journal_path, restores_interrupted, show_restored
from .render import Panel, Row
from .targets.protocols import Part, PortalIntent, TargetParts, TlsFront
from .verify import tls_handshake


def _parts(run: Run) -> TargetParts:
    parts = run.require_target().parts
    if parts is None:
        raise RuntimeError("the target has no protocol parts (HTTP.sys topology)")
    return parts


def served_thumbprint(run: Run, port: int) -> str:
    """The thumbprint served on ``port`` now, or why none is (``no TLS: …``)."""
    host, real = run.require_target().endpoint(port)
    try:
        return tls_handshake(host, real, run.params.hostname).thumbprint
    except OSError as exc:
        return f"no TLS: {exc}"


def restore_parts(
    run: Run,
    pairs: list[tuple[Part[Any], Any]],
    front: tuple[TlsFront[Any], Any],
    label: str,
    failure_code: str,
) -> bool:
    """Give each part its previous state, in reverse order; prove the previous certificate is served.

    True when every restore succeeded and the front serves what it served before (or, when it served
    nothing before, serves no TLS on the port).
    """
    complete = True
    for part, previous in reversed(pairs):
        try:
            part.restore(previous, run)
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
    front_part, front_previous = front
    expected = front_part.serves(front_previous)
    seen = served_thumbprint(run, run.params.https_port)
    ok = seen == expected if expected else seen.startswith("no TLS")
    run.verification.append(
        {
            "check": f"after {label}: the previous state is served",
            "expected": expected or "no TLS on the port (none before)",
            "seen": seen,
            "ok": ok,
            "code": "ROLLBACK_UNVERIFIED",
        }
    )
    with contextlib.suppress(OctorunbookError):
        run.state["after"] = {
            part.kind: part.read(
                PortalIntent.location(run.params.hostname, run.params.https_port)
            ).to_record()
            for part, _ in pairs
        }
    show_restored(run, ok, complete, "served certificate", f"expected {expected or 'none'}; seen {seen}")
    return ok and complete


# ---- the change journal for protocol parts -------------------------------------------------------


def recover_interrupted(run: Run) -> None:
    """Run.open for a target of parts: an unfinished journal is reported first, then restored."""
    target = run.require_target()
    parts = _parts(run)
    path = journal_path(target)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        snapshot = data["snapshot"]
        pairs: list[tuple[Part[Any], Any]] = [
            (part, part.state_from_record(snapshot[part.kind])) for part in (parts.front, parts.instance)
        ]
    except FileNotFoundError:
        return
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise TargetError(
            "CHANGE_JOURNAL_UNREADABLE",
            f"An unfinished change journal {path} exists but cannot be read ({type(exc).__name__}).",
            "Compare the target with the last 03 audit record's 'before' state and restore it by hand, then "
            "move the journal away. Nothing was changed by this run.",
        ) from None
    journal = ChangeJournal(path, data)
    what = interrupted_what(data)
    by_hand = f"put back the states in {path} (snapshot), then delete it"
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
    journal.phase("restoring")
    run.state["interrupted_snapshot"] = snapshot
    front = (parts.front, pairs[0][1])
    if not restore_parts(run, pairs, front, "restore interrupted change", "INTERRUPTED_RESTORE_FAILED"):
        raise TargetError(
            "INTERRUPTED_RESTORE_FAILED",
            "The snapshot of the interrupted change could not be restored and proven; nothing new was planned.",
            f"The journal {path} is kept, so the next run tries again. Or by hand: {by_hand}.",
            details={"journal": str(path)},
        )
    journal.done()


__all__ = ["recover_interrupted", "restore_parts", "served_thumbprint"]
