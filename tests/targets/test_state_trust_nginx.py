"""Issue 22 on ``target: nginx``: the state home beside ``cert_dir`` and what a planted journal could make
nginx do (serve the planter's certificate, include the planter's file) — observed over TLS and HTTPS.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import trustme
from nginxkit import HOSTNAME, NGINX, needs_nginx
from portkit import free_port
from trustkit import (
    BIN,
    as_attacker,
    kill_whole_run,
    let_others_traverse,
    octorunbook,
    params_file,
    tls_thumbprint,
    tree,
)

from octorunbook.evidence.tls import http_get, tls_handshake

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


def planted_files(ca: trustme.CA) -> tuple[str, dict[str, str]]:
    """The attacker's certificate (valid for the portal's name), its key and a file for nginx to include:
    its thumbprint, and each file's name and text."""
    leaf = ca.issue_cert(HOSTNAME)
    return tls_thumbprint(leaf.cert_chain_pems[0].bytes()), {
        "planted.crt": b"".join(pem.bytes() for pem in leaf.cert_chain_pems).decode(),
        "planted.key": leaf.private_key_pem.bytes().decode(),
        "evil.conf": 'add_header X-Planted "yes" always;\n',
    }


def crafted_journal(site: Path, site_text: str, port: int, planted: str, evil: Path) -> str:
    """03's change journal in the old JSON format, well-formed, no MAC: "the site before the change" is
    the attacker's, and so is the thumbprint the restore's proof expects on the port."""
    text = planted_site(site_text, evil / "planted.crt", evil / "planted.key", evil / "evil.conf")
    return json.dumps(
        {
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
                    "text": text,
                },
                "octopus-behind-proxy": {"trusted_proxies": [], "listen_prefixes": [], "managed": False},
            },
            "served_before": {str(port): planted},
            "commands": [],
        }
    )


def bind_through_nginx(
    tmp_path: Path, nginx: Any, upstream: Any, cert_dir: Path, nginx_bin: str | None = NGINX
) -> tuple[Path, int, str]:
    """``target: nginx`` bound by ``octorunbook run``: the YAML, the HTTPS port, the thumbprint served."""
    port = free_port()
    yaml_path = params_file(
        tmp_path / "nginx.yaml",
        target="nginx",
        nginx_bin=nginx_bin,
        nginx_conf_dir=str(nginx.prefix),
        nginx_pid=str(nginx.prefix / "nginx.pid"),
        cert_dir=str(cert_dir),
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
    return yaml_path, port, ours


def test_renew_on_nginx_refuses_a_state_folder_an_unprivileged_user_planted_beside_cert_dir(
    nginx: Any, upstream: Any, ca: trustme.CA, tmp_path: Path
) -> None:
    shared = tmp_path / "shared"  # cert_dir's parent: the state home is shared/state
    shared.mkdir(mode=0o755)
    yaml_path, port, ours = bind_through_nginx(tmp_path, nginx, upstream, shared / "certs")
    site = nginx.prefix / "conf.d" / "octopus-portal.conf"
    site_before = site.read_bytes()

    # A careless operator lets a team write into the folder; the attacker (nobody) swaps in a state
    # folder of their own with a journal that restores "the previous site": their certificate, their file.
    shared.chmod(0o777)
    let_others_traverse(shared)
    planted, files = planted_files(ca)
    evil = shared / "evil"
    journal = crafted_journal(site, site_before.decode(), port, planted, evil)
    as_attacker(
        'mv "$1/state" "$1/state.old"; mkdir -m 0777 "$1/state" "$1/evil"; cat > "$1/state/$2"',
        shared,
        "change-OctopusServer.json",
        stdin=journal,
    )
    for name, text in files.items():
        as_attacker('cat > "$1"', evil / name, stdin=text)
    planted_state = tree(shared / "state")

    done = octorunbook("renew", str(yaml_path))

    assert tls_handshake("127.0.0.1", port, HOSTNAME).thumbprint == ours, (
        f"nginx serves a certificate not ours (the planted one is {planted}): " + done.stdout[-3000:]
    )
    assert http_get("https", "127.0.0.1", port, HOSTNAME).header("X-Planted") is None, "evil.conf is included"
    assert site.read_bytes() == site_before, "the managed server block was rewritten"
    assert done.returncode == 1, done.stdout[-3000:]
    assert "✖ STATE_DIR_UNSAFE: " in done.stdout and "remedy:" in done.stdout, done.stdout[-3000:]
    assert tree(shared / "state") == planted_state, "the planted folder was read from or written to"


HANGING_RELOAD = """#!/bin/sh
# nginx, except that "-s reload" hangs while the file HANG exists (the run can be killed right there)
for arg in "$@"; do
    if [ "$arg" = reload ] && [ -e "{hang}" ]; then echo $$ > "{fired}"; exec sleep 300; fi
done
exec "{nginx}" "$@"
"""


def test_a_crafted_journal_never_makes_nginx_serve_a_planted_certificate_or_include_a_planted_file(
    nginx: Any, upstream: Any, ca: trustme.CA, tmp_path: Path
) -> None:
    hang, fired, wrapper = tmp_path / "HANG", tmp_path / "FIRED", tmp_path / "bin" / "nginx"
    wrapper.parent.mkdir()
    wrapper.write_text(HANGING_RELOAD.format(hang=hang, fired=fired, nginx=NGINX))
    wrapper.chmod(0o755)
    state = tmp_path / "etc" / "state"
    yaml_path, port, ours = bind_through_nginx(
        tmp_path, nginx, upstream, state.parent / "certs", str(wrapper)
    )
    site = nginx.prefix / "conf.d" / "octopus-portal.conf"

    # A renewal killed with -9 while nginx reloads: the new server block is installed, not yet served.
    before = tree(state)
    hang.touch()
    with (tmp_path / "killed.out").open("wb") as out:
        run = subprocess.Popen(
            [str(BIN / "octorunbook"), "renew", str(yaml_path), "--force"],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 300
        while not fired.exists() or not fired.read_text().strip():
            assert run.poll() is None, (tmp_path / "killed.out").read_text()[-3000:]
            assert time.monotonic() < deadline, "the renewal never reloaded nginx"
            time.sleep(0.1)
    finally:
        kill_whole_run(run)
        with contextlib.suppress(ValueError, ProcessLookupError, FileNotFoundError):
            os.kill(int(fired.read_text()), signal.SIGKILL)
        hang.unlink()
    checkpoints = [
        state / name
        for name, content in tree(state).items()
        if before.get(name) != content and content != "dir" and "lock" not in Path(name).name.lower()
    ]
    assert checkpoints, f"the killed renewal left no checkpoint in {state}"

    # Root (a restore script, a careless admin) writes a well-formed journal in the old format over it.
    planted, files = planted_files(ca)
    evil = tmp_path / "planted"
    evil.mkdir()
    for name, text in files.items():
        (evil / name).write_text(text)
    site_before = site.read_bytes()
    for path in checkpoints:
        path.write_text(crafted_journal(site, site_before.decode(), port, planted, evil))

    done = octorunbook("renew", str(yaml_path))

    assert tls_handshake("127.0.0.1", port, HOSTNAME).thumbprint == ours, (
        f"nginx serves a certificate not ours (the planted one is {planted}): " + done.stdout[-3000:]
    )
    assert http_get("https", "127.0.0.1", port, HOSTNAME).header("X-Planted") is None, "evil.conf is included"
    assert site.read_bytes() == site_before, "the managed server block was rewritten"
    assert done.returncode == 1 and "STATE_UNTRUSTED" in done.stdout, done.stdout[-3000:]
    assert planted in "".join(
        p.read_text("utf-8", "replace") for p in (state / "quarantine").rglob("*") if p.is_file()
    ), "the crafted journal is kept in quarantine/"
