"""Red team: the ACME account folder and key in the state home. A group-writable or linked account folder
is refused (``STATE_DIR_UNSAFE``); a link planted at the key or the account record is never followed and
what it points at is unchanged; a key others may read is quarantined (``STATE_UNTRUSTED``)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from octorunbook.acme.client import (
    ACCOUNT_FILE,
    ACCOUNT_KEY,
    account_dir,
    account_folder,
    read_account_key,
    read_account_record,
    store_account_key,
)
from octorunbook.findings import TargetError
from octorunbook.targets.state import StateHome

DIRECTORY = "https://acme.example.com/directory"
pytestmark = pytest.mark.skipif(os.name == "nt", reason="POSIX owners, modes and links")


@pytest.fixture
def home(tmp_path: Path) -> StateHome:
    return StateHome.open(tmp_path / "state", "sandbox/octopusserver")


def test_the_account_folder_is_a_private_folder_of_the_state_home(home: StateHome) -> None:
    folder = account_folder(home, DIRECTORY)
    assert folder == account_dir(home.root, DIRECTORY)
    assert [os.stat(p).st_mode & 0o777 for p in (folder.parent, folder)] == [0o700, 0o700]
    assert store_account_key(home, folder, b"PEM") == b"PEM"
    assert os.stat(folder / ACCOUNT_KEY).st_mode & 0o777 == 0o600
    assert read_account_key(home, folder) == b"PEM"


def test_an_ipv6_or_odd_ca_host_still_gives_a_folder_name_the_home_accepts(home: StateHome) -> None:
    assert account_folder(home, "https://[::1]:14000/dir").name.startswith("1-")


@pytest.mark.parametrize("mode", [0o770, 0o775, 0o777])
def test_a_group_or_world_writable_account_folder_is_refused(home: StateHome, mode: int) -> None:
    folder = account_dir(home.root, DIRECTORY)
    folder.parent.mkdir(mode=0o700)
    folder.mkdir(mode=0o700)
    folder.chmod(mode)
    with pytest.raises(TargetError) as caught:
        account_folder(home, DIRECTORY)
    assert caught.value.code == "STATE_DIR_UNSAFE" and f"{mode:04o}" in caught.value.message


def test_an_account_folder_that_is_a_link_is_refused(home: StateHome, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    (home.root / "acme").mkdir(mode=0o700)
    account_dir(home.root, DIRECTORY).symlink_to(elsewhere)
    with pytest.raises(TargetError, match="is a link") as caught:
        account_folder(home, DIRECTORY)
    assert caught.value.code == "STATE_DIR_UNSAFE" and os.listdir(elsewhere) == []


def test_a_link_planted_at_the_account_key_is_never_followed(home: StateHome, tmp_path: Path) -> None:
    folder = account_folder(home, DIRECTORY)
    victim = tmp_path / "victim.pem"
    victim.write_text("not yours")
    (folder / ACCOUNT_KEY).symlink_to(victim)
    with pytest.raises(TargetError) as caught:
        read_account_key(home, folder)
    assert caught.value.code == "STATE_UNTRUSTED"
    assert victim.read_text() == "not yours" and not os.path.lexists(folder / ACCOUNT_KEY)
    (folder / ACCOUNT_KEY).symlink_to(tmp_path / "dangling.pem")  # a new key written through a link: no
    with pytest.raises(TargetError) as caught:
        store_account_key(home, folder, b"new key")
    assert caught.value.code == "STATE_UNTRUSTED" and not (tmp_path / "dangling.pem").exists()


@pytest.mark.parametrize("mode", [0o640, 0o644, 0o604])
def test_an_account_key_others_may_read_is_quarantined_never_used(home: StateHome, mode: int) -> None:
    folder = account_folder(home, DIRECTORY)
    store_account_key(home, folder, b"PEM")
    (folder / ACCOUNT_KEY).chmod(mode)
    with pytest.raises(TargetError) as caught:
        read_account_key(home, folder)
    assert caught.value.code == "STATE_UNTRUSTED" and "readable by other users" in caught.value.message
    assert not (folder / ACCOUNT_KEY).exists() and home.quarantined()


def test_the_account_record_is_written_beside_a_planted_link_and_read_back_checked(
    home: StateHome, tmp_path: Path
) -> None:
    folder = account_folder(home, DIRECTORY)
    victim = tmp_path / "victim.json"
    victim.write_text("{}")
    (folder / ACCOUNT_FILE).symlink_to(victim)
    home.write_private(folder, ACCOUNT_FILE, json.dumps({"url": "https://ca/acct/1"}).encode())
    assert victim.read_text() == "{}" and not (folder / ACCOUNT_FILE).is_symlink()
    assert read_account_record(home, folder) == {"url": "https://ca/acct/1"}
    home.write_private(folder, ACCOUNT_FILE, b'{"url": "file:///etc/passwd"}')
    with pytest.raises(TargetError) as caught:
        read_account_record(home, folder)
    assert caught.value.code == "STATE_UNTRUSTED" and read_account_record(home, folder) is None
