"""The audit trail signs only what this run wrote: running notebooks are claimed, the rest set aside.

Through the doors an operator (and an attacker) has: ``octorunbook run`` on a sandbox, papermill with
octorunbook's hook, ``octorunbook audit list|verify``. Where an attack needs another local user, the
attacker is ``nobody`` (``setpriv``; the tests run as root), writing into an audit folder a careless
setup left writable to everyone.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest

from octorunbook.audit.claims import CLAIM_SUFFIX, read_own_notebook, save_running_notebook
from octorunbook.audit.files import make_dir
from octorunbook.audit.signing import SIGNING_KEY_ENV, generate_key_pair
from octorunbook.audit.store import prepare_audit_dir
from octorunbook.findings import OctorunbookError
from tests.audit.test_audit import make_notebook, make_result, manifest_lines, store_several
from tests.prockit import running

BIN = Path(sys.executable).parent
MARKER = "PLANTED-BY-SOMEONE-ELSE"

pytestmark = pytest.mark.skipif(os.name != "posix" or os.geteuid() != 0, reason="POSIX, run as root")


def cli(
    *argv: str, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "octorunbook"), *argv], capture_output=True, text=True, env=env, timeout=timeout
    )


def as_nobody(*argv: str, stdin: str | None = None) -> None:
    """Run ``argv`` as an unprivileged local user (uid nobody, group nogroup, no other groups)."""
    setpriv = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
    subprocess.run([*setpriv, *argv], input=stdin, text=True, check=True, capture_output=True)


def params_file(path: Path, **values: Any) -> Path:
    path.write_text("".join(f"{k}: {json.dumps(v)}\n" for k, v in values.items()))
    return path


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = entry.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(entry.parent.name))
    return found


def kill_hard(leader: subprocess.Popen[Any]) -> None:
    """SIGKILL to the process group and to each child (a kernel runs in its own session); returns when
    they have exited. A killed kernel drops its OS locks (the run's claim) only as it exits, which on a
    busy machine is later than ``kill`` returning: what an operator's ``kill -9`` leaves is only known then."""
    kernels = children(leader.pid)
    os.killpg(leader.pid, signal.SIGKILL)
    for pid in kernels:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    leader.wait()
    deadline = time.monotonic() + 60
    while [pid for pid in kernels if _alive(pid)] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not [pid for pid in kernels if _alive(pid)], f"outlived SIGKILL: {kernels}"


def _alive(pid: int) -> bool:
    """Running, or dying: not gone, and not a zombie whose threads have all exited (only those hold no
    locks; ``prockit``)."""
    return running(pid)


def wait_for(condition: Callable[[], bool], process: subprocess.Popen[Any], what: str) -> None:
    deadline = time.monotonic() + 180
    while not condition():
        assert process.poll() is None, f"the process ended before {what}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def untrusted_lines(out: str) -> int:
    return sum(line.startswith("STATE_UNTRUSTED ") for line in out.splitlines())


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path]:
    (tmp_path / "keys").mkdir()
    private, public, _ = generate_key_pair(tmp_path / "keys" / "audit.key")
    return private, public


@pytest.fixture
def careless() -> Iterator[Path]:
    """An audit folder path other local users can reach (its parent is 0755, as /srv or /var are)."""
    root = Path(tempfile.mkdtemp(prefix="octorunbook-careless-"))
    root.chmod(0o755)
    yield root / "audit"
    shutil.rmtree(root, ignore_errors=True)


# --- attacks -------------------------------------------------------------------------------------------


# Among the 20 slowest (--durations, issue 28), by design: real runs around the planted notebooks (kernels,
# chain, signature).
@pytest.mark.redteam
@pytest.mark.slow
def test_notebooks_planted_in_in_progress_are_quarantined_and_never_chained_or_signed(
    make_sandbox: Callable[..., Any], tmp_path: Path, careless: Path, keys: tuple[Path, Path]
) -> None:
    private, public = keys
    audit = careless
    env = {**os.environ, SIGNING_KEY_ENV: str(private)}
    params = params_file(tmp_path / "p.yaml", sandbox_dir=str(make_sandbox().root), audit_dir=str(audit))
    first = cli("run", str(params), env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    head = re.search(r"audit head: ([0-9a-f]{64})", first.stdout)
    assert head, first.stdout

    scratch = audit / ".in-progress"
    audit.chmod(0o777)  # the careless setup: anyone may write the audit folder
    scratch.chmod(0o777)
    forged = nbformat.writes(make_notebook(make_result(operator=MARKER)))
    passwd = hashlib.sha256(Path("/etc/passwd").read_bytes()).hexdigest()
    # another user: a notebook named after one of root's live processes, with a claim made up without the key
    by_nobody = scratch / f"03-add-https-binding-{os.getpid()}.ipynb"
    as_nobody("sh", "-c", 'cat > "$1"', "sh", str(by_nobody), stdin=forged)
    made_up = {"format": "octorunbook-claim/1", "notebook": by_nobody.name, "mac": "0" * 64}
    as_nobody("sh", "-c", 'cat > "$1"', "sh", f"{by_nobody}{CLAIM_SUFFIX}", stdin=json.dumps(made_up))
    # root itself (an administrator's copy, a restore from a backup): a notebook without a claim
    by_root = scratch / f"02-configure-octopus-{dead_pid()}.ipynb"
    by_root.write_text(forged)
    # a FIFO (a reader that opens it blocks) and a link to a file the attacker cannot touch
    fifo = scratch / f"01-import-certificate-{dead_pid()}.ipynb"
    as_nobody("mkfifo", str(fifo))
    link = scratch / "passwd-1.ipynb"
    as_nobody("ln", "-s", "/etc/passwd", str(link))
    planted = {f".in-progress/{p.name}" for p in (by_nobody, by_root, fifo, link)}

    listing = cli("audit", "list", str(audit), "--json", timeout=60)
    rows = {row["record"]: row for row in json.loads(listing.stdout)}
    assert {name: rows[name]["status"] for name in planted} == dict.fromkeys(planted, "untrusted")
    assert all(rows[name]["note"].startswith("STATE_UNTRUSTED: ") for name in planted)
    verify = [
        "audit", "verify", str(audit), "--public-key", str(public), "--expect-head", head.group(1)
    ]  # fmt: skip
    before = cli(*verify, timeout=60)
    assert before.returncode == 0, before.stdout  # the chain is untouched; the plants are named
    assert untrusted_lines(before.stdout) == 4

    second = cli("run", str(params), env=env)
    assert second.returncode == 0, second.stdout + second.stderr
    assert second.stdout.count("⚠ STATE_UNTRUSTED") == 4
    lines = manifest_lines(audit)
    assert len(lines) == 6 and all(line["sig"] for line in lines)
    assert "interrupted" not in {line["status"] for line in lines}
    assert {item["file"] for item in lines[3]["set_aside"]} == planted  # named in the run's signed record
    assert sorted(os.listdir(scratch)) == []
    held = os.listdir(audit / "quarantine")
    assert len([n for n in held if n.endswith(".why")]) == 4 and len(held) == 4 + 5  # + the made-up claim
    for path in audit.iterdir():
        if path.is_file():
            assert MARKER.encode() not in path.read_bytes(), path.name  # only quarantine/ holds it
    assert hashlib.sha256(Path("/etc/passwd").read_bytes()).hexdigest() == passwd  # the link moved, not it

    after = cli(*verify, timeout=60)
    assert after.returncode == 0, after.stdout
    assert "signatures: all 6 lines signed" in after.stdout
    assert untrusted_lines(after.stdout) == 4 and "(found as .in-progress/" in after.stdout


@pytest.mark.redteam
def test_a_link_planted_as_in_progress_is_set_aside_and_nothing_behind_it_is_touched(tmp_path: Path) -> None:
    audit = tmp_path / "audit"
    store_several(audit, 1, html=False)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "precious.txt").write_text("not ours to move")
    (elsewhere / "x-1.ipynb").write_text("{}")
    (audit / ".in-progress").symlink_to(elsewhere)
    listing = cli("audit", "list", str(audit), timeout=60)
    assert ".in-progress: STATE_UNTRUSTED: it is a link" in listing.stdout
    prepare_audit_dir(audit)
    assert sorted(os.listdir(elsewhere)) == ["precious.txt", "x-1.ipynb"]
    assert (audit / ".in-progress").is_dir() and not (audit / ".in-progress").is_symlink()
    [moved] = [n for n in os.listdir(audit / "quarantine") if not n.endswith(".why")]
    assert (audit / "quarantine" / moved).is_symlink()
    verify = cli("audit", "verify", str(audit), timeout=60)
    assert verify.returncode == 0 and "(found as .in-progress): it is a link" in verify.stdout


@pytest.mark.redteam
def test_a_notebook_replaced_after_the_runs_last_save_is_refused_not_stored_as_its_record(
    tmp_path: Path,
) -> None:
    scratch = tmp_path / "audit" / ".in-progress"
    make_dir(scratch)
    path = scratch / f"03-add-https-binding-{os.getpid()}.ipynb"
    save_running_notebook(path, nbformat.writes(make_notebook(make_result())).encode())
    path.write_text(nbformat.writes(make_notebook(make_result(operator=MARKER))))
    with pytest.raises(OctorunbookError) as raised:
        read_own_notebook(path)
    assert raised.value.code == "STATE_UNTRUSTED"
    assert not path.exists() and len(os.listdir(tmp_path / "audit" / "quarantine")) == 3


# --- a killed run is still chained ------------------------------------------------------------------------


# Among the 20 slowest (--durations, issue 28), by design: a real run killed with SIGKILL mid-change and the
# next real run: the kill and the recovery are the test.
@pytest.mark.slow
def test_a_run_killed_with_kill_9_is_chained_as_interrupted_and_signed_by_the_next_run(
    make_sandbox: Callable[..., Any], tmp_path: Path, keys: tuple[Path, Path]
) -> None:
    private, public = keys
    sandbox = make_sandbox(fail="hang")
    audit = tmp_path / "audit"
    env = {**os.environ, SIGNING_KEY_ENV: str(private)}
    params = params_file(tmp_path / "p.yaml", sandbox_dir=str(sandbox.root), audit_dir=str(audit))
    run = subprocess.Popen(
        [str(BIN / "octorunbook"), "run", str(params)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    partial = audit / ".in-progress" / f"03-add-https-binding-{run.pid}.ipynb"
    claim = partial.with_name(partial.name + CLAIM_SUFFIX)
    try:
        wait_for(lambda: "hang" in sandbox.meta().get("fired", []), run, "03 reached the hung restart")
        time.sleep(1.0)  # 03 is waiting for the portal; its saves are on disk
        assert partial.is_file() and claim.is_file()
        assert (mode(audit), mode(audit / ".in-progress"), mode(partial), mode(claim)) == (
            0o750,
            0o750,
            0o600,
            0o600,
        )
    finally:
        kill_hard(run)

    listing = cli("audit", "list", str(audit), timeout=60)
    assert re.search(r"03-add-https-binding .*interrupted", listing.stdout), listing.stdout
    verify = cli("audit", "verify", str(audit), "--public-key", str(public), timeout=60)
    assert verify.returncode == 1 and f"interrupted      .in-progress/{partial.name}" in verify.stdout

    again = cli("run", str(params), env=env)
    assert again.returncode == 0, again.stdout + again.stderr
    lines = manifest_lines(audit)
    assert [line["status"] for line in lines][:3] == ["succeeded", "succeeded", "interrupted"]
    assert lines[2]["claim"] and lines[2]["sig"]
    assert not partial.exists() and not claim.exists()
    assert not (audit / "quarantine").exists()
    proven = cli("audit", "verify", str(audit), "--public-key", str(public), timeout=60)
    assert proven.returncode == 0, proven.stdout
    assert re.search(r"interrupted\s+\S+_03-add-https-binding_\S+\.ipynb: chained record", proven.stdout)
    assert "STATE_UNTRUSTED" not in proven.stdout


SLEEPER = nbformat.v4.new_notebook(
    cells=[nbformat.v4.new_code_cell("import time"), nbformat.v4.new_code_cell("time.sleep(120)")],
    metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
)


@pytest.mark.slow
def test_papermill_through_the_hook_claims_its_notebook_and_a_killed_one_is_chained_once(
    tmp_path: Path,
) -> None:
    source = tmp_path / "sleeper.ipynb"
    nbformat.write(SLEEPER, source)
    audit = tmp_path / "audit"
    running = audit / ".in-progress" / "sleeper-1.ipynb"  # pid 1 is alive: the claim's pid decides
    claim = running.with_name(running.name + CLAIM_SUFFIX)
    papermill = subprocess.Popen(
        [str(BIN / "papermill"), str(source), f"octorunbook-redact://{running}", "-k", "python3"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=lambda: os.umask(0),  # nothing narrows the modes but octorunbook itself
    )
    try:
        wait_for(lambda: "time.sleep" in _text(running) and "running" in _text(running), papermill, "a save")
        assert (mode(audit), mode(running.parent), mode(running), mode(claim)) == (0o750, 0o750, 0o600, 0o600)
        listing = cli("audit", "list", str(audit), "--json", timeout=60)
        assert [r["status"] for r in json.loads(listing.stdout)] == ["running"]
    finally:
        kill_hard(papermill)
    copies = tmp_path / "copies"
    copies.mkdir()
    for path in (running, claim):
        shutil.copy2(path, copies / path.name)  # what a writer of the folder could keep aside

    listing = cli("audit", "list", str(audit), "--json", timeout=60)
    assert [r["status"] for r in json.loads(listing.stdout)] == ["interrupted"]
    prepare_audit_dir(audit)  # what the next run does first
    assert [line["status"] for line in manifest_lines(audit)] == ["interrupted"]
    assert cli("audit", "verify", str(audit), timeout=60).returncode == 0

    for path in (running, claim):
        shutil.copy2(copies / path.name, path)  # put back: a claim is settled once
    prepare_audit_dir(audit)
    assert len(manifest_lines(audit)) == 1
    verify = cli("audit", "verify", str(audit), timeout=60)
    assert verify.returncode == 0 and "its claim was chained already" in verify.stdout


def _text(path: Path) -> str:
    try:
        return path.read_text("utf-8")
    except OSError:
        return ""


# --- who may check a claim ---------------------------------------------------------------------------------


def test_a_reader_without_the_claim_key_sees_an_interrupted_run_and_makes_no_key(tmp_path: Path) -> None:
    audit = tmp_path / "audit"
    store_several(audit, 1, html=False)
    make_dir(audit / ".in-progress")
    done = subprocess.run(
        [sys.executable, "-c", _KILLED, str(audit)], capture_output=True, check=True, text=True
    )
    auditor_home = tmp_path / "auditor-home"
    env = {**os.environ, "OCTORUNBOOK_HOME": str(auditor_home)}
    listing = cli("audit", "list", str(audit), "--json", env=env, timeout=60)
    [row] = [r for r in json.loads(listing.stdout) if r["record"].startswith(".in-progress/")]
    assert row["status"] == "interrupted" and "there is no claim key" in row["note"]
    verify = cli("audit", "verify", str(audit), env=env, timeout=60)
    assert verify.returncode == 1 and "interrupted" in verify.stdout
    assert not auditor_home.exists()
    assert Path(done.stdout.strip()).exists()  # a reader moves nothing


_KILLED = """
import os, sys
from pathlib import Path
from octorunbook.audit.claims import save_running_notebook
path = Path(sys.argv[1]) / ".in-progress" / f"01-import-certificate-{os.getpid()}.ipynb"
save_running_notebook(path, b'{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}')
print(path)
"""


@pytest.mark.redteam
def test_a_claim_key_home_other_users_can_write_stops_the_run_before_it_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "shared-home"
    home.mkdir(mode=0o777)
    home.chmod(0o777)
    monkeypatch.setenv("OCTORUNBOOK_HOME", str(home))
    with pytest.raises(OctorunbookError) as raised:
        prepare_audit_dir(tmp_path / "audit")
    assert raised.value.code == "STATE_DIR_UNSAFE"
    assert not (home / "audit").exists()


# --- modes ------------------------------------------------------------------------------------------------


def test_folders_are_0750_for_the_users_own_group_and_0700_for_a_catch_all_one(tmp_path: Path) -> None:
    import grp

    users = grp.getgrnam("users").gr_gid
    make_dir(tmp_path / "own" / "audit")
    assert (mode(tmp_path / "own"), mode(tmp_path / "own" / "audit")) == (0o750, 0o750)
    os.setegid(users)  # a primary group that every local account shares
    try:
        make_dir(tmp_path / "catch-all" / "audit")
        team = tmp_path / "team"
        team.mkdir()
        os.chmod(team, 0o2750)  # an administrator gave the tree to a group: it is inherited and kept
        make_dir(team / "audit")
    finally:
        os.setegid(0)
    assert (mode(tmp_path / "catch-all"), mode(tmp_path / "catch-all" / "audit")) == (0o700, 0o700)
    assert mode(team / "audit") & 0o777 == 0o750
