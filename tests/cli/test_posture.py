"""``octorunbook posture`` as operators run it: against the real sandbox portal after a real bind, and its exit codes."""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

BIN = Path(sys.executable).parent


def _posture(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "octorunbook"), "posture", *args], capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def bound_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A sandbox portal after 01 → 02 → 03 through `octorunbook run`: HTTPS on 443 (mapped), HSTS 600 s."""
    from octorunbook.targets.sandbox import Sandbox

    root = tmp_path_factory.mktemp("posture-sandbox")
    subprocess.run(
        [str(BIN / "octorunbook"), "sandbox", "init", str(root / "host")], check=True, capture_output=True
    )
    params = root / "params.yaml"
    values = {
        "sandbox_dir": str(root / "host"),
        "audit_dir": str(root / "audit"),
        "hostname": "localhost",
        "hsts_max_age": 600,
    }
    params.write_text("".join(f"{k}: {json.dumps(v)}\n" for k, v in values.items()))
    done = subprocess.run(
        [str(BIN / "octorunbook"), "run", str(params)], capture_output=True, text=True, cwd=root, timeout=300
    )
    sandbox = Sandbox(root / "host")
    try:
        assert done.returncode == 0, done.stdout + done.stderr
        yield sandbox, root
    finally:
        sandbox.stop()


def test_default_posture_of_the_sandbox_portal_is_reported(bound_sandbox: Any) -> None:
    sandbox, root = bound_sandbox
    port = sandbox.status()["port_map"][443]
    done = _posture("--url", f"https://127.0.0.1:{port}", "--hostname", "localhost", "--json")
    assert done.returncode == 0, done.stderr  # warnings only
    record = json.loads(done.stdout)
    rows = {r["check"]: r for r in record["rows"]}
    # The sandbox's HTTP.sys stand-in serves TLS 1.2 and 1.3 only, with Python's default (strong) suites.
    for label in ("TLS 1.0", "TLS 1.1"):
        assert rows[f"protocol {label}"]["severity"] in {"ok", "info"}
        assert not rows[f"protocol {label}"]["seen"].startswith("accepted")
    assert rows["protocol TLS 1.2"]["seen"].startswith("accepted")
    assert rows["protocol TLS 1.3"]["seen"].startswith("accepted (TLSv1.3")
    codes = [f["code"] for f in record["findings"]]
    # 01 made a self-signed certificate: no client trusts it; 03 set HSTS to 600 s.
    assert codes == ["CHAIN_UNTRUSTED_FOR_CLIENTS", "HSTS_TOO_SHORT"]
    assert rows["HSTS header"]["seen"] == "max-age=600"
    assert rows["hostname in subjectAltName"]["severity"] == "ok"
    assert all(f["severity"] == "warning" for f in record["findings"])


def test_strict_posture_exits_1_and_a_trusted_bundle_clears_the_chain_finding(
    bound_sandbox: Any, tmp_path: Path
) -> None:
    sandbox, _ = bound_sandbox
    port = sandbox.status()["port_map"][443]
    bundle = tmp_path / "served.pem"
    bundle.write_text(ssl.get_server_certificate(("127.0.0.1", port)))
    done = _posture(
        "--url",
        f"https://127.0.0.1:{port}",
        "--hostname",
        "localhost",
        "--ca-bundle",
        str(bundle),
        "--strict",
        "--front",
        "httpsys",
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "✖ HSTS_TOO_SHORT: HSTS max-age is 600 s" in done.stdout
    assert "CHAIN_UNTRUSTED_FOR_CLIENTS" not in done.stdout.split("\n\n", 1)[1]
    assert "chain against the operator's CA bundle" in done.stdout
    assert "--hstsMaxAge=31536000" in done.stdout


def test_posture_cli_exit_codes_for_bad_input_and_no_connection(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    unreachable = _posture("--url", f"https://127.0.0.1:{port}", "--hostname", "localhost")
    assert unreachable.returncode == 3 and "ENDPOINT_UNREACHABLE" in unreachable.stderr
    bad_url = _posture("--url", "ftp://127.0.0.1:21", "--hostname", "localhost")
    assert bad_url.returncode == 2 and "ENDPOINT_INVALID" in bad_url.stderr
    missing = _posture(
        "--url", f"https://127.0.0.1:{port}", "--hostname", "x", "--ca-bundle", str(tmp_path / "no")
    )
    assert missing.returncode == 2 and "FILE_NOT_FOUND" in missing.stderr
    assert "Traceback" not in unreachable.stderr + bad_url.stderr + missing.stderr


def test_sslyze_backend_is_an_explained_input_error_when_not_installed(tmp_path: Path) -> None:
    try:
        import sslyze  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip(
            "sslyze is installed here; the backend itself is tested in evidence/posture/test_sslyze.py"
        )
    from octorunbook.evidence.posture.sslyze import scan_into
    from octorunbook.findings import InputError

    with pytest.raises(InputError, match="^SSLYZE_NOT_INSTALLED:"):
        scan_into(None, "127.0.0.1", 1, "localhost", 1.0)  # type: ignore[arg-type]


def test_core_never_imports_sslyze() -> None:
    code = (
        "import sys, octorunbook.cli.main, octorunbook.evidence.posture, octorunbook.cli.posture; "
        "print([m for m in sys.modules if m.split('.')[0] in ('sslyze', 'nassl') or m == 'octorunbook.evidence.posture.sslyze'])"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


@pytest.mark.parametrize("hostname", ["a..b", "../../x", "a" * 70 + ".example.com"])
def test_posture_refuses_a_malformed_hostname_with_exit_2_and_no_traceback(hostname: str) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    done = _posture("--url", f"https://127.0.0.1:{port}", "--hostname", hostname)
    assert done.returncode == 2, done.stderr
    assert "HOSTNAME_INVALID" in done.stderr and "Traceback" not in done.stderr


MARGIN = 8.0  # generous for a loaded 2-core machine; the failure this guards against is "never ends"


def test_posture_ends_at_its_timeout_against_a_dripping_portal_with_a_coded_exit_3() -> None:
    """A server that completes each handshake and then answers HTTP one byte at a time: every step alone
    would be bounded, the scan as a whole is held to ``--timeout`` (``NETWORK_TIMEOUT``, exit 3)."""
    from tests.tlsserver import HOST, loopback_servers

    with loopback_servers() as start:
        server = start(drip=0.5)
        started = time.monotonic()
        done = _posture("--url", f"https://127.0.0.1:{server.port}", "--hostname", HOST, "--timeout", "3")
        elapsed = time.monotonic() - started
    assert done.returncode == 3, done.stdout + done.stderr
    assert "NETWORK_TIMEOUT" in done.stderr and "--timeout 3" in done.stderr, done.stderr
    assert done.stdout == ""
    assert 3.0 <= elapsed < 3.0 + MARGIN, elapsed


@pytest.mark.parametrize("timeout", ["0", "-1", "nan", "inf", "1e400", "3601", "soon"])
def test_posture_refuses_a_timeout_that_is_not_a_positive_finite_number_with_exit_2(timeout: str) -> None:
    done = _posture("--url", "https://127.0.0.1:1", "--hostname", "localhost", "--timeout", timeout)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "--timeout" in done.stderr and "Traceback" not in done.stderr
