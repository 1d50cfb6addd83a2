"""Loud failures (issue 26): a failed renewal sends exactly one message to the Apprise URLs that
``notify_env`` names — with the code, the target, the remedy and the record's path — and the URLs'
token is nowhere: not in the message, the audit folder, the record, stdout or stderr."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import certcorpus as cc
import pytest
import yaml

from octorunbook.headless.inline import run_inline
from octorunbook.ops.notify import Message, send, shown

BIN = Path(sys.executable).parent


class Receiver:
    """An HTTP server on 127.0.0.1 that keeps every request (method, path, headers, body)."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        received = self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                received.append({"path": self.path, "headers": dict(self.headers), "body": body.decode()})
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def pem_files(folder: Path, days: int) -> dict[str, str]:
    key = cc.rsa_key()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "c.crt").write_bytes(cc.pem(cc.leaf(key, names=["localhost"], days=days), cc.ca()[0]))
    (folder / "c.key").write_bytes(cc.key_pem(key))
    return {
        "certificate_source": "pem",
        "pem_cert_path": str(folder / "c.crt"),
        "pem_key_path": str(folder / "c.key"),
    }


def test_a_failed_renewal_notifies_once_and_the_token_is_nowhere(
    sandbox: Any, params_for: Any, tmp_path: Path
) -> None:
    bound = params_for(sandbox, **pem_files(tmp_path / "long", 90))
    assert run_inline("01-import-certificate", bound)["status"] == "succeeded"
    assert run_inline("03-add-https-binding", bound)["status"] == "succeeded"
    canary = "canary" + secrets.token_hex(12)
    audit = tmp_path / "audit"
    values = {
        "sandbox_dir": str(sandbox.root),
        "audit_dir": str(audit),
        "hostname": "localhost",
        "force_renew": True,
        "notify_env": "OCTORUNBOOK_TEST_NOTIFY",
        **pem_files(tmp_path / "short", 20),  # expires sooner than the bound one: RENEWAL_REGRESSES
    }
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(values))
    with Receiver() as receiver:
        url = f"json://octorunbook:{canary}@127.0.0.1:{receiver.port}/hook/{canary}"
        env = {"OCTORUNBOOK_TEST_NOTIFY": url, "PATH": str(BIN) + ":/usr/bin:/bin", "HOME": str(tmp_path)}
        done = subprocess.run(
            [str(BIN / "octorunbook"), "renew", str(params)],
            capture_output=True,
            text=True,
            check=False,
            timeout=600,
            env=env,
        )
    assert done.returncode == 1, done.stdout + done.stderr
    assert len(receiver.requests) == 1, receiver.requests
    message = json.loads(receiver.requests[0]["body"])
    text = f"{message.get('title')}\n{message.get('message')}"
    records = sorted(audit.glob("**/*04-renew-certificate*.ipynb"))
    assert records, sorted(p.name for p in audit.rglob("*"))
    assert "RENEWAL_REGRESSES" in text and "localhost" in text
    assert "remedy: Get a certificate that lasts longer" in text
    assert f"record: {records[-1]}" in text
    assert canary not in text
    assert canary not in done.stdout and canary not in done.stderr
    for path in audit.rglob("*"):
        if path.is_file():
            assert canary.encode() not in path.read_bytes(), path


def test_an_undeliverable_notification_is_said_without_the_url(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OCTORUNBOOK_TEST_NOTIFY", "json://user:s3cr3t-token@127.0.0.1:9/hook")
    message = Message("RENEWAL_REGRESSES", "localhost", "failed", "fix it", "/audit/r.ipynb")
    assert send("OCTORUNBOOK_TEST_NOTIFY", message) is False
    err = capsys.readouterr().err
    assert "NOTIFY_FAILED" in err and "URL 1 of 1 (json://)" in err and "s3cr3t" not in err
    assert "127.0.0.1" not in err
    assert send("OCTORUNBOOK_UNSET_VARIABLE", message) is None
    assert shown("mailto://me:pw@example.com/?to=x") == "URL 1 of 1 (mailto://)"


def test_a_failed_notification_never_shows_a_host_that_is_a_token(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Red team: for Pushbullet, ntfy and Pushover the host part of the URL is the secret itself."""
    tokens = ["o8kq2zSecretAccessTokenABCDEF1234", "my-private-topic-9f3k2", "aSecretAppToken123"]
    urls = f"pbul://{tokens[0]} ntfy://{tokens[1]} pover://ukey@{tokens[2]}"
    monkeypatch.setenv("OCTORUNBOOK_TEST_NOTIFY", urls)
    message = Message("RENEWAL_REGRESSES", "localhost", "failed", "fix it", "/audit/r.ipynb")
    send("OCTORUNBOOK_TEST_NOTIFY", message)
    err = capsys.readouterr().err
    assert "URL 1 of 3 (pbul://)" in err and "URL 3 of 3 (pover://)" in err, err
    for token in tokens:
        assert token.lower() not in err.lower(), err


def test_notify_env_must_be_a_name_and_a_pasted_url_is_not_shown() -> None:
    from octorunbook.params.core import Parameters

    pasted = Parameters(notify_env="json://u:tok3n@example.com/hook")
    findings = [f for f in pasted.check() if f.code == "NOTIFY_ENV_INVALID"]
    assert findings and "tok3n" not in findings[0].message
    assert "tok3n" not in json.dumps(pasted.to_record())


def test_check_refuses_a_url_pasted_into_notify_env_without_showing_it() -> None:
    """The same mistake through the CLI door: a usage error (UNKNOWN, exit 3), the token not echoed."""
    import subprocess
    import sys
    from pathlib import Path

    cli = str(Path(sys.executable).parent / "octorunbook")
    argv = [cli, "check", "--url", "https://127.0.0.1:9", "--hostname", "portal.example.com"]
    done = subprocess.run(
        [*argv, "--notify-env", "pbul://o8kq2zTok3nABC"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 3 and "--notify-env takes the NAME" in done.stdout, done.stdout + done.stderr
    assert "Tok3n".lower() not in (done.stdout + done.stderr).lower()


def test_a_check_past_warning_notifies_once_and_an_ok_one_does_not(monkeypatch: pytest.MonkeyPatch) -> None:
    import datetime as dt

    from octorunbook.evidence.check import ServedCertificate, judge
    from octorunbook.ops.notify import notify_check

    now = dt.datetime.now(dt.UTC)

    def result(left: float) -> Any:
        end = now + dt.timedelta(days=left)
        cert = ServedCertificate(
            "AB" * 20, "CN=x", ("p.example.com",), (), end - dt.timedelta(days=90), end, ""
        )
        return judge(cert, "p.example.com", endpoint="127.0.0.1:443", now=now)

    with Receiver() as receiver:
        monkeypatch.setenv("OCTORUNBOOK_TEST_NOTIFY", f"json://127.0.0.1:{receiver.port}/hook")
        assert notify_check("OCTORUNBOOK_TEST_NOTIFY", result(60)) == []  # OK: nothing sent
        assert notify_check("OCTORUNBOOK_TEST_NOTIFY", result(20)) == [True]  # WARNING: 1/3 of 90 days
    assert len(receiver.requests) == 1
    body = json.loads(receiver.requests[0]["body"])
    assert "CHECK_WARNING" in body["title"] and "p.example.com" in body["title"]
    assert "remedy: Renew now" in body["message"]


def test_a_rolled_back_renewal_notifies_once_saying_it_was_rolled_back(
    sandbox: Any, params_for: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from octorunbook.ops.notify import notify_run
    from octorunbook.targets.sandbox import Sandbox

    assert run_inline("01-import-certificate", params_for(sandbox))["status"] == "succeeded"
    assert run_inline("03-add-https-binding", params_for(sandbox))["status"] == "succeeded"
    Sandbox(sandbox.root).init(fail="swap", start=False)
    params = params_for(sandbox, force_renew=True, notify_env="OCTORUNBOOK_TEST_NOTIFY")
    record = run_inline("04-renew-certificate", params)
    assert record["status"] == "failed"
    canary = "canary" + secrets.token_hex(12)
    with Receiver() as receiver:
        monkeypatch.setenv("OCTORUNBOOK_TEST_NOTIFY", f"json://u:{canary}@127.0.0.1:{receiver.port}/{canary}")
        assert notify_run(params, "04-renew-certificate", "failed", record, "/audit/r.ipynb") is True
        assert notify_run(params, "04-renew-certificate", "succeeded", record, "/audit/r.ipynb") is None
    assert len(receiver.requests) == 1
    body = json.loads(receiver.requests[0]["body"])
    text = f"{body['title']}\n{body['message']}"
    code = next(f["code"] for f in record["findings"] if f["severity"] == "error")
    assert code in body["title"] and "localhost" in body["title"]
    assert "The change was rolled back: the portal serves what it served before." in text
    assert "remedy: " in text and "record: /audit/r.ipynb" in text and canary not in text


def test_a_refused_renewal_that_changed_nothing_does_not_claim_a_rollback() -> None:
    from octorunbook.ops.notify import rolled_back

    assert (
        rolled_back({"findings": [{"code": "RENEWAL_REGRESSES", "severity": "error"}], "changes": []}) == ""
    )
    incomplete = {"findings": [{"code": "ROLLBACK_INCOMPLETE", "severity": "error"}]}
    assert "INCOMPLETE" in rolled_back(incomplete)


def test_a_missed_schedule_notifies_once_however_often_the_monitoring_system_checks(
    sandbox: Any, tmp_path: Path
) -> None:
    from tests.evidence.test_check import bind, leaf

    bind(sandbox, tmp_path, leaf())
    audit = tmp_path / "audit"
    audit.mkdir()  # no renewal ever recorded: the dead man's switch is CRITICAL
    canary = "canary" + secrets.token_hex(12)
    port = sandbox.status()["port_map"][443]
    argv = [
        *(
            str(BIN / "octorunbook"),
            "check",
            "--url",
            f"https://127.0.0.1:{port}/",
            "--hostname",
            "localhost",
        ),
        *("--audit-dir", str(audit), "--notify-env", "OCTORUNBOOK_TEST_NOTIFY"),
    ]
    with Receiver() as receiver:
        env = {
            "OCTORUNBOOK_TEST_NOTIFY": f"json://u:{canary}@127.0.0.1:{receiver.port}/{canary}",
            "PATH": str(BIN) + ":/usr/bin:/bin",
            "HOME": str(tmp_path),
        }
        runs = [
            subprocess.run(argv + extra, capture_output=True, text=True, check=False, timeout=120, env=env)
            for extra in ([], [], ["--notify-every", "0.5"])
        ]
    done, again, bad = runs
    assert (done.returncode, again.returncode) == (2, 2), done.stdout + done.stderr
    assert len(receiver.requests) == 1, receiver.requests  # one event, told once (the ledger remembers)
    assert bad.returncode == 3 and "--notify-every" in bad.stdout  # 1 to 720 hours
    body = json.loads(receiver.requests[0]["body"])
    text = f"{body['title']}\n{body['message']}"
    assert "RENEWALS_STOPPED" in body["title"] and "localhost" in body["title"]
    assert "remedy: Check the schedule" in text and f"record: {audit}" in text
    assert canary not in text and canary not in done.stdout + done.stderr
    ledgers = sorted((tmp_path / ".octorunbook" / "notify").glob("ledger-*.json"))  # --url: the user's home
    assert len(ledgers) == 1 and canary.encode() not in ledgers[0].read_bytes()


@pytest.mark.parametrize("value", [None, "", "  "], ids=["unset", "empty", "blank"])
def test_notify_env_naming_an_empty_variable_is_loud_in_the_parameters_run_and_check(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], value: str | None
) -> None:
    from types import SimpleNamespace

    from octorunbook.ops import notify
    from octorunbook.params.core import Parameters

    name = f"OCTORUNBOOK_TEST_EMPTY_{secrets.token_hex(4).upper()}"
    if value is not None:
        monkeypatch.setenv(name, value)
    (finding,) = [f for f in Parameters(notify_env=name).check() if f.code == "NOTIFY_ENV_EMPTY"]
    assert finding.severity == "warning" and f"${name}" in finding.message
    params = Parameters(notify_env=name)
    assert notify.notify_run(params, "04-renew-certificate", "failed", {}, "/audit/r.ipynb") is None
    err = capsys.readouterr().err
    assert f"NOTIFY_ENV_EMPTY: notify_env names ${name}" in err
    result = SimpleNamespace(status=2, hostname="localhost", endpoint="127.0.0.1:443")
    monkeypatch.setattr(notify, "_SAID_EMPTY", set())  # check runs in its own process
    assert notify.notify_check(name, result) == []
    assert "NOTIFY_ENV_EMPTY" in capsys.readouterr().err


def test_a_run_whose_notify_env_is_empty_records_the_warning(
    sandbox: Any, params_for: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OCTORUNBOOK_TEST_NOTIFY_UNSET", raising=False)
    record = run_inline(
        "04-renew-certificate", params_for(sandbox, notify_env="OCTORUNBOOK_TEST_NOTIFY_UNSET")
    )
    (finding,) = [f for f in record["findings"] if f["code"] == "NOTIFY_ENV_EMPTY"]
    assert finding["severity"] == "warning" and "$OCTORUNBOOK_TEST_NOTIFY_UNSET" in finding["message"]
