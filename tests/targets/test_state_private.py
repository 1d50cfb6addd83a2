"""Plain private files in the state home (a plan a script reads, an ACME account key) and the leftovers a
killed write leaves: red-team tests — a planted link is never followed, a loose folder is refused, a
secret others may read is quarantined, and only our own dead temporary files are ever removed."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from octorunbook.findings import TargetError
from octorunbook.targets.state import StateHome
from octorunbook.targets.state_files import LEFTOVER_AGE

NOBODY = 65534
pytestmark = pytest.mark.skipif(os.name == "nt", reason="POSIX owners and modes")


def _home(tmp_path: Path) -> StateHome:
    return StateHome.open(tmp_path / "state", "sandbox/octopusserver")


def _dead_pid() -> int:
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    return int(child.stdout)


def _aged(path: Path, seconds: float = LEFTOVER_AGE + 60) -> Path:
    then = time.time() - seconds
    os.utime(path, (then, then), follow_symlinks=False)
    return path


def test_a_private_folder_and_its_files_are_ours_only(tmp_path: Path) -> None:
    home = _home(tmp_path)
    folder = home.folder("acme", "ca.example-0123456789")
    path = home.write_private(folder, "account.key", b"secret", exclusive=True)
    assert os.stat(home.root / "acme").st_mode & 0o777 == 0o700
    assert os.stat(folder).st_mode & 0o777 == 0o700
    assert os.stat(path).st_mode & 0o777 == 0o600
    assert home.read_private(folder, "account.key", 100, secret=True) == b"secret"
    assert home.read_private(folder, "missing.json", 100) is None


@pytest.mark.parametrize("mode", [0o770, 0o757, 0o750])
def test_a_private_folder_others_may_enter_or_write_is_refused(tmp_path: Path, mode: int) -> None:
    home = _home(tmp_path)
    (home.root / "acme").mkdir(mode=0o700)
    (home.root / "acme").chmod(mode)
    with pytest.raises(TargetError) as caught:
        home.folder("acme", "ca-1")
    assert caught.value.code == "STATE_DIR_UNSAFE" and f"{mode:04o}" in caught.value.message
    assert os.listdir(home.root / "acme") == []


def test_a_private_folder_another_user_owns_or_a_link_to_one_is_refused(tmp_path: Path) -> None:
    home = _home(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    (home.root / "schannel").symlink_to(elsewhere)
    with pytest.raises(TargetError, match="is a link") as caught:
        home.folder("schannel")
    assert caught.value.code == "STATE_DIR_UNSAFE"
    (home.root / "acme").mkdir(mode=0o700)
    os.chown(home.root / "acme", NOBODY, NOBODY)
    with pytest.raises(TargetError, match="belongs to uid") as caught:
        home.folder("acme")
    assert caught.value.code == "STATE_DIR_UNSAFE"
    assert os.listdir(elsewhere) == []


def test_a_private_write_replaces_a_planted_link_and_never_writes_where_it_points(tmp_path: Path) -> None:
    home = _home(tmp_path)
    folder = home.folder("schannel")
    victim = tmp_path / "victim.txt"
    victim.write_text("untouched")
    (folder / "plan.json").symlink_to(victim)
    home.write_private(folder, "plan.json", b"{}")
    assert victim.read_text() == "untouched"
    assert not (folder / "plan.json").is_symlink() and (folder / "plan.json").read_bytes() == b"{}"


def test_an_exclusive_private_write_onto_a_planted_link_fails_and_the_target_is_untouched(
    tmp_path: Path,
) -> None:
    home = _home(tmp_path)
    folder = home.folder("acme", "ca-1")
    victim = tmp_path / "victim.key"
    victim.write_text("untouched")
    (folder / "account.key").symlink_to(victim)
    with pytest.raises(FileExistsError):
        home.write_private(folder, "account.key", b"new key", exclusive=True)
    (folder / "account.key").unlink()
    (folder / "account.key").symlink_to(tmp_path / "dangling")  # a dangling link: O_EXCL refuses it too
    with pytest.raises(FileExistsError):
        home.write_private(folder, "account.key", b"new key", exclusive=True)
    assert victim.read_text() == "untouched" and not (tmp_path / "dangling").exists()


def test_a_private_read_through_a_link_is_quarantined_and_never_follows_it(tmp_path: Path) -> None:
    home = _home(tmp_path)
    folder = home.folder("acme", "ca-1")
    victim = tmp_path / "victim.key"
    victim.write_text("someone else's key")
    (folder / "account.key").symlink_to(victim)
    with pytest.raises(TargetError) as caught:
        home.read_private(folder, "account.key", 100, secret=True)
    assert caught.value.code == "STATE_UNTRUSTED" and "link" in caught.value.message
    assert not os.path.lexists(folder / "account.key")
    assert [q.path.name.endswith("account.key") for q in home.quarantined()] == [True]
    assert victim.read_text() == "someone else's key"


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o620])
def test_a_secret_others_may_read_or_write_is_quarantined(tmp_path: Path, mode: int) -> None:
    home = _home(tmp_path)
    folder = home.folder("acme", "ca-1")
    path = home.write_private(folder, "account.key", b"key", exclusive=True)
    path.chmod(mode)
    with pytest.raises(TargetError) as caught:
        home.read_private(folder, "account.key", 100, secret=True)
    assert caught.value.code == "STATE_UNTRUSTED" and f"{mode:04o}" in caught.value.message


def test_a_private_file_name_or_folder_outside_the_home_is_refused(tmp_path: Path) -> None:
    home = _home(tmp_path)
    with pytest.raises(ValueError):
        home.folder("..")
    with pytest.raises(ValueError):
        home.write_private(home.folder("x"), "../escape", b"")
    with pytest.raises(ValueError):
        home.write_private(tmp_path, "outside.json", b"")


def test_leftovers_of_a_killed_write_are_removed_on_open_and_nothing_else(tmp_path: Path) -> None:
    home = _home(tmp_path)
    sub = home.folder("schannel")
    dead = _dead_pid()
    victim = tmp_path / "victim.txt"
    victim.write_text("untouched")
    old, young = LEFTOVER_AGE + 60, 1.0
    removed = {
        home.root / f".checkpoint-x.json.{dead}.0123456789ab.tmp": old,
        sub / f".schannel-plan-1.json.{dead}.0123456789ab.tmp": old,
        home.root / ".memory-y.json.0123456789ab.tmp": 7200,  # an older octorunbook's, long dead
    }
    kept = {
        home.root / f".checkpoint-a.json.{os.getpid()}.0123456789ab.tmp": old,  # a live writer's (ours)
        home.root / f".checkpoint-b.json.{dead}.0123456789ab.tmp": young,  # maybe another pid namespace's
        home.root / ".memory-z.json.0123456789ab.tmp": 60,  # no pid, not old enough to be sure
        home.root / f".foreign.json.{dead}.0123456789ab.tmp": old,  # another user's
        home.root / f"checkpoint-c.json.{dead}.0123456789ab.tmp": old,  # not hidden: not our shape
        home.root / "notes.tmp": old,
    }
    for path, age in {**removed, **kept}.items():
        path.write_text("half a write")
        _aged(path, age)
    os.chown(home.root / f".foreign.json.{dead}.0123456789ab.tmp", NOBODY, NOBODY)
    link = home.root / f".link.json.{dead}.0123456789ab.tmp"
    link.symlink_to(victim)
    _aged(link)

    again = StateHome.open(home.root, home.target_id)
    again.folder("schannel")
    assert [p for p in removed if os.path.lexists(p)] == []
    assert [p for p in [*kept, link] if not os.path.lexists(p)] == []
    assert link.is_symlink() and victim.read_text() == "untouched"


def test_a_write_killed_with_sigkill_leaves_a_leftover_the_next_open_removes(tmp_path: Path) -> None:
    """A real ``kill -9`` between the temporary file and its rename."""
    home = _home(tmp_path)
    script = (
        "import os, signal, sys\n"
        "from pathlib import Path\n"
        "from octorunbook.targets import state_files\n"
        "def killed(src, dst):\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
        "state_files.os.replace = killed\n"
        "state_files.write_bytes(Path(sys.argv[1]), Path(sys.argv[1]) / 'memory-x.json', b'{}')\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(home.root)], capture_output=True, text=True)
    assert done.returncode == -9, done.stderr
    leftovers = [p for p in home.root.iterdir() if p.name.startswith(".memory-x.json.")]
    assert len(leftovers) == 1 and not (home.root / "memory-x.json").exists()
    _aged(leftovers[0])
    StateHome.open(home.root, home.target_id)
    assert not leftovers[0].exists()
