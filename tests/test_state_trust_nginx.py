"""Issue 22 on ``target: nginx``: the state home beside ``cert_dir`` and what a planted journal could make
nginx do (serve the planter's certificate, include the planter's file) — observed over TLS and HTTPS.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
import trustme
from nginxkit import HOSTNAME, NGINX, needs_nginx
from trustkit import (
    as_attacker,
    free_port,
    let_others_traverse,
    octorunbook,
    params_file,
    records,
    tls_thumbprint,
    tree,
)

from octorunbook.verify import http_get, tls_handshake

pytestmark = [
    pytest.mark.redteam,
    needs_nginx,
    pytest.mark.skipif(sys.platform != "linux", reason="POSIX owners and modes"),
]


def planted_site(site_text: str, certificate: Path, key: Path, include: Path) -> str:
    """The managed server block, pointed at the attacker's certificate and including the attacker's file."""
    lines = []
    for line in site_text.splitlines(keepends=True):
        if line.strip().startswith("ssl_certificate "):
            lines.append(f"    include {include};\n    ssl_certificate {certificate};\n")
        elif line.strip().startswith("ssl_certificate_key "):
            lines.append(f"    ssl_certificate_key {key};\n")
        else:
            lines.append(line)
    return "".join(lines)


def test_renew_on_nginx_refuses_a_state_folder_an_unprivileged_user_planted_beside_cert_dir(
    nginx: Any, upstream: Any, ca: trustme.CA, tmp_path: Path
) -> None:
    shared = tmp_path / "shared"  # cert_dir's parent: the state home is shared/state
    shared.mkdir(mode=0o755)
    port = free_port()
    yaml_path = params_file(
        tmp_path / "nginx.yaml",
        target="nginx",
        nginx_bin=NGINX,
        nginx_conf_dir=str(nginx.prefix),
        nginx_pid=str(nginx.prefix / "nginx.pid"),
        cert_dir=str(shared / "certs"),
        octopus_upstream=upstream.url,
        hostname=HOSTNAME,
        https_port=port,
        keep_http=False,
        hsts_max_age=3600,
        audit_dir=str(tmp_path / "audit"),
    )
    first = octorunbook("run", str(yaml_path))
    assert first.returncode == 0, first.stdout[-4000:]
    ours = tls_handshake("127.0.0.1", port, HOSTNAME).thumbprint
    site = nginx.prefix / "conf.d" / "octopus-portal.conf"
    site_before = site.read_bytes()
    assert ours in json.dumps(records(tmp_path / "audit", "03-add-https-binding")[-1]["certificate"])

    # A careless operator lets a team write into the folder; the attacker (nobody) swaps in a state
    # folder of their own with a journal that restores "the previous site": their certificate, their file.
    shared.chmod(0o777)
    let_others_traverse(shared)
    leaf = ca.issue_cert(HOSTNAME)
    evil = shared / "evil"
    chain = b"".join(pem.bytes() for pem in leaf.cert_chain_pems).decode()
    planted = tls_thumbprint(leaf.cert_chain_pems[0].bytes())
    journal = {
        "version": 1,
        "topology": "parts",
        "phase": "applying",
        "runbook": "03-add-https-binding",
        "operator": "root",
        "pid": 1,
        "started_at": "2026-01-01T00:00:00Z",
        "instance": "OctopusServer",
        "port": port,
        "snapshot": {
            "nginx": {
                "path": str(site),
                "exists": True,
                "managed": True,
                "thumbprint": planted,
                "text": planted_site(
                    site_before.decode(), evil / "planted.crt", evil / "planted.key", evil / "evil.conf"
                ),
            },
            "octopus-behind-proxy": {"trusted_proxies": [], "listen_prefixes": [], "managed": False},
        },
        "served_before": {str(port): planted},
        "commands": [],
    }
    as_attacker(
        'mv "$1/state" "$1/state.old"; mkdir -m 0777 "$1/state" "$1/evil"; cat > "$1/state/$2"',
        shared,
        "change-OctopusServer.json",
        stdin=json.dumps(journal),
    )
    as_attacker('cat > "$1"', evil / "planted.crt", stdin=chain)
    as_attacker('cat > "$1"', evil / "planted.key", stdin=leaf.private_key_pem.bytes().decode())
    as_attacker('cat > "$1"', evil / "evil.conf", stdin='add_header X-Planted "yes" always;\n')
    planted_state = tree(shared / "state")

    done = octorunbook("renew", str(yaml_path))

    assert tls_handshake("127.0.0.1", port, HOSTNAME).thumbprint == ours, (
        "nginx serves the planter's certificate: " + done.stdout[-3000:]
    )
    assert http_get("https", "127.0.0.1", port, HOSTNAME).header("X-Planted") is None, "evil.conf is included"
    assert site.read_bytes() == site_before, "the managed server block was rewritten"
    assert done.returncode == 1, done.stdout[-3000:]
    assert "✖ STATE_DIR_UNSAFE: " in done.stdout and "remedy:" in done.stdout, done.stdout[-3000:]
    assert tree(shared / "state") == planted_state, "the planted folder was read from or written to"
