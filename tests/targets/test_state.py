"""The protected state home: a folder someone else could touch is refused, a file we did not write is
quarantined, and nothing is ever written through a link."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from octorunbook.findings import TargetError
from octorunbook.targets.lock import TargetLock
from octorunbook.targets.state import StateHome

NOBODY = 65534


def _home(tmp_path: Path) -> StateHome:
    return StateHome.open(tmp_path / "state", "sandbox/octopusserver")


def test_a_new_state_home_is_private_to_its_user(tmp_path: Path) -> None:
    home = _home(tmp_path)
    assert os.stat(home.root).st_mode & 0o777 == 0o700
    home.write("memory-x.json", "memory", {"a": 1})
    assert os.stat(home.root / "memory-x.json").st_mode & 0o777 == 0o600
    assert os.stat(home.root / "home.key").st_mode & 0o777 == 0o600


def test_a_state_home_owned_by_another_user_is_refused_before_anything_is_written(tmp_path: Path) -> None:
    folder = tmp_path / "state"
    folder.mkdir(mode=0o700)
    os.chown(folder, NOBODY, NOBODY)
    with pytest.raises(TargetError) as caught:
        _home(tmp_path)
    assert caught.value.code == "STATE_DIR_UNSAFE" and caught.value.remedy
    assert os.listdir(folder) == []


def test_a_parent_other_users_may_write_is_refused_but_a_sticky_one_is_not(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    with pytest.raises(TargetError) as caught:
        StateHome.open(shared / "state", "x/y")
    assert caught.value.code == "STATE_DIR_UNSAFE"
    assert not (shared / "state").exists()
    shared.chmod(0o1777)
    assert StateHome.open(shared / "state", "x/y").root == shared / "state"


def test_a_loose_mode_state_home_is_refused(tmp_path: Path) -> None:
    (tmp_path / "state").mkdir(mode=0o755)
    (tmp_path / "state").chmod(0o755)
    with pytest.raises(TargetError, match="0755"):
        _home(tmp_path)


def test_a_write_replaces_a_planted_link_and_never_writes_where_it_points(tmp_path: Path) -> None:
    home = _home(tmp_path)
    victim = tmp_path / "victim"
    victim.write_text("precious")
    os.symlink(victim, home.root / "memory-x.json")
    home.write("memory-x.json", "memory", {"a": 1})
    assert victim.read_text() == "precious"
    assert not (home.root / "memory-x.json").is_symlink()


def test_a_lock_through_a_planted_link_is_refused_and_the_target_file_untouched(tmp_path: Path) -> None:
    home = _home(tmp_path)
    victim = tmp_path / "victim"
    victim.write_text("precious")
    lock = TargetLock(home, ["instance octopusserver"], "03-add-https-binding")
    os.symlink(victim, lock.lock_path)
    with pytest.raises(TargetError) as caught:
        lock.acquire()
    assert caught.value.code == "STATE_UNTRUSTED"
    assert victim.read_text() == "precious"


def test_a_file_without_our_mac_is_quarantined_and_never_returned(tmp_path: Path) -> None:
    home = _home(tmp_path)
    home.write("memory-x.json", "memory", {"thumbprint": "A" * 40})
    data = json.loads((home.root / "memory-x.json").read_text())
    data["body"]["thumbprint"] = "B" * 40
    (home.root / "memory-x.json").write_text(json.dumps(data))
    with pytest.raises(TargetError) as caught:
        home.read("memory-x.json", "memory")
    assert caught.value.code == "STATE_UNTRUSTED" and "MAC" in caught.value.message
    assert not (home.root / "memory-x.json").exists()
    [held] = home.quarantined()
    assert "B" * 40 in held.text and "MAC" in held.why
    assert home.discard_quarantine() and home.quarantined() == []


def test_a_file_written_for_another_target_is_not_read_as_this_ones(tmp_path: Path) -> None:
    StateHome.open(tmp_path / "state", "sandbox/other").write("memory-x.json", "memory", {"a": 1})
    with pytest.raises(TargetError, match="another target"):
        _home(tmp_path).read("memory-x.json", "memory")


def test_a_file_another_user_owns_is_quarantined(tmp_path: Path) -> None:
    home = _home(tmp_path)
    home.write("memory-x.json", "memory", {"a": 1})
    os.chown(home.root / "memory-x.json", NOBODY, NOBODY)
    with pytest.raises(TargetError, match="belongs to uid"):
        home.read("memory-x.json", "memory")


def test_two_spellings_of_one_instance_share_one_lock(tmp_path: Path) -> None:
    first = TargetLock.for_instance(tmp_path / "state", "OctopusServer", "03-add-https-binding")
    first.acquire()
    try:
        code = _acquire_elsewhere(tmp_path / "state", "octopusserver")
        assert code == "TARGET_BUSY"
    finally:
        first.release()
    assert _acquire_elsewhere(tmp_path / "state", "octopusserver") == "took"


def _acquire_elsewhere(state: Path, instance: str) -> str:
    import subprocess
    import sys

    script = (
        "import sys\nfrom pathlib import Path\nfrom octorunbook.findings import TargetError\n"
        "from octorunbook.targets.lock import TargetLock\n"
        "lock = TargetLock.for_instance(Path(sys.argv[1]), sys.argv[2], '03-add-https-binding')\n"
        "try:\n    lock.acquire()\n    print('took')\nexcept TargetError as exc:\n    print(exc.code)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(state), instance], capture_output=True, text=True
    )
    return done.stdout.strip() or done.stderr
