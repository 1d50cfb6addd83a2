"""``octorunbook check`` starts slim: a monitoring system runs it every minute on every portal (issue 28).

The ``--url`` check of a certificate in the reader's profile — trustme's, and one shaped as a public CA
issues it (AIA, CRL DP, policies, embedded SCTs) — imports neither cryptography nor the target
drivers, http.client, argparse or the notebook stack; its answer is the one cryptography's reading gives,
and plain arguments are read exactly as argparse reads them. No timing is asserted here:
``benchmarks/bench_check.py`` measures the time.
"""

from __future__ import annotations

import contextlib
import re
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from octorunbook.cli.check import check_parser, plain_args, run_check
from tests.tlsserver import HOST, loopback_servers

# Not one of these may be imported by a plain ``--url`` check.
NOT_IMPORTED = (
    "cryptography",
    "http.client",
    "urllib.request",
    "email",
    "argparse",
    "yaml",
    "octorunbook.targets",
    "octorunbook.emit",
    "octorunbook.certificates",
    "octorunbook.params.core",
    "papermill",
    "nbformat",
    "nbclient",
    "ipywidgets",
    "IPython",
    "jupyter_client",
)


@pytest.fixture(scope="module")
def portal() -> Iterator[int]:
    """A real TLS server on loopback serving a trustme certificate for :data:`HOST`: its port."""
    with loopback_servers() as start:
        yield start().port


@pytest.fixture(scope="module")
def public_ca_portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A real TLS server on loopback serving a Let's Encrypt-shaped leaf for :data:`HOST`: its port."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    from tests.evidence.test_leaf_der import public_ca_leaf

    key = ec.generate_private_key(ec.SECP256R1())
    folder = tmp_path_factory.mktemp("public-ca")
    (folder / "leaf.pem").write_bytes(
        x509.load_der_x509_certificate(public_ca_leaf([HOST], key=key)).public_bytes(
            serialization.Encoding.PEM
        )
    )
    (folder / "key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "leaf.pem", folder / "key.pem")
    listener = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # closed: the module's tests are done
            with contextlib.suppress(OSError), context.wrap_socket(client, server_side=True) as tls:
                tls.recv(1)  # until the check hangs up

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()


def imported(argv: list[str]) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *argv], capture_output=True, text=True, check=False, timeout=120
    )
    names = set(re.findall(r"^import time:\s+\d+ \|\s+\d+ \|\s+(\S+)", done.stderr, re.MULTILINE))
    assert names, done.stderr[-2000:]
    return done, names


@pytest.mark.parametrize("served", ["trustme", "public CA"])
def test_a_url_check_imports_no_cryptography_no_driver_no_notebook_library(
    served: str, request: pytest.FixtureRequest
) -> None:
    url = f"https://127.0.0.1:{request.getfixturevalue('portal' if served == 'trustme' else 'public_ca_portal')}"
    done, names = imported(["-m", "octorunbook.cli.main", "check", "--url", url, "--hostname", HOST])
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    assert done.stdout.startswith(f"CERT OK - {HOST} expires in "), done.stdout
    assert "octorunbook.evidence.check" in names and "ssl" in names  # it did read the served certificate
    heavy = sorted(n for n in names if any(n == m or n.startswith(m + ".") for m in NOT_IMPORTED))
    assert heavy == []


def test_the_slim_reading_and_cryptographys_give_the_same_line(
    portal: int, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import octorunbook.evidence.check as check

    argv = ["--url", f"https://127.0.0.1:{portal}", "--hostname", HOST, "--warn-days", "999999"]
    slim = run_check(argv), capsys.readouterr().out
    monkeypatch.setattr(check, "read_leaf", lambda der: None)  # every certificate to cryptography
    assert (run_check(argv), capsys.readouterr().out) == slim
    assert slim[0] == 1 and "| days=" in slim[1]  # WARNING: the perfdata is there to compare


def test_a_certificate_the_slim_reader_steps_aside_from_is_read_by_cryptography_after_the_handshake(
    portal: int, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import octorunbook.evidence.check as check

    calls: list[bytes] = []
    original = check.read_with_cryptography

    def spy(der: bytes) -> Any:
        calls.append(der)
        return original(der)

    monkeypatch.setattr(check, "read_leaf", lambda der: None)
    monkeypatch.setattr(check, "read_with_cryptography", spy)
    assert run_check(["--url", f"https://127.0.0.1:{portal}", "--hostname", HOST]) == 0
    assert capsys.readouterr().out.startswith(f"CERT OK - {HOST} expires in ")
    assert len(calls) == 1 and calls[0][:1] == b"\x30"


PLAIN = [
    [],
    ["params.yaml"],
    ["--url", "https://x:1", "--hostname", "h", "--warn-days", "30", "--critical-days", "7"],
    ["--json", "--posture", "p.yaml", "--timeout", "2.5", "--prometheus", "o.prom"],
    ["--notify-env", "N", "--audit-dir", "a", "--url", "u"],
    ["--url", "u", "--acme-directory", "https://ca/dir", "--acme-ca-bundle", "ca.pem"],
    ["--timeout", "nan"],
    ["--timeout", "1e400"],
    ["--hostname", ""],
    ["", "--json"],
    ["--warn-days", " 12 "],
]
NOT_PLAIN = [
    ["--help"],
    ["-h"],
    ["--host", "h"],  # an abbreviation argparse accepts
    ["--url=https://x:1"],
    ["--json", "--json"],
    ["a.yaml", "b.yaml"],
    ["--warn-days", "x"],
    ["--warn-days", "-5"],
    ["--hostname"],
    ["--", "p.yaml"],
    ["-"],
]


@pytest.mark.parametrize("argv", PLAIN)
def test_plain_arguments_are_read_as_argparse_reads_them(argv: list[str]) -> None:
    fast = plain_args(argv)
    assert fast is not None
    slow = check_parser().parse_args(argv)
    assert repr(sorted(vars(fast).items())) == repr(sorted(vars(slow).items()))  # repr: nan != nan


def test_every_option_of_check_is_known_to_the_plain_reader() -> None:
    """An option added to check_parser() but not to the plain reader would be silently slow (argparse
    answers) — or, worse, its default would differ; this keeps the two lists one."""
    from octorunbook.cli.check import _FLAGS, _VALUED

    options = {
        string
        for action in check_parser()._actions
        for string in action.option_strings
        if string.startswith("--") and string != "--help"
    }
    assert options == set(_VALUED) | set(_FLAGS)


@pytest.mark.parametrize("argv", NOT_PLAIN)
def test_anything_else_goes_to_argparse(argv: list[str]) -> None:
    assert plain_args(argv) is None
