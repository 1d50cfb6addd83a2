"""How much does judging cost compared with cryptography's bare PKCS#12 load? (aim: at most 3x)

Both sides load the same PFX in the same process. With a password, OpenSSL's key derivation is most
of the floor and is paid equally by both; the password-less rows have no key derivation at all, so
their floor is pure parsing and their ratio is the honest worst case for what octorunbook adds: the
key/certificate match, inspect() and every judge() rule.
Run: ``.venv/bin/python benchmarks/bench_judge.py [ITERATIONS]``.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from cryptography.hazmat.primitives.serialization import NoEncryption, pkcs12

from octorunbook.certificates import (
    KeyType,
    LoadedCertificate,
    export_pfx,
    generate_self_signed,
    judge,
    load_pfx,
)
from octorunbook.redaction import Secret

HOST = "octopus.example.com"
PASSWORD = Secret("bench-Pa55word")
CASES: list[tuple[KeyType, str]] = [
    ("rsa2048", "compatible"),
    ("rsa2048", "aes"),
    ("ecdsa-p256", "aes"),
    ("rsa2048", "none"),
    ("ecdsa-p256", "none"),
]


def per_call(fn: Callable[[], object], iterations: int) -> float:
    fn()  # warm up
    start = time.perf_counter()
    for _ in range(iterations):
        fn()
    return (time.perf_counter() - start) / iterations


def measure(key_type: KeyType, encryption: str, iterations: int) -> tuple[float, float, float]:
    """Seconds per call: bare load (floor), load_pfx + judge (ours), judge alone."""
    loaded = generate_self_signed(HOST, ["octopus"], key_type=key_type)
    secret = None if encryption == "none" else PASSWORD
    raw = None if secret is None else secret.reveal().encode()
    if secret is None:
        key = loaded.private_key
        assert isinstance(key, pkcs12.PKCS12PrivateKeyTypes)
        data = pkcs12.serialize_key_and_certificates(b"bench", key, loaded.certificate, None, NoEncryption())
    else:
        data = export_pfx(loaded, secret, "aes" if encryption == "aes" else "compatible")

    def uncached() -> LoadedCertificate:  # judge() after a load pays for inspect(); so must this
        return LoadedCertificate(loaded.certificate, loaded.private_key, loaded.chain, loaded.source)

    floor = per_call(lambda: pkcs12.load_key_and_certificates(data, raw), iterations)
    ours = per_call(lambda: judge(load_pfx(data, secret), HOST), iterations)
    judge_only = per_call(lambda: judge(uncached(), HOST), iterations)
    return floor, ours, judge_only


def main(iterations: int = 300) -> float:
    print(f"{'PFX (key, encryption)':<26} {'floor ms':>9} {'ours ms':>9} {'judge ms':>9} {'ratio':>7}")
    worst = 0.0
    for key_type, encryption in CASES:
        floor, ours, judge_only = measure(key_type, encryption, iterations)
        worst = max(worst, ours / floor)
        label = f"{key_type}, {encryption}"
        print(
            f"{label:<26} {floor * 1e3:>9.3f} {ours * 1e3:>9.3f} {judge_only * 1e3:>9.3f} {ours / floor:>6.2f}x"
        )
    print(
        f"{'✔' if worst <= 3 else '✖'} judging ≤ 3× the bare PKCS#12 load: worst {worst:.2f}x, {iterations} iterations each"
    )
    return worst


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 300)
