"""Three-runbook headless run vs its floor, measured in the same run (issue 17 §2, issue 28).

    .venv/bin/python benchmarks/bench_runbooks.py [--rounds N] [--old REV] [--save-baseline] [--quiet-only]

Two figures, each the medians of ``--rounds`` rounds (3 by default) in one run: **quiet** (the machine as
it is) and **with one busy core** (a background ``while True: pass`` process the benchmark starts and
kills), because a 2-core machine with ordinary background load has no spare core for the kernel started
ahead. Aim: ≤ 1.25× (floor + cells) in both; the load average is printed beside them.

Each round creates a fresh sandbox and runs 01 → 02 → 03 through ``octorunbook.headless.runner.run_all``
(papermill, redacting saves, audit records with HTML, chained manifest), and runs an empty notebook
through papermill three times with the same kernel. The floor is those three empty runs plus the cells'
own durations as papermill records them in the three records (the work the operator asked for). papermill
starts a cell's clock before it saves the notebook at that cell's start, so our save there counts as
"work": the bench times those saves and judges the aim without them. Aim: ours ≤ 1.25 × floor (medians).

``--old REV`` exports REV with ``git archive`` and runs it in every round too (a child process whose
imports, kernel included, resolve to that tree): old and new figures from the same minutes of the same
machine. Without it, the figures saved by ``--save-baseline`` (``bench_runbooks.baseline.json``, with
the commit they were measured at) are printed as the old line. Rounds interleave, so a busy minute
costs every figure alike; the machine is shared, so read the medians, not single rounds.

Where the time went, before (commit d359126), one run of 01 → 02 → 03, cProfile of the parent and the
cells' papermill durations for the kernel:
  * saves: papermill saved 101 times (start, every cell's start and end, markdown cells included, the end).
    Each save ran ``nbformat.writes`` in papermill (schema validation, then the pure-Python JSON encoder
    that ``indent=1`` forces), then in our handler ``nbformat.reads`` (validation again), a ``deepcopy``
    for redaction, ``nbformat.from_dict``, the summary cell and ``nbformat.writes`` again: 12 ms per save
    at the size of 03's notebook (3.3 + 1.5 + 2.7 + 1.4 + 3.3 ms), 2.4 s of the profiled 14.2 s; half of
    them sit inside the cells' own durations (the save at each cell's start).
  * HTML: ``_render_html`` built a new ``HTMLExporter`` for every record (templates, jinja2, pygments,
    preprocessor entry points) after importing nbconvert: 2.4 s profiled for three records, on the path
    between two notebooks. Rendering with an exporter built once takes 0.13–0.15 s per record.
  * the kernel: start-up 0.7–0.9 s and shutdown ≈ 0.2 s per notebook, the same as an empty run's; the
    first cell (``from octorunbook import ui; from octorunbook.runbooks import steps``) 0.27–0.48 s, counted as cell time.
After: the ``octorunbook`` papermill engine (``audit/engine.py``) hands each cell's save to the handler as
the notebook itself; the handler redacts it in one walk into a copy and writes it with ``json.dumps``
(papermill's own text saves are parsed with ``json.loads``); the record is validated once, when stored:
101 saves take 0.34 s profiled, the saves inside cells ≈ 0.07 s in all. One cached exporter renders
each record on a worker thread (which imports nbconvert while the first kernel starts) while the next
notebook runs; only 03's rendering (≈ 0.15 s) is left between the last cell and the return. The next
notebook's kernel is started once the current notebook's first cell has run (``audit.engine.WarmKernel``,
used only if started as papermill would start it then): 02's and 03's first cells start ≈ 0.3 s after
their notebook does, not 0.7–0.9 s.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import papermill as pm

from octorunbook.headless.runner import run_all
from octorunbook.params.core import Parameters
from octorunbook.targets.sandbox import Sandbox

AIM = 1.25
BASELINE = Path(__file__).with_name("bench_runbooks.baseline.json")


def floor(workdir: Path) -> float:
    empty = workdir / "empty.ipynb"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("pass")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, str(empty))
    started = time.perf_counter()
    for i in range(3):
        pm.execute_notebook(
            str(empty), str(workdir / f"empty-{i}.ipynb"), kernel_name="python3", progress_bar=False
        )
    return time.perf_counter() - started


def cell_seconds(record: Path) -> float:
    """The sum of the cells' durations papermill recorded in a stored record."""
    nb = json.loads(record.read_text(encoding="utf-8"))
    return sum(
        float(cell.get("metadata", {}).get("papermill", {}).get("duration") or 0.0) for cell in nb["cells"]
    )


class SaveClock:
    """Time spent in the saves papermill makes while a cell's clock runs (the save at each cell's start is
    inside that cell's recorded duration): our overhead, to be taken out of the "work" again."""

    def __init__(self) -> None:
        self.in_cells = 0.0
        try:
            from octorunbook.headless.saves import register_handler
        except ImportError:  # the code before this change: no per-notebook saves to time
            self.handler = None
            return
        self.handler = register_handler()
        inner = self.handler.write_notebook

        def timed(nb: Any, path: str) -> None:
            started = time.perf_counter()
            inner(nb, path)
            running = any(
                c.get("metadata", {}).get("papermill", {}).get("status") == "running" for c in nb["cells"]
            )
            self.in_cells += (time.perf_counter() - started) if running else 0.0

        self.handler.write_notebook = timed  # type: ignore[method-assign]


def ours(workdir: Path, round_no: int) -> dict[str, float]:
    """run_all's wall seconds, the cells' own seconds, and the in-cell save seconds, on a fresh sandbox."""
    sandbox = Sandbox(workdir / f"sandbox-{round_no}")
    sandbox.init()
    clock = SaveClock()
    try:
        params = Parameters(sandbox_dir=str(sandbox.root), audit_dir=str(workdir / f"audit-{round_no}"))
        started = time.perf_counter()
        results = run_all(params)
        elapsed = time.perf_counter() - started
        assert [r.status for r in results] == ["succeeded"] * 3, [r.status for r in results]
        for r in results:
            assert r.path is not None and r.path.with_suffix(".html").is_file(), r.path
        cells = sum(cell_seconds(r.path) for r in results if r.path is not None)
        return {"ours": elapsed, "cells": cells, "saves": clock.in_cells}
    finally:
        sandbox.stop()


def old_round(tree: Path, workdir: Path, round_no: int) -> dict[str, float]:
    """One round of the code at ``tree`` (an exported commit), in a child whose imports resolve there."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    child = subprocess.run(
        [sys.executable, __file__, "--one-round", str(workdir / f"old-{round_no}")],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        cwd=tree,
    )
    figures: dict[str, float] = json.loads(child.stdout.strip().splitlines()[-1])
    return figures


def export(rev: str, into: Path) -> Path:
    """The tree of ``rev`` (git archive), without touching the repository's worktrees."""
    tree = into / f"tree-{rev}"
    tree.mkdir()
    archive = subprocess.run(["git", "archive", rev], capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive, check=True)
    return tree


def commit(rev: str = "HEAD") -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", rev], capture_output=True, text=True, check=True)
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def line(values: list[float]) -> str:
    return f"median {statistics.median(values):6.2f} s  {[f'{x:.2f}' for x in values]}"


@contextlib.contextmanager
def busy_core(busy: bool) -> Iterator[None]:
    """One core kept busy by a background loop for the block (started and killed here), or nothing."""
    if not busy:
        yield
        return
    loop = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        yield
    finally:
        loop.kill()
        loop.wait()


def measure(
    rounds: int, tree: Path | None, work: Path, tag: str
) -> tuple[list[float], list[dict[str, float]], list[dict[str, float]]]:
    """``rounds`` interleaved rounds of the floor, ours (and the old tree's): a busy minute costs all alike."""
    floors: list[float] = []
    ours_rounds: list[dict[str, float]] = []
    olds: list[dict[str, float]] = []
    (work / tag).mkdir()
    floor(work / tag)  # warm-up: imports, kernel spec discovery
    for r in range(rounds):
        floors.append(floor(work / tag))
        ours_rounds.append(ours(work / tag, r))
        if tree is not None:
            olds.append(old_round(tree, work / tag, r))
    return floors, ours_rounds, olds


def load_average() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds per figure (at least 3)")
    parser.add_argument("--quiet-only", action="store_true", help="skip the figure with one busy core")
    parser.add_argument("--old", metavar="REV", help="also run the code at REV in every round (e.g. main)")
    parser.add_argument("--save-baseline", action="store_true", help=f"write the figures to {BASELINE.name}")
    parser.add_argument("--one-round", metavar="DIR", help=argparse.SUPPRESS)
    args = parser.parse_args()
    # As installed: kernels (and --old children) read bytecode caches rather than compile octorunbook's
    # modules on every import, which would count the compiler as the cells' work.
    os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
    if args.one_round:  # a child of --old: one round, figures as JSON
        Path(args.one_round).mkdir(parents=True)
        print(json.dumps(ours(Path(args.one_round), 0)))
        return
    verdicts: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        tree = export(args.old, work) if args.old else None
        conditions = [("quiet", False)] + ([] if args.quiet_only else [("one busy core", True)])
        for name, busy in conditions:
            with busy_core(busy):
                before = load_average()
                floors, rounds, olds = measure(max(args.rounds, 3), tree, work, name.replace(" ", "-"))
                after = load_average()
            strict = report(name, floors, rounds, olds, args, f"load average {before} → {after}")
            verdicts.append(
                f"{'✔' if strict <= AIM else '✖'} headless run ≤ {AIM}× (floor + cells), {name}: {strict:.2f}x"
            )
    print()
    print("\n".join(verdicts))


def report(
    name: str,
    floors: list[float],
    rounds: list[dict[str, float]],
    olds: list[dict[str, float]],
    args: argparse.Namespace,
    load: str,
) -> float:
    """Print one figure's lines; returns its ratio without our in-cell saves counted as work."""
    f = statistics.median(floors)
    o, c, s = (statistics.median(x[k] for x in rounds) for k in ("ours", "cells", "saves"))
    print(f"-- {name} ({len(rounds)} rounds; {load})")
    print(f"floor: 3 papermill runs of an empty notebook        {line(floors)}")
    print(f"cells: their own durations (papermill)               {line([x['cells'] for x in rounds])}")
    print(f"  of which our saves at a cell's start                {line([x['saves'] for x in rounds])}")
    print(f"ours:  01 → 02 → 03 on a fresh sandbox               {line([x['ours'] for x in rounds])}")
    if max(floors) > 1.5 * min(floors):  # a median of slow floors flatters ours: say so beside the figure
        print(
            f"⚠ the floor's rounds differ by more than half ({min(floors):.2f}–{max(floors):.2f} s): with the "
            f"fastest floor this is {o / (min(floors) + c):.2f}x; run the benchmark again"
        )
    ratio, strict = o / (f + c), o / (f + c - s)
    if olds:
        oo, oc = (statistics.median(x[k] for x in olds) for k in ("ours", "cells"))
        print(
            f"old:   the code at {commit(args.old):<10} same rounds       {line([x['ours'] for x in olds])}"
        )
        print(
            f"old:   ours {oo:.2f} s / (floor {f:.2f} + cells {oc:.2f}) = {oo / (f + oc):.2f}x   ({oo / f:.2f}x the bare floor)"
        )
    elif BASELINE.is_file() and name == "quiet":
        old = json.loads(BASELINE.read_text(encoding="utf-8"))
        print(
            f"old:   recorded at {old['commit']} ({old['when']}): ours {old['ours']:.2f} s / (floor {old['floor']:.2f}"
            f" + cells {old['cells']:.2f}) = {old['ratio']:.2f}x   ({old['ours'] / old['floor']:.2f}x the bare floor)"
        )
    print(
        f"new:   ours {o:.2f} s / (floor {f:.2f} + cells {c:.2f}) = {ratio:.2f}x   ({o / f:.2f}x the bare floor)"
    )
    print(
        f"       without our in-cell saves counted as work: {o:.2f} / ({f:.2f} + {c - s:.2f}) = {strict:.2f}x"
    )
    if args.save_baseline and name == "quiet":
        figures = {"commit": commit(), "when": time.strftime("%Y-%m-%d"), "floor": f, "cells": c, "ours": o}
        BASELINE.write_text(json.dumps({**figures, "ratio": ratio}, indent=1) + "\n", encoding="utf-8")
        print(f"saved as the baseline: {BASELINE}")
    return strict


if __name__ == "__main__":
    main()
