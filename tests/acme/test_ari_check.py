"""``octorunbook check`` and the CA's renewal window, against pebble 2.6 (ARI, RFC 9773).

A certificate pebble just issued has its window years ahead: OK through both doors. Revoked through
ACME, pebble 2.6 answers a window that has already ended (it opened an hour ago, closed half an hour
ago: "renew now"): ``--acme-directory`` is CRITICAL ``ACME_ARI_WINDOW_PASSED`` at once. The audit door
reads what 04 recorded: once a renewal that failed (and was rolled back) has recorded that window while
the revoked certificate is still served, ``--audit-dir`` is CRITICAL offline too. The failed run and the
check each send exactly one message to a local Apprise receiver, and the URLs' token is in none of them.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from pebble_ca import Pebble

from octorunbook.evidence.check import CRITICAL, OK
from octorunbook.headless.inline import run_inline
from octorunbook.targets.sandbox import Sandbox
from tests.acme.test_ari import _revoke, _served_pem, ari_ca
from tests.acme.test_client import acme_params
from tests.ops.test_notify import Receiver

BIN = Path(sys.executable).parent
ENV_NAME = "OCTORUNBOOK_TEST_NOTIFY"


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "octorunbook"), *args], capture_output=True, text=True, check=False, timeout=600, env=env
    )


@ari_ca
def test_check_reports_the_window_of_a_revoked_certificate_through_both_doors_and_notifies_once(
    sandbox: Sandbox, pebble: Pebble, params_for: Any, tmp_path: Path
) -> None:
    assert (
        run_inline("01-import-certificate", acme_params(params_for, sandbox, pebble))["status"] == "succeeded"
    )
    assert (
        run_inline("03-add-https-binding", acme_params(params_for, sandbox, pebble))["status"] == "succeeded"
    )
    audit = tmp_path / "audit-cli"
    values = {
        "sandbox_dir": str(sandbox.root),
        "audit_dir": str(audit),
        "certificate_source": "acme",
        "acme_directory": pebble.directory,
        "acme_ca_bundle": str(pebble.bundle),
        "acme_email": "ops@example.com",
        "notify_env": ENV_NAME,
    }
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(values))
    canary = "canary" + secrets.token_hex(12)
    port = sandbox.status()["port_map"][443]
    url = ("--url", f"https://127.0.0.1:{port}/", "--hostname", "localhost", "--notify-env", ENV_NAME)
    ca = ("--acme-directory", pebble.directory, "--acme-ca-bundle", str(pebble.bundle), "--timeout", "60")

    with Receiver() as receiver:
        hook = f"json://octorunbook:{canary}@127.0.0.1:{receiver.port}/hook/{canary}"
        env = {ENV_NAME: hook, "PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(tmp_path)}
        renewed = _cli(env, "renew", str(params))  # the window is years ahead: unchanged, window recorded
        assert renewed.returncode == 0, renewed.stdout + renewed.stderr
        fresh = _cli(env, "check", *url, *ca, "--audit-dir", str(audit), "--json")
        assert fresh.returncode == OK, fresh.stdout + fresh.stderr
        assert receiver.requests == []

        _revoke(sandbox, pebble, _served_pem(sandbox))
        online = _cli(env, "check", *url, *ca, "--json")
        assert online.returncode == CRITICAL, online.stdout + online.stderr
        reasons = json.loads(online.stdout)["reasons"]
        assert any("renewal window" in r and "has passed" in r and "the CA at" in r for r in reasons), reasons
        assert len(receiver.requests) == 1
        message = json.loads(receiver.requests[0]["body"])
        assert "ACME_ARI_WINDOW_PASSED" in message["title"] and "localhost" in message["title"]
        assert "remedy: Renew now" in message["message"]

        offline = _cli(env, "check", *url, "--audit-dir", str(audit))  # the record still holds the old window
        assert offline.returncode == OK, offline.stdout

        Sandbox(sandbox.root).init(fail="swap", start=False)  # the renewal fails at the swap, rolled back
        failed = _cli(env, "renew", str(params))
        assert failed.returncode == 1, failed.stdout + failed.stderr
        assert len(receiver.requests) == 2
        run_message = json.loads(receiver.requests[1]["body"])
        assert "04-renew-certificate failed" in run_message["message"]
        assert "rolled back" in run_message["message"]
        newest = sorted(audit.glob("*04-renew-certificate*.ipynb"))[-1]
        assert f"record: {newest}" in run_message["message"]

        recorded = _cli(env, "check", *url, "--audit-dir", str(audit), "--json")
        assert recorded.returncode == CRITICAL, recorded.stdout + recorded.stderr
        reasons = json.loads(recorded.stdout)["reasons"]
        assert any(f"renewal record {newest}" in r and "has passed" in r for r in reasons), reasons
        assert not any("renewals have stopped" in r for r in reasons), "the last success is recent"
        assert len(receiver.requests) == 3
        check_message = json.loads(receiver.requests[2]["body"])
        assert "ACME_ARI_WINDOW_PASSED" in check_message["title"]
        assert f"record: {newest}" in check_message["message"]
    for request in receiver.requests:
        body = json.loads(request["body"])
        assert canary not in f"{body.get('title')}\n{body.get('message')}"
    for done in (renewed, fresh, online, offline, failed, recorded):
        assert canary not in done.stdout + done.stderr
    for path in audit.rglob("*"):
        if path.is_file():
            assert canary.encode() not in path.read_bytes(), path
