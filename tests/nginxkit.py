"""Shared pieces of the nginx tests: a real nginx under a private prefix, an upstream, certificates."""

from __future__ import annotations

import json
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import trustme

from octorunbook import certificates
from octorunbook.targets.nginx import NginxSandbox
from octorunbook.targets.protocols import PortalIntent, StoredCertificate

HOSTNAME = "octopus.example.com"
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").is_file() else None)
needs_nginx = pytest.mark.nginx  # the campaign marker: pytest -m nginx selects what needs a real nginx


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test marked ``nginx`` is skipped, with the way to get one, where no nginx is installed."""
    if NGINX is None:
        for item in items:
            if item.get_closest_marker("nginx") is not None:
                item.add_marker(pytest.mark.skip(reason="nginx is not installed (apt-get install nginx)"))


@dataclass
class Changes:
    """A ChangeLog that keeps what a part reported, in order."""

    items: list[tuple[str, str]] = field(default_factory=list)

    def change(self, action: str, detail: str) -> None:
        self.items.append((action, detail))


class Upstream:
    """A stand-in Octopus on plain HTTP: ``/api`` answers the Octopus document plus the headers it got."""

    def __init__(self) -> None:
        seen: list[dict[str, str]] = []
        self.seen = seen

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

            def do_GET(self) -> None:  # noqa: N802
                headers = {k.lower(): v for k, v in self.headers.items()}
                seen.append(headers)
                body = json.dumps(
                    {"Application": "Octopus Deploy", "Version": "2025.3.13578", "Headers": headers}
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05})
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


def issue(ca: trustme.CA, tmp: Path, name: str) -> certificates.LoadedCertificate:
    leaf = ca.issue_cert(HOSTNAME)
    cert_path, key_path = tmp / f"{name}.crt", tmp / f"{name}.key"
    cert_path.write_bytes(b"".join(pem.bytes() for pem in leaf.cert_chain_pems) + ca.cert_pem.bytes())
    key_path.write_bytes(leaf.private_key_pem.bytes())
    return certificates.load_pem_pair(cert_path, key_path)


def intent(certificate: StoredCertificate, **overrides: Any) -> PortalIntent:
    values: dict[str, Any] = {
        "hostname": HOSTNAME,
        "https_port": 443,
        "certificate": certificate,
        "force_ssl": True,
        "hsts_max_age": 3600,
    }
    values.update(overrides)
    return PortalIntent(**values)


@pytest.fixture
def nginx(tmp_path: Path) -> Iterator[NginxSandbox]:
    """A real nginx master under a private prefix, stopped when the test ends (pass or fail)."""
    if NGINX is None:
        pytest.skip("nginx is not installed (apt-get install nginx)")
    sandbox = NginxSandbox(tmp_path / "nginx", nginx_bin=NGINX)
    sandbox.init()
    try:
        sandbox.start()
        yield sandbox
    finally:
        sandbox.stop()
        assert sandbox.pid() is None


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    server = Upstream()
    yield server
    server.close()


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()
