"""Crash points: traced across the run's processes, and the n-th one kills the whole run with SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from octorunbook import crashpoints
from octorunbook.commands import CommandRunner, command_point
from octorunbook.findings import InputError
from octorunbook.redaction import Secret

REACH = "import sys; from octorunbook.crashpoints import reached\nfor name in sys.argv[1:]: reached(name)\n"


def _reach(*names: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", REACH, *names],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=60,
        start_new_session=True,  # its own group: the kill must not reach pytest
    )


def test_a_point_outside_a_campaign_does_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(crashpoints.TRACE_ENV, raising=False)
    monkeypatch.delenv(crashpoints.AT_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    crashpoints.reached("command:netsh:http show sslcert:before")
    assert list(tmp_path.iterdir()) == []


def test_every_process_appends_the_points_it_reaches_to_one_trace_one_a_line(tmp_path: Path) -> None:
    trace = tmp_path / "trace"
    env = {crashpoints.TRACE_ENV: str(trace)}
    assert _reach("a:before", "a:after", env=env).returncode == 0
    assert _reach("a:before", "two\nlines", env=env).returncode == 0
    assert trace.read_text().splitlines() == ["a:before", "a:after", "a:before", "two lines"]


def test_the_nth_time_a_point_is_reached_in_the_run_kills_the_named_group_and_its_own(tmp_path: Path) -> None:
    trace = tmp_path / "trace"
    run = subprocess.Popen(["sleep", "120"], start_new_session=True)  # stands for `octorunbook run`
    try:
        env = {
            crashpoints.TRACE_ENV: str(trace),
            crashpoints.AT_ENV: "x:before#2",
            crashpoints.KILL_PGID_ENV: str(run.pid),
        }
        first = _reach("x:before", "x:after", env=env)  # reached once in this process
        assert first.returncode == 0 and run.poll() is None
        killed = _reach("y", "x:before", "never", env=env)  # the second time, in another process
        assert killed.returncode == -signal.SIGKILL
        assert run.wait(timeout=30) == -signal.SIGKILL
    finally:
        if run.poll() is None:
            run.kill()
        run.wait()
    assert trace.read_text().splitlines() == ["x:before", "x:after", "y", "x:before"]


def test_without_a_trace_the_nth_time_is_counted_in_the_process(tmp_path: Path) -> None:
    started = time.monotonic()
    killed = _reach("p", "p", "p", env={crashpoints.AT_ENV: "p#3"})
    assert killed.returncode == -signal.SIGKILL and time.monotonic() - started < 60
    assert _reach("p", "p", env={crashpoints.AT_ENV: "p#3"}).returncode == 0


def test_a_commands_point_names_the_program_and_its_verb_never_a_value() -> None:
    assert command_point(
        ["/s/bin/netsh", "http", "update", "sslcert", "ipport=0.0.0.0:443", "certhash=AB"]
    ) == ("command:netsh:http update sslcert")
    assert (
        command_point(["netsh", "http", "update", "sslcert", "help"])
        == "command:netsh:http update sslcert help"
    )
    assert command_point(["C:\\Octopus\\Octopus.Server.exe", "configure", "--instance", "Main"]) == (
        "command:Octopus.Server.exe:configure"
    )
    assert command_point(["/usr/sbin/nginx", "-p", "/srv/", "-c", "/etc/n.conf", "-s", "reload"]) == (
        "command:nginx:-p -c -s"
    )
    assert command_point(["powershell.exe", "-Command", "Import-PfxCertificate -Password hunter2"]) == (
        "command:powershell.exe:-Command"
    )


def test_the_seam_reaches_a_point_before_and_after_each_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    trace = tmp_path / "trace"
    monkeypatch.setenv(crashpoints.TRACE_ENV, str(trace))
    runner = CommandRunner()
    runner.run([sys.executable, "-c", "pass"])
    Secret("argv-canary-42")
    with pytest.raises(InputError):
        runner.run([sys.executable, "-c", "print('argv-canary-42')"])  # refused: nothing ran, no point
    name = f"command:{Path(sys.executable).name}:-c"
    assert trace.read_text().splitlines() == [f"{name}:before", f"{name}:after"]
