"""The sandbox's stand-ins from a fork server: the same answers as their wrappers, each a process of its own,
killed at its timeout, in the caller's folder, umask and environment; an edited wrapper still runs as a file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from prockit import running

from octorunbook.commands import CommandRunner, child_environment
from octorunbook.findings import CommandError
from octorunbook.targets.sandbox import forkserver
from octorunbook.targets.winsyntax import OCTOPUS_APP_ID

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the fork server is Linux only")


@pytest.fixture(autouse=True)
def _enabled(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(forkserver.SWITCH, raising=False)
    forkserver.enable()
    for server in list(forkserver._servers.values()):  # each test counts the servers it started
        server.close()
    forkserver._servers.clear()


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid and running(stat.parent.name):
            found.append(int(stat.parent.name))
    return found


def _server_pids() -> list[int]:
    return [s.process.pid for s in forkserver._servers.values() if s.alive()]


def _commands(sandbox: Any) -> list[list[str]]:
    server, netsh, reg, sc = (
        str(p) for p in (sandbox.server_exe, sandbox.netsh_exe, sandbox.reg_exe, sandbox.sc_exe)
    )
    return [
        [netsh, "http", "show", "sslcert"],
        [netsh, "http", "show", "sslcert", "ipport=0.0.0.0:443"],  # exit 1: no such binding
        [netsh, "http", "add", "sslcert", "help"],
        [sc, "qc", "OctopusDeploy"],
        [reg, "query", r"HKLM\SYSTEM\CurrentControlSet\Services\HTTP\Parameters"],
        [server, "list-instances", "--console"],
        [server, "show-configuration", "--instance", "OctopusServer", "--format=json-hierarchical"],
        [server, "nonsense"],  # exit 2, on stderr
        [server, "configure", "--instance"],  # a SystemExit from the option parser
        [server],
    ]


def test_each_stand_in_answers_from_the_fork_server_exactly_as_its_wrapper_does(make_sandbox: Any) -> None:
    sandbox = make_sandbox(start=False)
    env = child_environment()
    for argv in _commands(sandbox):
        forked = forkserver.launch(tuple(argv), env, 60)
        assert forked is not None, argv  # the wrapper is ours: it ran from the server
        wrapper = subprocess.run(argv, capture_output=True, env=env, timeout=60, check=False)
        assert forked == (wrapper.returncode, wrapper.stdout, wrapper.stderr), argv
    assert len(_server_pids()) == 1  # one server for all of them


def test_a_wrapper_that_is_not_what_this_interpreter_writes_runs_as_the_file_it_is(make_sandbox: Any) -> None:
    sandbox = make_sandbox(start=False)
    original = sandbox.netsh_exe.read_text()
    runner = CommandRunner()
    edited = original.replace("#!/bin/sh\n", "#!/bin/sh\necho edited by hand; exit 7\n")
    other_python = original.replace(sys.executable, "/opt/other/bin/python3")
    for text in (edited, other_python, original + "\n"):
        sandbox.netsh_exe.write_text(text)
        assert (
            forkserver.launch((str(sandbox.netsh_exe), "http", "show", "sslcert"), child_environment(), 60)
            is None
        )
    sandbox.netsh_exe.write_text(edited)
    done = runner.run([str(sandbox.netsh_exe), "http", "show", "sslcert"])
    assert (done.exit_code, done.stdout.strip()) == (7, "edited by hand")
    sandbox.netsh_exe.unlink()
    os.mkfifo(sandbox.netsh_exe)  # planted: read, it would hold the caller forever
    assert (
        forkserver.launch((str(sandbox.netsh_exe), "http", "show", "sslcert"), child_environment(), 60)
        is None
    )
    sandbox.netsh_exe.unlink()
    sandbox.netsh_exe.write_text(original)
    sandbox.netsh_exe.chmod(0o644)  # not executable: subprocess says so, as for any command
    assert (
        forkserver.launch((str(sandbox.netsh_exe), "http", "show", "sslcert"), child_environment(), 60)
        is None
    )
    with pytest.raises(CommandError) as refused:
        runner.run([str(sandbox.netsh_exe), "http", "show", "sslcert"])
    assert refused.value.code == "COMMAND_NOT_EXECUTABLE"


def test_the_switch_sends_every_stand_in_through_its_wrapper(
    make_sandbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox = make_sandbox(start=False)
    monkeypatch.setenv(forkserver.SWITCH, "0")
    assert forkserver.launch((str(sandbox.sc_exe), "qc", "OctopusDeploy"), child_environment(), 60) is None


def _hanging_swap(sandbox: Any) -> list[str]:
    """The argv of an Octopus.Server ssl-certificate that swaps the binding and then hangs (the
    'hang-after-swap' drill: two minutes)."""
    sandbox.init(fail="hang-after-swap", start=False)
    store = sandbox.stores_dir / "My"
    store.mkdir(exist_ok=True)
    new = "B" * 40
    for suffix in (".pem", ".key"):
        (store / f"{new}{suffix}").write_text("stand-in files: only their names are read here\n")
    old = {"hash": "a" * 40, "appid": OCTOPUS_APP_ID, "store": "My"}
    sandbox.write_json(sandbox.httpsys_path, {"0.0.0.0:443": old})
    return [str(sandbox.server_exe), "ssl-certificate", "--instance", "OctopusServer", "--thumbprint", new]


def _hanging(make_sandbox: Any) -> tuple[Any, list[str], CommandRunner, int]:
    """A sandbox, the argv of its hanging swap, a runner, and the fork server it has started."""
    sandbox = make_sandbox(start=False)
    argv = _hanging_swap(sandbox)
    runner = CommandRunner()
    runner.run([str(sandbox.sc_exe), "qc", "OctopusDeploy"])
    (server,) = _server_pids()
    return sandbox, argv, runner, server


def test_a_stand_in_that_outlives_its_timeout_is_killed_and_reported_as_a_timeout(make_sandbox: Any) -> None:
    sandbox = make_sandbox(start=False)
    argv = _hanging_swap(sandbox)
    runner = CommandRunner()
    runner.run([str(sandbox.sc_exe), "qc", "OctopusDeploy"])  # the server is up
    (server,) = _server_pids()
    started = time.monotonic()
    with pytest.raises(CommandError) as caught:
        runner.run(argv, timeout=1.5)
    assert caught.value.code == "COMMAND_TIMEOUT"
    assert time.monotonic() - started < 60  # not the drill's two minutes
    assert json.loads(sandbox.httpsys_path.read_text())["0.0.0.0:443"]["hash"] == "B" * 40  # it did run
    deadline = time.monotonic() + 30
    while _children(server) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _children(server) == []  # killed, not left sleeping
    assert runner.run([str(sandbox.sc_exe), "qc", "OctopusDeploy"]).ok  # and the next command runs


def test_the_child_runs_in_the_callers_folder_with_its_umask_and_environment(
    make_sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox = make_sandbox(start=False)
    argv = _hanging_swap(sandbox)
    here = tmp_path / "where the operator stands"
    here.mkdir()
    monkeypatch.chdir(here)
    previous = os.umask(0o027)
    runner = CommandRunner()
    try:
        runner.run([str(sandbox.sc_exe), "qc", "OctopusDeploy"])
        (server,) = _server_pids()
        failed: list[BaseException] = []

        def swap() -> None:
            try:
                runner.run(argv, timeout=60)
            except BaseException as exc:  # the child is killed below: a failure is expected
                failed.append(exc)

        worker = threading.Thread(target=swap)
        worker.start()
        child = _wait_for_child(server)
        assert os.readlink(f"/proc/{child}/cwd") == str(here)
        umask = [
            line
            for line in Path(f"/proc/{child}/status").read_text().splitlines()
            if line.startswith("Umask:")
        ]
        assert umask == ["Umask:\t0027"]
        os.kill(child, signal.SIGKILL)
        worker.join(60)
        assert not worker.is_alive() and failed == []
    finally:
        os.umask(previous)
    # the environment: a portal the stand-in starts inherits TZ from the command's, not the server's
    done = runner.run(
        [str(sandbox.server_exe), "service", "--instance", "OctopusServer", "--start"],
        env={"TZ": "Pacific/Chatham"},
    )
    assert done.ok, done.output
    portal = sandbox.portal_pid()
    assert portal and b"TZ=Pacific/Chatham\0" in Path(f"/proc/{portal}/environ").read_bytes()


def test_a_killed_child_reports_its_signal_as_subprocess_does(make_sandbox: Any) -> None:
    sandbox, argv, runner, server = _hanging(make_sandbox)
    result: list[Any] = []
    worker = threading.Thread(target=lambda: result.append(runner.run(argv, timeout=60)))
    worker.start()
    os.kill(_wait_for_child(server), signal.SIGTERM)
    worker.join(60)
    assert [r.exit_code for r in result] == [-signal.SIGTERM]


def test_two_threads_at_once_both_get_their_own_answer(make_sandbox: Any) -> None:
    sandbox = make_sandbox(start=False)
    runner = CommandRunner()
    answers: dict[str, list[str]] = {"sc": [], "netsh": []}

    def ask(name: str, argv: list[str]) -> None:
        for _ in range(10):
            answers[name].append(runner.run(argv).stdout)

    threads = [
        threading.Thread(target=ask, args=("sc", [str(sandbox.sc_exe), "qc", "OctopusDeploy"])),
        threading.Thread(target=ask, args=("netsh", [str(sandbox.netsh_exe), "http", "show", "sslcert"])),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert len(answers["sc"]) == len(answers["netsh"]) == 10
    assert all("SERVICE_NAME: OctopusDeploy" in text for text in answers["sc"])
    assert all("SSL Certificate bindings" in text for text in answers["netsh"])


def _caller(sandbox: Any, then: str) -> subprocess.Popen[str]:
    """A Python process that runs one stand-in, prints its fork server's pid, then runs ``then``."""
    script = (
        "import os, sys, time\n"
        "from octorunbook.commands import CommandRunner\n"
        "from octorunbook.targets.sandbox import forkserver\n"
        "forkserver.enable()\n"
        f"CommandRunner().run([{str(sandbox.sc_exe)!r}, 'qc', 'OctopusDeploy'])\n"
        "print([s.process.pid for s in forkserver._servers.values()][0], flush=True)\n"
    )
    return subprocess.Popen([sys.executable, "-c", script + then], stdout=subprocess.PIPE, text=True)


def test_the_server_is_private_to_its_caller_and_ends_when_the_caller_is_killed(make_sandbox: Any) -> None:
    sandbox = make_sandbox(start=False)
    caller = _caller(sandbox, "time.sleep(120)\n")
    try:
        assert caller.stdout is not None
        server = int(caller.stdout.readline())
        links = [os.readlink(f) for f in Path(f"/proc/{server}/fd").iterdir()]
        assert [link for link in links if link.startswith("socket:")]  # a socket pair: nothing on disk
        assert not [link for link in links if link.startswith("/") and link != os.devnull]
    finally:
        caller.kill()
        caller.wait()
    deadline = time.monotonic() + 30
    while running(server) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not running(server)


def test_a_forked_copy_of_the_caller_does_not_keep_the_server_alive(make_sandbox: Any) -> None:
    """The copy closes its copy of the socket: the server ends with the caller, not with the copy, and is
    never asked by two processes."""
    sandbox = make_sandbox(start=False)
    caller = _caller(
        sandbox,
        "if os.fork() == 0:\n"
        "    fds = []\n"
        "    for n in os.listdir('/proc/self/fd'):\n"
        "        try: fds.append(os.readlink(f'/proc/self/fd/{n}'))\n"
        "        except OSError: pass  # the folder listdir read\n"
        "    print(os.getpid(), sum(f.startswith('socket:') for f in fds), flush=True)\n"
        "    time.sleep(60); os._exit(0)\n"
        "time.sleep(0.5)\n",
    )
    assert caller.stdout is not None
    server = int(caller.stdout.readline())
    copy, sockets = (int(word) for word in caller.stdout.readline().split())
    try:
        assert sockets == 0
        assert caller.wait(60) == 0
        deadline = time.monotonic() + 30
        while running(server) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not running(server) and running(copy)
    finally:
        os.kill(copy, signal.SIGKILL)


def _wait_for_child(server: int) -> int:
    deadline = time.monotonic() + 30
    while not _children(server) and time.monotonic() < deadline:
        time.sleep(0.02)
    (child,) = _children(server)
    return child


def test_an_interrupted_command_takes_its_child_along_and_the_next_answers_are_their_own(
    make_sandbox: Any,
) -> None:
    """KeyboardInterrupt (Jupyter's interrupt) while a stand-in runs: as subprocess.run, the child is killed;
    the commands after it report their own exit codes, not the one before's."""
    sandbox, argv, runner, server = _hanging(make_sandbox)

    def interrupt(*_: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 1.0)
    try:
        with pytest.raises(KeyboardInterrupt):
            runner.run(argv, timeout=60)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    deadline = time.monotonic() + 30
    while _children(server) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _children(server) == []
    codes = [runner.run(a).exit_code for a in _commands(sandbox)[:3] + _commands(sandbox)[7:]]
    alone = [
        subprocess.run(a, capture_output=True, check=False).returncode
        for a in _commands(sandbox)[:3] + _commands(sandbox)[7:]
    ]
    assert codes == alone and set(codes) > {0}


def test_a_server_killed_under_a_command_is_reported_and_its_child_goes_with_it(make_sandbox: Any) -> None:
    sandbox, argv, runner, server = _hanging(make_sandbox)
    failed: list[BaseException] = []

    def swap() -> None:
        try:
            runner.run(argv, timeout=60)
        except BaseException as exc:
            failed.append(exc)

    worker = threading.Thread(target=swap)
    worker.start()
    child = _wait_for_child(server)
    os.kill(server, signal.SIGKILL)
    worker.join(60)
    assert [getattr(f, "code", f) for f in failed] == ["COMMAND_LOST"]  # not an exit code made up
    deadline = time.monotonic() + 30
    while running(child) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not running(child)  # it does not go on changing the target unobserved
    assert runner.run([str(sandbox.sc_exe), "qc", "OctopusDeploy"]).ok  # a new server; never a second swap
    assert runner.records[-2].exit_code is None


def test_the_server_holds_no_password_whatever_the_variable_is_called(
    make_sandbox: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from octorunbook.redaction import SECRETS

    sandbox = make_sandbox(start=False)
    registered, named = "canary-" + os.urandom(6).hex(), "canary-" + os.urandom(6).hex()
    monkeypatch.setenv("CHANGE_TICKET_TEXT", registered)  # a name that looks like nothing
    monkeypatch.setenv("MY_PORTAL_PFX_PASSWORD", named)  # never registered
    runner = CommandRunner()
    assert runner.run([str(sandbox.sc_exe), "qc", "OctopusDeploy"]).ok  # before the password is read
    SECRETS.add(registered)  # read now: the server started before it must not hold it either
    assert runner.run([str(sandbox.sc_exe), "qc", "OctopusDeploy"]).ok
    (server,) = _server_pids()
    environ = Path(f"/proc/{server}/environ").read_bytes()
    assert b"PATH=" in environ
    assert registered.encode() not in environ and named.encode() not in environ


def test_a_bare_name_or_a_link_out_of_the_sandbox_runs_as_exec_would_run_it(
    make_sandbox: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox = make_sandbox(start=False)
    env = child_environment()
    monkeypatch.chdir(sandbox.root / "bin")
    assert forkserver.launch(("netsh", "http", "show", "sslcert"), env, 60) is None  # looked up on PATH
    elsewhere = tmp_path / "elsewhere" / "bin"
    elsewhere.mkdir(parents=True)
    (elsewhere / "netsh").symlink_to(sandbox.netsh_exe)  # runs the sandbox's file: the sandbox's stand-in
    assert forkserver.launch((str(elsewhere / "netsh"), "http", "show", "sslcert"), env, 60) is not None
    sandbox.netsh_exe.unlink()
    sandbox.netsh_exe.symlink_to("/dev/null")  # a device is never opened to be read
    assert forkserver.launch((str(sandbox.netsh_exe), "http", "show", "sslcert"), env, 60) is None
