"""The collection's lookup ``octorunbook.fleet.audit_copy``: what the control node's copy of a node's audit folder
holds (relative path -> SHA-1), read by the role to fetch only new and changed files (the incremental fetch
itself is proven end to end by tests/ops/test_fleet_rollout.py)."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import threading
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from ansiblekit import REPO, ansible_doc

pytest.importorskip("ansible", reason="ansible-core is not installed (test extra)")

PLUGIN = REPO / "ansible" / "plugins" / "lookup" / "audit_copy.py"


def _load_plugin() -> ModuleType:
    """The plugin module, loaded from its file: no installed collection needed."""
    spec = importlib.util.spec_from_file_location("octorunbook_fleet_audit_copy", PLUGIN)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


audit_copy = _load_plugin()


def _lookup(*terms: str) -> Any:
    from ansible.parsing.dataloader import DataLoader

    return audit_copy.LookupModule(loader=DataLoader()).run(list(terms), variables={})


def _sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


def test_nested_and_hidden_files_are_listed_by_relative_posix_path_with_their_sha1(tmp_path: Path) -> None:
    copy = tmp_path / "node1"
    (copy / ".in-progress" / "run-1").mkdir(parents=True)
    (copy / "20261206T000000Z_01-import-certificate_sandbox-node1.ipynb").write_bytes(b'{"cells": []}')
    (copy / "manifest.jsonl").write_bytes(b'{"seq": 1}\n')
    (copy / ".manifest.lock").write_bytes(b"")
    (copy / ".in-progress" / "run-1" / "partial.ipynb").write_bytes(b"partial")
    big = os.urandom(3 * audit_copy.CHUNK + 17)  # read in several chunks
    (copy / "big.html").write_bytes(big)
    (copy / "empty-folder").mkdir()

    result = _lookup(str(copy))

    assert isinstance(result, list) and len(result) == 1  # a lookup returns a list: one dict per folder
    assert result[0] == {
        "20261206T000000Z_01-import-certificate_sandbox-node1.ipynb": _sha1(b'{"cells": []}'),
        "manifest.jsonl": _sha1(b'{"seq": 1}\n'),
        ".manifest.lock": _sha1(b""),
        ".in-progress/run-1/partial.ipynb": _sha1(b"partial"),
        "big.html": _sha1(big),
    }
    assert all(len(v) == 40 and v == v.lower() for v in result[0].values())  # as find's get_checksum gives


def test_a_folder_that_does_not_exist_gives_an_empty_dict(tmp_path: Path) -> None:
    assert _lookup(str(tmp_path / "node3")) == [{}]


def test_a_file_where_the_folder_should_be_fails_the_lookup(tmp_path: Path) -> None:
    from ansible.errors import AnsibleLookupError

    (tmp_path / "node1").write_text("not a folder")
    with pytest.raises(AnsibleLookupError, match="is not a folder"):
        _lookup(str(tmp_path / "node1"))


def test_links_are_not_followed_neither_to_a_file_nor_into_a_folder(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_bytes(b"outside the copy")
    copy = tmp_path / "node1"
    copy.mkdir()
    (copy / "record.html").write_bytes(b"record")
    (copy / "link-to-file.html").symlink_to(outside / "secret.txt")
    (copy / "linked-folder").symlink_to(outside, target_is_directory=True)
    (copy / "dangling").symlink_to(tmp_path / "nowhere")

    assert _lookup(str(copy)) == [{"record.html": _sha1(b"record")}]


def test_a_fifo_is_skipped_without_blocking(tmp_path: Path) -> None:
    copy = tmp_path / "node1"
    copy.mkdir()
    (copy / "record.ipynb").write_bytes(b"record")
    os.mkfifo(copy / "pipe")
    result: list[Any] = []
    reader = threading.Thread(target=lambda: result.append(_lookup(str(copy))), daemon=True)
    reader.start()
    reader.join(10)
    assert not reader.is_alive(), "the lookup blocked opening the FIFO"
    assert result == [[{"record.ipynb": _sha1(b"record")}]]


def test_a_fifo_put_where_a_listed_file_was_is_not_read(tmp_path: Path) -> None:
    """Between listing and reading, a file may be replaced: the object opened is checked, never waited on."""
    os.mkfifo(tmp_path / "was-a-file")
    assert audit_copy.sha1_of(str(tmp_path / "was-a-file")) is None
    (tmp_path / "now-a-link").symlink_to(tmp_path / "was-a-file")
    assert audit_copy.sha1_of(str(tmp_path / "now-a-link")) is None


def test_several_folders_give_one_dict_each_and_a_relative_one_is_taken_from_the_playbook_folder(
    tmp_path: Path,
) -> None:
    from ansible.parsing.dataloader import DataLoader

    (tmp_path / "audit" / "node1").mkdir(parents=True)
    (tmp_path / "audit" / "node1" / "a").write_bytes(b"a")
    loader = DataLoader()
    loader.set_basedir(str(tmp_path))  # the playbook's folder, where fetch puts a relative dest
    lookup = audit_copy.LookupModule(loader=loader)
    assert lookup.run(["audit/node1", str(tmp_path / "audit" / "node2")], variables={}) == [
        {"a": _sha1(b"a")},
        {},
    ]


def test_the_lookup_takes_no_options(tmp_path: Path) -> None:
    from ansible.errors import AnsibleLookupError

    with pytest.raises(AnsibleLookupError, match="no options"):
        audit_copy.LookupModule(loader=None).run([str(tmp_path)], variables={}, recurse=False)


def test_the_plugin_is_found_by_its_collection_name_and_its_documentation_parses(tmp_path: Path) -> None:
    """Through the collection layout the test cluster uses (tests/ansiblekit.py), with ansible-doc."""
    doc = ansible_doc(tmp_path, "lookup", "octorunbook.fleet.audit_copy")
    assert doc["doc"]["name"] == "audit_copy"
    assert doc["return"]["_raw"]["elements"] == "dict"
    assert "lookup('octorunbook.fleet.audit_copy'" in doc["examples"]
