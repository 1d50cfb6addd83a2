"""The command seam: argv recorded with secrets masked, secrets only where handed over, never in argv."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from octorunbook.commands import CommandRunner
from octorunbook.findings import OctorunbookError
from octorunbook.redaction import Secret

PRINT_ENV = "import os, sys; sys.stdout.write(repr(sorted(os.environ.items())))"


def test_child_does_not_inherit_the_operators_password_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OCTORUNBOOK_PFX_PASSWORD", "inherited-canary-77")
    Secret("inherited-canary-77")
    result = CommandRunner().run([sys.executable, "-c", PRINT_ENV])
    assert "inherited-canary-77" not in result.stdout
    assert "OCTORUNBOOK_PFX_PASSWORD" not in result.stdout


def test_child_gets_a_secret_only_through_secret_env() -> None:
    runner = CommandRunner()
    result = runner.run(
        [sys.executable, "-c", "import os; print(len(os.environ['HANDED']))"],
        secret_env={"HANDED": Secret("handed-canary-88")},
    )
    assert result.stdout.strip() == str(len("handed-canary-88"))
    assert all("handed-canary-88" not in " ".join(r.argv) for r in runner.records)


def test_a_secret_in_argv_is_refused_before_anything_runs() -> None:
    runner = CommandRunner()
    Secret("argv-canary-99")
    with pytest.raises(OctorunbookError) as info:
        runner.run([sys.executable, "-c", "print('argv-canary-99')"])
    assert info.value.code == "SECRET_IN_ARGV"
    assert runner.records == []


def test_output_and_records_are_redacted_and_timed() -> None:
    runner = CommandRunner()
    Secret("echo-canary-11")
    result = runner.run(
        [sys.executable, "-c", "import os; print(os.environ['X'])"],
        secret_env={"X": Secret("echo-canary-11")},
    )
    assert "echo-canary-11" not in result.stdout and "********" in result.stdout
    record = runner.records[-1]
    assert record.exit_code == 0 and record.seconds >= 0 and record.mutating is False


def test_missing_executable_is_a_coded_error_and_recorded() -> None:
    runner = CommandRunner()
    with pytest.raises(OctorunbookError) as info:
        runner.run(["/nonexistent/Octopus.Server.exe", "list-instances"])
    assert info.value.code == "COMMAND_NOT_FOUND"
    assert runner.records[-1].exit_code is None


def test_no_windows_system_tool_is_run_by_its_bare_name() -> None:
    """A bare ``icacls`` is looked up on PATH (a folder a user may write to comes first on some hosts):
    every System32 tool is run by its full path (``windows_system_folder()``), as netsh and PowerShell are."""
    import ast

    tools = {"icacls", "takeown", "schtasks", "netsh", "certutil", "whoami", "sc", "reg", "powershell", "net"}
    package = Path(__file__).resolve().parents[1] / "octorunbook"
    bare = []
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.List, ast.Tuple)) and node.elts:
                first = node.elts[0]
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    name = first.value.lower().removesuffix(".exe")
                    if name in tools:
                        bare.append(f"{path.relative_to(package)}:{node.lineno}: {first.value}")
    assert bare == []
