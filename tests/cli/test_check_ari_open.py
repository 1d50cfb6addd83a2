"""``octorunbook check --acme-directory`` while the CA's renewal window is open: WARNING (exit 1) with
``ACME_ARI_WINDOW_OPEN``, and one message to a local Apprise ``json://`` receiver — end to end through the
installed command, against a scripted CA serving a window that opened an hour ago and closes in 47 hours."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

from tests.acme.fake_ca import fake_ca
from tests.ops.test_notify import Receiver
from tests.tlsserver import HOST, loopback_servers

BIN = Path(sys.executable).parent
ENV_NAME = "OCTORUNBOOK_TEST_NOTIFY"


def test_an_open_window_is_a_warning_with_its_code_and_one_message(tmp_path: Path) -> None:
    now = dt.datetime.now(dt.UTC)
    with fake_ca(tmp_path) as ca, loopback_servers() as start, Receiver() as receiver:
        ca.window(now - dt.timedelta(hours=1), now + dt.timedelta(hours=47))
        port = start().port
        env = {
            ENV_NAME: f"json://127.0.0.1:{receiver.port}/hook",
            "PATH": f"{BIN}:/usr/bin:/bin",
            "HOME": str(tmp_path),
        }
        done = subprocess.run(
            [
                str(BIN / "octorunbook"),
                "check",
                "--url",
                f"https://127.0.0.1:{port}/",
                "--hostname",
                HOST,
                "--acme-directory",
                ca.directory,
                "--acme-ca-bundle",
                ca.bundle,
                "--notify-env",
                ENV_NAME,
                "--json",
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
            env=env,
        )
    assert done.returncode == 1, done.stdout + done.stderr
    reasons = json.loads(done.stdout)["reasons"]
    assert any("renewal window" in r and "is open" in r for r in reasons), reasons
    assert ca.renewal_gets == 1
    assert len(receiver.requests) == 1, receiver.requests
    message = json.loads(receiver.requests[0]["body"])
    assert "ACME_ARI_WINDOW_OPEN" in message["title"]
    assert "remedy: Renew now" in message["message"]
