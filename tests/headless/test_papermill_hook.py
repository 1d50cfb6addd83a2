"""Issue 24: a direct ``papermill`` run of a runbook is held to the one parameter parser.

papermill itself only warns "Passed unknown parameter" and runs on; ``-p dryrun True`` (for
``dry_run``) would really import a certificate. Through the real ``papermill`` command, every way it
takes parameters (``-p``, ``-r``, ``-y``, ``-b``, ``-f``) is checked: exit 2, the code and a remedy on
stderr, no output notebook, no kernel, nothing changed on the target.
"""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "notebooks" / "01-import-certificate.ipynb"
PAPERMILL = str(Path(sys.executable).parent / "papermill")


def papermill(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PAPERMILL, str(NOTEBOOK), str(cwd / "out.ipynb"), *argv],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
        check=False,
    )


def store_files(sandbox: Any) -> set[Path]:
    return {p for p in sandbox.stores_dir.rglob("*") if p.is_file()}


def refused(done: subprocess.CompletedProcess[str], code: str, cwd: Path) -> None:
    assert done.returncode == 2, done.stderr[-3000:]
    assert f"✖ {code}" in done.stderr and "remedy:" in done.stderr and "Traceback" not in done.stderr
    assert "Executing notebook with kernel" not in done.stderr  # no kernel was started
    assert not (cwd / "out.ipynb").exists() and not (cwd / "audit").exists()


def test_a_typo_d_parameter_stops_papermill_before_anything_is_imported(sandbox: Any, tmp_path: Path) -> None:
    before = store_files(sandbox)
    done = papermill(
        "-p",
        "dryrun",
        "True",
        "-p",
        "sandbox_dir",
        str(sandbox.root),
        "-p",
        "audit_dir",
        str(tmp_path / "audit"),
        cwd=tmp_path,
    )
    refused(done, "PARAMETER_UNKNOWN", tmp_path)
    assert "did you mean 'dry_run'?" in done.stderr
    assert store_files(sandbox) == before  # no certificate was imported


@pytest.mark.parametrize("how", ["-r", "-y", "-b", "-f"])
def test_every_papermill_parameter_source_counts(tmp_path: Path, how: str) -> None:
    yaml_text = f"dryrun: true\naudit_dir: {tmp_path / 'audit'}\n"
    argv: list[str] = {
        "-r": ["-r", "dryrun", "True"],
        "-y": ["-y", yaml_text],
        "-b": ["-b", base64.b64encode(yaml_text.encode()).decode()],
        "-f": ["-f", str(tmp_path / "params.yaml")],
    }[how]
    (tmp_path / "params.yaml").write_text(yaml_text)
    done = papermill(*argv, cwd=tmp_path)
    refused(done, "PARAMETER_UNKNOWN", tmp_path)
    assert "did you mean 'dry_run'?" in done.stderr


def test_a_parameter_file_with_a_key_twice_is_refused_with_both_lines(tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text(f"dry_run: true\naudit_dir: {tmp_path / 'audit'}\ndry_run: false\n")
    done = papermill("-f", str(params), cwd=tmp_path)
    refused(done, "PARAMS_DUPLICATE_KEY", tmp_path)
    assert "'dry_run' twice: line 1 and line 3" in done.stderr


def test_a_fifo_parameter_file_is_refused_before_papermill_opens_it(tmp_path: Path) -> None:
    import os

    fifo = tmp_path / "params.yaml"
    os.mkfifo(fifo)
    done = papermill("-f", str(fifo), cwd=tmp_path)  # papermill alone would block on open
    refused(done, "FILE_NOT_REGULAR", tmp_path)


def test_a_notebook_that_is_not_a_runbook_is_left_to_papermill(tmp_path: Path) -> None:
    import nbformat

    plain = nbformat.v4.new_notebook()
    plain.cells = [nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["parameters"]})]
    source = tmp_path / "plain.ipynb"
    nbformat.write(plain, str(source))
    (tmp_path / "p.yaml").write_text("x: 1\nx: 2\n")
    done = subprocess.run(
        [
            PAPERMILL,
            str(source),
            str(tmp_path / "out.ipynb"),
            "-f",
            str(tmp_path / "p.yaml"),
            "--prepare-only",
            "-k",
            "python3",
            "--language",
            "python",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "out.ipynb").exists()
