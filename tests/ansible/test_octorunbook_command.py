"""Issue 24: the Ansible module is a door too — the same parser refuses a parameter file, and says why.

The module runs here as Ansible runs it on a node (``python module.py ARGS.json``), with a real
``octorunbook run``: a key given twice fails the task with exit 2 and ``PARAMS_DUPLICATE_KEY`` naming both
lines in its ``stderr``, the secret passed in ``secret_env`` masked, nothing written.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

MODULE = Path(__file__).resolve().parents[2] / "ansible" / "plugins" / "modules" / "octorunbook_command.py"
OCTORUNBOOK = str(Path(sys.executable).parent / "octorunbook")


def run_module(tmp_path: Path, argv: list[str], secret: str) -> dict[str, object]:
    args = tmp_path / "args.json"
    args.write_text(
        json.dumps(
            {"ANSIBLE_MODULE_ARGS": {"argv": argv, "secret_env": {"OCTORUNBOOK_PFX_PASSWORD": secret}}}
        )
    )
    done = subprocess.run(
        [sys.executable, str(MODULE), str(args)], capture_output=True, text=True, timeout=300, check=False
    )
    return dict(json.loads(done.stdout))


def test_a_parameter_file_with_a_key_twice_fails_the_task(tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text(
        f"dry_run: true\nsandbox_dir: {tmp_path / 'sandbox'}\naudit_dir: {tmp_path / 'audit'}\ndry_run: false\n"
    )
    result = run_module(tmp_path, [OCTORUNBOOK, "run", str(params)], "canary-pfx-secret-4711")
    assert result["failed"] is True and result["rc"] == 2, result
    stderr = str(result["stderr"])
    assert "PARAMS_DUPLICATE_KEY" in stderr and "line 1 and line 4" in stderr
    assert "canary-pfx-secret-4711" not in json.dumps(result)
    assert not (tmp_path / "audit").exists() and not (tmp_path / "sandbox").exists()


def test_a_typo_d_name_fails_the_task_with_a_did_you_mean(tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text(f"dryrun: true\nsandbox_dir: {tmp_path / 'sandbox'}\naudit_dir: {tmp_path / 'audit'}\n")
    result = run_module(tmp_path, [OCTORUNBOOK, "renew", str(params)], "canary-pfx-secret-4711")
    assert result["failed"] is True and result["rc"] == 2, result
    assert "PARAMETER_UNKNOWN" in str(result["stderr"]) and "did you mean 'dry_run'?" in str(result["stderr"])
    assert not (tmp_path / "audit").exists()
