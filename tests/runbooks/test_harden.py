"""Runbook 05 and posture evidence on the sandbox: a portal that accepts TLS 1.0/1.1 (drill
'legacy-tls', a server whose SCHANNEL still enables them), planned by default, hardened per binding
with apply: true, proven by the scan, kept by a renewal; posture: strict fails 04's proof."""

from __future__ import annotations

import json
from typing import Any

import pytest

from octorunbook.headless.inline import run_inline
from octorunbook.targets.sandbox import Sandbox

HARDEN = "05-harden-tls"


def bound_with_legacy_tls(sandbox: Sandbox, params: Any) -> dict[str, Any]:
    assert run_inline("01-import-certificate", params)["status"] == "succeeded"
    assert run_inline("03-add-https-binding", params)["status"] == "succeeded"
    Sandbox(sandbox.root).init(fail="legacy-tls", start=False)
    return json.loads(sandbox.httpsys_path.read_text())


def codes(posture: dict[str, Any] | None) -> list[str]:
    return [f["code"] for f in (posture or {}).get("findings", [])]


def test_05_plans_by_default_and_changes_nothing(sandbox: Sandbox, params_for: Any) -> None:
    bindings = bound_with_legacy_tls(sandbox, params_for(sandbox))
    record = run_inline(HARDEN, params_for(sandbox))
    assert record["status"] == "planned", record["findings"]
    assert "TLS_LEGACY_PROTOCOL" in codes(record["state"]["before"]["posture"])
    plan = record["hardening_plan"]
    assert plan["strategy"] == "per-binding" and not plan["reboot_required"]
    assert plan["commands"][0][1:4] == ["http", "update", "sslcert"]
    assert "disablelegacytls=enable" in plan["commands"][0]
    # the undo is the front's own restore: no setting was set before, so Octopus's command rebinds with defaults
    assert plan["rollback_commands"][0][1] == "ssl-certificate"
    assert not any("disablelegacytls" in a for a in plan["rollback_commands"][0])
    assert json.loads(sandbox.httpsys_path.read_text()) == bindings
    assert not [c for c in record["commands"] if c["mutating"]]


def test_05_apply_turns_legacy_tls_off_and_the_scan_proves_it(sandbox: Sandbox, params_for: Any) -> None:
    bound_with_legacy_tls(sandbox, params_for(sandbox))
    record = run_inline(HARDEN, params_for(sandbox, apply=True))
    assert record["status"] == "succeeded", record["findings"]
    assert "TLS_LEGACY_PROTOCOL" in codes(record["state"]["before"]["posture"])
    assert "TLS_LEGACY_PROTOCOL" not in codes(record["posture"])
    flags = json.loads(sandbox.httpsys_path.read_text())["0.0.0.0:443"]["flags"]
    assert flags["disablelegacytls"] == "enable"
    again = run_inline(HARDEN, params_for(sandbox, apply=True))
    assert again["status"] == "unchanged", again["findings"]
    assert again["hardening_plan"]["commands"] == []


def test_a_renewal_keeps_the_hardening(sandbox: Sandbox, params_for: Any) -> None:
    bound_with_legacy_tls(sandbox, params_for(sandbox))
    assert run_inline(HARDEN, params_for(sandbox, apply=True))["status"] == "succeeded"
    record = run_inline("04-renew-certificate", params_for(sandbox, force_renew=True))
    assert record["status"] == "succeeded", record["findings"]
    assert record["swap"]["method"] == "netsh-update"
    assert "TLS_LEGACY_PROTOCOL" not in codes(record["posture"])


def test_posture_is_recorded_as_warnings_after_a_renewal(sandbox: Sandbox, params_for: Any) -> None:
    bound_with_legacy_tls(sandbox, params_for(sandbox))
    record = run_inline("04-renew-certificate", params_for(sandbox, force_renew=True))
    assert record["status"] == "succeeded", record["findings"]
    legacy = [f for f in record["findings"] if f["code"] == "TLS_LEGACY_PROTOCOL"]
    assert legacy and legacy[0]["severity"] == "warning"
    assert {r["check"] for r in record["posture"]["rows"]} >= {"protocol TLS 1.0", "protocol TLS 1.1"}


def test_strict_posture_fails_the_renewal_proof_and_rolls_back(sandbox: Sandbox, params_for: Any) -> None:
    old = bound_with_legacy_tls(sandbox, params_for(sandbox))["0.0.0.0:443"]["hash"]
    record = run_inline("04-renew-certificate", params_for(sandbox, force_renew=True, posture="strict"))
    assert record["status"] == "failed"
    assert [f["code"] for f in record["findings"] if f["severity"] == "error"][-1] == "TLS_LEGACY_PROTOCOL"
    assert json.loads(sandbox.httpsys_path.read_text())["0.0.0.0:443"]["hash"] == old


def test_check_posture_prints_the_table_and_warns(sandbox: Sandbox, params_for: Any, capsys: Any) -> None:
    from octorunbook.cli.main import main

    bound_with_legacy_tls(sandbox, params_for(sandbox))
    port = sandbox.status()["port_map"][443]
    capsys.readouterr()
    status = main(["check", "--url", f"https://127.0.0.1:{port}", "--hostname", "localhost", "--posture"])
    out = capsys.readouterr().out
    first = out.splitlines()[0]
    assert status == 1 and first.startswith("CERT WARNING") and "TLS_LEGACY_PROTOCOL" in first
    assert " | days=" in first
    assert "protocol TLS 1.0" in out


class _Front:
    def __init__(self, shown: bool | None, listed: bool | None) -> None:
        self.shown, self.listed = shown, listed

    def prints_legacy_tls_flag(self, port: int) -> bool | None:
        return self.shown

    def netsh_lists(self, parameter: str) -> bool | None:
        assert parameter == "disablelegacytls"
        return self.listed


@pytest.mark.parametrize(
    ("shown", "listed", "build", "per_binding"),
    [
        (True, None, 14393, True),  # netsh shows the field: the flag exists on this host whatever the build
        (False, True, 17763, False),  # Server 2019 without KB4490481: no field, so SCHANNEL
        (None, True, 14393, True),  # translated labels: `add sslcert help` lists the name, in any language
        (None, False, 17763, False),  # ... or does not: no flag, whatever the build says
        (None, None, 17763, True),  # the help cannot be read either: only then the build decides
        (None, None, 14393, False),
        (None, None, None, False),
    ],
)
def test_per_binding_hardening_needs_the_field_netsh_prints_on_this_host(
    shown: bool | None, listed: bool | None, build: int | None, per_binding: bool
) -> None:
    from octorunbook.runbooks.harden import _has_legacy_tls_flag

    assert _has_legacy_tls_flag(_Front(shown, listed), 443, build) is per_binding  # type: ignore[arg-type]


@pytest.mark.parametrize("lacks", ["netsh_lacks", "netsh_update_lacks"])
def test_05_refuses_per_binding_hardening_netsh_help_does_not_list_and_changes_nothing(
    sandbox: Sandbox, params_for: Any, lacks: str
) -> None:
    bound_with_legacy_tls(sandbox, params_for(sandbox))
    meta = sandbox.meta()
    meta[lacks] = ["disablelegacytls"]
    sandbox.write_json(sandbox.meta_path, meta)
    before = sandbox.httpsys_path.read_text()
    record = run_inline(HARDEN, params_for(sandbox, apply=True))
    assert record["status"] == "failed"
    refused = next(f for f in record["findings"] if f["code"] == "BINDING_SETTING_UNSUPPORTED")
    verb = "update" if lacks == "netsh_update_lacks" else "add"
    assert f"netsh http {verb} sslcert help" in refused["message"]
    assert not [c for c in record["commands"] if c["mutating"]]
    assert sandbox.httpsys_path.read_text() == before


def test_the_front_says_whether_add_sslcert_help_lists_a_parameter(sandbox: Sandbox, params_for: Any) -> None:
    from octorunbook.commands import CommandRunner

    bound_with_legacy_tls(sandbox, params_for(sandbox))
    meta = sandbox.meta()
    meta["netsh_language"] = "de"  # labels translated: the field cannot be read, the help still can
    sandbox.write_json(sandbox.meta_path, meta)
    front = sandbox.open_target("OctopusServer", CommandRunner()).parts.front
    assert front.prints_legacy_tls_flag(443) is None  # type: ignore[attr-defined]
    assert front.netsh_lists("disablelegacytls") is True  # type: ignore[attr-defined]
    meta["netsh_lacks"] = ["disablelegacytls"]
    sandbox.write_json(sandbox.meta_path, meta)
    front = sandbox.open_target("OctopusServer", CommandRunner()).parts.front
    assert front.netsh_lists("disablelegacytls") is False  # type: ignore[attr-defined]


def test_the_front_reads_the_field_from_netsh_itself(sandbox: Sandbox, params_for: Any) -> None:
    from octorunbook.commands import CommandRunner

    bound_with_legacy_tls(sandbox, params_for(sandbox))
    front = sandbox.open_target("OctopusServer", CommandRunner()).parts.front
    assert front.prints_legacy_tls_flag(443) is True  # type: ignore[attr-defined]
    assert front.prints_legacy_tls_flag(8443) is False  # type: ignore[attr-defined]  # nothing bound there


def test_05_lists_each_posture_finding_once_as_the_latest_scan_saw_it(
    sandbox: Sandbox, params_for: Any
) -> None:
    """05 scans before and after: the findings panel (the record's findings) lists each posture finding
    once; the scan before stays in ``state.before``."""
    bound_with_legacy_tls(sandbox, params_for(sandbox))
    planned = run_inline(HARDEN, params_for(sandbox))
    listed = [f["code"] for f in planned["findings"]]
    for code in ("TLS_LEGACY_PROTOCOL", "CHAIN_UNTRUSTED_FOR_CLIENTS", "HSTS_MISSING"):
        assert listed.count(code) == 1, listed
    applied = run_inline(HARDEN, params_for(sandbox, apply=True))
    assert applied["status"] == "succeeded", applied["findings"]
    listed = [f["code"] for f in applied["findings"]]
    assert "TLS_LEGACY_PROTOCOL" not in listed  # fixed: the scan after says so; the one before is history
    assert "TLS_LEGACY_PROTOCOL" in codes(applied["state"]["before"]["posture"])
    assert listed.count("CHAIN_UNTRUSTED_FOR_CLIENTS") == 1 and listed.count("HSTS_MISSING") == 1, listed
