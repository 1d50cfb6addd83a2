"""Three-runbook headless run vs its floor: three papermill runs of an empty notebook, in the same run.

    .venv/bin/python benchmarks/bench_runbooks.py [--rounds N]

Each round creates a fresh sandbox, runs 01 → 02 → 03 through `octorunbook.runner.run_all` (papermill,
redacting writes, audit records with HTML), and separately runs an empty notebook through papermill
three times with the same kernel. Prints the median of each and the ratio (aim: ≤ 1.25×).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import nbformat
import papermill as pm

from octorunbook.params import Parameters
from octorunbook.runner import run_all
from octorunbook.targets.sandbox import Sandbox


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


def ours(workdir: Path, round_no: int) -> float:
    sandbox = Sandbox(workdir / f"sandbox-{round_no}")
    sandbox.init()
    try:
        params = Parameters(sandbox_dir=str(sandbox.root), audit_dir=str(workdir / f"audit-{round_no}"))
        started = time.perf_counter()
        results = run_all(params)
        elapsed = time.perf_counter() - started
        assert [r.status for r in results] == ["succeeded"] * 3, [r.status for r in results]
        return elapsed
    finally:
        sandbox.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    floors, runs = [], []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        floor(work)  # warm-up: imports, kernel spec discovery
        for r in range(args.rounds):
            floors.append(floor(work))
            runs.append(ours(work, r))
    f, o = statistics.median(floors), statistics.median(runs)
    print(f"floor: 3 papermill runs of an empty notebook   median {f:6.2f} s  {[f'{x:.2f}' for x in floors]}")
    print(f"ours:  01 → 02 → 03 on a fresh sandbox          median {o:6.2f} s  {[f'{x:.2f}' for x in runs]}")
    print(f"ratio: {o / f:.2f}x (aim ≤ 1.25x)")


if __name__ == "__main__":
    main()
