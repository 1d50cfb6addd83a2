"""``octorunbook notebooks --copy`` and ``octorunbook lab``: copies the operator owns, never overwritten, and a
JupyterLab on loopback whose token is in no argv and no URL printed."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from portkit import free_port as _free_port

from octorunbook.cli.lab import copy_runbooks
from octorunbook.headless.runner import load_params_file

CLI = [sys.executable, "-m", "octorunbook.cli.main"]


def test_copy_writes_the_runbooks_and_a_template_the_parser_accepts(tmp_path: Path) -> None:
    done = dict(copy_runbooks(tmp_path / "work"))
    assert done["01-import-certificate.ipynb"] == "copied" and done["05-harden-tls.ipynb"] == "copied"
    params = load_params_file(tmp_path / "work" / "params.yaml")
    assert params.target == "sandbox"
    assert oct((tmp_path / "work" / "params.yaml").stat().st_mode & 0o777) == "0o640"


def test_an_edited_copy_is_kept_and_named_and_a_planted_link_is_not_followed(tmp_path: Path) -> None:
    work = tmp_path / "work"
    copy_runbooks(work)
    (work / "02-verify-certificate.ipynb").write_text('{"edited": true}')
    victim = tmp_path / "victim"
    victim.write_text("keep me")
    (work / "03-add-https-binding.ipynb").unlink()
    (work / "03-add-https-binding.ipynb").symlink_to(victim)
    done = dict(copy_runbooks(work))
    assert done["02-verify-certificate.ipynb"].startswith("kept: your copy differs")
    assert (work / "02-verify-certificate.ipynb").read_text() == '{"edited": true}'
    assert done["03-add-https-binding.ipynb"].startswith("kept: it is a link")
    assert victim.read_text() == "keep me"
    assert done["01-import-certificate.ipynb"] == "unchanged"


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs a FIFO")
def test_a_fifo_in_place_of_a_copy_is_refused_not_waited_on(tmp_path: Path) -> None:
    """The copy is compared through the bounded reader: a FIFO there would block a plain read forever."""
    from octorunbook.findings import InputError

    work = tmp_path / "work"
    work.mkdir()
    os.mkfifo(work / "01-import-certificate.ipynb")
    with pytest.raises(InputError) as caught:
        copy_runbooks(work)
    assert caught.value.code == "FILE_NOT_REGULAR"


@pytest.mark.slow
def test_lab_serves_on_loopback_with_a_token_in_no_argv_and_no_printed_url(tmp_path: Path) -> None:
    port = _free_port()
    lab = subprocess.Popen(
        [*CLI, "lab", str(tmp_path / "work"), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        assert lab.stdout is not None
        lines = []
        while not any("log in with this token" in line for line in lines):
            line = lab.stdout.readline()
            assert line, "".join(lines)
            lines.append(line)
        token = re.search(r"\(shown once\): (\S+)", "".join(lines)).group(1)  # type: ignore[union-attr]
        assert f"http://127.0.0.1:{port}/lab" in "".join(lines) and "token=" not in "".join(lines)
        deadline, status = time.monotonic() + 120, None
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status", timeout=5)
                status = 200
            except urllib.error.HTTPError as exc:
                status = exc.code  # 403: up, and refusing a request without the token
                break
            except OSError:
                time.sleep(0.5)
        assert status == 403, status
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/status", headers={"Authorization": f"token {token}"}
        )
        assert urllib.request.urlopen(request, timeout=10).status == 200
        for pid in [p for p in os.listdir("/proc") if p.isdigit()]:
            try:
                argv = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            assert token.encode() not in argv, f"the token is in the argv of pid {pid}"
    finally:
        os.killpg(lab.pid, signal.SIGTERM)
        try:
            rest, _ = lab.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(lab.pid, signal.SIGKILL)
            rest, _ = lab.communicate()
    assert token not in rest, "JupyterLab printed its token (a URL with ?token=)"


@pytest.mark.parametrize("verb", ["lab", "app"])
@pytest.mark.parametrize("port", ["0", "-1", "99999"])
def test_a_port_no_server_can_listen_on_is_refused_before_anything_is_copied(
    tmp_path: Path, verb: str, port: str
) -> None:
    work = tmp_path / "work"
    done = subprocess.run(
        [*CLI, verb, str(work), "--port", port, "--no-start"], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 2 and "PORT_INVALID" in done.stderr, done.stdout + done.stderr
    assert not work.exists() and "token" not in done.stdout


@pytest.mark.parametrize(
    ("on_windows", "params", "said"),
    [
        (True, "target: windows\n", True),
        (True, "target: sandbox\n", False),  # the template's default: the sandbox needs no Administrator
        (False, "target: windows\n", False),  # the hint is about a Windows terminal
        (True, None, False),  # no params.yaml
        (True, "- target: windows\n", False),  # a list, not parameters
        (True, b"\xff\xfe\x00target: [", False),  # no YAML at all
    ],
)
def test_the_administrator_hint_is_said_on_windows_only_for_target_windows(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    on_windows: bool,
    params: str | bytes | None,
    said: bool,
) -> None:
    from octorunbook.cli import lab

    monkeypatch.setattr(lab, "_on_windows", lambda: on_windows)
    if isinstance(params, str):
        (tmp_path / "params.yaml").write_text(params)
    elif isinstance(params, bytes):
        (tmp_path / "params.yaml").write_bytes(params)
    assert lab.serve(["no-server"], {}, tmp_path, start=False) == 0
    assert ("as Administrator" in capsys.readouterr().out) is said


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs a FIFO")
def test_a_fifo_as_params_yaml_gives_no_hint_and_does_not_block(tmp_path: Path) -> None:
    from octorunbook.cli.lab import target_in

    os.mkfifo(tmp_path / "params.yaml")
    assert target_in(tmp_path) == ""


def test_lab_without_a_folder_works_in_a_dated_folder_under_the_current_one(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    before = f"octorunbook-{datetime.now(UTC):%Y%m%d}"
    done = subprocess.run(
        [*CLI, "lab", "--no-start"], capture_output=True, text=True, timeout=300, cwd=tmp_path, check=True
    )
    after = f"octorunbook-{datetime.now(UTC):%Y%m%d}"
    made = [p.name for p in tmp_path.iterdir()]
    assert made in ([before], [after]), made  # a run across midnight may take either day
    assert (tmp_path / made[0] / "01-import-certificate.ipynb").is_file()
    assert (tmp_path / made[0] / "params.yaml").is_file()
    assert f"runbooks in {made[0]}:" in done.stdout


@pytest.mark.parametrize(
    ("mtime", "newer"), [(1_000_000_000, "the packaged one"), (4_000_000_000, "your copy")]
)
def test_a_kept_copy_says_which_of_the_two_is_newer(tmp_path: Path, mtime: int, newer: str) -> None:
    work = tmp_path / "work"
    copy_runbooks(work)
    edited = work / "04-renew-certificate.ipynb"
    edited.write_text('{"edited": true}')
    os.utime(edited, (mtime, mtime))  # 2001 (older than any release) or 2096
    said = dict(copy_runbooks(work))["04-renew-certificate.ipynb"]
    assert said.startswith(f"kept: your copy differs ({newer} is newer); the packaged one is ")
    assert edited.read_text() == '{"edited": true}'


def test_the_servers_start_without_jsonschemas_iri_grammars_and_nothing_else_runs_that_way() -> None:
    """`octorunbook lab`/`app` run JupyterLab and Voilà through ``octorunbook.cli.serve_module``: the
    same module with the same arguments, but jsonschema (which jupyter-events imports) without the lark
    grammars for IRIs (≈ 0.9 s of CPU before the server answers). Any other module is refused."""
    probe = (
        "import atexit, sys\n"
        "atexit.register(lambda: print('MODULES', 'jsonschema' in sys.modules, 'lark' in sys.modules,"
        " file=sys.stderr))\n"
        "from octorunbook.cli.serve_module import main\n"
        "main(sys.argv[1:])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, "jupyterlab", "--help"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and "jupyter lab" in done.stdout.lower(), done.stderr[-2000:]
    assert done.stderr.strip().splitlines()[-1] == "MODULES True False"
    refused = subprocess.run(
        [sys.executable, "-m", "octorunbook.cli.serve_module", "http.server", "8000"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 1 and "usage" in refused.stderr
