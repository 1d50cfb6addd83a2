"""The crash campaign: "never half-changed" held to at every point a change can be cut short.

Each procedure (``octorunbook run`` 01 → 03, ``octorunbook renew --force``, runbook 05 with ``apply: true``)
on each sandbox front (HTTP.sys, a real nginx) is killed with ``SIGKILL`` — the CLI process and every
kernel, with the command in flight — at a point listed in ``crash_points.json`` (``octorunbook.crashpoints``
names them: before and after each external command, the nginx site written, nginx reloaded). Then the next
procedure runs (the same one; for 04 the scheduled ``renew``, which renews only when due), and the campaign
asserts:

* the portal served the old or the new certificate at every probe of a prober that handshakes every 50 ms
  from the killed run's start to the next run's end, and at a probe taken between the two runs; it served
  nothing for no longer than one portal restart (``crashkit.RESTART_WINDOW``);
* the next run exits 0 and leaves no unfinished change journal; it restores or finishes the change (01 → 03
  serves the new certificate, 04 the old or the new one, 05 no longer accepts what it turns off);
* ``octorunbook audit verify`` passes on the audit folder both runs wrote to;
* nothing outside the target's folders (the sandbox, its state folder, the audit folder) changed.

``make test`` kills each procedure on each front at two points (:func:`sample`); ``make crash``
(``OCTORUNBOOK_CRASH_ALL=1``) at every point, and runs each procedure once uninterrupted to check the list
(and the same promises). ``make crash-points`` (``OCTORUNBOOK_CRASH_UPDATE=1``) rewrites the list when the
code's points change: review its diff like code.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from crashkit import (
    PROCEDURES,
    RESTART_WINDOW,
    Case,
    Ended,
    Prober,
    Procedure,
    occurrences,
    prepare,
    run,
    snapshot,
    unfinished_journals,
)
from nginxkit import NGINX

from octorunbook.audit.records import extract_result
from octorunbook.cli.main import main
from octorunbook.commands import command_point
from octorunbook.targets.sandbox import Sandbox

POINTS_FILE = Path(__file__).with_name("crash_points.json")
EVERY_POINT = os.environ.get("OCTORUNBOOK_CRASH_ALL") == "1"
UPDATE = os.environ.get("OCTORUNBOOK_CRASH_UPDATE") == "1"
KILLED = -9  # the killed procedure's return code: SIGKILL
STALE = "the crash points changed: run `make crash-points` and review the diff of tests/crash_points.json"

pytestmark = [
    pytest.mark.crash,
    pytest.mark.skipif(sys.platform != "linux", reason="process groups, /proc and a POSIX shell"),
]


class NothingServed(AssertionError):
    """The portal served nothing for longer than a restart, or between the killed run and the next."""


class NotFinished(AssertionError):
    """The next run exited 0, but the target does not serve what the procedure promises."""


# Points that do not hold today: (procedure, point) -> (the exact reason, the promise that breaks). Each is a
# strict xfail that must fail with that promise only: once it holds, the campaign fails until it is taken
# off this list. Empty: 03 on HTTP.sys restarts Octopus with one command (`service --stop --start`), so no
# run stops between a stop and its start any more.
DOES_NOT_HOLD: dict[tuple[str, str], tuple[str, type[AssertionError]]] = {}


def _listed() -> dict[str, Any]:
    return json.loads(POINTS_FILE.read_text()) if POINTS_FILE.is_file() else {}


def sample(entry: dict[str, Any], alternate: int) -> list[str]:
    """Two points, deterministic: the middle of the changes (a half-changed target), and the first change
    or — every other procedure — the last point (all done, the record not stored yet)."""
    points, first, last = entry["points"], entry["changes"][0], entry["changes"][1]
    middle = (first + last + 1) // 2  # after a change rather than before one
    other = [first, len(points) - 1][alternate % 2]
    if other == middle:
        other = [first, len(points) - 1][(alternate + 1) % 2]
    return [points[i] for i in sorted({middle, other})]


def _needs(procedure: Procedure) -> list[pytest.MarkDecorator]:
    if procedure.front == "nginx" and NGINX is None:
        return [pytest.mark.skip(reason="nginx is not installed (apt-get install nginx)")]
    return []


def _kill_cases() -> Iterator[Any]:
    listed = {} if UPDATE else _listed()  # the list is being rewritten: nothing is killed
    for index, procedure in enumerate(PROCEDURES):
        entry = listed.get(procedure.key)
        if not entry:
            continue
        for point in entry["points"] if EVERY_POINT else sample(entry, index):
            marks = _needs(procedure)
            known = DOES_NOT_HOLD.get((procedure.key, point))
            if known:
                marks.append(pytest.mark.xfail(strict=True, reason=known[0], raises=known[1]))
            yield pytest.param(
                procedure, point, id=f"{procedure.kind}-{procedure.front}-{point}", marks=marks
            )


def _procedures() -> Iterator[Any]:
    for procedure in PROCEDURES:
        yield pytest.param(procedure, id=f"{procedure.kind}-{procedure.front}", marks=_needs(procedure))


def assert_the_promises_hold(case: Case, prober: Prober, before: dict[str, Any], next_run: Ended) -> None:
    """Everything the campaign promises once the next run has ended (the probe between the runs aside)."""
    assert next_run.returncode == 0, next_run.output[-4000:]
    wrong = prober.wrong(case.served_ok)
    assert not wrong, f"served neither the old nor the new certificate: {wrong[:3]}"
    assert unfinished_journals(case) == []
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        verified = main(["audit", "verify", str(case.audit)])
    assert verified == 0, out.getvalue()
    assert snapshot(case) == before, "files outside the target's folders changed"
    served = case.served()
    if case.procedure.kind == "run" and served != case.new:
        raise NotFinished(f"the next run exited 0 but serves {served}, not {case.new}")
    if case.procedure.kind == "renew" and served not in case.served_ok:
        raise NotFinished(f"the next run exited 0 but serves {served}")
    if case.procedure.kind == "harden" and (case.weaknesses() or served != case.old):
        raise NotFinished(f"the next run exited 0 but serves {served} with {sorted(case.weaknesses())}")
    longest = prober.longest_outage()
    if longest > RESTART_WINDOW:
        raise NothingServed(f"nothing served for {longest:.1f} s (> {RESTART_WINDOW:.0f} s)")


def _mutating_commands(audit: Path) -> set[str]:
    """The points of each command the run's records mark as changing something (without before/after)."""
    found = set()
    for path in audit.glob("*.ipynb"):
        record = extract_result(nbformat.read(str(path), as_version=4)) or {}
        found |= {command_point(c["argv"]) for c in record.get("commands", []) if c["mutating"]}
    return found


def changes(points: list[str], mutating: set[str]) -> list[int]:
    """[first, last]: the point just before the first change and the one just after the last — a
    changing command's, a file the front writes (``nginx:``), a checkpoint."""

    def changing(point: str, when: str) -> bool:
        name = point.rsplit("#", 1)[0]
        return name.startswith(("nginx:", "checkpoint:")) or name in {m + when for m in mutating}

    found = [i for i, p in enumerate(points) if changing(p, ":before")]
    ended = [i for i, p in enumerate(points) if changing(p, ":after")]
    assert found and ended, f"no change among the points: {points}"
    return [found[0], ended[-1]]


@pytest.mark.skipif(
    not (EVERY_POINT or UPDATE), reason="lists the points: `make crash` or `make crash-points`"
)
@pytest.mark.parametrize("procedure", list(_procedures()))
def test_an_uninterrupted_procedure_keeps_the_promises_and_reaches_the_listed_crash_points(
    procedure: Procedure, make_sandbox: Callable[..., Sandbox], tmp_path: Path
) -> None:
    case = prepare(procedure, make_sandbox, tmp_path)
    before = snapshot(case)
    with Prober(case.port, procedure.hostname) as prober:
        ended = run(case, "uninterrupted", trace=case.harness / "trace")

    assert_the_promises_hold(case, prober, before, ended)
    points = occurrences(ended.trace)
    entry = {"changes": changes(points, _mutating_commands(case.audit)), "points": points}
    print(f"{procedure.key}: {len(points)} points, longest outage {prober.longest_outage():.2f} s")
    if UPDATE:
        listed = _listed()
        listed[procedure.key] = entry
        POINTS_FILE.write_text(json.dumps(listed, indent=1, sort_keys=True) + "\n")
    else:
        assert _listed().get(procedure.key) == entry, STALE


# Among the 20 slowest (--durations, issue 28), by design: each case is a real procedure killed with SIGKILL
# at one crash point and the next real run restoring or finishing it; `make test` runs a sample of the
# points (`make crash` all of them).
@pytest.mark.parametrize(("procedure", "point"), list(_kill_cases()))
def test_a_procedure_killed_at_a_crash_point_is_restored_or_finished_by_the_next_run(
    procedure: Procedure, point: str, make_sandbox: Callable[..., Sandbox], tmp_path: Path
) -> None:
    points = _listed()[procedure.key]["points"]
    case = prepare(procedure, make_sandbox, tmp_path)
    before = snapshot(case)
    with Prober(case.port, procedure.hostname) as prober:
        killed = run(case, "killed", trace=case.harness / "trace", at=point)
        between = [prober.probe() for _ in range(3)]
        next_run = run(case, "next", again=True)

    print(f"{procedure.key} killed at {point}: longest outage {prober.longest_outage():.2f} s")
    assert killed.returncode == KILLED, f"not killed at {point}: {killed.output[-3000:]}"
    assert occurrences(killed.trace) == points[: points.index(point) + 1], STALE
    assert_the_promises_hold(case, prober, before, next_run)
    if not any(probe.thumbprint in case.served_ok for probe in between):
        raise NothingServed(f"between the killed run and the next, the portal served nothing: {between[-1]}")
