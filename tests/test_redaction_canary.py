"""No secret reaches disk: a random canary password, all three runbooks, success and failure, grep everything."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

pytestmark = pytest.mark.canary

BIN = Path(sys.executable).parent


def _files_containing(roots: list[Path], needle: bytes) -> list[str]:
    hits = []
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file():
                try:
                    data = path.read_bytes()
                except OSError:
                    continue
                if needle in data or needle.decode().encode("utf-16-le") in data:
                    hits.append(str(path))
    return hits


def _pfx(path: Path, password: str) -> Path:
    issued = trustme.CA().issue_cert("localhost")
    key = serialization.load_pem_private_key(issued.private_key_pem.bytes(), None)
    cert = x509.load_pem_x509_certificate(issued.cert_chain_pems[0].bytes())
    path.write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"canary", key, cert, None, serialization.BestAvailableEncryption(password.encode())
        )
    )  # type: ignore[arg-type]
    return path


# Among the 20 slowest (--durations, issue 28), by design: a successful and a failing real procedure, then
# every file, argv and output they left is searched.
def test_canary_password_never_reaches_any_file_on_success_and_on_failure(
    make_sandbox: Any, tmp_path: Path
) -> None:
    canary = "canary-" + secrets.token_hex(12)
    work = tmp_path / "work"
    work.mkdir()
    ipython_dir = tmp_path / "ipython"
    env = {**os.environ, "OCTORUNBOOK_CANARY_PW": canary, "IPYTHONDIR": str(ipython_dir)}
    pfx = _pfx(work / "portal.pfx", canary)
    sandbox = make_sandbox()
    audit = tmp_path / "audit"

    def run(**extra: Any) -> subprocess.CompletedProcess[str]:
        values = {
            "sandbox_dir": str(sandbox.root),
            "audit_dir": str(audit),
            "certificate_source": "pfx",
            "pfx_path": str(pfx),
            "pfx_password_env": "OCTORUNBOOK_CANARY_PW",
            **extra,
        }
        params = work / "params.yaml"
        params.write_text("".join(f"{k}: {json.dumps(v)}\n" for k, v in values.items()))
        return subprocess.run(
            [str(BIN / "octorunbook"), "run", str(params)],
            capture_output=True,
            text=True,
            cwd=work,
            env=env,
            timeout=400,
        )

    ok = run()
    assert ok.returncode == 0, ok.stdout + ok.stderr
    # a failure in 03: HTTP.sys keeps serving the old certificate → rollback, status failed
    subprocess.run(
        [str(BIN / "octorunbook"), "sandbox", "init", str(sandbox.root), "--fail", "wrong-certificate"],
        check=True,
        capture_output=True,
        env=env,
    )
    sandbox_pfx2 = _pfx(work / "renewed.pfx", canary)
    failed = run(pfx_path=str(sandbox_pfx2))
    assert failed.returncode == 1
    assert "SERVED_WRONG_CERTIFICATE" in failed.stdout
    records = list(audit.glob("*.ipynb"))
    assert len(records) == 6
    assert canary not in ok.stdout + ok.stderr + failed.stdout + failed.stderr
    roots = [audit, work, sandbox.root]
    if ipython_dir.exists():
        roots.append(ipython_dir)
    hits = _files_containing(roots, canary.encode())
    assert hits == []
    # and the records say where private keys went
    text = "".join(p.read_text() for p in records)
    assert '"private_key_files"' in text and '"removed": true' in text
