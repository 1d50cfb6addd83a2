"""A headless run's kernel listens on unix sockets in a folder of its own: no loopback port to lose to
another process between jupyter_client choosing it and the kernel binding it, nothing left in TMPDIR."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from octorunbook.headless.kernel_channels import PrivateKernelManager, use_private_channels
from tests.prockit import running

from .test_ipykernel_headless import _run_in

posix_only = pytest.mark.skipif(os.name != "posix", reason="unix sockets: Windows keeps TCP on loopback")


@pytest.fixture
def scratch() -> Iterator[Path]:
    """A TMPDIR short enough for unix socket paths (pytest's tmp_path is not, under xdist)."""
    folder = Path(tempfile.mkdtemp(prefix="orb-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@posix_only
def test_a_warm_kernel_answers_over_unix_sockets_in_a_private_folder_and_leaves_nothing(
    tmp_path: Path,
) -> None:
    from octorunbook.headless.warm_kernel import WarmKernel

    warm = WarmKernel("python3", str(tmp_path), os.environ)
    manager = warm.take("python3", str(tmp_path), os.environ)
    assert isinstance(manager, PrivateKernelManager)
    folder = Path(str(manager.private_folder))
    try:
        # 0700 as mkdtemp made it (jupyter_client adds the sticky bit to a connection file's folder)
        assert stat.S_IMODE(folder.stat().st_mode) & 0o777 == 0o700 and folder.stat().st_uid == os.getuid()
        info = json.loads(Path(manager.connection_file).read_text())
        assert Path(manager.connection_file).parent == folder
        assert info["transport"] == "ipc" and info["ip"] == str(folder / "ipc")
        assert _run_in(manager, "print(6 * 7)").strip() == "42"
        ports = sorted(info[f"{name}_port"] for name in ("shell", "iopub", "stdin", "control", "hb"))
        assert ports == [1, 2, 3, 4, 5]  # suffixes of the socket paths, not TCP ports
        assert sorted(p.name for p in folder.iterdir() if p.is_socket()) == [f"ipc-{n}" for n in ports]
    finally:
        warm.discard()
    assert not folder.exists()


@posix_only
def test_the_channels_stay_tcp_where_the_folder_is_too_long_for_a_unix_socket(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    deep = tmp_path / ("d" * 90)
    deep.mkdir()
    monkeypatch.setenv("TMPDIR", str(deep))
    monkeypatch.setattr("tempfile.tempdir", None)
    manager = PrivateKernelManager(kernel_name="python3")
    assert use_private_channels(manager) is None
    assert manager.transport == "tcp" and list(deep.iterdir()) == []  # the folder made is removed again


@posix_only
def test_a_kernel_papermill_starts_itself_listens_on_unix_sockets_too(
    tmp_path: Path, scratch: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No kernel was started ahead (or it no longer fitted): nbclient's kernel is a private one as well,
    and nothing of it is left in TMPDIR."""
    import nbformat
    import papermill as pm
    from nbformat.v4 import new_code_cell, new_notebook

    from octorunbook.headless.engine import register_engine

    monkeypatch.setattr("tempfile.tempdir", str(scratch))
    nb = new_notebook(
        cells=[
            new_code_cell(
                "import json\nfrom ipykernel.connect import get_connection_file\n"
                "info = json.load(open(get_connection_file()))\nprint(info['transport'], get_connection_file())"
            )
        ]
    )
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    source, out = tmp_path / "in.ipynb", tmp_path / "out.ipynb"
    nbformat.write(nb, str(source))
    done = pm.execute_notebook(
        str(source), str(out), engine_name=register_engine(), kernel_name="python3", progress_bar=False
    )
    transport, where = done.cells[0].outputs[0]["text"].split()
    assert transport == "ipc"
    assert Path(where).parent.parent == scratch and Path(where).parent.name.startswith("octorunbook-kernel-")
    assert sorted(scratch.iterdir()) == []


@posix_only
def test_a_headless_run_leaves_nothing_in_tmpdir(tmp_path: Path, scratch: Path) -> None:
    """`octorunbook run` (01 → 03, kernels started ahead): no connection file holding a session key, no
    socket, no folder is left in TMPDIR."""
    bin_dir = Path(sys.executable).parent
    sandbox = tmp_path / "sbx"
    subprocess.run(
        [str(bin_dir / "octorunbook"), "sandbox", "init", str(sandbox)], check=True, capture_output=True
    )
    params = tmp_path / "p.yaml"
    params.write_text(f"sandbox_dir: {sandbox}\naudit_dir: {tmp_path / 'audit'}\n")
    try:
        done = subprocess.run(
            [str(bin_dir / "octorunbook"), "run", str(params)],
            env={**os.environ, "TMPDIR": str(scratch)},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    finally:
        subprocess.run(
            [str(bin_dir / "octorunbook"), "sandbox", "stop", str(sandbox)], capture_output=True, check=False
        )
    assert sorted(scratch.iterdir()) == []


@posix_only
@pytest.mark.skipif(sys.platform != "linux", reason="finds the kernel through /proc")
def test_a_kernel_whose_run_was_killed_removes_its_private_folder_as_it_dies(scratch: Path) -> None:
    """kill -9 of the run: nothing is left to remove the kernel's folder but the kernel, whose watch sees its
    parent gone — the connection file (with the session key) and the sockets go with it."""
    import signal
    import time

    script = (
        "import os, sys\n"
        "from octorunbook.headless.warm_kernel import WarmKernel\n"
        "w = WarmKernel('python3', os.getcwd(), dict(os.environ))\n"
        "m = w.take('python3', os.getcwd(), dict(os.environ))\n"
        "from jupyter_core.utils import run_sync\n"
        "c = m.client(); c.start_channels(); run_sync(c.wait_for_ready)(timeout=60)\n"
        "print(m.provisioner.process.pid, m.private_folder, flush=True)\n"
        "import time; time.sleep(120)\n"
    )
    run = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=scratch,
        env={**os.environ, "TMPDIR": str(scratch)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert run.stdout is not None
        kernel, folder = run.stdout.readline().split()
        assert Path(folder).parent == scratch and (Path(folder) / "kernel.json").exists()
        run.send_signal(signal.SIGKILL)
        run.wait(10)

        deadline = time.monotonic() + 30
        while running(kernel) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not running(kernel)
        assert not Path(folder).exists() and sorted(scratch.iterdir()) == []
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()


@posix_only
def test_the_kernel_removes_only_a_folder_that_is_private_to_it_and_only_its_own_names(
    tmp_path: Path,
) -> None:
    from octorunbook.headless import kernel_watch

    def forget(folder: Path) -> None:
        kernel_watch._connection_file = str(folder / "kernel.json")
        try:
            kernel_watch._forget_private_channels()
        finally:
            kernel_watch._connection_file = ""

    other = tmp_path / "octorunbook-kernel-open"  # not 0700: somebody else may have put things there
    other.mkdir(mode=0o755)
    other.chmod(0o755)
    (other / "kernel.json").write_text("{}")
    forget(other)
    assert (other / "kernel.json").exists()
    named = tmp_path / "not-a-kernel-folder"
    named.mkdir(mode=0o700)
    (named / "kernel.json").write_text("{}")
    forget(named)
    assert (named / "kernel.json").exists()
    linked = tmp_path / "octorunbook-kernel-link"
    linked.symlink_to(named)
    forget(linked)
    assert (named / "kernel.json").exists() and linked.is_symlink()
    private = tmp_path / "octorunbook-kernel-mine"
    private.mkdir(mode=0o700)
    (private / "kernel.json").write_text("{}")
    (private / "planted-by-someone").write_text("kept")
    forget(private)
    assert sorted(p.name for p in private.iterdir()) == ["planted-by-someone"]  # never a name it did not make


@posix_only
def test_a_kernel_that_died_in_a_cell_leaves_nothing_in_tmpdir(
    tmp_path: Path, scratch: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """nbclient cleans up a dead kernel's resources without a shutdown: its folder goes too."""
    import nbformat
    import papermill as pm
    from nbformat.v4 import new_code_cell, new_notebook

    from octorunbook.headless.engine import register_engine

    monkeypatch.setattr("tempfile.tempdir", str(scratch))
    nb = new_notebook(cells=[new_code_cell("import os\nos._exit(1)")])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    source = tmp_path / "in.ipynb"
    nbformat.write(nb, str(source))
    with pytest.raises(Exception):  # noqa: B017 - nbclient's DeadKernelError, as papermill raises it
        pm.execute_notebook(
            str(source),
            str(tmp_path / "out.ipynb"),
            engine_name=register_engine(),
            kernel_name="python3",
            progress_bar=False,
        )
    assert sorted(scratch.iterdir()) == []
