"""The managed server block as text, the candidate test configuration, and how nginx is addressed."""

from __future__ import annotations

import os
import signal
import socket
import time
from pathlib import Path

import pytest
import trustme
from nginxkit import NGINX, Changes, Upstream, intent, issue, needs_nginx

from octorunbook.commands import CommandRunner
from octorunbook.evidence.tls import tls_handshake
from octorunbook.findings import OctorunbookError
from octorunbook.params.nginx import check_upstream
from octorunbook.targets.nginx import NginxFront, NginxInstallation, PemDirectoryStore
from octorunbook.targets.nginx.config import (
    SiteSettings,
    candidate_main_config,
    check_directives,
    render,
)
from octorunbook.targets.nginx.process import NginxVersion, parse_version


def settings(**overrides: object) -> SiteSettings:
    values: dict[str, object] = {
        "hostname": "octopus.example.com",
        "https_port": 443,
        "public_https_port": 443,
        "fullchain": Path("/etc/octorunbook/certs/T/fullchain.pem"),
        "privkey": Path("/etc/octorunbook/certs/T/privkey.pem"),
        "thumbprint": "T",
        "upstream": "http://127.0.0.1:8080",
        "http2": "listen",
        "hsts_max_age": 3600,
        "http_port": 80,
        "redirect_http": True,
    }
    values.update(overrides)
    return SiteSettings(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("version", "module", "spelling"),
    [
        ((1, 22, 1), True, "listen"),
        ((1, 25, 1), True, "directive"),
        ((1, 22, 1), False, ""),
        ((1, 9, 4), True, ""),
    ],
)
def test_http2_is_spelled_as_this_nginx_version_expects(
    version: tuple[int, ...], module: bool, spelling: str
) -> None:
    assert NginxVersion(version, module).http2 == spelling


def test_version_and_http2_module_are_read_from_nginx_dash_capital_v() -> None:
    output = "nginx version: nginx/1.22.1\nbuilt with OpenSSL 3.0\nconfigure arguments: --with-http_v2_module"
    assert parse_version(output) == NginxVersion((1, 22, 1), True)
    with pytest.raises(OctorunbookError) as caught:
        parse_version("command not found")
    assert caught.value.code == "NGINX_VERSION_UNKNOWN"


def test_http2_directive_replaces_the_listen_parameter_from_1_25_1() -> None:
    text = render(settings(http2="directive"))
    assert "    listen 443 ssl;\n    http2 on;\n" in text


def test_force_ssl_makes_the_http_server_redirect_only_never_proxy() -> None:
    text = render(settings(public_https_port=8443, https_port=18443))
    http_server = text.split("server {")[-1]
    assert "return 308 https://octopus.example.com:8443$request_uri;" in http_server
    assert "proxy_pass" not in http_server and text.count("proxy_pass") == 1


def test_no_http_port_means_no_plain_http_server_at_all() -> None:
    text = render(settings(http_port=None, hsts_max_age=0))
    assert text.count("server {") == 1 and "Strict-Transport-Security" not in text


def test_render_is_deterministic_and_marked_as_managed_on_its_first_line() -> None:
    assert render(settings()) == render(settings())
    assert render(settings()).splitlines()[0].startswith("# Managed by octorunbook")
    assert "ssl_protocols TLSv1.2 TLSv1.3;" in render(settings())


@pytest.mark.parametrize(
    "upstream", ["127.0.0.1:8080", "http://octopus:8080/app", "http://x:1;evil", "ftp://x", "http://a b"]
)
def test_an_upstream_that_is_not_an_http_address_is_refused(upstream: str) -> None:
    with pytest.raises(OctorunbookError) as caught:
        check_upstream(upstream)
    assert caught.value.code == "NGINX_UPSTREAM_INVALID"


def test_upstream_is_normalised_without_trailing_slash() -> None:
    assert check_upstream("http://127.0.0.1:8080/") == "http://127.0.0.1:8080"


def test_extra_directives_must_be_single_simple_directives() -> None:
    assert check_directives(("client_max_body_size 100m;",)) == ("client_max_body_size 100m;",)
    with pytest.raises(OctorunbookError) as caught:
        check_directives(("location / { return 200; }",))
    assert caught.value.code == "NGINX_DIRECTIVE_INVALID"


def test_candidate_configuration_swaps_only_the_managed_file_in_the_include(tmp_path: Path) -> None:
    (tmp_path / "conf.d").mkdir()
    for name in ("a.conf", "octopus-portal.conf", "z.conf"):
        (tmp_path / "conf.d" / name).write_text("")
    main = tmp_path / "nginx.conf"
    main.write_text("events {}\nhttp {\n    include mime.types;\n    include conf.d/*.conf;\n}\n")
    site, candidate = tmp_path / "conf.d" / "octopus-portal.conf", tmp_path / "conf.d" / ".candidate"

    text = candidate_main_config(main, site, candidate)

    d = tmp_path / "conf.d"
    assert text == (
        "events {}\nhttp {\n    include mime.types;\n"
        f'    include "{d}/a.conf";\n    include "{candidate}";\n    include "{d}/z.conf";\n}}\n'
    )
    assert f'include "{d}/a.conf";\n    include "{d}/z.conf";' in candidate_main_config(main, site, None)


def test_a_managed_file_the_main_configuration_does_not_include_is_refused(tmp_path: Path) -> None:
    main = tmp_path / "nginx.conf"
    main.write_text("events {}\nhttp { include sites-enabled/*; }\n")

    with pytest.raises(OctorunbookError) as caught:
        candidate_main_config(main, tmp_path / "conf.d" / "octopus-portal.conf", None)

    assert caught.value.code == "NGINX_CONFIG_NOT_INCLUDED"


def test_g_pid_is_passed_only_when_the_main_configuration_names_no_pid_file(tmp_path: Path) -> None:
    (tmp_path / "nginx.conf").write_text("user www-data;\npid /run/nginx.pid;\nevents {}\n")
    debian = NginxInstallation(conf_dir=tmp_path)
    assert debian.argv("-s", "reload") == ["/usr/sbin/nginx", "-c", f"{tmp_path}/nginx.conf", "-s", "reload"]

    (tmp_path / "nginx.conf").write_text("events {}\n")
    private = NginxInstallation(conf_dir=tmp_path, pid_file=tmp_path / "n.pid", prefix=tmp_path)
    assert private.argv("-t") == [
        "/usr/sbin/nginx", "-p", f"{tmp_path}/", "-c", f"{tmp_path}/nginx.conf", "-g", f"pid {tmp_path}/n.pid;", "-t"
    ]  # fmt: skip


@needs_nginx
def test_a_debian_shaped_configuration_with_its_own_pid_file_is_tested_and_reloaded(
    tmp_path: Path, ca: trustme.CA, upstream: Upstream
) -> None:
    """Debian's nginx.conf names its pid file and includes conf.d/*.conf and sites-enabled/*."""
    root = tmp_path / "etc-nginx"
    for sub in ("conf.d", "sites-enabled", "run", "temp"):
        (root / sub).mkdir(parents=True)
    (root / "sites-enabled" / "default").write_text(
        "server { listen 127.0.0.1:1 default_server; return 444; }\n"
    )
    (root / "nginx.conf").write_text(
        f"pid {root}/run/nginx.pid;\nerror_log {root}/error.log;\nworker_processes 1;\n"
        + ("user root;\n" if os.geteuid() == 0 else "")
        + "events {}\nhttp {\n"
        f"    access_log off; client_body_temp_path {root}/temp/b; proxy_temp_path {root}/temp/p;\n"
        f"    fastcgi_temp_path {root}/temp/f; uwsgi_temp_path {root}/temp/u; scgi_temp_path {root}/temp/s;\n"
        f"    include {root}/conf.d/*.conf;\n    include {root}/sites-enabled/*;\n}}\n"
    )
    assert NGINX is not None
    runner = CommandRunner(timeout=30)
    installation = NginxInstallation(bin=NGINX, conf_dir=root, pid_file=root / "run" / "nginx.pid")
    assert runner.run(installation.argv()).ok
    try:
        stored = PemDirectoryStore(tmp_path / "certs").add(issue(ca, tmp_path, "a"))
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        front = NginxFront(installation, runner, upstream=upstream.url, port_mapper=lambda _: port)
        current = front.read()
        front.apply(
            current, front.desired(intent(stored, force_ssl=False, keep_http=False), current), Changes()
        )

        assert tls_handshake("127.0.0.1", port, "octopus.example.com").thumbprint == stored.thumbprint
        assert all("-g" not in r.argv for r in runner.records)
    finally:
        pid = int((root / "run" / "nginx.pid").read_text())
        os.kill(pid, signal.SIGQUIT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
            if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0] == "Z":
                break
            time.sleep(0.02)
