"""Check's notifications are told once per event, not once per run: a ledger in the protected state home
remembers what was told; a changed severity or certificate, a reminder interval and the all-clear send
again; a ledger that cannot be trusted never silences an alarm. Time is driven by an injected clock."""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
from pathlib import Path
from typing import Any

import pytest

from octorunbook.evidence.check import ServedCertificate, judge
from octorunbook.evidence.check_alarms import Alarm
from octorunbook.ops.notify import notify_check
from tests.ops.test_notify import Receiver

T0 = dt.datetime(2026, 12, 5, 21, 0, tzinfo=dt.UTC)
ENV = "OCTORUNBOOK_TEST_NOTIFY"


def result(left: float, thumbprint: str = "AB" * 20, now: dt.datetime = T0) -> Any:
    """A 90-day certificate with ``left`` days to go: OK above 30, WARNING above 15, CRITICAL below."""
    end = now + dt.timedelta(days=left)
    cert = ServedCertificate(thumbprint, "CN=x", ("p.example.com",), (), end - dt.timedelta(days=90), end, "")
    return judge(cert, "p.example.com", endpoint="127.0.0.1:443", now=now)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def told(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    """A receiver, a clock and ``check(result, ...)``: notify_check with the ledger in tmp_path/home."""
    canary = "canary" + secrets.token_hex(12)
    with Receiver() as receiver:
        monkeypatch.setenv(ENV, f"json://u:{canary}@127.0.0.1:{receiver.port}/{canary}")
        clock = Clock()
        root = tmp_path / "home" / "notify"

        def check(res: Any, alarms: tuple[Any, ...] = (), **kw: Any) -> list[bool | None]:
            return notify_check(ENV, res, "", alarms, ledger_root=root, clock=clock, **kw)

        receiver.check, receiver.clock, receiver.root, receiver.canary = check, clock, root, canary  # type: ignore[attr-defined]
        yield receiver


def titles(receiver: Any) -> list[str]:
    return [json.loads(r["body"])["title"] for r in receiver.requests]


def ledger_file(root: Path) -> Path:
    found = sorted(root.glob("ledger-*.json"))
    assert len(found) == 1, sorted(p.name for p in root.iterdir())
    return found[0]


def test_a_warning_repeated_every_minute_is_told_once(told: Any) -> None:
    assert told.check(result(20)) == [True]
    for minute in range(1, 4):
        told.clock.now = T0 + dt.timedelta(minutes=minute)
        assert told.check(result(20)) == []
    assert len(told.requests) == 1 and "CHECK_WARNING" in titles(told)[0]


def test_warning_to_critical_is_told_again_and_then_not_repeated(told: Any) -> None:
    told.check(result(20))
    told.clock.now = T0 + dt.timedelta(minutes=1)
    assert told.check(result(10)) == [True]
    told.clock.now = T0 + dt.timedelta(minutes=2)
    assert told.check(result(10)) == []
    assert [("CHECK_CRITICAL" in t) for t in titles(told)] == [False, True]


def test_a_new_certificate_still_past_warning_is_told_again(told: Any) -> None:
    told.check(result(20))
    told.clock.now = T0 + dt.timedelta(minutes=1)
    assert told.check(result(20, thumbprint="CD" * 20)) == [True]
    assert len(told.requests) == 2


def test_a_standing_alarm_is_reminded_after_the_interval_and_not_before(told: Any) -> None:
    told.check(result(20), every_hours=6)
    told.clock.now = T0 + dt.timedelta(hours=5, minutes=59)
    assert told.check(result(20), every_hours=6) == []
    told.clock.now = T0 + dt.timedelta(hours=6)
    assert told.check(result(20), every_hours=6) == [True]
    reminder = json.loads(told.requests[-1]["body"])["message"]
    assert "reminder: first told 2026-12-05 21:00 UTC" in reminder
    told.clock.now = T0 + dt.timedelta(hours=7)
    assert told.check(result(20), every_hours=6) == []
    assert len(told.requests) == 2


def test_an_alarm_that_clears_sends_one_resolved_message(told: Any) -> None:
    stopped = Alarm("RENEWALS_STOPPED", 2, "renewals have stopped", "fix the schedule", "/audit/r.ipynb")
    told.check(result(20), (stopped,), consulted=["audit_dir"])
    told.clock.now = T0 + dt.timedelta(minutes=1)
    assert told.check(result(60), consulted=["audit_dir"]) == [True, True]  # both cleared
    told.clock.now = T0 + dt.timedelta(minutes=2)
    assert told.check(result(60), consulted=["audit_dir"]) == []
    resolved = [json.loads(r["body"]) for r in told.requests[2:]]
    assert len(told.requests) == 4
    assert all(body["title"].startswith("octorunbook: resolved: ") for body in resolved)
    assert all(body["type"] == "success" for body in resolved)
    assert {"CHECK_WARNING", "RENEWALS_STOPPED"} == {b["title"].split()[2] for b in resolved}


def test_an_alarm_whose_source_was_not_read_this_run_is_not_declared_resolved(told: Any) -> None:
    stopped = Alarm("RENEWALS_STOPPED", 2, "renewals have stopped", "fix the schedule")
    told.check(result(60), (stopped,), consulted=["audit_dir"])
    told.clock.now = T0 + dt.timedelta(minutes=1)
    assert told.check(result(60)) == []  # a check without --audit-dir cannot know
    assert len(told.requests) == 1


def test_the_cas_window_is_not_declared_resolved_by_a_record_that_does_not_know_it(told: Any) -> None:
    passed = Alarm("ACME_ARI_WINDOW_PASSED", 2, "the CA's renewal window has passed", "renew now")
    assert told.check(result(60), (passed,), consulted=["acme"]) == [True]
    told.clock.now = T0 + dt.timedelta(minutes=1)
    assert told.check(result(60), consulted=["audit_dir"]) == []  # the record holds an older window
    told.clock.now = T0 + dt.timedelta(minutes=2)
    assert told.check(result(60), consulted=["acme"]) == [True]  # the CA itself says it is over
    assert json.loads(told.requests[-1]["body"])["title"].startswith("octorunbook: resolved: ACME_ARI")


def test_a_check_that_could_not_read_the_certificate_declares_nothing_resolved(told: Any) -> None:
    from octorunbook.evidence.check import unknown

    told.check(result(20))
    told.clock.now = T0 + dt.timedelta(minutes=1)
    assert told.check(unknown("p.example.com", "127.0.0.1:443", "connection refused")) == []
    assert len(told.requests) == 1


def test_an_undelivered_message_is_not_remembered(told: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, "json://127.0.0.1:9/hook")  # nothing listens
    assert told.check(result(20)) == [False]
    monkeypatch.setenv(ENV, f"json://127.0.0.1:{told.port}/hook")
    told.clock.now = T0 + dt.timedelta(minutes=1)
    assert told.check(result(20)) == [True]
    assert len(told.requests) == 1


@pytest.mark.parametrize("damage", ["symlink", "mode", "garbage", "forged", "foreign"])
def test_a_ledger_that_cannot_be_trusted_never_silences_an_alarm(
    told: Any, damage: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    told.check(result(10))
    path = ledger_file(told.root)
    if damage == "symlink":
        copy = tmp_path / "elsewhere.json"
        copy.write_bytes(path.read_bytes())
        copy.chmod(0o600)
        path.unlink()
        path.symlink_to(copy)
    elif damage == "mode":
        path.chmod(0o644)
    elif damage == "foreign":
        if os.geteuid() != 0:
            pytest.skip("giving a file to another user needs root")
        os.chown(path, 65534, 65534)
    elif damage == "garbage":
        path.write_bytes(os.urandom(200))
    else:
        data = json.loads(path.read_text())
        data["body"]["events"]["expiry"]["sent"] = "2099-01-01T00:00:00+00:00"
        path.write_text(json.dumps(data))
    capsys.readouterr()
    told.clock.now = T0 + dt.timedelta(minutes=1)
    assert told.check(result(10)) == [True]
    assert "NOTIFY_LEDGER_UNTRUSTED" in capsys.readouterr().err
    assert len(told.requests) == 2
    told.clock.now = T0 + dt.timedelta(minutes=2)
    assert told.check(result(10)) == []  # the ledger was rewritten, and is trusted again
    assert len(told.requests) == 2


def test_a_valid_ledger_whose_content_check_does_not_write_is_not_obeyed(
    told: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from octorunbook.targets.state import StateHome

    told.check(result(10))
    home = StateHome.open(told.root, "notify")
    name = ledger_file(told.root).name
    body = home.read(name, "notify-ledger")
    assert body is not None
    body["events"]["expiry"]["code"] = "SOMETHING_ELSE"
    home.write(name, "notify-ledger", body)
    told.clock.now = T0 + dt.timedelta(minutes=1)
    assert told.check(result(10)) == [True]
    assert "NOTIFY_LEDGER_UNTRUSTED" in capsys.readouterr().err


def test_an_unsafe_ledger_folder_sends_and_says_so(told: Any, capsys: pytest.CaptureFixture[str]) -> None:
    told.root.mkdir(parents=True)
    told.root.chmod(0o777)
    assert told.check(result(10)) == [True]
    assert told.check(result(10)) == [True]
    err = capsys.readouterr().err
    assert err.count("NOTIFY_LEDGER_UNTRUSTED") == 2 and "STATE_DIR_UNSAFE" in err


def test_the_ledger_holds_no_secret_and_no_message_text(told: Any) -> None:
    told.check(result(10))
    for path in told.root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert told.canary.encode() not in data and b"json://" not in data and b"remedy" not in data
            assert stat_mode(path) & 0o077 == 0
    assert stat_mode(told.root) & 0o077 == 0


def stat_mode(path: Path) -> int:
    return os.lstat(path).st_mode & 0o777


def test_a_check_finding_the_ledger_held_by_another_sends_nothing(
    told: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    import fcntl

    told.check(result(60))  # OK: creates nothing but the home
    from octorunbook.targets.state import StateHome, slug

    home = StateHome.open(told.root, "notify")
    fd = home.open_lock(f"ledger-{slug('127.0.0.1:443 p.example.com')}.lock")
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        assert told.check(result(10), lock_wait=0) == []
        assert "NOTIFY_LEDGER_BUSY" in capsys.readouterr().err
    finally:
        os.close(fd)
    assert told.check(result(10), lock_wait=0) == [True]
    assert len(told.requests) == 1


def test_the_ledger_is_kept_in_the_targets_state_folder_only_when_it_is_ours(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from octorunbook.ops.notify_ledger import ledger_root, user_home

    monkeypatch.setenv("OCTORUNBOOK_HOME", str(tmp_path / "me"))
    assert user_home() == tmp_path / "me" / "notify"
    ours = tmp_path / "state"
    ours.mkdir(mode=0o700)
    assert ledger_root(ours) == ours / "notify"
    assert ledger_root(tmp_path / "missing") == tmp_path / "me" / "notify"
    if os.geteuid() == 0:  # root writes anywhere: a folder of another user's is not ours
        os.chown(ours, 65534, 65534)
    else:  # not writable by us (as a root-owned /var/lib/octorunbook is for a monitoring user)
        ours.chmod(0o500)
    try:
        assert ledger_root(ours) == tmp_path / "me" / "notify"
    finally:
        ours.chmod(0o700)
    assert ledger_root(None) == tmp_path / "me" / "notify"
