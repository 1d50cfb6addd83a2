"""``octorunbook doctor --field-test``: the questions for the first real server, asked of the sandbox's
stand-ins (and the Windows stand-ins), one redacted JSON report and a readable summary."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from octorunbook.cli.main import main
from octorunbook.headless.inline import run_inline
from octorunbook.ops import field_test
from octorunbook.ops.field_test import FIELD_TEST_APP_ID, FieldRunner

try:
    from fakes import FakeWindows, raises_code
except ImportError:  # tests/ is a package
    from tests.fakes import FakeWindows, raises_code


def run_field_test(tmp_path: Path, *args: str) -> tuple[int, dict[str, Any], str]:
    report = tmp_path / "field.json"
    code = main(["doctor", "--field-test", *args, "--report", str(report)])
    return code, json.loads(report.read_text()), report.with_suffix(".txt").read_text()


def checks(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in report["checks"]}


def test_read_only_field_test_on_the_sandbox_asks_every_question_and_changes_nothing(
    sandbox: Any, tmp_path: Path
) -> None:
    meta = sandbox.meta()
    meta.update(service_account="CORP\\svc-octopus", netsh_lacks=["disablelegacytls"])
    sandbox.write_json(sandbox.meta_path, meta)
    sandbox.write_json(sandbox.urlacl_path, {"http://+:80/": "CORP\\svc-octopus"})
    before = sandbox.httpsys_path.read_text()
    code, report, text = run_field_test(tmp_path, "--target", "sandbox", "--dir", str(sandbox.root))
    found = checks(report)
    assert found["netsh http add sslcert help"]["seen"]["settings_not_listed"] == ["disablelegacytls"]
    assert found["netsh http update sslcert (exists?)"]["seen"]["exists"] is True
    assert found["Octopus service account"]["seen"]["needs_url_acl"] is True
    assert found["Octopus service account"]["seen"]["account"].startswith("<account-")  # redacted
    assert found["URL reservations"]["seen"]["reservations"][0]["url"] == "http://+:80/"
    assert found["state folder owner and ACL"]["ok"] is True
    assert found["binding round-trip"]["seen"]["skipped"].startswith("read-only run")
    assert report["changed"] == [] and sandbox.httpsys_path.read_text() == before
    assert "svc-octopus" not in json.dumps(report) and "svc-octopus" not in text
    assert "[ok  ] binding round-trip" in text and "Attach this file" in text
    assert code == (0 if all(c["ok"] for c in found.values()) else 1)


def test_the_round_trip_adds_reads_back_updates_and_deletes_one_binding_on_the_spare_port_only(
    sandbox: Any, tmp_path: Path, params_for: Any
) -> None:
    assert run_inline("01-import-certificate", params_for(sandbox))["status"] == "succeeded"
    before = json.loads(sandbox.httpsys_path.read_text())
    code, report, text = run_field_test(
        tmp_path, "--target", "sandbox", "--dir", str(sandbox.root), "--sandbox-port", "44399"
    )
    trip = checks(report)["binding round-trip on 0.0.0.0:44399"]
    assert trip["ok"], trip
    seen = trip["seen"]
    assert seen["added"] and seen["deleted"] and seen["add_exit_code"] == 0
    assert seen["asked"]["disablelegacytls"] == "enable" and seen["asked"]["usagecheck"] == "disable"
    assert seen["netsh_agrees"] is True and seen["registry_agrees"] is True
    assert isinstance(
        seen["update_keeps_unspecified_settings"], bool
    )  # what the stand-in says; Windows decides
    changed = [c["argv"][1:4] + [a for a in c["argv"] if a.startswith("ipport=")] for c in report["changed"]]
    assert seen["unknown_parameter_on_add"] == {"exit_code": 1, "bound": False}  # the stand-in refuses it
    assert changed == [
        ["http", "add", "sslcert", "ipport=0.0.0.0:44399"],
        ["http", "add", "sslcert", "ipport=0.0.0.0:44399"],
        ["http", "update", "sslcert", "ipport=0.0.0.0:44399"],
        ["http", "delete", "sslcert", "ipport=0.0.0.0:44399"],
    ]
    assert json.loads(sandbox.httpsys_path.read_text()) == before  # nothing else, nothing left behind
    assert FIELD_TEST_APP_ID.lower() in json.dumps(report).lower()


def test_a_spare_port_that_is_bound_is_refused_and_left_alone(sandbox: Any, tmp_path: Path) -> None:
    bindings = {
        "0.0.0.0:44399": {"hash": "AB" * 20, "appid": "{4dc3e181-e14b-4a21-b022-59fc669b0914}", "store": "My"}
    }
    sandbox.write_json(sandbox.httpsys_path, bindings)
    code, report, _ = run_field_test(
        tmp_path, "--target", "sandbox", "--dir", str(sandbox.root), "--sandbox-port", "44399"
    )
    trip = checks(report)["binding round-trip on 0.0.0.0:44399"]
    assert code == 1 and trip["code"] == "FIELD_TEST_PORT_IN_USE" and report["changed"] == []
    assert json.loads(sandbox.httpsys_path.read_text()) == bindings


def test_on_a_host_that_is_not_windows_the_windows_field_test_says_what_it_is_for(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(field_test, "running_on_windows", lambda: False)
    assert main(["doctor", "--field-test", "--target", "windows"]) == 2
    assert "FIELD_TEST_NOT_WINDOWS" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_the_sandbox_port_means_nothing_without_field_test(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["doctor", "--target", "sandbox", "--sandbox-port", "44399"]) == 2
    assert "FIELD_TEST_OPTION_ALONE" in capsys.readouterr().err


def test_the_field_runner_allows_only_the_sslcert_commands_of_the_spare_port(fake: FakeWindows) -> None:
    runner = FieldRunner(port=44399, timeout=30)
    for argv in (
        [fake.netsh, "http", "delete", "sslcert", "ipport=0.0.0.0:443"],
        [fake.netsh, "http", "add", "urlacl", "url=https://+:44399/", "user=x"],
        [fake.powershell, "-File", "set-schannel.ps1"],
    ):
        with raises_code("DOCTOR_REFUSED_CHANGE"):
            runner.run(argv, mutating=True)
    with raises_code("DOCTOR_REFUSED_CHANGE"):
        FieldRunner(port=None, timeout=30).run(
            [fake.netsh, "http", "delete", "sslcert", "ipport=0.0.0.0:44399"], mutating=True
        )
    runner.run([fake.netsh, "http", "delete", "sslcert", "ipport=0.0.0.0:44399"], mutating=True)


@pytest.mark.windows
def test_the_windows_field_test_runs_on_the_windows_stand_ins(
    fake: FakeWindows, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(field_test, "running_on_windows", lambda: True)
    (fake.root / "services.json").write_text(json.dumps({"OctopusDeploy": "NT AUTHORITY\\NETWORK SERVICE"}))
    code, report, text = run_field_test(tmp_path, "--target", "windows")
    found = checks(report)
    assert found["Octopus service account"]["seen"]["needs_url_acl"] is True
    assert "SCHANNEL policy sources" in found and "state folder owner and ACL" in found
    assert report["changed"] == [] and "[" in text
    assert ["sc", ["qc", "OctopusDeploy"]] in [[c["tool"], c["argv"]] for c in fake.calls("sc")]


@pytest.mark.windows
def test_the_windows_field_test_reports_the_local_cipher_list_apart_from_the_policy_value(
    fake: FakeWindows, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(field_test, "running_on_windows", lambda: True)
    wrapper = fake.bin / "powershell"  # the stand-in that answers read-schannel.ps1 from registry.json
    program = Path(__file__).resolve().parents[1] / "fakes" / "schannel.py"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{program}" "$@"\n')
    local = "TLS_AES_256_GCM_SHA384,TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"
    key = r"HKLM:\SYSTEM\CurrentControlSet\Control\Cryptography\Configuration\Local\SSL\00010002"
    registry = {key.lower(): {"Functions": {"type": "MultiString", "value": local}}}
    (fake.root / "registry.json").write_text(json.dumps(registry))
    code, report, text = run_field_test(tmp_path, "--target", "windows")
    seen = checks(report)["SCHANNEL policy sources"]["seen"]
    assert seen["cipher_order_local"] == local and seen["cipher_order_local_type"] == "MultiString"
    assert seen["cipher_order_policy"] is False and seen["cipher_order_policy_value"] is None
    assert report["changed"] == []


def test_a_binding_another_operator_makes_on_the_spare_port_during_the_round_trip_is_never_deleted(
    sandbox: Any, params_for: Any
) -> None:
    """Checked unused, then bound by someone else before the probe's add: the probe's and the final
    delete remove only the field test's own binding (its application ID), never theirs."""
    assert run_inline("01-import-certificate", params_for(sandbox))["status"] == "succeeded"
    theirs = {"hash": "CD" * 20, "appid": "{4dc3e181-e14b-4a21-b022-59fc669b0914}", "store": "My"}

    class Racing(FieldRunner):
        planted = False

        def run(self, argv: Any, *, mutating: bool = False, **kwargs: Any) -> Any:
            if mutating and not self.planted and "add" in [str(a) for a in argv]:
                self.planted = True  # the other operator's binding lands between our check and our add
                bindings = json.loads(sandbox.httpsys_path.read_text())
                sandbox.write_json(sandbox.httpsys_path, {**bindings, "0.0.0.0:44399": theirs})
            return super().run(argv, mutating=mutating, **kwargs)

    runner = Racing(port=44399, timeout=30)
    host = field_test.sandbox_host(sandbox.root, "OctopusServer", runner)
    report = field_test.field_test(
        host, runner, target_kind="sandbox", instance="OctopusServer", port=443, sandbox_port=44399
    )
    assert runner.planted
    assert json.loads(sandbox.httpsys_path.read_text())["0.0.0.0:44399"] == theirs, report
    deletes = [c for c in report["changed"] if c["argv"][2:3] == ["delete"]]
    assert deletes == [], deletes
