"""The monitoring plugin (issue 28): ``octorunbook check`` start to verdict, against a bare interpreter.

A fleet's monitoring runs ``octorunbook check`` every minute on every portal, so its whole life — start,
one TLS handshake with the live sandbox portal on loopback, the verdict line — is measured against
``python -c pass`` of the same venv. Paired runs, farm-bench style: each round runs the bare interpreter
and the checks back to back (the order rotating), so all meet the same background load; a figure is the
median of the per-round ratios to the bare run, with each side's median beside it. Aim: ≤ 3× a bare
interpreter.

The check is the ``--url`` form a monitoring system runs against the portal's address, measured twice: with
the sandbox's own certificate (trustme's, the plain profile) and with a **public-CA-shaped** one — what a
portal with a Let's Encrypt certificate serves: authorityInfoAccess, CRL distribution points, certificate
policies, the embedded SCT list (tests/evidence/test_leaf_der.py builds it) — each with its own aim line; the
parameter-file form (which also reads the HTTP.sys binding on the target, through the sandbox's drivers and
cryptography) is printed beside it, for information. Each check's output is compared with the first one
(same verdict, same perfdata) — a fast wrong answer is no answer.

Where the time went (``python -X importtime``), before: 137 ms against 23 ms bare — cryptography.x509
(~45 ms: the served leaf's names and dates), ``octorunbook.emit`` via the CLI entry (xml.sax pulls
urllib.request and http.client, ~40 ms), the parameter core via the host-name rule (cryptography again),
the target protocols and http.client via the evidence helpers. Now the served leaf is read by a strict
DER reader for the common profile, plain and public-CA-shaped (octorunbook/evidence/leaf_der.py;
cryptography after the handshake for anything else), and the rest is imported where it is used.

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
from types import SimpleNamespace

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


def paired(
    bare: list[str], checks: list[list[str]], pairs: int
) -> tuple[float, list[tuple[float, float, str]]]:
    """(median bare s, per check: (median s, median per-round ratio, its line)); every run of a check answers
    the same. Each round runs the bare interpreter and every check back to back, the order rotating, so the
    checks measured side by side meet the same background load."""
    commands = [bare, *checks]
    times: list[list[float]] = [[] for _ in commands]
    expected: list[tuple[int, str] | None] = [None for _ in commands]
    for i in range(pairs + 1):
        order = list(range(len(commands)))
        order = order[i % len(order) :] + order[: i % len(order)]
        for k in order:
            seconds, done = once(commands[k])
            answer = (done.returncode, done.stdout)
            expected[k] = expected[k] or answer
            if k and answer != expected[k]:
                raise SystemExit(f"the check answered differently: {answer!r} after {expected[k]!r}")
            if i:  # round 0 warms up: page cache, .pyc files
                times[k].append(seconds)
    found = []
    for k in range(1, len(commands)):
        answer = expected[k]
        assert answer is not None
        ratios = [c / b for b, c in zip(times[0], times[k], strict=True)]
        found.append((statistics.median(times[k]), statistics.median(ratios), answer[1].strip()))
    return statistics.median(times[0]), found


class _Issued:
    """A certificate and its key in the shape ``bind`` takes (trustme's LeafCert)."""

    def __init__(self, certificate: bytes, key: bytes) -> None:
        self.cert_chain_pems = [SimpleNamespace(bytes=lambda: certificate)]
        self.private_key_pem = SimpleNamespace(bytes=lambda: key)


def public_ca_shaped() -> _Issued:
    """A Let's Encrypt-shaped 90-day leaf for localhost (RSA 2048), with 84½ days left, as PEM."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from tests.evidence.test_leaf_der import NOW, public_ca_leaf

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    end = NOW + dt.timedelta(days=84, hours=12)
    der = public_ca_leaf(["localhost"], key=key, not_before=end - dt.timedelta(days=90), not_after=end)
    pem = x509.load_der_x509_certificate(der).public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return _Issued(pem, key_pem)


def portal(folder: Path, *, public_ca: bool = False) -> tuple[int, Path]:
    """A sandbox portal serving a 90-day certificate for localhost on loopback (trustme's, or public-CA-shaped):
    (its port, a parameter file)."""
    sys.path.insert(0, str(ROOT))  # the repository root: tests is a package
    sys.path.insert(1, str(ROOT / "tests"))  # its helpers (portkit), importable as pytest makes them
    import yaml

    from octorunbook.targets.sandbox import Sandbox
    from tests.evidence.test_check import bind, lived

    folder.mkdir(exist_ok=True)
    sandbox = Sandbox(folder / "sandbox")
    sandbox.init()
    bind(
        sandbox, folder, public_ca_shaped() if public_ca else lived(90, left=dt.timedelta(days=84, hours=12))
    )
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

        plain, public = Path(tmp) / "plain", Path(tmp) / "public-ca"
        try:
            port, params = portal(plain)
            public_port, _ = portal(public, public_ca=True)
            url = [cli, "check", "--url", f"https://127.0.0.1:{port}", "--hostname", "localhost"]
            public_url = [*url[:3], f"https://127.0.0.1:{public_port}", *url[4:]]
            floor, measured = paired(bare, [url, public_url], pairs)
            (ours, ratio, line), (ours_public, ratio_public, line_public) = measured
            _, [(ours_params, ratio_params, line_params)] = paired(bare, [[cli, "check", str(params)]], pairs)
        finally:
            for folder in (plain, public):
                if (folder / "sandbox").exists():
                    Sandbox(folder / "sandbox").stop_all()
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"octorunbook check, {pairs} paired runs against python -c pass (load average {load})")
    print(f"  python -c pass                          {floor * 1000:6.1f} ms (median)")
    print(f"  octorunbook check --url …               {ours * 1000:6.1f} ms (median)   {ratio:4.2f}×  {line}")
    print(
        f"  … public-CA-shaped certificate          {ours_public * 1000:6.1f} ms (median)   {ratio_public:4.2f}×"
        f"  {line_public}"
    )
    print(
        f"  octorunbook check params.yaml           {ours_params * 1000:6.1f} ms (median)   {ratio_params:4.2f}×"
        f"  (for information: it also reads the binding on the target)  {line_params}"
    )
    for what, figure in (("", ratio), (", public-CA-shaped certificate", ratio_public)):
        mark = "✔" if figure <= AIM else "✖"
        print(
            f"{mark} octorunbook check{what} ≤ {AIM:g}× python -c pass (median of paired ratios): {figure:.2f}×"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
