"""The nginx topology against a careless operator and an attacker: what they can type or plant, and what
holds. Every value that reaches nginx's configuration is syntax to nginx, so the attack tried hardest is
configuration injection; then the pid file, the managed file's path, and the PEM store's directories.
"""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
import trustme
from nginxkit import HOSTNAME, NGINX, Changes, Upstream, intent, issue, needs_nginx

from octorunbook.commands import CommandRunner
from octorunbook.evidence.tls import tls_handshake
from octorunbook.findings import OctorunbookError
from octorunbook.params.core import Parameters
from octorunbook.targets.nginx import (
    NginxFront,
    NginxInstallation,
    NginxSandbox,
    NginxSiteState,
    PemDirectoryStore,
)
from octorunbook.targets.nginx.config import SiteSettings, render
from octorunbook.targets.nginx.process import is_master

pytestmark = pytest.mark.redteam

BIN = Path(sys.executable).parent


def _errors(**values: Any) -> list[str]:
    return [f.code for f in Parameters(**values).check() if f.severity == "error"]


def _nginx_values(nginx_root: Path, **overrides: Any) -> dict[str, Any]:
    """target: nginx parameters that pass, on a machine with nginx; each test breaks one thing."""
    (nginx_root / "nginx.conf").parent.mkdir(parents=True, exist_ok=True)
    (nginx_root / "nginx.conf").write_text("events {}\nhttp { include conf.d/*.conf; }\n")
    values: dict[str, Any] = {
        "target": "nginx",
        "hostname": HOSTNAME,
        "nginx_bin": NGINX or "/usr/sbin/nginx",
        "nginx_conf_dir": str(nginx_root),
        "nginx_pid": str(nginx_root / "nginx.pid"),
        "cert_dir": str(nginx_root.parent / "certs"),
    }
    values.update(overrides)
    return values


# ---- configuration injection, refused at the boundary ------------------------------------------------
@needs_nginx
@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("cert_dir", "/tmp/x;include /tmp/evil.conf;#"),  # became `ssl_certificate /tmp/x;include …;#/…`
        ("cert_dir", "/tmp/certs$host"),  # ssl_certificate interpolates variables
        ("cert_dir", '/tmp/"certs'),
        ("nginx_pid", "/run/nginx.pid; load_module /tmp/evil.so"),  # became -g 'pid …; load_module …;'
        ("nginx_conf_dir", "/etc/nginx}"),
    ],
)
def test_a_path_holding_nginx_syntax_is_path_invalid_before_anything_runs(
    name: str, value: str, tmp_path: Path
) -> None:
    assert "PATH_INVALID" in _errors(**_nginx_values(tmp_path / "nginx", **{name: value}))


@needs_nginx
def test_cert_dir_injection_through_octorunbook_run_is_exit_2_and_writes_nothing(tmp_path: Path) -> None:
    evil = tmp_path / "evil.conf"
    evil.write_text("add_header X-Pwned yes always;\n")
    values = _nginx_values(
        tmp_path / "nginx",
        cert_dir=f"{tmp_path}/x;include {evil};#",
        certificate_source="self-signed",
        audit_dir=str(tmp_path / "audit"),
    )
    params = tmp_path / "params.yaml"
    params.write_text("".join(f"{k}: {v!r}\n".replace("'", '"') for k, v in values.items()))

    result = subprocess.run(
        [str(BIN / "octorunbook"), "run", str(params)], capture_output=True, text=True, timeout=120
    )

    assert result.returncode == 2, result.stdout + result.stderr
    assert "PATH_INVALID" in result.stdout + result.stderr and "Traceback" not in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["evil.conf", "nginx", "params.yaml"]


def _settings(**overrides: Any) -> SiteSettings:
    values: dict[str, Any] = {
        "hostname": HOSTNAME,
        "https_port": 443,
        "public_https_port": 443,
        "fullchain": Path("/etc/octorunbook/certs/T/fullchain.pem"),
        "privkey": Path("/etc/octorunbook/certs/T/privkey.pem"),
        "thumbprint": "T",
        "upstream": "http://127.0.0.1:8080",
        "http2": "listen",
        "http_port": 80,
    }
    values.update(overrides)
    return SiteSettings(**values)


def test_render_refuses_a_certificate_path_with_syntax_even_when_the_parameter_check_was_skipped() -> None:
    with pytest.raises(OctorunbookError) as caught:
        render(_settings(fullchain=Path("/x;include /tmp/evil.conf;#/fullchain.pem")))

    assert caught.value.code == "PATH_INVALID"


def test_g_pid_quotes_a_pid_file_with_a_space_and_refuses_one_with_syntax(tmp_path: Path) -> None:
    spaced = NginxInstallation(conf_dir=tmp_path, pid_file=Path("/run/my nginx/nginx.pid"))
    assert spaced.argv("-t")[-2:] == ['pid "/run/my nginx/nginx.pid";', "-t"]

    with pytest.raises(OctorunbookError) as caught:
        NginxInstallation(conf_dir=tmp_path, pid_file=Path("/run/x.pid; user root")).argv("-t")
    assert caught.value.code == "PATH_INVALID"


@pytest.mark.parametrize(
    "upstream",
    [
        "http://127.0.0.1:99999",  # nginx -t refused it, after 01 and 02 had run (exit 1)
        "http://127.0.0.1:abc",
        "http://user:secret@127.0.0.1:8080",
        "http://127.0.0.1:0",
        "http://octopus:8080#x",
        "http://ünï.example:8080",
    ],
)
def test_an_upstream_nginx_would_reject_is_refused_at_the_boundary(upstream: str, tmp_path: Path) -> None:
    assert "NGINX_UPSTREAM_INVALID" in _errors(**_nginx_values(tmp_path / "nginx", octopus_upstream=upstream))


def test_a_compose_service_name_with_an_underscore_is_a_valid_upstream(tmp_path: Path) -> None:
    values = _nginx_values(tmp_path / "nginx", octopus_upstream="http://octopus_server_1:8080")
    assert "NGINX_UPSTREAM_INVALID" not in _errors(**values)


# ---- a careless operator: paths and ports that cannot work, refused with exit 2 -----------------------
@needs_nginx
@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"nginx_bin": "/etc/passwd"}, "NGINX_NOT_FOUND"),  # was INTERNAL_ERROR PermissionError in 02
        ({"nginx_bin": "/usr/sbin/no-such-nginx"}, "NGINX_NOT_FOUND"),
        ({"nginx_conf_dir": "/nonexistent/nginx"}, "NGINX_CONF_NOT_FOUND"),  # was INTERNAL_ERROR in 03
        ({"https_port": 80}, "NGINX_PORT_CONFLICT"),  # the redirect server's port
        ({"https_port": 8080}, "NGINX_PORT_CONFLICT"),  # where Octopus listens (the default upstream)
        ({"hostname": "::1"}, "HOSTNAME_INVALID"),  # no nginx server_name; refused inside 03 before
    ],
)
def test_what_cannot_work_on_this_host_is_refused_before_a_kernel(
    overrides: dict[str, Any], code: str, tmp_path: Path
) -> None:
    assert code in _errors(**_nginx_values(tmp_path / "nginx", **overrides))


def test_octopus_on_another_host_may_listen_on_the_https_port_number(tmp_path: Path) -> None:
    values = _nginx_values(tmp_path / "nginx", https_port=8080, octopus_upstream="http://octopus:8080")
    assert "NGINX_PORT_CONFLICT" not in _errors(**values)


# ---- the running master -------------------------------------------------------------------------------
def test_a_stale_pid_file_naming_another_process_is_nginx_not_running(tmp_path: Path) -> None:
    (tmp_path / "nginx.conf").write_text("events {}\nhttp { include conf.d/*.conf; }\n")
    (tmp_path / "nginx.pid").write_text(f"{os.getpid()}\n")  # alive, but not nginx
    front = NginxFront(NginxInstallation(conf_dir=tmp_path, pid_file=tmp_path / "nginx.pid"), CommandRunner())

    with pytest.raises(OctorunbookError) as caught:
        front.master_pid()

    assert caught.value.code == "NGINX_NOT_RUNNING" and "not an nginx master" in caught.value.message
    assert not is_master(os.getpid())


def test_the_pid_file_the_configuration_names_is_the_one_watched(tmp_path: Path) -> None:
    """``nginx -s reload`` signals the pid in the configuration's own pid file, not in -g's."""
    (tmp_path / "nginx.conf").write_text("pid /run/real-nginx.pid;\nevents {}\n")
    installation = NginxInstallation(conf_dir=tmp_path, pid_file=tmp_path / "other.pid")

    assert installation.master_pid_file == Path("/run/real-nginx.pid")
    assert "-g" not in installation.argv("-s", "reload")


@needs_nginx
def test_a_live_master_is_found_and_reload_watches_it(nginx: NginxSandbox, upstream: Upstream) -> None:
    front = nginx.front(upstream.url)

    assert is_master(front.master_pid())


# ---- the managed file --------------------------------------------------------------------------------
def _bound(nginx: NginxSandbox, ca: trustme.CA, tmp_path: Path, upstream: Upstream) -> tuple[NginxFront, Any]:
    stored = nginx.store().add(issue(ca, tmp_path, "first"))
    front = nginx.front(upstream.url)
    current = front.read()
    desired = front.desired(intent(stored), current)
    front.apply(current, desired, Changes())
    return front, stored


@needs_nginx
def test_restoring_a_state_recorded_for_another_site_path_changes_nothing(
    nginx: NginxSandbox, ca: trustme.CA, tmp_path: Path, upstream: Upstream
) -> None:
    """A journal left by a run with another nginx_conf_dir said "absent": the live file was removed."""
    front, stored = _bound(nginx, ca, tmp_path, upstream)
    before = front.site_path.read_text()

    with pytest.raises(OctorunbookError) as caught:
        front.restore(NginxSiteState("/elsewhere/conf.d/octopus-portal.conf", False, False), Changes())

    assert caught.value.code == "NGINX_SITE_PATH_CHANGED"
    assert front.site_path.read_text() == before
    assert tls_handshake("127.0.0.1", nginx.map_port(443), HOSTNAME).thumbprint == stored.thumbprint


@needs_nginx
def test_the_redirect_names_the_portal_not_the_host_header_a_client_sends(
    nginx: NginxSandbox, ca: trustme.CA, tmp_path: Path, upstream: Upstream
) -> None:
    """The redirect server is the only one on its port: ``$host`` made it an open redirect."""
    _bound(nginx, ca, tmp_path, upstream)
    conn = http.client.HTTPConnection("127.0.0.1", nginx.map_port(80), timeout=5)
    try:
        conn.request("GET", "/app?x=1", headers={"Host": "evil.example"})
        answer = conn.getresponse()
    finally:
        conn.close()

    assert answer.status == 308
    assert answer.getheader("Location") == f"https://{HOSTNAME}/app?x=1"


def test_a_fifo_at_the_managed_path_is_unreadable_at_once_not_a_hang(tmp_path: Path) -> None:
    (tmp_path / "conf.d").mkdir()
    os.mkfifo(tmp_path / "conf.d" / "octopus-portal.conf")
    front = NginxFront(NginxInstallation(conf_dir=tmp_path), CommandRunner())
    outcome: list[BaseException] = []

    def read() -> None:
        try:
            front.read()
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            outcome.append(exc)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(5)
    if reader.is_alive():  # unblock the reader so the daemon thread can end
        os.close(os.open(tmp_path / "conf.d" / "octopus-portal.conf", os.O_WRONLY | os.O_NONBLOCK))
        pytest.fail("reading a FIFO at the managed path blocked")
    assert [getattr(e, "code", None) for e in outcome] == ["NGINX_CONFIG_UNREADABLE"]


@needs_nginx
def test_a_conf_dir_without_nginx_conf_is_refused_before_anything_is_written(
    nginx: NginxSandbox, ca: trustme.CA, tmp_path: Path, upstream: Upstream
) -> None:
    """The master runs, but nginx_conf_dir names a folder without nginx.conf: conf.d was created first."""
    stored = nginx.store().add(issue(ca, tmp_path, "first"))
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    installation = NginxInstallation(
        bin=nginx.nginx_bin, conf_dir=wrong, pid_file=nginx.installation.pid_file
    )
    front = NginxFront(installation, CommandRunner(), upstream=upstream.url)
    current = front.read()
    desired = front.desired(intent(stored), current)

    with pytest.raises(OctorunbookError) as caught:
        front.apply(current, desired, Changes())

    assert caught.value.code == "NGINX_CONF_NOT_FOUND"
    assert list(wrong.iterdir()) == []


@needs_nginx
def test_a_planted_symlink_at_the_candidate_path_is_never_written_through(
    nginx: NginxSandbox, ca: trustme.CA, tmp_path: Path, upstream: Upstream
) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("untouched\n")
    front = nginx.front(upstream.url)
    front._candidate_path().symlink_to(victim)

    _bound(nginx, ca, tmp_path, upstream)

    assert victim.read_text() == "untouched\n" and not front._candidate_path().exists()


@needs_nginx
def test_a_change_another_operator_made_after_this_plan_is_not_overwritten(
    nginx: NginxSandbox, ca: trustme.CA, tmp_path: Path, upstream: Upstream
) -> None:
    """Two operators with different cert_dir values hold different runbook locks but write one file."""
    front, stored = _bound(nginx, ca, tmp_path, upstream)
    planned = front.read()
    mine = front.desired(intent(stored, hsts_max_age=60), planned)
    other = nginx.front(upstream.url)
    theirs = other.desired(intent(stored, hsts_max_age=120), other.read())
    other.apply(other.read(), theirs, Changes())

    with pytest.raises(OctorunbookError) as caught:
        front.apply(planned, mine, Changes())

    assert caught.value.code == "NGINX_CONFIG_CHANGED"
    assert front.read() == theirs


# ---- 02 on nginx: the proof is nginx's, not any program's exit code ---------------------------------
def test_nginx_bin_that_is_not_nginx_does_not_pass_as_loading_the_certificate(
    ca: trustme.CA, tmp_path: Path
) -> None:
    stored = PemDirectoryStore(tmp_path / "certs").add(issue(ca, tmp_path, "a"))
    front = NginxFront(NginxInstallation(bin="/bin/true", conf_dir=tmp_path), CommandRunner())

    [proof] = front.prove_can_serve(stored)

    assert not proof.ok and proof.code == "NGINX_CANNOT_LOAD_CERTIFICATE"


@needs_nginx
def test_02_loads_the_pair_with_nginx_when_the_temporary_folder_has_a_space(
    ca: trustme.CA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert NGINX is not None
    spaced = tmp_path / "my temp"
    spaced.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(spaced))
    stored = PemDirectoryStore(tmp_path / "certs").add(issue(ca, tmp_path, "a"))
    front = NginxFront(NginxInstallation(bin=NGINX, conf_dir=tmp_path), CommandRunner())

    [proof] = front.prove_can_serve(stored)

    assert proof.ok, proof.seen


# ---- the PEM store: links and loose directories -------------------------------------------------------
def test_a_store_others_may_write_into_gets_no_private_key(ca: trustme.CA, tmp_path: Path) -> None:
    root = tmp_path / "certs"
    root.mkdir()
    os.chmod(root, 0o777)

    with pytest.raises(OctorunbookError) as caught:
        PemDirectoryStore(root).add(issue(ca, tmp_path, "a"))

    assert caught.value.code == "PEM_STORE_UNSAFE" and "writable by others" in caught.value.message
    assert list(root.iterdir()) == []


def test_a_symlink_planted_at_the_certificate_directory_is_refused_and_nothing_lands_behind_it(
    ca: trustme.CA, tmp_path: Path
) -> None:
    loaded = issue(ca, tmp_path, "a")
    root, elsewhere = tmp_path / "certs", tmp_path / "attacker"
    root.mkdir(mode=0o700)
    elsewhere.mkdir()
    (root / loaded.info.thumbprint).symlink_to(elsewhere)

    with pytest.raises(OctorunbookError) as caught:
        PemDirectoryStore(root).add(loaded)

    assert caught.value.code == "PEM_STORE_UNSAFE" and "symbolic link" in caught.value.message
    assert list(elsewhere.iterdir()) == []


def test_prove_fails_a_certificate_directory_that_is_a_link_or_sits_in_a_loose_store(
    ca: trustme.CA, tmp_path: Path
) -> None:
    store = PemDirectoryStore(tmp_path / "certs")
    stored = store.add(issue(ca, tmp_path, "a"))
    real = tmp_path / "moved"
    (tmp_path / "certs" / stored.thumbprint).rename(real)
    (tmp_path / "certs" / stored.thumbprint).symlink_to(real)

    linked = {r.code: r for r in store.prove(stored.thumbprint)}
    assert not linked["CERT_DIR_TOO_OPEN"].ok and "symbolic link" in linked["CERT_DIR_TOO_OPEN"].seen

    (tmp_path / "certs" / stored.thumbprint).unlink()
    real.rename(tmp_path / "certs" / stored.thumbprint)
    os.chmod(tmp_path / "certs", 0o777)
    loose = {r.code: r for r in store.prove(stored.thumbprint)}
    assert not loose["CERT_DIR_TOO_OPEN"].ok and "writable by others" in loose["CERT_DIR_TOO_OPEN"].seen


# ---- paths with a space: quoted, and they work ------------------------------------------------------
@needs_nginx
def test_a_sandbox_and_a_store_in_folders_with_spaces_serve_the_certificate(
    ca: trustme.CA, tmp_path: Path, upstream: Upstream
) -> None:
    """``sandbox init "/home/me/My Sandbox" --front nginx``: nginx did not start (-g 'pid /home/me/My …')."""
    assert NGINX is not None
    proxy = NginxSandbox(tmp_path / "My Sandbox", nginx_bin=NGINX)
    proxy.init()
    try:
        proxy.start()
        stored = PemDirectoryStore(tmp_path / "My Sandbox" / "my certs").add(issue(ca, tmp_path, "a"))
        front = proxy.front(upstream.url)
        current = front.read()
        front.apply(current, front.desired(intent(stored), current), Changes())

        assert tls_handshake("127.0.0.1", proxy.map_port(443), HOSTNAME).thumbprint == stored.thumbprint
        assert f'ssl_certificate     "{tmp_path}/My Sandbox/my certs/' in front.site_path.read_text()
    finally:
        proxy.stop()
    assert proxy.pid() is None


@needs_nginx
def test_sandbox_init_front_nginx_in_a_folder_nginx_cannot_name_leaves_no_portal_running(
    tmp_path: Path,
) -> None:
    from octorunbook.targets.sandbox import Sandbox

    folder = tmp_path / 'say "hi"'
    try:
        result = subprocess.run(
            [str(BIN / "octorunbook"), "sandbox", "init", str(folder), "--front", "nginx"],
            capture_output=True,
            text=True,
            timeout=120,
        )

        assert result.returncode == 2, result.stdout + result.stderr
        assert "SANDBOX_DIR_INVALID" in result.stdout + result.stderr
        assert Sandbox(folder).portal_pid() is None  # the stand-in portal was started first, then left
    finally:
        Sandbox(folder).stop_all()


def test_a_server_name_with_a_trailing_new_line_is_refused_by_the_front_itself() -> None:
    """``$`` in a Python pattern matches before a final new line: the name broke out of the comment line."""
    from octorunbook.params.nginx import check_hostname

    with pytest.raises(OctorunbookError) as caught:
        check_hostname("octopus.example.com\n")
    assert caught.value.code == "HOSTNAME_INVALID"
