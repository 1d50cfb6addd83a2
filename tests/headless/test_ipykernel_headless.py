"""A headless run's kernel: ipykernel as its own launcher starts it, without the debugger nobody attaches."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from octorunbook.headless.ipykernel_headless import LAUNCH, MODULE, headless_argv


def test_only_ipykernels_own_launcher_is_replaced() -> None:
    python = "/opt/venv/bin/python"
    assert headless_argv([python, "-m", "ipykernel_launcher", "-f", "{connection_file}"]) == [
        python,
        "-c",
        LAUNCH,
        "-f",
        "{connection_file}",
    ]
    assert f"import {MODULE} as k" in LAUNCH
    assert headless_argv([python, "-m", "my_kernel", "-f", "{connection_file}"]) is None
    assert headless_argv(["/usr/bin/R", "--slave", "-e", "IRkernel::main()", "{connection_file}"]) is None
    assert headless_argv([]) is None


def _run_in(manager: object, code: str) -> str:
    from jupyter_core.utils import run_sync

    client = manager.client()  # type: ignore[attr-defined]
    client.start_channels()
    try:
        run_sync(client.wait_for_ready)(timeout=60)
        printed: list[str] = []

        def keep(message: dict[str, object]) -> None:
            content = message["content"]
            if message["msg_type"] == "stream" and isinstance(content, dict):
                printed.append(str(content["text"]))

        reply = run_sync(client.execute_interactive)(code, output_hook=keep, timeout=60)
        assert reply["content"]["status"] == "ok", reply["content"]
        return "".join(printed)
    finally:
        client.stop_channels()


@pytest.mark.skipif(sys.platform != "linux", reason="reads the kernel's command line from /proc")
def test_a_warm_kernel_builds_no_debugger_and_imports_nothing_planted_where_the_run_starts(
    tmp_path: Path,
) -> None:
    """The kernel answers and runs code; it built no debugger, yet a cell may import debugpy; a planted
    ``octorunbook`` package in the folder the run starts in is never imported (the folder is off the path
    while the kernel starts, as ipykernel's launcher does it); the cells see that folder on the path, as
    in any kernel."""
    from jupyter_core.utils import run_sync

    from octorunbook.headless.ipykernel_headless import LAUNCH
    from octorunbook.headless.warm_kernel import WarmKernel

    planted = tmp_path / "octorunbook"
    planted.mkdir()
    marker = tmp_path / "PLANTED-RAN"
    (planted / "__init__.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    (tmp_path / "helper_beside_the_run.py").write_text("WHERE = 'run folder'\n")
    warm = WarmKernel("python3", str(tmp_path), os.environ)
    try:
        manager = warm.take("python3", str(tmp_path), os.environ)
        assert manager is not None
        pid = manager.provisioner.process.pid
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        assert [b"-c", LAUNCH.encode(), b"-f"] == argv[1:4]
        shown = _run_in(
            manager,
            "import sys, octorunbook, helper_beside_the_run, debugpy\n"
            "kernel = get_ipython().kernel\n"
            "print(hasattr(kernel, 'debugger'), helper_beside_the_run.WHERE.replace(' ', '-'), octorunbook.__file__)",
        )
        has_debugger, helper, where = shown.split()
        assert has_debugger == "False"  # built without debugpy
        assert helper == "run-folder"  # the cells' path is any kernel's
        assert not where.startswith(str(tmp_path)) and not marker.exists()
    finally:
        warm.discard()
    assert not run_sync(manager.is_alive)()
