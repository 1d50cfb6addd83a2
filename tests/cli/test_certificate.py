"""Specification of ``octorunbook certificate check|new`` (through a tiny parser, as cli.py will call it)."""

from __future__ import annotations

import argparse
import json
import stat
from pathlib import Path

import certcorpus as cc
import pytest

from octorunbook.certificates import load_pfx_file
from octorunbook.cli import certificate as _cli_certificate
from octorunbook.redaction import Secret

ENV = "CLI_TEST_PFX_PASSWORD"


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="octorunbook")
    _cli_certificate.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    result: int = args.func(args)
    return result


def write_case(name: str, tmp_path: Path) -> Path:
    return cc.case(name).write(tmp_path)[0]


@pytest.fixture(autouse=True)
def password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, cc.PASSWORD)


def test_check_exits_0_and_prints_the_card_for_a_good_certificate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    assert run("certificate", "check", str(write_case("good_rsa", tmp_path)), "--hostname", cc.HOST, "--password-env", ENV) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert "Thumbprint" in out and "✔ no problems found" in out and cc.PASSWORD not in out


def test_check_exits_1_when_there_is_an_error_finding(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_case("good_rsa", tmp_path)
    assert (
        run("certificate", "check", str(path), "--hostname", "other.example.com", "--password-env", ENV) == 1
    )
    assert "✖ HOSTNAME_MISMATCH" in capsys.readouterr().out


def test_check_exits_0_when_there_are_only_warnings(tmp_path: Path) -> None:
    assert (
        run("certificate", "check", str(write_case("chain_incomplete", tmp_path)), "--password-env", ENV) == 0
    )


def test_check_json_holds_the_certificate_record_and_the_findings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    path = write_case("expired", tmp_path)
    assert run("certificate", "check", str(path), "--password-env", ENV, "--json", "--hostname", cc.HOST) == 1
    document = json.loads(capsys.readouterr().out)
    assert document["certificate"]["dns_names"] == [cc.HOST]
    assert [f["code"] for f in document["findings"]] == ["CERT_EXPIRED"]
    assert set(document["findings"][0]) >= {"code", "severity", "message", "remedy"}


def test_check_json_has_a_null_certificate_when_the_file_cannot_be_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    path = write_case("wrong_password", tmp_path)
    assert run("certificate", "check", str(path), "--password-env", "UNSET_VARIABLE_FOR_SURE", "--json") == 2
    document = json.loads(capsys.readouterr().out)
    assert document == {"certificate": None, "findings": [document["findings"][0]]}
    assert document["findings"][0]["code"] == "PFX_PASSWORD_MISSING"


def test_check_takes_a_pem_certificate_with_its_key(tmp_path: Path) -> None:
    cert_path, key_path = cc.case("good_pem_pair").write(tmp_path)
    assert run("certificate", "check", str(cert_path), "--key", str(key_path), "--hostname", cc.HOST) == 0


def test_check_exits_2_for_a_file_that_is_not_there(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("certificate", "check", str(tmp_path / "nope.pfx")) == 2
    assert "FILE_NOT_FOUND" in capsys.readouterr().err


def test_usage_errors_exit_2() -> None:
    with pytest.raises(SystemExit) as exited:
        run("certificate", "check")
    assert exited.value.code == 2
    with pytest.raises(SystemExit) as exited:
        run("certificate", "new", "--hostname", "x.example.com", "--out", "x.pfx", "--password-env", ENV, "--key-type", "rsa1024")  # fmt: skip
    assert exited.value.code == 2


def test_new_writes_an_owner_only_pfx_and_prints_its_thumbprint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    out = tmp_path / "portal.pfx"
    argv = ["certificate", "new", "--hostname", cc.HOST, "--out", str(out), "--password-env", ENV,
            "--extra-dns-name", "octopus", "--key-type", "ecdsa-p256", "--validity-days", "90", "--pfx-encryption", "aes"]  # fmt: skip
    assert run(*argv) == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    loaded = load_pfx_file(out, Secret(cc.PASSWORD))
    assert loaded.info.dns_names == (cc.HOST, "octopus") and loaded.info.key_description == "ECDSA P-256"
    assert f"Thumbprint: {loaded.info.thumbprint}" in capsys.readouterr().out


def test_new_refuses_to_overwrite_without_force(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "portal.pfx"
    out.write_bytes(b"precious")
    out.chmod(0o644)
    argv = ["certificate", "new", "--hostname", cc.HOST, "--out", str(out), "--password-env", ENV]
    assert run(*argv) == 2
    assert out.read_bytes() == b"precious" and "OUTPUT_EXISTS" in capsys.readouterr().err
    assert run(*argv, "--force") == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o600 and load_pfx_file(out, Secret(cc.PASSWORD))


def test_new_without_the_password_variable_exits_2_with_pfx_password_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.delenv(ENV)
    assert (
        run(
            "certificate",
            "new",
            "--hostname",
            cc.HOST,
            "--out",
            str(tmp_path / "x.pfx"),
            "--password-env",
            ENV,
        )
        == 2
    )
    assert "PFX_PASSWORD_MISSING" in capsys.readouterr().err and not (tmp_path / "x.pfx").exists()


def test_new_reports_an_invalid_hostname_as_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run("certificate", "new", "--hostname", "not a host", "--out", str(tmp_path / "x.pfx"), "--password-env", ENV) == 2  # fmt: skip
    assert "HOSTNAME_INVALID" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["certificate"], ["certificate", "check"], ["certificate", "new"]])
def test_every_help_text_explains_the_command(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        run(*argv, "--help")
    assert exited.value.code == 0
    text = capsys.readouterr().out
    assert "certificate" in text.lower() and "%" not in text
    for line in text.splitlines():
        if line.strip().startswith("--") and "--help" not in line and "  " in line.strip():
            assert len(line.strip().split("  ", 1)[1].strip()) > 10, line
