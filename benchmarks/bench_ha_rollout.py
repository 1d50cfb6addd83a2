"""Wall time of an HA rollout with the real ``ansible-playbook``: 1, 3 and 6 sandbox nodes, serial 1 and 3.

    .venv/bin/python benchmarks/bench_ha_rollout.py [--sizes 1,3,6] [--serials 1,3]

Each configuration is a fresh cluster (sandboxes behind the rehearsal balancer, see tests/ansiblekit.py) and
one first rollout (01 → 02 → 03 on every node, each drained through the node API while it changes) of the
example playbook. ``serial: 1`` grows linearly with the nodes (one node out of the pool at a time);
``serial: 3`` changes up to three at once — only for a balancer and a cluster that can lose three nodes at
once — and is bounded here by the machine's cores, since the sandbox nodes share one machine.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

# tests/ last: its folders mirror the package (tests/acme) and must not shadow the libraries of the same name
sys.path.append(str(Path(__file__).resolve().parent.parent / "tests"))

from ansiblekit import ANSIBLE_PLAYBOOK, Cluster  # noqa: E402


def rollout_seconds(size: int, serial: int) -> tuple[float, int]:
    with tempfile.TemporaryDirectory(prefix="bench-ha-") as base:
        cluster = Cluster(Path(base), size)
        try:
            cluster.start()
            pfx, _ = cluster.make_pfx("portal.pfx", validity_days=300)
            started = time.perf_counter()
            run = cluster.playbook("-e", f"portal_https_serial={serial}", pfx=pfx, timeout=3600)
            seconds = time.perf_counter() - started
        finally:
            cluster.stop()
    if run.returncode != 0:
        print(run.stdout[-3000:], run.stderr[-2000:])
    return seconds, run.returncode


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="1,3,6")
    parser.add_argument("--serials", default="1,3")
    args = parser.parse_args()
    if not ANSIBLE_PLAYBOOK.exists():
        print("ansible-playbook is not installed (pip install -e '.[test]')")
        return 1
    sizes = [int(s) for s in args.sizes.split(",")]
    serials = [int(s) for s in args.serials.split(",")]
    print("HA rollout (first rollout, ansible-playbook, sandbox nodes on one machine)")
    print(f"  {'nodes':>5}  {'serial':>6}  {'wall time':>9}  {'per node':>8}  exit")
    failed = False
    base: dict[int, float] = {}
    for serial in serials:
        for size in sizes:
            seconds, code = rollout_seconds(size, serial)
            failed |= code != 0
            base.setdefault(serial, seconds / size)
            growth = (seconds / size) / base[serial]
            print(
                f"  {size:>5}  {serial:>6}  {seconds:>8.1f}s  {seconds / size:>7.1f}s  {code}"
                f"   (per-node time ×{growth:.2f} of {sizes[0]} node(s))",
                flush=True,
            )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
