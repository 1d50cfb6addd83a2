"""The kernel's parent watch: which parent it watches, and that it takes its process group down with it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from octorunbook.headless import kernel_watch
from tests.prockit import running

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="process groups and /proc")


def test_the_launcher_that_is_the_parent_is_watched(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(kernel_watch.PARENT_ENV, str(os.getppid()))
    assert kernel_watch.parent_to_watch() == os.getppid()


def test_a_launcher_that_is_gone_already_means_go_now(monkeypatch: pytest.MonkeyPatch) -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # reaped: the pid names no process
    monkeypatch.setenv(kernel_watch.PARENT_ENV, str(child.pid))
    assert kernel_watch.parent_to_watch() == 0


def test_a_kernel_started_through_a_wrapper_is_left_to_ipykernel(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(kernel_watch.PARENT_ENV, str(os.getpid()))  # alive, but not our parent
    assert kernel_watch.parent_to_watch() is None


_LAUNCHER = """
import os, subprocess, sys, time
kernel = subprocess.Popen(
    [sys.executable, "-c", sys.argv[1], sys.argv[2]],
    env={**os.environ, "JPY_PARENT_PID": str(os.getpid())},
    start_new_session=True,
)
time.sleep(60)
"""
_KERNEL = """
import subprocess, sys, time
from octorunbook.headless import kernel_watch
kernel_watch.start()
command = subprocess.Popen(["sleep", "60"])  # the command a runbook is running, in the kernel's group
open(sys.argv[1], "w").write(str(command.pid))
time.sleep(60)
"""


def test_the_watch_kills_the_kernel_and_its_command_when_the_launcher_dies(tmp_path: Path) -> None:
    out = tmp_path / "pids"
    launcher = subprocess.Popen(
        [sys.executable, "-c", _LAUNCHER, _KERNEL, str(out)],
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while not (out.is_file() and out.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    command = int(out.read_text())
    kernel = int(Path(f"/proc/{command}/stat").read_text().rsplit(")", 1)[1].split()[1])
    launcher.kill()  # SIGKILL: the launcher's group only, as kill -9 of `octorunbook run` is
    launcher.wait()
    killed = time.monotonic()

    while (running(kernel) or running(command)) and time.monotonic() < killed + 3:
        time.sleep(0.01)
    try:
        assert not running(kernel) and not running(command)
    finally:
        for pid in (kernel, command):
            if running(pid):
                os.kill(pid, 9)


_THREADS = (
    "import threading\n"
    "from ipykernel.kernelapp import IPKernelApp\n"
    "print(type(IPKernelApp.instance().poller).__name__, sorted(t.name for t in threading.enumerate()))\n"
)


@pytest.mark.parametrize("ours", [True, False], ids=["octorunbook's kernel", "a plain kernel"])
def test_in_a_kernel_octorunbook_starts_the_watch_replaces_ipykernels_own_poller(ours: bool) -> None:
    """ipykernel's poller checks the same parent once a second and then exits the kernel alone: when it
    won the race against the watch, the command in flight outlived a killed run (seen under load). In a
    kernel octorunbook starts it never starts; a kernel anyone else starts keeps it."""
    from jupyter_client.manager import KernelManager

    from octorunbook.headless.warm_kernel import KERNEL_ARGUMENTS

    manager = KernelManager(kernel_name="python3")
    manager.start_kernel(extra_arguments=list(KERNEL_ARGUMENTS) if ours else [])
    try:
        client = manager.client()
        client.start_channels()
        client.wait_for_ready(timeout=60)
        printed: list[str] = []
        client.execute_interactive(
            _THREADS, timeout=60, output_hook=lambda m: printed.append(m["content"].get("text", ""))
        )
        client.stop_channels()
    finally:
        manager.shutdown_kernel(now=True)
    kind, threads = "".join(printed).split(" ", 1)
    if ours:
        assert kind == "NoneType" and "octorunbook-parent-watch" in threads
    else:
        assert kind == "ParentPollerUnix" and "octorunbook-parent-watch" not in threads
