"""`target: windows` runs notebooks 01-03 headless on Linux, through the stand-in executables.

PowerShell is the contract-test stand-in (tests/fakes), mirroring its LocalMachine store into a sandbox
host's folder; Octopus.Server and netsh are the sandbox's stand-ins, whose portal then serves real TLS.
So every Windows code path runs — PowerShell scripts' argv and JSON, Octopus.Server.exe, netsh — and the
result is still proven by a real handshake. Rollback on Windows is covered the same way.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest
from portkit import free_port as _free_port

from octorunbook.audit.records import extract_result
from octorunbook.evidence.tls import tls_handshake

try:  # rootdir-relative when pytest puts tests/ on sys.path (rootdir conftest mode)
    from fakes import install
except ImportError:  # pragma: no cover
    from tests.fakes import install

pytestmark = pytest.mark.windows

BIN = Path(sys.executable).parent
PASSWORD = "win-canary-Pa55word!"


def _make_pfx(path: Path, password: str) -> None:
    import trustme
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs12

    issued = trustme.CA().issue_cert("localhost")
    key = serialization.load_pem_private_key(issued.private_key_pem.bytes(), None)
    cert = x509.load_pem_x509_certificate(issued.cert_chain_pems[0].bytes())
    path.write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"portal", key, cert, None, serialization.BestAvailableEncryption(password.encode())
        )
    )  # type: ignore[arg-type]


@pytest.fixture
def windows_host(make_sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    sandbox = make_sandbox(http_port=_free_port())
    fake = install(tmp_path, monkeypatch)
    monkeypatch.setenv("OCTORUNBOOK_NETSH", str(sandbox.netsh_exe))
    monkeypatch.setenv("FAKE_MIRROR_STORES", str(sandbox.stores_dir))
    monkeypatch.setenv("OCTORUNBOOK_TEST_PFX_PASSWORD", PASSWORD)
    pfx = tmp_path / "portal.pfx"
    _make_pfx(pfx, PASSWORD)
    https_port = _free_port()
    params = {
        "target": "windows",
        "server_exe": str(sandbox.server_exe),
        "hostname": "localhost",
        "certificate_source": "pfx",
        "pfx_path": str(pfx),
        "pfx_password_env": "OCTORUNBOOK_TEST_PFX_PASSWORD",
        "https_port": https_port,
        "audit_dir": str(tmp_path / "audit"),
    }
    return {"sandbox": sandbox, "fake": fake, "params": params, "tmp": tmp_path, "https_port": https_port}


def _run(host: dict[str, Any]) -> tuple[subprocess.CompletedProcess[str], list[dict[str, Any]]]:
    path = host["tmp"] / "params.yaml"
    path.write_text("".join(f"{k}: {json.dumps(v)}\n" for k, v in host["params"].items()))
    done = subprocess.run(
        [str(BIN / "octorunbook"), "run", str(path)],
        capture_output=True,
        text=True,
        env=dict(os.environ),
        timeout=400,
    )
    records = [
        extract_result(nbformat.read(str(p), as_version=4))
        for p in sorted((host["tmp"] / "audit").glob("*.ipynb"))
    ]
    return done, [r for r in records if r]


@pytest.mark.canary
def test_windows_target_runs_all_three_notebooks_on_the_stand_ins(windows_host: dict[str, Any]) -> None:
    done, records = _run(windows_host)
    assert done.returncode == 0, done.stdout + done.stderr
    assert [r["status"] for r in records] == ["succeeded", "succeeded", "succeeded"]
    assert all(r["target"] == "windows" for r in records)
    imported = records[0]["certificate"]["thumbprint"]
    assert records[2]["tls"]["thumbprint"] == imported
    assert tls_handshake("127.0.0.1", windows_host["https_port"], "localhost").thumbprint == imported
    # the PowerShell scripts were really invoked with the documented shape, the password only via env
    calls = [json.loads(line) for line in (windows_host["fake"].root / "argv.log").read_text().splitlines()]
    scripts = [Path(c["argv"][c["argv"].index("-File") + 1]).name for c in calls if c["tool"] == "powershell"]
    assert "import-pfx.ps1" in scripts and "test-private-key.ps1" in scripts
    for call in calls:
        assert PASSWORD not in json.dumps(call["argv"])
        if call["tool"] == "powershell":
            assert call["argv"][:6] == [
                "-NoProfile",
                "-NonInteractive",
                "-ExecutionPolicy",
                "Bypass",
                "-File",
                call["argv"][5],
            ]
    imports = [c for c in calls if "import-pfx.ps1" in json.dumps(c["argv"])]
    assert imports and all(c["password_in_env"] for c in imports)
    assert records[0]["environment"]["windows_build"] == 17763
    for path in (windows_host["tmp"] / "audit").rglob("*"):
        if path.is_file():
            assert PASSWORD.encode() not in path.read_bytes()


def test_windows_rollback_when_ssl_certificate_fails_with_1312(windows_host: dict[str, Any]) -> None:
    sandbox = windows_host["sandbox"]
    sandbox.init(fail="ssl-certificate", start=False)
    before = (sandbox.instance_path("OctopusServer").read_text(), sandbox.httpsys_path.read_text())
    done, records = _run(windows_host)
    assert done.returncode == 1 and "✖ 03" not in done.stderr, done.stdout + done.stderr
    assert [r["status"] for r in records] == ["succeeded", "succeeded", "failed"], done.stdout + done.stderr
    failed = records[2]
    assert [f["code"] for f in failed["findings"] if f["severity"] == "error"][
        -1
    ] == "KEY_NOT_USABLE_BY_HTTPSYS"
    assert any(c["action"].startswith("rollback") for c in failed["changes"])
    assert (sandbox.instance_path("OctopusServer").read_text(), sandbox.httpsys_path.read_text()) == before


ACCOUNT = "CORP\\svc-octopus"


def _service_runs_as(host: dict[str, Any], account: str) -> dict[str, str]:
    """`sc qc` says the service runs as ``account``; its http prefix is reserved for it (as an admin did)."""
    sandbox = host["sandbox"]
    (host["fake"].root / "services.json").write_text(json.dumps({"OctopusDeploy": account}))
    meta = sandbox.meta()
    meta["service_account"] = account  # the stand-in service listens only on prefixes reserved for it
    sandbox.write_json(sandbox.meta_path, meta)
    config = json.loads(sandbox.instance_path("OctopusServer").read_text())
    http = config["Octopus"]["WebPortal"]["ListenPrefixes"].split(",")[0]
    before = {f"http://+:{http.rsplit(':', 1)[1].strip('/')}/": account}
    sandbox.write_json(sandbox.urlacl_path, before)
    return before


def test_windows_custom_service_account_gets_the_https_reservation_through_sc_and_netsh(
    windows_host: dict[str, Any],
) -> None:
    sandbox = windows_host["sandbox"]
    before = _service_runs_as(windows_host, ACCOUNT)
    done, records = _run(windows_host)
    assert done.returncode == 0, done.stdout + done.stderr
    url = f"https://+:{windows_host['https_port']}/"
    assert json.loads(sandbox.urlacl_path.read_text()) == {**before, url: ACCOUNT}
    argvs = [c["argv"][1:] for c in records[2]["commands"]]
    assert ["qc", "OctopusDeploy"] in argvs
    assert ["http", "add", "urlacl", f"url={url}", f"user={ACCOUNT}"] in argvs
    assert any("reserve URL" in str(c) for c in records[2]["changes"])


def test_windows_rollback_removes_the_reservation_03_added(windows_host: dict[str, Any]) -> None:
    sandbox = windows_host["sandbox"]
    sandbox.init(fail="service-start", start=False)  # the restart after configure fails once
    before = _service_runs_as(windows_host, ACCOUNT)
    done, records = _run(windows_host)
    assert done.returncode == 1 and records[2]["status"] == "failed", done.stdout + done.stderr
    url = f"https://+:{windows_host['https_port']}/"
    assert json.loads(sandbox.urlacl_path.read_text()) == before  # the http reservation stays
    assert ["http", "delete", "urlacl", f"url={url}"] in [c["argv"][1:] for c in records[2]["commands"]]
