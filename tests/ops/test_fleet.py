"""``octorunbook fleet summary``: usage errors (the per-node rows are proven by tests/ops/test_fleet_rollout.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from octorunbook.cli.main import main


def test_fleet_summary_of_a_folder_that_does_not_exist_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["fleet", "summary", str(tmp_path / "nowhere")]) == 2
    assert "FLEET_ROOT_NOT_FOUND" in capsys.readouterr().err


def test_fleet_summary_of_a_folder_without_node_folders_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["fleet", "summary", str(tmp_path)]) == 2
    assert "FLEET_ROOT_EMPTY" in capsys.readouterr().err


def test_a_node_the_rollout_never_reached_fails_only_when_a_thumbprint_is_expected(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "node3").mkdir()
    assert main(["fleet", "summary", str(tmp_path)]) == 0
    assert "no records" in capsys.readouterr().out
    assert main(["fleet", "summary", str(tmp_path), "--expect-thumbprint", "AB" * 20]) == 1
    assert "node3: no records: the rollout never reached this node" in capsys.readouterr().out
