"""The alarms ``check`` adds to the expiry verdict: the CA's renewal window (open: WARNING, passed:
CRITICAL, about another certificate: nothing) and a window read back from a record, validated as data."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from octorunbook.evidence.check import CRITICAL, OK, UNKNOWN, WARNING, ServedCertificate, judge
from octorunbook.evidence.check_alarms import (
    Alarm,
    Window,
    window_alarm,
    window_from_record,
    with_alarms,
)

NOW = dt.datetime(2026, 12, 5, 12, 0, tzinfo=dt.UTC)
ID = "L4N0IRKDyL6bVjLxhHDpEOdqGhs.OzbyKmiUvQw"


def window(start_hours: float, end_hours: float, cert_id: str = ID) -> Window:
    return Window(
        cert_id,
        NOW + dt.timedelta(hours=start_hours),
        NOW + dt.timedelta(hours=end_hours),
        "the CA at https://ca.example/dir",
    )


def test_a_window_ahead_is_quiet_an_open_one_warns_and_a_passed_one_is_critical() -> None:
    assert window_alarm(window(2, 50), ID, NOW) is None
    open_ = window_alarm(window(-2, 46), ID, NOW)
    assert open_ is not None and open_.code == "ACME_ARI_WINDOW_OPEN" and open_.status == WARNING
    assert "is open and the certificate has not been replaced" in open_.reason
    assert "the scheduled renewal picks 2026-12-" in open_.reason
    passed = window_alarm(window(-1, -0.5), ID, NOW)  # what pebble 2.6 answers for a revoked certificate
    assert passed is not None and passed.code == "ACME_ARI_WINDOW_PASSED" and passed.status == CRITICAL
    assert passed.remedy.startswith("Renew now")


def test_a_window_about_another_certificate_means_it_was_replaced() -> None:
    assert window_alarm(window(-1, -0.5), "AAAA.BB", NOW) is None
    assert window_alarm(window(-1, -0.5), None, NOW) is None


def record(**changes: Any) -> dict[str, Any]:
    ari: dict[str, Any] = {
        "id": ID,
        "window": {"start": "2026-12-05T10:00:00+00:00", "end": "2026-12-05T11:00:00+00:00"},
        "explanation_url": "https://ca.example/incident",
    }
    ari.update(changes)
    return ari


def test_a_recorded_window_is_read_with_its_explanation() -> None:
    read = window_from_record(record(), "/audit/r.ipynb")
    assert read is not None and read.cert_id == ID and read.record == "/audit/r.ipynb"
    assert read.start == NOW - dt.timedelta(hours=2) and read.explanation_url == "https://ca.example/incident"
    alarm = window_alarm(read, ID, NOW)
    assert alarm is not None and "the CA explains: https://ca.example/incident" in alarm.reason
    assert alarm.record == "/audit/r.ipynb" and "renewal record /audit/r.ipynb" in alarm.reason


@pytest.mark.parametrize(
    "changes",
    [
        {"id": "../../etc/passwd"},
        {"id": 7},
        {"id": "no-dot-here"},
        {"window": {"start": "2026-12-05T10:00:00", "end": "2026-12-05T11:00:00"}},  # no zone
        {"window": {"start": "2026-12-05T11:00:00+00:00", "end": "2026-12-05T10:00:00+00:00"}},
        {"window": {"start": "x" * 5000, "end": "2026-12-05T10:00:00+00:00"}},
        {"window": ["2026-12-05T10:00:00+00:00"]},
        {"window": None},
        {
            "window": {"start": "0001-01-01T00:00:00+01:00", "end": "2026-12-05T11:00:00+00:00"}
        },  # year 0 in UTC
        {"window": {"start": "2026-12-05T10:00:00+00:00", "end": "9999-12-31T23:59:59-01:00"}},  # year 10000
    ],
)
def test_a_recorded_window_that_is_not_valid_data_is_ignored(changes: dict[str, Any]) -> None:
    assert window_from_record(record(**changes), "r") is None


def test_an_explanation_that_is_not_a_plain_https_url_is_dropped_not_shown() -> None:
    for url in ("javascript:alert(1)", "https://x/\nSPOOFED LINE", "https://x/\n", "http://ca.example/", 42):
        read = window_from_record(record(explanation_url=url), "r")
        assert read is not None and read.explanation_url == ""
    assert window_from_record("not a dict", "r") is None


def test_alarms_add_their_reasons_and_the_worst_status_wins() -> None:
    end = NOW + dt.timedelta(days=60)
    served = ServedCertificate("AB" * 20, "CN=x", ("p.example",), (), end - dt.timedelta(days=90), end, "")
    ok = judge(served, "p.example", endpoint="127.0.0.1:443", now=NOW)
    assert ok.status == OK
    warned = with_alarms(ok, [Alarm("ACME_ARI_WINDOW_OPEN", WARNING, "window open", "renew")])
    assert warned.status == WARNING and warned.reasons == ("window open",)
    assert warned.line().startswith("CERT WARNING - p.example: window open | days=")
    unknown = with_alarms(ok, [Alarm("ACME_ARI_UNAVAILABLE", UNKNOWN, "CA down", "")])
    assert unknown.status == UNKNOWN
    both = with_alarms(
        ok,
        [Alarm("ACME_ARI_UNAVAILABLE", UNKNOWN, "CA down", ""), Alarm("RENEWALS_STOPPED", CRITICAL, "s", "")],
    )
    assert both.status == CRITICAL and both.reasons == ("CA down", "s")


def test_a_plain_check_imports_neither_the_alarms_nor_any_acme_code() -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "octorunbook.cli.main", "check", "--url",
         "https://127.0.0.1:9/", "--hostname", "localhost", "--timeout", "5"],
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert done.returncode == UNKNOWN, done.stdout  # nothing listens on port 9
    imported = {
        line.split("|")[-1].strip() for line in done.stderr.splitlines() if line.startswith("import time:")
    }
    assert "octorunbook.evidence.check" in imported
    loaded = sorted(m for m in imported if m.split(".")[0] in {"acme", "josepy", "requests", "apprise"})
    assert loaded == [] and not {"octorunbook.acme", "octorunbook.evidence.check_alarms"} & imported
