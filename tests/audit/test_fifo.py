"""A FIFO where a record's file should be: ``audit verify``, ``audit show`` and ``fleet summary`` report it
(coded) and go on, or fail cleanly -- they never block on it.

Each command runs as an operator runs it, in a fresh process with a timeout: before the bounded reader,
opening the FIFO blocked forever, so a hang fails the test instead of hanging the suite.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from octorunbook.files import read_limited
from octorunbook.findings import InputError
from tests.audit.test_audit import store_several

BIN = Path(sys.executable).parent
pytestmark = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are a POSIX thing")


def octorunbook(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "octorunbook"), *args], capture_output=True, text=True, check=False, timeout=60
    )


def fleet_with_a_fifo(root: Path) -> tuple[Path, Path]:
    """node1: two records, the first one's HTML replaced by a FIFO; node2: its manifest is a FIFO."""
    node1, node2 = root / "node1", root / "node2"
    node1.mkdir(parents=True)
    node2.mkdir()
    first = store_several(node1, 2)[0]
    html = first.with_suffix(".html")
    html.unlink()
    os.mkfifo(html)
    store_several(node2, 1)
    (node2 / "manifest.jsonl").unlink()
    os.mkfifo(node2 / "manifest.jsonl")
    return first, html


def test_audit_verify_reports_the_fifo_and_goes_on(tmp_path: Path) -> None:
    _, html = fleet_with_a_fifo(tmp_path)
    done = octorunbook("audit", "verify", str(tmp_path / "node1"))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "FILE_NOT_REGULAR" in done.stdout and html.name in done.stdout


def test_audit_show_says_the_record_is_not_verified_because_of_the_fifo(tmp_path: Path) -> None:
    record, html = fleet_with_a_fifo(tmp_path)
    done = octorunbook("audit", "show", str(record))
    assert done.returncode != 0
    assert "NOT VERIFIED" in done.stdout and "FILE_NOT_REGULAR" in done.stdout and html.name in done.stdout


def test_fleet_summary_reports_each_unreadable_node_and_summarises_the_rest(tmp_path: Path) -> None:
    fleet_with_a_fifo(tmp_path)
    done = octorunbook("fleet", "summary", str(tmp_path))
    assert done.returncode == 1, done.stdout + done.stderr
    rows = {line.split()[0]: line for line in done.stdout.splitlines()[1:] if line[:1].isalnum()}
    assert "03-add-https-binding" in rows["node1"]
    assert "unreadable: FILE_NOT_REGULAR" in rows["node2"]
    assert "manifest.jsonl" in done.stdout + done.stderr


def test_the_bounded_reader_refuses_a_fifo_and_a_link_where_links_are_not_followed(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(InputError) as caught:
        read_limited(fifo)
    assert caught.value.code == "FILE_NOT_REGULAR"
    real = tmp_path / "real"
    real.write_bytes(b"x")
    (tmp_path / "link").symlink_to(real)
    assert read_limited(tmp_path / "link") == b"x"
    with pytest.raises(InputError) as caught:
        read_limited(tmp_path / "link", follow=False)
    assert caught.value.code == "FILE_NOT_REGULAR"
