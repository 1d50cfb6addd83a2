"""How much does ``audit list`` cost over 1,000 records, compared with merely reading their files?

``list_records`` reads manifest.jsonl only (one short JSON line per record). The baseline is the least any
notebook-scanning listing could do: read the bytes of every .ipynb, without even parsing them. For scale it
also times what a naive listing would do (parse every notebook and pull out its result record) and a full
``verify_chain`` (which must hash every file).

Run: ``.venv/bin/python benchmarks/bench_audit_list.py [--records N] [--repeat R]``. Times are the best of
R warm runs (files in the page cache), which favours the baseline: on a cold cache reading N files costs
N seeks while the manifest is one file.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from octorunbook.auditlog import RESULT_MIME, list_records, read_result, store_record, verify_chain


def small_notebook(i: int) -> Any:
    started = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(minutes=i)
    result = {
        "runbook": ("01-import-certificate", "02-verify-certificate", "03-add-https-binding")[i % 3],
        "status": "succeeded" if i % 7 else "failed",
        "target": "sandbox",
        "host": f"octo{i % 13:02d}.example.com",
        "operator": f"operator{i % 5}",
        "started_at": f"{started:%Y-%m-%dT%H:%M:%SZ}",
        "finished_at": f"{started + timedelta(seconds=42):%Y-%m-%dT%H:%M:%SZ}",
        "parameters": {"listen_prefix": "https://octopus.example.com:443/"},
        "certificate": {"thumbprint": f"{i:040X}", "subject": "CN=octopus.example.com", "store": "My"},
        "changes": [],
        "findings": [],
        "commands": [{"argv": ["netsh", "http", "show", "sslcert"], "exit_code": 0, "seconds": 0.1}],
    }
    nb = new_notebook()
    nb.cells = [
        new_markdown_cell("# Runbook"),
        new_code_cell('# Parameters\nhost = "x"\n', metadata={"tags": ["injected-parameters"]}),
        new_code_cell("show()", outputs=[new_output("display_data", data={RESULT_MIME: result})]),
    ]
    return nb


def best_of(repeat: int, action: Callable[[], object]) -> float:
    timings = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        timings.append(time.perf_counter() - start)
    return min(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--records", type=int, default=1000, help="how many records to create (1000)")
    parser.add_argument("--repeat", type=int, default=5, help="timed runs per measurement, best kept (5)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="octorunbook-bench-") as tmp:
        audit_dir = Path(tmp)
        start = time.perf_counter()
        for i in range(args.records):
            store_record(audit_dir, small_notebook(i), html=False)
        created = time.perf_counter() - start
        records = sorted(audit_dir.glob("*.ipynb"))
        assert len(records) == args.records and len(list_records(audit_dir)) == args.records

        listing = best_of(args.repeat, lambda: list_records(audit_dir))
        reading = best_of(args.repeat, lambda: [p.read_bytes() for p in records])
        parsing = best_of(args.repeat, lambda: [read_result(p) for p in records])
        verifying = best_of(args.repeat, lambda: verify_chain(audit_dir))

    n = args.records
    print(
        f"records: {n} (created with store_record, no HTML, in {created:.2f} s = {created / n * 1000:.2f} ms each)"
    )
    print(f"list_records (manifest only):       {listing * 1000:8.2f} ms")
    print(f"read bytes of all .ipynb (baseline): {reading * 1000:8.2f} ms")
    print(f"ratio list_records / read bytes:     {listing / reading:8.2f}")
    print(
        f"for scale, parse every notebook:     {parsing * 1000:8.2f} ms ({parsing / reading:.2f}x baseline)"
    )
    print(
        f"for scale, verify_chain (hash all):  {verifying * 1000:8.2f} ms ({verifying / reading:.2f}x baseline)"
    )


if __name__ == "__main__":
    main()
