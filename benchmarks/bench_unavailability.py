"""Portal unavailability measured by a probing client, not claimed: 03 (first binding: one restart)
against 04 (renewal: no restart), and one bare ``service --stop``/``--start`` of the same sandbox.

    .venv/bin/python benchmarks/bench_unavailability.py

A client opens a fresh connection every 20 ms and sends ``GET /api`` (HTTP for 03 and the bare restart,
since HTTPS does not exist before 03; HTTPS for 04) and counts failed / sent. Aims (issue 17 §3):
03's window ≤ 1.1 × the bare restart's, 04's is 0 failed requests.
"""

from __future__ import annotations

import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from octorunbook.evidence.tls import http_get
from octorunbook.headless.inline import run_inline
from octorunbook.params.core import Parameters
from octorunbook.targets.sandbox import Sandbox

INTERVAL = 0.02


class Probe:
    def __init__(self, scheme: str, port: int) -> None:
        self.scheme, self.port = scheme, port
        self.sent = self.failed = 0
        self.first_failure = self.last_failure = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.sent += 1
            try:
                ok = http_get(self.scheme, "127.0.0.1", self.port, "localhost", timeout=2).status < 500
            except Exception:
                ok = False
            if not ok:
                now = time.perf_counter()
                self.failed += 1
                self.first_failure = self.first_failure or now
                self.last_failure = now
            time.sleep(INTERVAL)

    @property
    def window(self) -> float:
        return self.last_failure - self.first_failure + INTERVAL if self.failed else 0.0

    def __enter__(self) -> Probe:
        self._thread.start()
        time.sleep(0.2)
        return self

    def __exit__(self, *_: Any) -> None:
        time.sleep(0.2)
        self._stop.set()
        self._thread.join(5)


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="bench-unavail-"))
    sandbox = Sandbox(root / "sandbox")
    sandbox.init()
    try:
        params = Parameters(sandbox_dir=str(sandbox.root), audit_dir=str(root / "audit"))
        http_port = sandbox.status()["port_map"][80]
        exe = sandbox.status()["server_exe"]
        with Probe("http", http_port) as bare:
            for action in ("--stop", "--start"):
                subprocess.run(
                    [exe, "service", "--console", "--instance", "OctopusServer", action],
                    check=True,
                    capture_output=True,
                )
        assert run_inline("01-import-certificate", params)["status"] == "succeeded"
        with Probe("http", http_port) as first:
            assert run_inline("03-add-https-binding", params)["status"] == "succeeded"
        https_port = sandbox.status()["port_map"][443]
        with Probe("https", https_port) as renewal:
            record = run_inline(
                "04-renew-certificate", Parameters(**{**params.to_record(), "force_renew": True})
            )
            assert record["status"] == "succeeded", record["findings"]
    finally:
        sandbox.stop()
    print("Portal unavailability, one run (a fresh connection every 20 ms):")
    for label, probe in (
        ("bare service stop/start", bare),
        ("03 first binding (restart)", first),
        ("04 renewal (no restart)", renewal),
    ):
        print(f"  {label:28} {probe.failed:4d} failed / {probe.sent:4d} sent   window {probe.window:6.2f} s")
    ratio = first.window / bare.window if bare.window else float("inf")
    print(f"  aim 03 window ≤ 1.1 × bare restart: {ratio:.2f}× {'✔' if ratio <= 1.1 else '✖'}")
    print(f"  aim 04 failed requests = 0: {renewal.failed} {'✔' if renewal.failed == 0 else '✖'}")


if __name__ == "__main__":
    main()
