"""CLI start (issue 17, aim 1): how long a script or scheduler waits for ``octorunbook`` to answer.

Aims, as ratios to a bare ``python -c pass`` of the same venv: ``octorunbook --help`` and ``audit list``
(3 records) ≤ 4×; ``certificate check`` ≤ 6× (``octorunbook check``: ``bench_check.py``, ≤ 3×). Each figure is
the best of N runs (the machine is shared; the minimum is the least disturbed run), medians beside it.

Where the time went (``python -X importtime``, before): every start imported nbformat (its jsonschema
format checkers and rfc3987_syntax's grammar: 1.8 s), cryptography through the certificate commands
(90 ms) and the sandbox package (40 ms) just to build the parser. Now the parser builds only the command
being run, and nbformat / nbconvert / cryptography are imported inside the functions that use them;
``tests/cli/test_main.py`` keeps it that way. ``certificate check`` of a PFX pays for the PKCS#12 key
derivation itself (~70 ms in ``pkcs12.load_key_and_certificates``), so the aim is measured on a PEM
certificate and the PFX figure is printed beside it.

Run: ``.venv/bin/python benchmarks/bench_cli_start.py [--runs N]``.
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


def timed(argv: list[str], runs: int, env: dict[str, str]) -> tuple[float, float]:
    """(best, median) wall seconds of ``argv`` over ``runs`` runs; it must exit 0."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        times.append(time.perf_counter() - start)
        assert done.returncode == 0, (argv, done.stderr[-500:])
    return min(times), statistics.median(times)


def fixtures(folder: Path, env: dict[str, str]) -> tuple[Path, Path, Path, Path]:
    """An audit folder of 3 records, a PFX, and the same certificate and key as PEM files."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository root: tests is a package
    from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat, pkcs12

    from tests.audit.test_audit import store_several

    audit = folder / "audit"
    store_several(audit, 3, html=False)
    pfx = folder / "portal.pfx"
    new = [str(BIN / "octorunbook"), "certificate", "new", "--hostname", "octopus.example.com"]
    subprocess.run(
        [*new, "--out", str(pfx), "--password-env", "OCTORUNBOOK_PFX_PASSWORD"],
        check=True,
        stdout=subprocess.DEVNULL,
        env=env,
    )
    key, cert, _ = pkcs12.load_key_and_certificates(
        pfx.read_bytes(), env["OCTORUNBOOK_PFX_PASSWORD"].encode()
    )
    assert key is not None and cert is not None
    pem, key_pem = folder / "portal.pem", folder / "portal.key"
    pem.write_bytes(cert.public_bytes(Encoding.PEM))
    key_pem.write_bytes(key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()))
    key_pem.chmod(0o600)
    return audit, pfx, pem, key_pem


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=9, help="runs per command (9)")
    args = parser.parse_args()
    env = {**os.environ, "OCTORUNBOOK_PFX_PASSWORD": "bench-" + os.urandom(6).hex()}
    cli = str(BIN / "octorunbook")
    with tempfile.TemporaryDirectory(prefix="octorunbook-bench-") as tmp:
        audit, pfx, pem, key = fixtures(Path(tmp), env)
        check = [cli, "certificate", "check", "--hostname", "octopus.example.com"]
        cases = [
            ("python -c pass", [sys.executable, "-c", "pass"], None),
            ("octorunbook --help", [cli, "--help"], 4.0),
            ("octorunbook audit list (3 records)", [cli, "audit", "list", str(audit)], 4.0),
            ("octorunbook certificate check (PEM)", [*check, str(pem), "--key", str(key)], 6.0),
            ("octorunbook certificate check (PFX)", [*check, str(pfx)], None),
        ]
        figures = [(label, *timed(argv, args.runs, env), aim) for label, argv, aim in cases]
    floor = figures[0][1]
    print(
        f"CLI start (best of {args.runs}; median in brackets), against python -c pass = {floor * 1000:.0f} ms"
    )
    for label, best, median, aim in figures[1:]:
        ratio = best / floor
        verdict = ("✔" if ratio <= aim else "✖") + f" ≤ {aim:g}×" if aim else "  (for information)"
        print(f"  {label:38} {best * 1000:6.0f} ms [{median * 1000:5.0f}]  {ratio:4.1f}×  {verdict}")
    print("  octorunbook check: see benchmarks/bench_check.py (paired runs against a live portal; aim ≤ 3×)")


if __name__ == "__main__":
    main()
