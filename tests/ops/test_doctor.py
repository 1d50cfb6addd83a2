"""``octorunbook doctor``: the read-only field check, against the Windows stand-ins and the sandbox."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from octorunbook.cli.main import main
from octorunbook.ops.doctor import ReadOnlyRunner
from octorunbook.redaction import Secret
from octorunbook.targets.windows import WindowsCertificateStore

try:
    from fakes import OCTOPUS_APP_ID, FakeWindows, make_pfx, raises_code, thumbprint
except ImportError:  # tests/ is a package
    from tests.fakes import OCTOPUS_APP_ID, FakeWindows, make_pfx, raises_code, thumbprint

PASSWORD = "pfx-password-for-doctor-tests"


@pytest.fixture
def bound(fake: FakeWindows, tmp_path: Path) -> str:
    """A server as the first real one will be: a certificate imported and bound for Octopus on :443."""
    from octorunbook.commands import CommandRunner

    path = tmp_path / "portal.pfx"
    cert = make_pfx(path, PASSWORD, dns=("octopus.corp.example",))
    WindowsCertificateStore(CommandRunner()).import_pfx(path, Secret(PASSWORD), "My")
    fake.bind("0.0.0.0:443", thumbprint(cert), OCTOPUS_APP_ID, "My")
    (fake.root / "argv.log").unlink()
    return thumbprint(cert)


def _checks(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in report["checks"]}


@pytest.mark.windows
def test_doctor_runs_every_read_only_script_and_changes_nothing(
    fake: FakeWindows, bound: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = {p: p.read_bytes() for p in (fake.root / "stores").rglob("*") if p.is_file()}
    bindings = fake.bindings()
    report_path = tmp_path / "report.json"
    code = main(["doctor", "--target", "windows", "--server-exe", "", "--report", str(report_path)])
    assert code == 0, capsys.readouterr()
    scripts = [Path(a[5]).name for a in fake.argvs("powershell")]
    assert scripts == [
        "host-info.ps1",
        "find-server-exe.ps1",
        "store-exists.ps1",
        "list-certificates.ps1",
        "store-exists.ps1",
        "list-certificates.ps1",
        "get-certificate.ps1",
        "test-private-key.ps1",
    ]
    assert fake.argvs("netsh") == [["http", "show", "sslcert", "ipport=0.0.0.0:443"]]
    octopus = [c["argv"] for c in fake.calls("octopus")]
    assert octopus == [
        [
            "show-configuration",
            "--format=json-hierarchical",
            "--noconsolelogging",
            "--console",
            "--instance",
            "OctopusServer",
        ]
    ]
    assert {p: p.read_bytes() for p in (fake.root / "stores").rglob("*") if p.is_file()} == before
    assert fake.bindings() == bindings
    report = json.loads(report_path.read_text())
    assert report["changed_anything"] is False
    checks = _checks(report)
    assert all(c["ok"] for c in checks.values())
    assert checks["host facts (host-info.ps1)"]["seen"]["language_mode"] == "FullLanguage"
    assert [(p["check"], p["ok"]) for p in checks["bound certificate's key signs"]["seen"]] == [
        ("private key usable", True)
    ]
    assert checks["bound certificate"]["seen"]["thumbprint"] == bound
    out = capsys.readouterr().out
    assert "✔ HTTP.sys binding 0.0.0.0:443" in out and "nothing was changed" in out


@pytest.mark.windows
def test_the_report_is_redacted(fake: FakeWindows, bound: str, tmp_path: Path) -> None:
    report_path = tmp_path / "report.json"
    main(["doctor", "--target", "windows", "--report", str(report_path)])
    text = report_path.read_text()
    for private in ("OCTO-WIN01", "Administrator", "octopus.corp.example"):
        assert private not in text
    assert "<computer-name-" in text and bound in text  # thumbprints stay: they identify nothing


@pytest.mark.windows
def test_doctor_records_a_failing_probe_and_goes_on(fake: FakeWindows, tmp_path: Path) -> None:
    fake.scenario("constrained_language")
    report_path = tmp_path / "report.json"
    assert main(["doctor", "--target", "windows", "--report", str(report_path)]) == 1
    checks = _checks(json.loads(report_path.read_text()))
    assert checks["host facts (host-info.ps1)"]["code"] == "POWERSHELL_CONSTRAINED"
    assert "HTTP.sys binding 0.0.0.0:443" in checks


@pytest.mark.windows
def test_the_read_only_runner_refuses_a_change(fake: FakeWindows) -> None:
    with raises_code("DOCTOR_REFUSED_CHANGE"):
        ReadOnlyRunner().run([fake.netsh, "http", "delete", "sslcert", "ipport=0.0.0.0:443"], mutating=True)
    assert fake.calls() == []


def test_doctor_runs_against_the_sandbox(
    sandbox: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report_path = tmp_path / "sandbox-report.json"
    code = main(["doctor", "--target", "sandbox", "--dir", str(sandbox.root), "--report", str(report_path)])
    report = json.loads(report_path.read_text())
    checks = _checks(report)
    assert checks["store My exists"]["seen"] is True
    assert checks["Octopus web portal configuration"]["ok"] is True
    assert report["changed_anything"] is False
    assert code == (0 if all(c["ok"] for c in checks.values()) else 1)
