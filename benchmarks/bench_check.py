"""The monitoring plugin (issue 28): ``octorunbook check`` start to verdict, against a bare interpreter.

A fleet's monitoring runs ``octorunbook check`` every minute on every portal, so its whole life — start,
one TLS handshake with the live sandbox portal on loopback, the verdict line — is measured against
``python -c pass`` of the same venv. Paired runs, farm-bench style: each pair runs the bare interpreter and
the check back to back (the order alternating), so both meet the same background load; the figure is the
median of the per-pair ratios, with each side's median beside it. Aim: ≤ 3× a bare interpreter.

The check is the ``--url`` form a monitoring system runs against the portal's address; the parameter-file
form (which also reads the HTTP.sys binding on the target, through the sandbox's drivers and
cryptography) is printed beside it, for information. Each check's output is compared with the first one
(same verdict, same perfdata) — a fast wrong answer is no answer.

Where the time went (``python -X importtime``), before: 137 ms against 23 ms bare — cryptography.x509
(~45 ms: the served leaf's names and dates), ``octorunbook.emit`` via the CLI entry (xml.sax pulls
urllib.request and http.client, ~40 ms), the parameter core via the host-name rule (cryptography again),
the target protocols and http.client via the evidence helpers. Now the served leaf is read by a strict
DER reader for the plain profile (octorunbook/evidence/leaf_der.py; cryptography after the handshake for
anything else), and the rest is imported where it is used.

Run: ``.venv/bin/python benchmarks/bench_check.py [--pairs N]`` (20 by default).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parent.parent
AIM = 3.0


# As installed: with bytecode caches (pip compiles them when it installs the wheel). Without them every run
# would compile octorunbook's modules again, which measures the compiler: PYTHONDONTWRITEBYTECODE is
# dropped for the runs measured, so the warm-up pair writes them.
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def once(argv: list[str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, check=False, env=ENV)
    return time.perf_counter() - start, done


def paired(bare: list[str], check: list[str], pairs: int) -> tuple[float, float, float, str]:
    """(median bare s, median check s, median per-pair ratio, the check's line); every run answers the same."""
    bares: list[float] = []
    checks: list[float] = []
    expected: tuple[int, str] | None = None
    for i in range(pairs + 1):
        first, second = (bare, check) if i % 2 == 0 else (check, bare)
        results = {id(first): once(first), id(second): once(second)}
        bare_s, _ = results[id(bare)]
        check_s, done = results[id(check)]
        answer = (done.returncode, done.stdout)
        expected = expected or answer
        if answer != expected:
            raise SystemExit(f"the check answered differently: {answer!r} after {expected!r}")
        if i == 0:
            continue  # the warm-up pair: page cache, .pyc files
        bares.append(bare_s)
        checks.append(check_s)
    ratios = [c / b for b, c in zip(bares, checks, strict=True)]
    assert expected is not None
    return statistics.median(bares), statistics.median(checks), statistics.median(ratios), expected[1].strip()


def portal(folder: Path) -> tuple[int, Path]:
    """A sandbox portal serving a 90-day certificate for localhost on loopback: (its port, a parameter file)."""
    sys.path.insert(0, str(ROOT))  # the repository root: tests is a package
    import yaml

    from octorunbook.targets.sandbox import Sandbox
    from tests.evidence.test_check import bind, lived

    sandbox = Sandbox(folder / "sandbox")
    sandbox.init()
    bind(sandbox, folder, lived(90, left=dt.timedelta(days=84, hours=12)))
    params = folder / "params.yaml"
    params.write_text(yaml.safe_dump({"sandbox_dir": str(sandbox.root), "hostname": "localhost"}))
    return int(sandbox.meta()["port_map"]["443"]), params


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--pairs", type=int, default=20, help="paired runs per figure (at least 20)")
    pairs = max(parser.parse_args().pairs, 20)
    cli = str(BIN / "octorunbook")
    bare = [sys.executable, "-c", "pass"]
    with tempfile.TemporaryDirectory(prefix="octorunbook-bench-check-") as tmp:
        from octorunbook.targets.sandbox import Sandbox

        port, params = portal(Path(tmp))
        try:
            url = [cli, "check", "--url", f"https://127.0.0.1:{port}", "--hostname", "localhost"]
            floor, ours, ratio, line = paired(bare, url, pairs)
            _, ours_params, ratio_params, line_params = paired(bare, [cli, "check", str(params)], pairs)
        finally:
            Sandbox(Path(tmp) / "sandbox").stop_all()
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"octorunbook check, {pairs} paired runs against python -c pass (load average {load})")
    print(f"  python -c pass                          {floor * 1000:6.1f} ms (median)")
    print(f"  octorunbook check --url …               {ours * 1000:6.1f} ms (median)   {ratio:4.2f}×  {line}")
    print(
        f"  octorunbook check params.yaml           {ours_params * 1000:6.1f} ms (median)   {ratio_params:4.2f}×"
        f"  (for information: it also reads the binding on the target)  {line_params}"
    )
    mark = "✔" if ratio <= AIM else "✖"
    print(f"{mark} octorunbook check ≤ {AIM:g}× python -c pass (median of paired ratios): {ratio:.2f}×")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
