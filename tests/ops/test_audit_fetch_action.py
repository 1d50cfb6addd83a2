"""The collection's action ``octorunbook.fleet.audit_fetch``: a file the node listed with its SHA-1 is copied
and proven against it without a module run on the node; what it cannot prove goes to ``ansible.builtin.fetch``.
Run through the real ``ansible-playbook`` against this machine (connection local), as the role runs it
(tests/ops/test_fleet_rollout.py proves the role's incremental fetch end to end)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from ansiblekit import ANSIBLE_PLAYBOOK, ansible_doc, collection_env

pytestmark = pytest.mark.skipif(
    not ANSIBLE_PLAYBOOK.exists(), reason="ansible-core is not installed (test extra)"
)


def _sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


def _play(tmp_path: Path, tasks: list[dict[str, object]], *extra: str) -> subprocess.CompletedProcess[str]:
    playbook = tmp_path / "play.yml"
    play = {"hosts": "localhost", "gather_facts": False, "tasks": tasks}
    playbook.write_text(yaml.safe_dump([play], sort_keys=False))
    env = collection_env(tmp_path / "ansible")
    return subprocess.run(
        [str(ANSIBLE_PLAYBOOK), "-i", "localhost,", "-c", "local", str(playbook), *extra]
        + ["-e", f"ansible_python_interpreter={sys.executable}"],
        env={**env, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_LOCAL_TEMP": str(tmp_path / "tmp")},
        capture_output=True,
        text=True,
        timeout=300,
    )


def _fetch(src: Path, dest: Path, checksum: str) -> dict[str, object]:
    return {
        "octorunbook.fleet.audit_fetch": {"src": str(src), "dest": str(dest), "checksum": checksum},
        "register": "fetched",
    }


def test_a_listed_file_is_copied_and_proven_without_a_module_run_then_left_alone(tmp_path: Path) -> None:
    node = tmp_path / "node" / "manifest.jsonl"
    node.parent.mkdir()
    node.write_bytes(b'{"seq": 1}\n')
    copy = tmp_path / "copy" / "node1" / "manifest.jsonl"  # its folders do not exist yet
    tasks = [
        {"name": "first", **_fetch(node, copy, _sha1(node.read_bytes()))},
        {"name": "changed", "ansible.builtin.assert": {"that": ["fetched is changed"]}},
        {"name": "again", **_fetch(node, copy, _sha1(node.read_bytes()))},
        {"name": "unchanged", "ansible.builtin.assert": {"that": ["fetched is not changed"]}},
    ]
    done = _play(tmp_path, tasks, "-vvv")
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert copy.read_bytes() == node.read_bytes()
    assert [p.name for p in copy.parent.iterdir()] == ["manifest.jsonl"]  # no partial copy left
    fetches = done.stdout.split("TASK [changed]")[0] + done.stdout.split("TASK [again]")[1].split("TASK [")[0]
    assert "AnsiballZ" not in fetches and "EXEC" not in fetches.replace("EXEC /bin/sh -c 'echo ~", ""), (
        fetches
    )


def test_a_file_changed_since_it_was_listed_is_fetched_by_fetch_with_its_new_content(tmp_path: Path) -> None:
    node = tmp_path / "node" / "manifest.jsonl"
    node.parent.mkdir()
    node.write_bytes(b'{"seq": 1}\n{"seq": 2}\n')
    copy = tmp_path / "copy" / "manifest.jsonl"
    stale = _sha1(b'{"seq": 1}\n')  # what the listing saw before the second line was appended
    tasks = [{"name": "fetch", **_fetch(node, copy, stale)}, {"ansible.builtin.debug": {"var": "fetched"}}]
    done = _play(tmp_path, tasks)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert copy.read_bytes() == node.read_bytes()
    result = json.loads(done.stdout.split('"fetched": ', 1)[1].split("\n}\n", 1)[0])
    assert result["changed"] is True and result["checksum"] == _sha1(node.read_bytes())
    assert [p.name for p in copy.parent.iterdir()] == ["manifest.jsonl"]


def test_without_a_listed_checksum_the_file_is_fetched_by_fetch(tmp_path: Path) -> None:
    node = tmp_path / "node" / "record.html"
    node.parent.mkdir()
    node.write_bytes(b"<html></html>")
    copy = tmp_path / "copy" / "record.html"
    done = _play(tmp_path, [_fetch(node, copy, "")])
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert copy.read_bytes() == node.read_bytes()


def test_check_mode_skips_the_fetch_as_fetch_does(tmp_path: Path) -> None:
    node = tmp_path / "node" / "record.html"
    node.parent.mkdir()
    node.write_bytes(b"<html></html>")
    copy = tmp_path / "copy" / "record.html"
    done = _play(tmp_path, [_fetch(node, copy, _sha1(node.read_bytes()))], "--check")
    assert done.returncode == 0 and "skipping: [localhost]" in done.stdout, done.stdout[-4000:]
    assert not copy.exists()


@pytest.mark.parametrize("checksum", ["not-a-sha1", "0" * 39])
def test_a_checksum_that_is_not_a_sha1_fails_the_task(tmp_path: Path, checksum: str) -> None:
    node = tmp_path / "node.txt"
    node.write_bytes(b"x")
    done = _play(tmp_path, [_fetch(node, tmp_path / "copy.txt", checksum)])
    assert done.returncode != 0 and "SHA-1" in done.stdout, done.stdout[-4000:]
    assert not (tmp_path / "copy.txt").exists()


def test_a_destination_with_a_parent_part_is_refused(tmp_path: Path) -> None:
    node = tmp_path / "node.txt"
    node.write_bytes(b"x")
    dest = f"{tmp_path}/copy/node1/../../escaped.txt"
    done = _play(tmp_path, [_fetch(node, Path(dest), _sha1(b"x"))])
    assert done.returncode != 0 and "leaves its folder" in done.stdout, done.stdout[-4000:]
    assert not (tmp_path / "escaped.txt").exists()


def test_the_action_is_found_by_its_collection_name_and_its_documentation_parses(tmp_path: Path) -> None:
    doc = ansible_doc(tmp_path, "module", "octorunbook.fleet.audit_fetch")["doc"]
    assert set(doc["options"]) == {"src", "dest", "checksum"}
