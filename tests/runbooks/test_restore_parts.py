"""Defects the nginx red-team pass found whose fix lay outside the nginx parts: the rollback proof of
runbook 03 (``parts_journal.restore_parts``: what each watched port served before the change, served
again) and the command seam (a file that is not executable is a coded error)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import trustme
from nginxkit import HOSTNAME, NGINX, needs_nginx

from octorunbook.commands import CommandRunner
from octorunbook.evidence.tls import tls_handshake
from octorunbook.findings import OctorunbookError
from octorunbook.params.core import Parameters
from octorunbook.runbooks.undo import checkpoint_name

pytestmark = pytest.mark.redteam


# ---- for the lead: the rollback proof of runbook 03 (parts_journal.restore_parts) --------------------
def _quiet(runbook: str, params: Parameters) -> dict[str, Any]:
    from octorunbook.headless.inline import run_inline
    from octorunbook.runbooks.run import TextReporter

    return run_inline(runbook, params, TextReporter(open(os.devnull, "w")))  # noqa: SIM115


def _served_when_up(port: int) -> str:
    """The thumbprint served on ``port`` once the reloaded master listens there (a reload is a signal)."""

    deadline = time.monotonic() + 10
    while True:
        try:
            return tls_handshake("127.0.0.1", port, HOSTNAME).thumbprint
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _codes(record: dict[str, Any]) -> list[str]:
    return [f["code"] for f in record["findings"] if f["severity"] == "error"]


@needs_nginx
def test_a_failed_port_change_is_rolled_back_and_proven_where_the_old_site_serves(
    make_sandbox: Any, tmp_path: Path
) -> None:
    from dataclasses import replace

    sandbox = make_sandbox(front="nginx")
    params = Parameters(
        sandbox_dir=str(sandbox.root),
        audit_dir=str(tmp_path / "audit"),
        front="nginx",
        hostname=HOSTNAME,
        force_ssl=True,
        hsts_max_age=3600,
    )
    thumbprint = _quiet("01-import-certificate", params)["certificate"]["thumbprint"]
    params = replace(params, thumbprint=thumbprint)
    assert _quiet("03-add-https-binding", params)["status"] == "succeeded"
    exe = str(sandbox.server_exe)  # Octopus stops answering where nginx proxies to: the proof fails
    subprocess.run(
        [exe, "configure", "--instance", "OctopusServer", "--webListenPrefixes", "http://+:8089/"], check=True
    )
    subprocess.run([exe, "service", "--instance", "OctopusServer", "--stop", "--start"], check=True)

    moved = _quiet("03-add-https-binding", replace(params, https_port=8443))

    assert "PORTAL_NOT_ANSWERING" in _codes(moved)
    assert tls_handshake("127.0.0.1", sandbox.map_port(443), HOSTNAME).thumbprint == thumbprint  # restored
    assert "ROLLBACK_UNVERIFIED" not in _codes(moved)  # proven on 443, where the old site serves
    assert not (
        sandbox.root / "state" / checkpoint_name("OctopusServer")
    ).exists()  # the next run is not wedged


@needs_nginx
def test_rolling_back_a_first_binding_on_a_port_another_site_serves_is_proven(
    make_sandbox: Any, tmp_path: Path, ca: trustme.CA
) -> None:
    from dataclasses import replace

    sandbox = make_sandbox(front="nginx")
    other = ca.issue_cert("other.example.com")
    (tmp_path / "other.pem").write_bytes(b"".join(p.bytes() for p in other.cert_chain_pems))
    (tmp_path / "other.key").write_bytes(other.private_key_pem.bytes())
    (sandbox.root / "nginx" / "conf.d" / "00-other.conf").write_text(
        f"server {{\n    listen 127.0.0.1:{sandbox.map_port(443)} ssl default_server;\n"
        f"    ssl_certificate {tmp_path}/other.pem;\n    ssl_certificate_key {tmp_path}/other.key;\n"
        "    return 404;\n}\n"
    )
    subprocess.run(
        [
            NGINX or "nginx",
            "-p",
            f"{sandbox.root}/nginx/",
            "-c",
            f"{sandbox.root}/nginx/nginx.conf",
            "-g",
            f"pid {sandbox.root}/nginx/nginx.pid;",
            "-s",
            "reload",
        ],
        check=True,
    )
    params = Parameters(
        sandbox_dir=str(sandbox.root), audit_dir=str(tmp_path / "audit"), front="nginx", hostname=HOSTNAME
    )
    before = _served_when_up(sandbox.map_port(443))
    thumbprint = _quiet("01-import-certificate", params)["certificate"]["thumbprint"]
    exe = str(sandbox.server_exe)
    subprocess.run(
        [exe, "configure", "--instance", "OctopusServer", "--webListenPrefixes", "http://+:8089/"], check=True
    )
    subprocess.run([exe, "service", "--instance", "OctopusServer", "--stop", "--start"], check=True)

    record = _quiet("03-add-https-binding", replace(params, thumbprint=thumbprint))

    assert "PORTAL_NOT_ANSWERING" in _codes(record)
    assert tls_handshake("127.0.0.1", sandbox.map_port(443), HOSTNAME).thumbprint == before  # as before
    assert not (sandbox.root / "state" / checkpoint_name("OctopusServer")).exists()


def test_running_a_file_that_is_not_executable_is_a_command_error_not_a_traceback(tmp_path: Path) -> None:
    not_a_program = tmp_path / "nginx"
    not_a_program.write_text("not a program\n")
    try:
        CommandRunner().run([str(not_a_program), "-V"])
    except OctorunbookError as exc:
        assert exc.code in {"COMMAND_NOT_FOUND", "COMMAND_NOT_EXECUTABLE"}
    except PermissionError:
        raise AssertionError("PermissionError escaped the command seam") from None
