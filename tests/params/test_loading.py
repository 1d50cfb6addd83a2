"""Issue 24: one parameter parser for every door — the CLI verbs that read a parameter file.

Each case goes through the command a user types (``octorunbook run|renew|recover|schedule|check``):
a key given twice, an unknown (typo'd) name, an anchor, a FIFO — refused with a stable code, the
remedy, the same exit code (``check``: 3, UNKNOWN), and nothing written.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from octorunbook.findings import InputError
from octorunbook.params.loading import load_params_file, parse_parameters, parse_yaml

BIN = Path(sys.executable).parent
OCTORUNBOOK = str(BIN / "octorunbook")

# dry_run: true near the top, dry_run: false further down: the last one must not silently win
DUPLICATE = "dry_run: true\nhostname: localhost\nhttps_port: 8443\n# ...\ndry_run: false\n"


def run(*argv: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [OCTORUNBOOK, *argv], capture_output=True, text=True, cwd=cwd, timeout=timeout, check=False
    )


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(f"audit_dir: {tmp_path / 'audit'}\nsandbox_dir: {tmp_path / 'sandbox'}\n{text}")
    return path


@pytest.mark.parametrize(
    "verb", [["run"], ["renew"], ["recover"], ["schedule", "install", "--platform", "cron"]]
)
def test_a_key_given_twice_is_refused_with_both_lines_at_every_verb(tmp_path: Path, verb: list[str]) -> None:
    params = write(tmp_path, DUPLICATE)
    done = run(*verb, str(params), cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "✖ PARAMS_DUPLICATE_KEY" in done.stderr
    assert "'dry_run' twice: line 3 and line 7" in done.stderr and "remedy:" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "audit").exists() and not (tmp_path / "sandbox").exists()


@pytest.mark.parametrize("verb", ["run", "renew", "schedule"])
def test_an_unknown_name_is_refused_with_a_did_you_mean(tmp_path: Path, verb: str) -> None:
    params = write(tmp_path, "dryrun: true\nhostname: localhost\n")
    argv = (
        ["schedule", "install", "--platform", "cron", str(params)]
        if verb == "schedule"
        else [verb, str(params)]
    )
    done = run(*argv, cwd=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "✖ PARAMETER_UNKNOWN" in done.stderr and "did you mean 'dry_run'?" in done.stderr
    assert not (tmp_path / "audit").exists() and not (tmp_path / "sandbox").exists()


@pytest.mark.parametrize("text", [DUPLICATE, "dryrun: true\n", "a: &x localhost\nhostname: *x\n"])
def test_check_answers_a_bad_parameter_file_unknown_exit_3(tmp_path: Path, text: str) -> None:
    done = run("check", str(write(tmp_path, text)), cwd=tmp_path)
    assert done.returncode == 3, done.stdout
    assert done.stdout.startswith("CERT UNKNOWN") and "Traceback" not in done.stdout + done.stderr


def test_check_help_says_a_bad_parameter_file_exits_3_not_2(tmp_path: Path) -> None:
    done = run("check", "--help", cwd=tmp_path)
    assert done.returncode == 0
    text = " ".join(done.stdout.split())
    assert "bad parameter file" in text and "exit 3" in text and "every other verb exits 2" in text


def test_a_fifo_parameter_file_is_refused_without_blocking(tmp_path: Path) -> None:
    path = tmp_path / "params.yaml"
    os.mkfifo(path)
    done = run("run", str(path), cwd=tmp_path, timeout=20)
    assert done.returncode == 2 and "FILE_NOT_REGULAR" in done.stderr


def test_duplicate_keys_anchors_and_key_types_are_refused_in_yaml_text() -> None:
    with pytest.raises(InputError) as caught:
        parse_yaml("hostname: a\nhttps_port: 1\nhostname: b\n")
    assert caught.value.code == "PARAMS_DUPLICATE_KEY" and "line 1 and line 3" in caught.value.message
    assert "'a'" not in caught.value.message and "'b'" not in caught.value.message  # keys, never values
    for text, code in [
        ("hostname: &h localhost\n", "PARAMETERS_UNREADABLE"),
        ("1: x\n", "PARAMETER_INVALID"),
        ("- a\n- b\n", "PARAMETERS_UNREADABLE"),
        ("hostname: [\n", "PARAMETERS_UNREADABLE"),
    ]:
        with pytest.raises(InputError) as caught:
            parse_yaml(text)
        assert caught.value.code == code, text
    assert parse_yaml("") == {} and parse_yaml("# nothing\n") == {}


def test_every_unknown_name_is_named_with_its_nearest_parameter() -> None:
    with pytest.raises(InputError) as caught:
        parse_parameters({"dryrun": True, "hostnme": "x", "zzz": 1})
    assert caught.value.code == "PARAMETER_UNKNOWN"
    message = caught.value.message
    assert (
        "'dryrun' (did you mean 'dry_run'?)" in message and "'hostnme' (did you mean 'hostname'?)" in message
    )
    assert "'zzz'" in message and "dryrun → dry_run" in caught.value.remedy
    assert parse_parameters({"PAPERMILL_INPUT_PATH": "in.ipynb", "dry_run": "true"}).dry_run is True


def test_the_runner_reads_the_same_parser(tmp_path: Path) -> None:
    from octorunbook.cli.check import load_params
    from octorunbook.headless.runner import load_params_file as runner_load

    assert runner_load is load_params_file
    path = write(tmp_path, "hostname: octopus.example.com\n")
    assert load_params(path) == load_params_file(path)
