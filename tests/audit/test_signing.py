"""What the audit trail proves: signatures, a known head, file modes, interrupted runs, ``audit show``."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from octorunbook.audit import files
from octorunbook.audit.chain import MANIFEST_NAME, canonical, line_hash, verify_audit_dir
from octorunbook.audit.listing import list_records
from octorunbook.audit.signing import SIGNING_KEY_ENV, generate_key_pair, load_public_key
from octorunbook.audit.store import prepare_audit_dir, store_record
from octorunbook.findings import InputError
from tests.audit.test_audit import make_notebook, make_result, manifest_lines, store_several
from tests.cli.test_audit import run


@pytest.fixture
def keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """A key pair outside the audit folder, configured through the environment as an operator would."""
    (tmp_path / "keys").mkdir()
    private, public, _ = generate_key_pair(tmp_path / "keys" / "audit.key")
    monkeypatch.setenv(SIGNING_KEY_ENV, str(private))
    return private, public


def rewrite_record_and_rehash(audit_dir: Path, index: int) -> None:
    """The attack: edit a record, then recompute its sha256 and every line hash after it."""
    lines = manifest_lines(audit_dir)
    record = audit_dir / lines[index]["record"]
    record.write_text(record.read_text("utf-8").replace("succeeded", "failed"), "utf-8")
    prev = lines[index - 1]["line_hash"] if index else "0" * 64
    for line in lines[index:]:
        if line is lines[index]:
            line["sha256"] = files_sha(record)
        line["prev"] = prev
        line["line_hash"] = prev = line_hash(line)
    (audit_dir / MANIFEST_NAME).write_bytes(b"".join(canonical(line) + b"\n" for line in lines))


def files_sha(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- signing -------------------------------------------------------------------------------------------


def test_keygen_writes_a_private_key_only_its_owner_can_read_and_never_overwrites(tmp_path: Path) -> None:
    assert run(["audit", "keygen", str(tmp_path / "k")]) == 0
    assert stat.S_IMODE((tmp_path / "k").stat().st_mode) == 0o600
    assert (tmp_path / "k.pub").read_text().startswith("-----BEGIN PUBLIC KEY-----")
    before = (tmp_path / "k").read_bytes()
    assert run(["audit", "keygen", str(tmp_path / "k")]) == 2
    assert (tmp_path / "k").read_bytes() == before


def test_a_rewritten_record_with_recomputed_hashes_passes_the_chain_but_fails_the_signature_check(
    tmp_path: Path, keys: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    audit = tmp_path / "audit"
    store_several(audit, 3, html=False)
    rewrite_record_and_rehash(audit, 1)
    assert run(["audit", "verify", str(audit)]) == 0  # the hash chain alone cannot tell, and says so
    assert "Not proven: that nobody able to write this folder rewrote it" in capsys.readouterr().out
    assert run(["audit", "verify", str(audit), "--public-key", str(keys[1])]) == 1
    out = capsys.readouterr().out
    assert "bad-signature" in out and "line 2" in out and "line 3" in out and "line 1 " not in out


def test_every_line_signed_by_the_key_verifies_with_its_public_key(
    tmp_path: Path, keys: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    audit = tmp_path / "audit"
    store_several(audit, 3, html=False)
    assert run(["audit", "verify", str(audit), "--public-key", str(keys[1])]) == 0
    assert "signatures: all 3 lines signed by" in capsys.readouterr().out


def test_unsigned_lines_fail_verification_with_a_public_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store_several(tmp_path / "audit", 2, html=False)
    _, public, _ = generate_key_pair(tmp_path / "k")
    assert run(["audit", "verify", str(tmp_path / "audit"), "--public-key", str(public)]) == 1
    assert capsys.readouterr().out.count("unsigned") == 2


def test_lines_signed_by_another_key_fail_verification(tmp_path: Path, keys: tuple[Path, Path]) -> None:
    store_several(tmp_path / "audit", 1, html=False)
    _, other, _ = generate_key_pair(tmp_path / "other")
    problems = verify_audit_dir(tmp_path / "audit", public_key=load_public_key(other)).problems
    assert [p.kind for p in problems] == ["bad-signature"] and "signed by key" in problems[0].detail


def test_a_signing_key_inside_the_audit_dir_is_refused_before_anything_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    audit = tmp_path / "audit"
    audit.mkdir()
    private, _, _ = generate_key_pair(audit / "audit.key")
    monkeypatch.setenv(SIGNING_KEY_ENV, str(private))
    for action in (
        lambda: store_record(audit, make_notebook(make_result())),
        lambda: prepare_audit_dir(audit),
    ):
        with pytest.raises(InputError) as caught:
            action()
        assert caught.value.code == "AUDIT_KEY_IN_AUDIT_DIR"
    assert sorted(p.name for p in audit.iterdir() if not p.name.startswith(".")) == [
        "audit.key",
        "audit.key.pub",
    ]


def test_a_signing_key_readable_by_others_is_refused(tmp_path: Path, keys: tuple[Path, Path]) -> None:
    keys[0].chmod(0o644)
    with pytest.raises(InputError) as caught:
        store_record(tmp_path / "audit", make_notebook(make_result()))
    assert caught.value.code == "AUDIT_KEY_TOO_OPEN"


def test_a_signing_key_that_is_not_ed25519_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "k").write_text("not a key")
    (tmp_path / "k").chmod(0o600)
    monkeypatch.setenv(SIGNING_KEY_ENV, str(tmp_path / "k"))
    with pytest.raises(InputError) as caught:
        prepare_audit_dir(tmp_path / "audit")
    assert caught.value.code == "AUDIT_KEY_INVALID"


# --- a known head --------------------------------------------------------------------------------------


def test_deleting_the_last_record_and_its_line_fails_the_expected_head(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = store_several(tmp_path, 3, html=False)
    head = manifest_lines(tmp_path)[-1]["line_hash"]
    paths[-1].unlink()
    manifest = tmp_path / MANIFEST_NAME
    manifest.write_bytes(b"".join(manifest.read_bytes().splitlines(keepends=True)[:-1]))
    assert run(["audit", "verify", str(tmp_path)]) == 0  # a shorter chain is still a chain
    capsys.readouterr()
    assert run(["audit", "verify", str(tmp_path), "--expect-head", head]) == 1
    assert "head-missing" in capsys.readouterr().out


def test_a_rewrite_before_the_known_head_fails_it_even_without_a_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store_several(tmp_path, 3, html=False)
    head = manifest_lines(tmp_path)[-1]["line_hash"]
    rewrite_record_and_rehash(tmp_path, 0)
    assert run(["audit", "verify", str(tmp_path), "--since-head", head]) == 1
    assert "head-missing" in capsys.readouterr().out


def test_records_added_after_the_known_head_keep_it_valid(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store_several(tmp_path, 2, html=False)
    head = manifest_lines(tmp_path)[-1]["line_hash"]
    store_record(tmp_path, make_notebook(make_result(started_at="2027-01-01T00:00:00Z")), html=False)
    assert run(["audit", "verify", str(tmp_path), "--expect-head", head.upper()]) == 0
    assert "expected head found at line 2: unchanged up to it; 1 record(s) since" in capsys.readouterr().out


def test_a_head_that_is_not_a_hash_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store_several(tmp_path, 1, html=False)
    assert run(["audit", "verify", str(tmp_path), "--expect-head", "abc"]) == 2
    assert "AUDIT_HEAD_INVALID" in capsys.readouterr().err


# --- modes ---------------------------------------------------------------------------------------------


@pytest.mark.skipif(os.name != "posix", reason="POSIX modes")
def test_records_html_and_manifest_are_0600_in_a_private_folder_and_folders_0750(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        audit = tmp_path / "audit"
        path = store_record(audit, make_notebook(make_result()))
        prepare_audit_dir(audit)
    finally:
        os.umask(old)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in audit.iterdir()}
    assert modes[path.name] == modes[path.with_suffix(".html").name] == modes[MANIFEST_NAME] == 0o600
    assert modes[".manifest.lock"] == 0o600
    assert stat.S_IMODE(audit.stat().st_mode) == modes[".in-progress"] == 0o750


@pytest.mark.skipif(os.name != "posix", reason="POSIX modes")
def test_records_are_0640_when_the_folder_group_is_shared(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(files, "group_is_shared", lambda directory: True)
    path = store_record(tmp_path, make_notebook(make_result()))
    assert {
        stat.S_IMODE(p.stat().st_mode) for p in (path, path.with_suffix(".html"), tmp_path / MANIFEST_NAME)
    } == {0o640}


@pytest.mark.skipif(os.name != "posix", reason="POSIX groups")
def test_a_folder_group_named_after_another_user_or_team_counts_as_shared(tmp_path: Path) -> None:
    import grp
    import pwd

    me = pwd.getpwuid(os.geteuid()).pw_name
    others = [g for g in grp.getgrall() if g.gr_name != me]
    own = [g for g in grp.getgrall() if g.gr_name == me and not set(g.gr_mem) - {me}]
    if not others or not own or os.geteuid() != 0:
        pytest.skip("needs root and both kinds of group")
    os.chown(tmp_path, -1, own[0].gr_gid)
    assert not files.group_is_shared(tmp_path)
    os.chown(tmp_path, -1, others[0].gr_gid)
    assert files.group_is_shared(tmp_path)


@pytest.mark.skipif(os.name != "posix", reason="POSIX modes")
def test_an_existing_world_readable_manifest_is_narrowed_on_the_next_write(tmp_path: Path) -> None:
    store_several(tmp_path, 1, html=False)
    (tmp_path / MANIFEST_NAME).chmod(0o666)
    store_record(tmp_path, make_notebook(make_result()), html=False)
    assert stat.S_IMODE((tmp_path / MANIFEST_NAME).stat().st_mode) == 0o600


# --- interrupted runs ----------------------------------------------------------------------------------


WRITE_AND_DIE = """
import os, sys
from pathlib import Path
from octorunbook.audit.claims import save_running_notebook
from octorunbook.audit.files import make_dir

path = Path(sys.argv[1]) / ".in-progress" / f"{sys.argv[2]}-{os.getpid()}.ipynb"
make_dir(path.parent)
save_running_notebook(path, sys.stdin.buffer.read())
print(path)
"""


def leave_orphan(audit_dir: Path, runbook: str = "03-add-https-binding") -> Path:
    """What a run killed with kill -9 leaves: its partial notebook under .in-progress, saved and claimed
    as every save of a run is, by a process that is gone; no manifest line."""
    done = subprocess.run(
        [sys.executable, "-c", WRITE_AND_DIE, str(audit_dir), runbook],
        input=nbformat.writes(make_notebook(None)).encode("utf-8"),
        capture_output=True,
        check=True,
    )
    return Path(done.stdout.decode().strip())


def test_list_and_verify_show_a_killed_runs_notebook_as_interrupted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store_several(tmp_path, 1, html=False)
    orphan = leave_orphan(tmp_path)
    rows = list_records(tmp_path)
    assert [(r.status, r.unverified) for r in rows if r.record.startswith(".in-progress/")] == [
        ("interrupted", True)
    ]
    assert run(["audit", "verify", str(tmp_path)]) == 1
    assert f"interrupted      .in-progress/{orphan.name}" in capsys.readouterr().out


def test_the_next_run_chains_an_interrupted_notebook_before_its_own_record(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store_several(tmp_path, 1, html=False)
    orphan = leave_orphan(tmp_path)
    prepare_audit_dir(tmp_path)
    path = store_record(tmp_path, make_notebook(make_result(started_at="2027-01-01T00:00:00Z")), html=False)
    lines = manifest_lines(tmp_path)
    assert [line["status"] for line in lines] == ["succeeded", "interrupted", "succeeded"]
    assert lines[-1]["record"] == path.name and not orphan.exists()
    stored = json.loads((tmp_path / lines[1]["record"]).read_text("utf-8"))
    assert "This run was interrupted" in "".join(stored["cells"][0]["source"])
    assert run(["audit", "verify", str(tmp_path)]) == 0
    assert f"interrupted      {lines[1]['record']}: chained record" in capsys.readouterr().out


def test_a_notebook_of_a_run_still_going_is_listed_as_running_and_left_alone(tmp_path: Path) -> None:
    store_several(tmp_path, 1, html=False)
    scratch = tmp_path / ".in-progress"
    scratch.mkdir()
    nbformat.write(make_notebook(None), scratch / f"01-import-certificate-{os.getpid()}.ipynb")
    store_record(tmp_path, make_notebook(make_result()), html=False)
    assert (scratch / f"01-import-certificate-{os.getpid()}.ipynb").exists()
    assert [r.status for r in list_records(tmp_path) if r.record.startswith(".in-progress")] == ["running"]
    assert not verify_audit_dir(tmp_path).problems


# --- audit show verifies ---------------------------------------------------------------------------------


def test_audit_show_says_a_record_is_verified(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = store_several(tmp_path, 2, html=False)[1]
    assert run(["audit", "show", str(path)]) == 0
    assert capsys.readouterr().out.startswith("✔ verified: manifest line 2, sha256 matches")


def test_audit_show_refuses_to_vouch_for_a_changed_record(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = store_several(tmp_path, 2, html=False)[0]
    path.write_text(path.read_text("utf-8").replace("alice", "mallory"), "utf-8")
    assert run(["audit", "show", str(path)]) == 1
    out = capsys.readouterr().out
    assert out.startswith("✖ NOT VERIFIED") and "changed" in out and "mallory" in out


def test_audit_show_with_a_public_key_checks_the_records_signature(
    tmp_path: Path, keys: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    audit = tmp_path / "audit"
    paths = store_several(audit, 2, html=False)
    assert run(["audit", "show", str(paths[0]), "--public-key", str(keys[1])]) == 0
    rewrite_record_and_rehash(audit, 0)
    assert run(["audit", "show", str(paths[0]), "--public-key", str(keys[1])]) == 1
    assert "bad-signature" in capsys.readouterr().out
