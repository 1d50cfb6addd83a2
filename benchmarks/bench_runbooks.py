"""Three-runbook headless run vs its floor, measured in the same run (issue 17 §2).

    .venv/bin/python benchmarks/bench_runbooks.py [--rounds N] [--save-baseline]

Each round creates a fresh sandbox and runs 01 → 02 → 03 through ``octorunbook.runner.run_all``
(papermill, redacting writes, audit records with HTML, chained manifest), and separately runs an empty
notebook through papermill three times with the same kernel. The floor is those three empty runs plus the
cells' own durations as papermill records them in the three records (the work the operator asked for).
Aim: ours ≤ 1.25 × floor (medians).

``--save-baseline`` writes this run's figures to ``bench_runbooks.baseline.json`` (with the commit they
were measured at); later runs print that "old" line next to the new one, so a change can be judged
against the code before it. The old figures are a file measured by this script, not constants.

Where the time went (cProfile of the parent, py-spy-free; before this change, one run, 01 → 02 → 03):
  the parent spent ≈ 6.9 s of its own time besides waiting on the kernel —
  * ``nbconvert.HTMLExporter`` built anew for every record: ≈ 1.0 s per record (jinja2 environment and
    template loading, pygments, the mistune renderer, entry-point discovery of preprocessors) — 3.0 s;
  * ``nbformat.reads`` / ``writes`` with JSON-schema validation on every papermill save (papermill saves at
    start, at every cell's start and end: ≈ 60 saves over the three notebooks), plus the
    ``redact_notebook`` deep copy and ``nbformat.from_dict`` each time — ≈ 2.5 s;
  * papermill validating and re-reading the input notebook, and the final ``nbformat.read`` of the output —
    ≈ 0.3 s.
  The kernels' own start-up (ipykernel, then ``import octorunbook`` in the first cell) is the same work the
  empty runs pay for, apart from octorunbook's imports.
After: HTML rendered by one cached exporter in a background thread while the next notebook runs (joined,
and chained, before the procedure returns); intermediate saves parse with ``json.loads`` and write with
``json.dumps`` (validated once, when the record is stored). See the README's Performance section.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import nbformat
import papermill as pm

from octorunbook.params import Parameters
from octorunbook.runner import run_all
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


def ours(workdir: Path, round_no: int) -> tuple[float, float]:
    """(wall seconds of run_all, the cells' own seconds) for one fresh sandbox."""
    sandbox = Sandbox(workdir / f"sandbox-{round_no}")
    sandbox.init()
    try:
        params = Parameters(sandbox_dir=str(sandbox.root), audit_dir=str(workdir / f"audit-{round_no}"))
        started = time.perf_counter()
        results = run_all(params)
        elapsed = time.perf_counter() - started
        assert [r.status for r in results] == ["succeeded"] * 3, [r.status for r in results]
        for r in results:
            assert r.path is not None and r.path.with_suffix(".html").is_file(), r.path
        return elapsed, sum(cell_seconds(r.path) for r in results if r.path is not None)
    finally:
        sandbox.stop()


def commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        )
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--save-baseline", action="store_true", help=f"write this run's figures to {BASELINE.name}"
    )
    args = parser.parse_args()
    floors, runs, cells = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        floor(work)  # warm-up: imports, kernel spec discovery
        for r in range(args.rounds):
            floors.append(floor(work))
            elapsed, cell_time = ours(work, r)
            runs.append(elapsed)
            cells.append(cell_time)
    f, c, o = statistics.median(floors), statistics.median(cells), statistics.median(runs)
    ratio = o / (f + c)
    print(f"floor: 3 papermill runs of an empty notebook   median {f:6.2f} s  {[f'{x:.2f}' for x in floors]}")
    print(f"cells: their own durations (papermill)          median {c:6.2f} s  {[f'{x:.2f}' for x in cells]}")
    print(f"ours:  01 → 02 → 03 on a fresh sandbox          median {o:6.2f} s  {[f'{x:.2f}' for x in runs]}")
    if BASELINE.is_file():
        old = json.loads(BASELINE.read_text(encoding="utf-8"))
        print(
            f"old:   at {old['commit']} ({old['when']}): ours {old['ours']:.2f} s over floor {old['floor']:.2f} s"
            f" + cells {old['cells']:.2f} s = {old['ratio']:.2f}x  ({old['ours'] / old['floor']:.2f}x the bare floor)"
        )
    print(
        f"new:   ours {o:.2f} s over floor {f:.2f} s + cells {c:.2f} s = {ratio:.2f}x  ({o / f:.2f}x the bare floor)"
    )
    print(f"{'✔' if ratio <= AIM else '✖'} headless run ≤ {AIM}× (floor + cells): {ratio:.2f}x")
    if args.save_baseline:
        figures = {"commit": commit(), "when": time.strftime("%Y-%m-%d"), "floor": f, "cells": c, "ours": o}
        BASELINE.write_text(json.dumps({**figures, "ratio": ratio}, indent=1) + "\n", encoding="utf-8")
        print(f"saved as the baseline: {BASELINE}")


if __name__ == "__main__":
    main()
