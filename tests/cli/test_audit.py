"""``octorunbook audit list|verify|show`` through a parser built here, as cli.py builds its own."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from octorunbook.audit.chain import MANIFEST_NAME
from octorunbook.audit.store import store_record
from octorunbook.cli.audit import register
from tests.audit.test_audit import THUMBPRINT, make_notebook, make_result, store_several


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="octorunbook")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


def test_audit_list_prints_a_table_newest_first(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    paths = store_several(tmp_path, 3, html=False)
    assert run(["audit", "list", str(tmp_path)]) == 0
    header, *rows = capsys.readouterr().out.splitlines()
    assert header.split() == ["when", "runbook", "host", "target", "status", "thumbprint", "operator"]
    assert [row.split()[0] for row in rows] == [
        "2026-11-26T18:32:00Z",
        "2026-11-26T18:31:00Z",
        "2026-11-26T18:30:00Z",
    ]
    assert rows[0].split()[1:] == [
        "03-add-https-binding",
        "localhost",
        "sandbox",
        "succeeded",
        THUMBPRINT,
        "alice",
    ]
    assert len(paths) == 3


def test_audit_list_json_honours_limit(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    paths = store_several(tmp_path, 3, html=False)
    assert run(["audit", "list", str(tmp_path), "--limit", "1", "--json"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert row["record"] == paths[-1].name and row["unverified"] is False


def test_audit_list_with_result_gives_the_newest_record_verified_as_audit_show_gives_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = store_several(tmp_path, 2, html=False)
    assert run(["audit", "list", str(tmp_path), "--limit", "1", "--with-result"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert (row["record"], row["seq"], row["verified"]) == (paths[-1].name, 2, True)
    assert row["result"] == make_result(started_at=row["result"]["started_at"]) and row["verification"]
    assert run(["audit", "show", str(paths[-1]), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == row["result"]


def test_audit_list_with_result_gives_no_result_for_a_record_that_does_not_verify(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = store_several(tmp_path, 2, html=False)
    paths[-1].write_bytes(paths[-1].read_bytes() + b" ")
    assert run(["audit", "list", str(tmp_path), "--with-result"]) == 0
    newest, older = json.loads(capsys.readouterr().out)
    assert (newest["verified"], newest["result"]) == (False, None)
    assert any("changed" in line for line in newest["verification"]), newest["verification"]
    assert older["verified"] is True and older["result"]["status"] == "succeeded"


def test_audit_list_with_result_never_reads_a_notebook_outside_the_chain(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store_several(tmp_path, 1, html=False)
    (tmp_path / MANIFEST_NAME).unlink()
    assert run(["audit", "list", str(tmp_path), "--with-result"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert (row["unverified"], row["verified"], row["result"]) == (True, False, None)


def test_audit_list_with_result_never_follows_a_manifest_line_to_another_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A line planted in the manifest names a record of another audit folder, whose own chain verifies it:
    its result is not this folder's, so it is never read (the file supplies no path)."""
    here, elsewhere = tmp_path / "node-a", tmp_path / "node-b"
    store_several(here, 1, html=False)
    [theirs] = store_several(elsewhere, 1, html=False)
    line = json.loads((elsewhere / MANIFEST_NAME).read_text().splitlines()[0])
    planted = {**line, "seq": 2, "record": f"../{elsewhere.name}/{theirs.name}"}
    with (here / MANIFEST_NAME).open("a") as manifest:
        manifest.write(json.dumps(planted) + "\n")
    assert run(["audit", "list", str(here), "--with-result"]) == 0
    rows = json.loads(capsys.readouterr().out)
    [row] = [r for r in rows if r["record"] == planted["record"]]
    assert (row["verified"], row["result"]) == (False, None)
    assert "not a record of this folder" in row["verification"][0]


@pytest.mark.parametrize("verb", ["list --with-result", "verify"])
def test_a_manifest_line_naming_a_file_with_a_nul_byte_is_a_problem_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], verb: str
) -> None:
    """A crafted line can carry any JSON string; ``open`` refuses a NUL with ValueError, which escaped
    ``audit verify`` and ``audit list --with-result`` as a traceback. It is a line naming no file here."""
    [ours] = store_several(tmp_path, 1, html=False)
    line = json.loads((tmp_path / MANIFEST_NAME).read_text().splitlines()[0])
    with (tmp_path / MANIFEST_NAME).open("a") as manifest:
        manifest.write(json.dumps({**line, "seq": 2, "record": "x\u0000.ipynb"}) + "\n")
    code = run(["audit", *verb.split()[:1], str(tmp_path), *verb.split()[1:]])
    out = capsys.readouterr().out
    if verb == "verify":
        assert code == 1 and "names no file of this folder" in out, out
    else:
        rows = {r["record"]: r for r in json.loads(out)}
        assert (rows["x\x00.ipynb"]["verified"], rows["x\x00.ipynb"]["result"]) == (False, None)
        assert "not a record of this folder" in rows["x\x00.ipynb"]["verification"][0]
        assert rows[ours.name]["seq"] == 1


def test_audit_list_with_result_gives_no_result_for_a_record_that_holds_none(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store_record(tmp_path, make_notebook(None), html=False)
    assert run(["audit", "list", str(tmp_path), "--with-result"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert (row["verified"], row["result"]) == (False, None)
    assert "RECORD_HAS_NO_RESULT" in row["verification"][-1]


def test_audit_list_marks_a_notebook_outside_the_chain(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store_several(tmp_path, 1, html=False)
    (tmp_path / MANIFEST_NAME).unlink()
    assert run(["audit", "list", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "2026-11-26T18:30:00Z *" in out and "unverified" in out


def test_audit_list_refuses_a_limit_below_one(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        run(["audit", "list", str(tmp_path), "--limit", "0"])


def test_audit_verify_says_the_chain_is_intact(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store_several(tmp_path, 2)
    assert run(["audit", "verify", str(tmp_path)]) == 0
    assert capsys.readouterr().out.startswith("chain intact: 2 records")


def test_audit_verify_prints_every_problem_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = store_several(tmp_path, 3, html=False)
    paths[0].unlink()
    paths[1].write_bytes(paths[1].read_bytes() + b" ")
    assert run(["audit", "verify", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert f"removed          {paths[0].name}" in out and f"changed          {paths[1].name}" in out
    assert "chain broken: 2 problem(s)" in out


def test_audit_verify_exits_2_for_a_directory_that_is_not_an_audit_dir(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["audit", "verify", str(tmp_path / "nope")]) == 2
    assert "NOT_AN_AUDIT_DIR" in capsys.readouterr().err


def test_audit_show_renders_the_record(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = store_record(tmp_path, make_notebook(make_result()), html=False)
    assert run(["audit", "show", str(path)]) == 0
    assert "03-add-https-binding: SUCCEEDED" in capsys.readouterr().out


def test_audit_show_json_prints_the_result_record(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = store_record(tmp_path, make_notebook(make_result()), html=False)
    assert run(["audit", "show", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == make_result()


def test_audit_json_for_another_program_is_strict_ascii_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """What the Ansible role reads goes through emit.json_document: ASCII only, the same values."""
    result = make_result(operator="zoë", summary="Zertifikat für café.example \u202e")
    path = store_record(tmp_path, make_notebook(result), html=False)
    assert run(["audit", "show", str(path), "--json"]) == 0
    out = capsys.readouterr().out
    assert out.isascii() and json.loads(out) == result
    assert run(["audit", "list", str(tmp_path), "--json"]) == 0
    out = capsys.readouterr().out
    assert out.isascii() and json.loads(out)[0]["operator"] == "zoë"


def test_audit_show_exits_2_for_a_record_without_result(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = store_record(tmp_path, make_notebook(None), html=False)
    assert run(["audit", "show", str(path)]) == 2
    assert "RECORD_HAS_NO_RESULT" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["audit"], ["audit", "list"], ["audit", "verify"], ["audit", "show"]])
def test_every_audit_help_explains_itself(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        run([*argv, "--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    assert len(text.split()) > 30 and "usage: octorunbook audit" in text
