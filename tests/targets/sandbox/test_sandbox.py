"""The sandbox host behaves like a Windows Octopus server: real TLS, HTTP.sys rules, documented CLI output."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from octorunbook.commands import CommandRunner
from octorunbook.evidence.tls import http_get, tls_handshake
from octorunbook.findings import OctorunbookError
from octorunbook.redaction import Secret
from octorunbook.targets.octopus import parse_show_configuration
from octorunbook.targets.sandbox.store import DirectoryCertificateStore


def _pfx(tmp_path: Path, cert: Any, password: str = "pfx-pass-123") -> Path:
    key = serialization.load_pem_private_key(cert.private_key_pem.bytes(), None)
    leaf = x509.load_pem_x509_certificate(cert.cert_chain_pems[0].bytes())
    data = pkcs12.serialize_key_and_certificates(
        b"t",
        key,
        leaf,
        None,
        serialization.BestAvailableEncryption(password.encode()),  # type: ignore[arg-type]
    )
    path = tmp_path / "cert.pfx"
    path.write_bytes(data)
    return path


def _thumb(cert: Any) -> str:
    from cryptography.hazmat.primitives import hashes

    return (
        x509.load_pem_x509_certificate(cert.cert_chain_pems[0].bytes())
        .fingerprint(hashes.SHA1())
        .hex()
        .upper()
    )


def _cli(sandbox: Any, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(sandbox.server_exe), *args], capture_output=True, text=True, check=False)


def test_new_sandbox_serves_octopus_api_over_http_only(sandbox: Any) -> None:
    status = sandbox.status()
    assert status["config"]["listen_prefixes"] == ["http://localhost:80/"]
    real = status["port_map"][80]
    answer = http_get("http", "127.0.0.1", real, "localhost")
    assert answer.status == 200
    doc = answer.json()
    assert doc and doc["Application"] == "Octopus Deploy" and doc["Version"] and doc["ApiVersion"]


def test_stand_in_cli_speaks_documented_list_instances_and_show_configuration(sandbox: Any) -> None:
    listed = _cli(sandbox, "list-instances", "--console")
    assert listed.returncode == 0
    assert "Instance 'OctopusServer' uses configuration '" in listed.stdout
    shown = _cli(
        sandbox,
        "show-configuration",
        "--format=json-hierarchical",
        "--noconsolelogging",
        "--console",
        "--instance",
        "OctopusServer",
    )
    assert parse_show_configuration(shown.stdout).listen_prefixes == ("http://localhost:80/",)
    missing = _cli(sandbox, "show-configuration", "--format=json-hierarchical", "--instance", "Nope")
    assert missing.returncode != 0


def test_bound_certificate_is_served_over_real_tls_with_hsts_and_redirect(
    sandbox: Any, tmp_path: Path
) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("localhost")
    store = DirectoryCertificateStore(sandbox.stores_dir)  # the driver under LocalMachine\\My
    stored = store.import_pfx(_pfx(tmp_path, cert), Secret("pfx-pass-123"), "My")
    assert stored.thumbprint == _thumb(cert) and stored.has_private_key
    key_file = sandbox.stores_dir / "My" / f"{stored.thumbprint}.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert (
        _cli(
            sandbox,
            "ssl-certificate",
            "--console",
            "--instance",
            "OctopusServer",
            "--thumbprint",
            stored.thumbprint,
            "--certificate-store",
            "My",
            "--ip-address",
            "0.0.0.0",
            "--port",
            "443",
        ).returncode
        == 0
    )
    assert (
        _cli(
            sandbox,
            "configure",
            "--console",
            "--instance",
            "OctopusServer",
            "--webListenPrefixes",
            "http://localhost:80/,https://localhost:443/",
            "--webForceSSL",
            "True",
            "--hstsEnabled",
            "True",
            "--hstsMaxAge",
            "3600",
        ).returncode
        == 0
    )
    assert _cli(sandbox, "service", "--console", "--instance", "OctopusServer", "--restart").returncode == 0
    ports = sandbox.status()["port_map"]
    evidence = tls_handshake("127.0.0.1", ports[443], "localhost")
    assert evidence.thumbprint == stored.thumbprint
    assert evidence.tls_version in {"TLSv1.2", "TLSv1.3"}
    secure = http_get("https", "127.0.0.1", ports[443], "localhost")
    assert secure.status == 200 and secure.header("Strict-Transport-Security") == "max-age=3600"
    plain = http_get("http", "127.0.0.1", ports[80], "localhost")
    assert plain.status == 302 and plain.header("Location") == "https://localhost:443/api"


def test_portal_refuses_https_when_bound_certificate_lost_its_key(sandbox: Any, tmp_path: Path) -> None:
    cert = trustme.CA().issue_cert("localhost")
    store = DirectoryCertificateStore(sandbox.stores_dir)  # the driver under LocalMachine\\My
    stored = store.import_pfx(_pfx(tmp_path, cert), Secret("pfx-pass-123"), "My")
    _cli(
        sandbox,
        "ssl-certificate",
        "--thumbprint",
        stored.thumbprint,
        "--certificate-store",
        "My",
        "--port",
        "443",
    )
    _cli(sandbox, "configure", "--webListenPrefixes", "http://localhost:80/,https://localhost:443/")
    (sandbox.stores_dir / "My" / f"{stored.thumbprint}.key").unlink()
    assert _cli(sandbox, "service", "--restart").returncode == 0
    with pytest.raises(OSError):
        tls_handshake("127.0.0.1", sandbox.status()["port_map"][443], "localhost")


def test_ssl_certificate_without_private_key_fails_like_netsh_1312(sandbox: Any, tmp_path: Path) -> None:
    cert = trustme.CA().issue_cert("localhost")
    store = DirectoryCertificateStore(sandbox.stores_dir)  # the driver under LocalMachine\\My
    stored = store.import_pfx(_pfx(tmp_path, cert), Secret("pfx-pass-123"), "My")
    (sandbox.stores_dir / "My" / f"{stored.thumbprint}.key").unlink()
    result = _cli(sandbox, "ssl-certificate", "--thumbprint", stored.thumbprint, "--certificate-store", "My")
    assert result.returncode != 0 and "Error: 1312" in result.stderr


def test_wrong_pfx_password_is_a_coded_error_and_imports_nothing(sandbox: Any, tmp_path: Path) -> None:
    cert = trustme.CA().issue_cert("localhost")
    store = DirectoryCertificateStore(sandbox.stores_dir)  # the driver under LocalMachine\\My
    with pytest.raises(OctorunbookError) as info:
        store.import_pfx(_pfx(tmp_path, cert), Secret("not-the-password"), "My")
    assert info.value.code == "PFX_WRONG_PASSWORD"
    assert store.list_certificates("My") == []


def test_missing_webhosting_store_is_reported_never_created(make_sandbox: Any) -> None:
    sandbox = make_sandbox(webhosting=False)
    store = sandbox.open_target("OctopusServer", CommandRunner()).parts.store.sibling("WebHosting")
    assert not store.exists()
    with pytest.raises(OctorunbookError) as info:
        store.certificates()
    assert info.value.code == "STORE_MISSING"
    assert not (sandbox.stores_dir / "WebHosting").exists()


def test_two_sandboxes_run_side_by_side_with_their_own_port_maps(make_sandbox: Any) -> None:
    first, second = make_sandbox("one"), make_sandbox("two")
    a, b = first.status()["port_map"][80], second.status()["port_map"][80]
    assert a != b and a >= 1024 and b >= 1024
    assert http_get("http", "127.0.0.1", a, "localhost").status == 200
    assert http_get("http", "127.0.0.1", b, "localhost").status == 200


def test_sandbox_stop_leaves_no_portal_running(sandbox: Any) -> None:
    pid = sandbox.portal_pid()
    assert pid is not None
    assert sandbox.stop() is True
    assert sandbox.portal_pid() is None


def test_a_port_taken_between_mapping_and_start_is_mapped_anew_and_the_portal_starts(
    make_sandbox: Any,
) -> None:
    """A high port found free when the sandbox mapped it may be bound by another process (a second
    sandbox on the same machine, anything else) before the portal starts: the portal maps that
    prefix port to a fresh free port instead of failing to start."""
    import socket

    from portkit import free_port

    from octorunbook.targets.sandbox.portal_start import start_portal

    wanted = free_port()
    sandbox = make_sandbox("raced", http_port=wanted, start=False)
    assert sandbox.status()["port_map"][wanted] == wanted  # unprivileged and free: kept as it is
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as occupant:
        occupant.bind(("127.0.0.1", wanted))
        occupant.listen(1)
        start_portal(sandbox, "OctopusServer")
        real = sandbox.status()["port_map"][wanted]
        assert real != wanted
        assert http_get("http", "127.0.0.1", real, "localhost").status == 200
    assert "is taken by another process" in (sandbox.run_dir / "portal.log").read_text()


def test_the_nginx_fronts_upstream_is_never_the_literal_8080_another_sandbox_could_take_over(
    make_sandbox: Any,
) -> None:
    """nginx proxies to the port the stand-in Octopus listens on. Were that the literal 8080 (free when the
    sandbox was made), a portal moved off it would leave it to the next sandbox on the machine, and nginx
    would prove *that* one: the upstream is a port the kernel hands out, never a typed one."""
    sandbox = make_sandbox("upstream", front="nginx", start=False)
    real = sandbox.status()["port_map"][8080]
    assert real != 8080 and real >= 1024


@pytest.mark.parametrize("stand_in", ["server_cli", "netsh", "reg", "sc"])
def test_a_stand_in_starts_without_the_drivers_it_does_not_use(stand_in: str) -> None:
    """Every command a sandbox run issues starts one stand-in (17 for a renewal): importing the whole
    target package (the nginx front, the parameter checks, cryptography) made each start 145 ms instead of
    ~70 ms, most of a sandbox runbook's time (issue 28). Then the target's base (state home, protocols) and
    the command runner (subprocess) came with the host: ~85 ms, ~4000 starts in the test suite. What a
    command needs is imported where it runs: subprocess where the portal starts, socket where a port is
    picked, shutil where nginx is looked for."""
    import sys

    probe = f"import sys, octorunbook.targets.sandbox.{stand_in}\nprint('\\n'.join(sorted(sys.modules)))"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    heavy = ("cryptography", "octorunbook.targets.nginx", "octorunbook.params", "octorunbook.certificates")
    assert [m for m in loaded.stdout.split() if m.startswith(heavy)] == []
    machinery = {"octorunbook.targets.base", "octorunbook.targets.state", "octorunbook.targets.protocols"}
    assert machinery.isdisjoint(loaded.stdout.split())
    assert {"octorunbook.commands", "subprocess", "shutil", "socket"}.isdisjoint(loaded.stdout.split())


def test_the_nginx_fronts_upstream_is_where_octopus_on_linux_serves_plain_http() -> None:
    from octorunbook.params.nginx import OCTOPUS_HTTP_PORT
    from octorunbook.targets.sandbox.proxied import UPSTREAM_PORT

    assert UPSTREAM_PORT == OCTOPUS_HTTP_PORT


def test_a_sandbox_folder_named_like_shell_syntax_runs_no_command_and_the_cwd_cannot_shadow_a_stand_in(
    make_sandbox: Any, tmp_path: Path
) -> None:
    """The stand-ins are sh wrappers: a folder name holding ``$(…)`` and quotes is text in them, and the
    folder a command runs in (the operator's, a lab folder) cannot plant an ``octorunbook`` package the
    stand-in would import (``python -P``)."""
    sandbox = make_sandbox('inj$(touch PWNED)"`touch PWNED2`')
    planted = tmp_path / "cwd" / "octorunbook"
    planted.mkdir(parents=True)
    (planted / "__init__.py").write_text("raise SystemExit('the planted package ran')\n")
    done = subprocess.run(
        [str(sandbox.server_exe), "list-instances", "--console"],
        capture_output=True,
        text=True,
        cwd=planted.parent,
    )
    assert done.returncode == 0, done.stderr
    assert "OctopusServer" in done.stdout
    assert not list(tmp_path.rglob("PWNED*")) and not list(Path.cwd().glob("PWNED*"))


def test_a_sandbox_folder_with_a_line_break_is_refused_before_anything_is_created(tmp_path: Path) -> None:
    """Red team: the refusal (the stand-ins' sh text cannot carry it) came after the folders were made."""
    from octorunbook.targets.sandbox import Sandbox

    root = tmp_path / "rehearsal\nx"
    with pytest.raises(OctorunbookError) as caught:
        Sandbox(root).init()
    assert caught.value.code == "SANDBOX_DIR_INVALID" and "Nothing was created" in caught.value.remedy
    assert not root.exists() and list(tmp_path.iterdir()) == []


def test_each_stand_in_is_written_where_the_sandbox_runs_it_and_starts_without_site(
    make_sandbox: Any,
) -> None:
    """The four wrappers start Python with -S (no site: ~5 ms of each start) and -P (not the cwd); the
    folders octorunbook and its dependencies come from are named in the wrapper, so the stand-in still
    answers."""
    sandbox = make_sandbox(start=False)
    for exe in (sandbox.server_exe, sandbox.netsh_exe, sandbox.reg_exe, sandbox.sc_exe):
        text = exe.read_text()
        assert os.access(exe, os.X_OK) and " -S -P -c " in text, text
    shown = subprocess.run([str(sandbox.sc_exe), "qc", "OctopusDeploy"], capture_output=True, text=True)
    assert shown.returncode == 0 and "SERVICE_START_NAME" in shown.stdout, shown.stdout + shown.stderr


def test_a_process_started_without_site_passes_on_the_folders_it_was_given(tmp_path: Path) -> None:
    """The portal a stand-in restarts (``service --start``, itself started with -S) imports from the same
    folders as the portal ``sandbox init`` started: never the base interpreter's site-packages, which is
    what sysconfig names under -S, and never the folder the command runs in."""
    from octorunbook.targets.sandbox.stand_ins import stand_in_paths, without_site

    given = stand_in_paths()
    bootstrap = without_site("stand_ins")[-1].replace(
        "from octorunbook.targets.sandbox.stand_ins import main; sys.exit(main())",
        "from octorunbook.targets.sandbox.stand_ins import stand_in_paths; print(repr(stand_in_paths()))",
    )
    child = subprocess.run(
        [sys.executable, "-S", "-P", "-c", bootstrap],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=True,
    )
    assert child.stdout.strip() == repr(given), child.stdout + child.stderr
    assert str(tmp_path) not in child.stdout
