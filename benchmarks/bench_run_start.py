"""``octorunbook run`` start: how long until a refused parameter file is answered (exit 2), and what
importing the headless runner costs.

``octorunbook run`` checks the parameters, the PFX password's variable and the audit folder before
papermill writes anything or a kernel starts; that answer should not wait for the notebook libraries.
nbformat's import builds jsonschema's format checkers, among them rfc3987_syntax's grammar (about
1.5 s on this machine). Each figure is the best of N runs (the machine is shared; the minimum is the
least disturbed run), the median beside it, and ``python -c pass`` of the same venv as the yardstick.

Run: ``.venv/bin/python benchmarks/bench_run_start.py [--runs N]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent


def timed(argv: list[str], runs: int, expect: int) -> tuple[float, float]:
    """(best, median) wall seconds of ``argv`` over ``runs`` runs; it must exit ``expect``."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        times.append(time.perf_counter() - start)
        assert done.returncode == expect, (argv, done.returncode, done.stderr[-500:])
    return min(times), statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory() as folder:
        bad = Path(folder) / "params.yaml"
        bad.write_text(f"sandbox_dir: {folder}/sandbox\nhttps_port: 70000\n")  # HTTPS_PORT out of range
        cases = [
            ("python -c pass", [sys.executable, "-c", "pass"], 0),
            (
                "import octorunbook.headless.runner",
                [sys.executable, "-c", "import octorunbook.headless.runner"],
                0,
            ),
            ("octorunbook run (refused: exit 2)", [str(BIN / "octorunbook"), "run", str(bad)], 2),
        ]
        print(f"best of {runs} (median), pid {os.getpid()}")
        for name, argv, expect in cases:
            best, median = timed(argv, runs, expect)
            print(f"  {name:36} {best:6.3f} s  ({median:.3f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
