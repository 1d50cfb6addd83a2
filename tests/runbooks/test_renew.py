"""Runbook 04 on the sandbox: renew with no restart and no failed request, keep or retire the old
certificate, keep every per-binding setting, refuse a regressing certificate, roll back every failure."""

from __future__ import annotations

import json
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import certcorpus as cc
import pytest

from octorunbook.evidence.tls import tls_handshake
from octorunbook.headless.inline import run_inline
from octorunbook.targets.sandbox import Sandbox

RENEW = "04-renew-certificate"
REGISTRY_KEY = "HKLM\\SYSTEM\\CurrentControlSet\\Services\\HTTP\\Parameters\\SslBindingInfo"


def first_binding(sandbox: Sandbox, params: Any) -> str:
    """01 → 03 with a self-signed certificate: the state a renewal starts from."""
    first = run_inline("01-import-certificate", params)
    assert first["status"] == "succeeded", first["findings"]
    assert run_inline("03-add-https-binding", params)["status"] == "succeeded"
    return str(first["certificate"]["thumbprint"])


def served(sandbox: Sandbox) -> str:
    return tls_handshake("127.0.0.1", sandbox.status()["port_map"][443], "localhost").thumbprint


def pem_pair(folder: Path, days: int, key: Any = None, names: list[str] | None = None) -> dict[str, str]:
    key = key or cc.rsa_key()
    cert = cc.leaf(key, names=names or ["localhost"], days=days)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "new.crt").write_bytes(cc.pem(cert, cc.ca()[0]))
    (folder / "new.key").write_bytes(cc.key_pem(key))
    return {
        "certificate_source": "pem",
        "pem_cert_path": str(folder / "new.crt"),
        "pem_key_path": str(folder / "new.key"),
    }


def commands(record: dict[str, Any]) -> list[str]:
    return [" ".join(c["argv"]) for c in record["commands"]]


def rule(record: dict[str, Any]) -> dict[str, Any]:
    """The renewal rule 04 decided by (its ``RENEWAL_RULE`` finding's details)."""
    return next(f["details"] for f in record["findings"] if f["code"] == "RENEWAL_RULE")


def errors(record: dict[str, Any]) -> list[str]:
    return [f["code"] for f in record["findings"] if f["severity"] == "error"]


def test_nothing_to_renew_ends_unchanged_after_proving_the_current_certificate(
    sandbox: Sandbox, params_for: Any
) -> None:
    params = params_for(sandbox)
    old = first_binding(sandbox, params)
    record = run_inline(RENEW, params)
    assert record["status"] == "unchanged", record["findings"]
    assert not [c for c in record["commands"] if c["mutating"]]
    assert record["verification"][0]["seen"] == old
    assert served(sandbox) == old
    check = record["check"]  # the panel 04 shows: the verdict `octorunbook check` gives
    assert check["status"] == "OK" and check["exit_code"] == 0
    assert check["served"]["thumbprint"] == check["bound"]["thumbprint"] == old
    assert check["message"].startswith("CERT OK - localhost expires in ")


def test_nothing_due_but_served_certificate_not_for_the_hostname_is_an_error_not_unchanged(
    sandbox: Sandbox, params_for: Any
) -> None:
    first_binding(sandbox, params_for(sandbox))  # bound certificate names localhost only
    record = run_inline(RENEW, params_for(sandbox, hostname="octopus.example.org"))
    assert record["status"] != "unchanged"
    assert "SERVED_NOT_FOR_HOSTNAME" in errors(record), record["findings"]
    finding = next(f for f in record["findings"] if f["code"] == "SERVED_NOT_FOR_HOSTNAME")
    assert "octopus.example.org" in finding["message"] and "localhost" in finding["message"]
    assert finding["remedy"]
    assert not [c for c in record["commands"] if c["mutating"]]


def test_the_expiry_check_panel_judges_by_the_certificate_lifetime(
    sandbox: Sandbox, params_for: Any, tmp_path: Path
) -> None:
    params = params_for(sandbox, **pem_pair(tmp_path / "short", days=20))
    assert run_inline("01-import-certificate", params)["status"] == "succeeded"
    assert run_inline("03-add-https-binding", params)["status"] == "succeeded"
    record = run_inline(RENEW, params_for(sandbox, renew_before_days=10))
    assert record["status"] == "unchanged", record["findings"]
    # a 20-day certificate with 18 days left is fine by its lifetime (warning at 1/3 left)…
    assert record["check"]["status"] == "OK" and record["check"]["days_left"] in (18, 19)
    assert record["check"]["thresholds"]["rule"] == "lifetime"
    assert record["check"]["message"].endswith(";6.7;3.3 lifetime_days=20")
    assert rule(record) == {"rule": "absolute", "renew_before_days": 10}


def test_check_panel_shows_the_plugin_line_and_colours_by_status() -> None:
    from datetime import UTC, datetime, timedelta

    from octorunbook.evidence import check
    from octorunbook.runbooks.expiry import check_panel

    now = datetime.now(UTC)
    served_cert = check.ServedCertificate(
        "AB" * 20, "CN=x", ("portal.example.com",), (), now, now + timedelta(days=3), "TLSv1.3"
    )
    result = check.judge(
        served_cert, "portal.example.com", warn_days=30, critical_days=7, endpoint="127.0.0.1:443", now=now
    )
    panel = check_panel(result)
    assert panel.status == "error" and panel.title == "Expiry check: CRITICAL"
    assert panel.rows[0].detail == result.line() and "expires in 3 days" in panel.text()
    missing = check_panel(check.unknown("portal.example.com", "127.0.0.1:443", "connection refused"))
    assert missing.status == "warning" and "connection refused" in missing.text()


def test_renewal_due_swaps_without_restart_and_keeps_the_old_certificate(
    sandbox: Sandbox, params_for: Any
) -> None:
    old = first_binding(sandbox, params_for(sandbox))
    pid_before = sandbox.status()["portal_pid"]
    record = run_inline(RENEW, params_for(sandbox, renew_before_days=400))  # 397-day certificate: due
    assert record["status"] == "succeeded", record["findings"]
    new = record["tls"]["thumbprint"]
    assert new != old and served(sandbox) == new
    assert not any("service" in c for c in commands(record)), "04 must not stop or restart Octopus"
    assert sandbox.status()["portal_pid"] == pid_before
    assert record["swap"]["method"] == "octopus"
    assert record["retired"] == {"thumbprint": old, "store": "My", "how": "after-expiry"}
    assert (sandbox.stores_dir / "My" / f"{old}.pem").is_file(), "kept until it expires"
    checks = {c["check"]: c for c in record["verification"]}
    assert checks["binding settings kept"]["ok"]


def test_retire_old_remove_deletes_the_old_certificate_only_after_the_proof(
    sandbox: Sandbox, params_for: Any
) -> None:
    old = first_binding(sandbox, params_for(sandbox))
    record = run_inline(RENEW, params_for(sandbox, force_renew=True, retire_old="remove"))
    assert record["status"] == "succeeded", record["findings"]
    actions = [c["action"] for c in record["changes"]]
    assert actions.index("bind certificate") < actions.index("remove old certificate")
    assert not (sandbox.stores_dir / "My" / f"{old}.pem").exists()


@pytest.mark.parametrize(
    "other",
    [["ipport=0.0.0.0:8443"], ["ipport=[::]:443"], ["hostnameport=portal.example.com:443"]],
    ids=["other-port", "ipv6-wildcard", "sni-hostname"],
)
def test_retire_old_remove_keeps_a_certificate_another_binding_still_serves(
    sandbox: Sandbox, params_for: Any, other: list[str]
) -> None:
    old = first_binding(sandbox, params_for(sandbox))
    netsh = Path(sandbox.status()["server_exe"]).with_name("netsh")
    appid = "appid={00000000-0000-0000-0000-000000000001}"
    subprocess.run(
        [str(netsh), "http", "add", "sslcert", *other, f"certhash={old}", appid, "certstorename=My"],
        check=True,
        capture_output=True,
    )
    endpoint = other[0].split("=", 1)[1]
    record = run_inline(RENEW, params_for(sandbox, force_renew=True, retire_old="remove"))
    assert record["status"] == "succeeded", record["findings"]
    assert served(sandbox) != old  # the renewal itself went through on 0.0.0.0:443
    kept = next(f for f in record["findings"] if f["code"] == "CERT_STILL_BOUND")
    assert kept["details"]["bindings"] == [endpoint] and endpoint in kept["message"]
    assert "remove old certificate" not in [c["action"] for c in record["changes"]]
    assert (sandbox.stores_dir / "My" / f"{old}.pem").is_file()  # the certificate and its key stay


def test_non_default_binding_settings_are_carried_with_netsh_update(
    sandbox: Sandbox, params_for: Any
) -> None:
    old = first_binding(sandbox, params_for(sandbox))
    status = sandbox.status()
    netsh = Path(status["server_exe"]).with_name("netsh")
    appid = next(iter(status["bindings"].values()))["appid"]
    subprocess.run(
        [
            str(netsh),
            "http",
            "update",
            "sslcert",
            "ipport=0.0.0.0:443",
            f"certhash={old}",
            f"appid={appid}",
            "certstorename=My",
            "disablelegacytls=enable",
            "dsmapperusage=enable",
        ],
        check=True,
        capture_output=True,
    )
    record = run_inline(RENEW, params_for(sandbox, force_renew=True))
    assert record["status"] == "succeeded", record["findings"]
    assert record["swap"]["method"] == "netsh-update"
    assert record["swap"]["carried_settings"] == {"disablelegacytls": "enable", "dsmapperusage": "enable"}
    update = next(c for c in commands(record) if " update sslcert" in c and not c.endswith(" help"))
    assert "disablelegacytls=enable" in update and "dsmapperusage=enable" in update
    flags = json.loads(sandbox.httpsys_path.read_text())["0.0.0.0:443"]["flags"]
    assert flags == {"disablelegacytls": "enable", "dsmapperusage": "enable"}
    assert {c["check"]: c["ok"] for c in record["verification"]}["binding settings kept"]


def test_a_certificate_expiring_sooner_is_refused_before_anything_changes(
    sandbox: Sandbox, params_for: Any, tmp_path: Path
) -> None:
    old = first_binding(sandbox, params_for(sandbox))
    before = sandbox.httpsys_path.read_text()
    record = run_inline(RENEW, params_for(sandbox, force_renew=True, **pem_pair(tmp_path / "soon", 30)))
    assert record["status"] == "failed"
    assert errors(record) == ["RENEWAL_REGRESSES"]
    assert not [c for c in record["commands"] if c["mutating"]]
    assert sandbox.httpsys_path.read_text() == before and served(sandbox) == old


def test_a_weaker_key_is_refused(sandbox: Sandbox, params_for: Any, tmp_path: Path) -> None:
    first_binding(sandbox, params_for(sandbox, key_type="rsa3072"))
    weak = pem_pair(tmp_path / "weak", 800, key=cc.rsa_key(2048))
    record = run_inline(RENEW, params_for(sandbox, force_renew=True, **weak))
    assert errors(record) == ["RENEWAL_REGRESSES"]
    assert "weaker" in record["findings"][-1]["message"]


def test_not_bound_yet_is_a_coded_failure(sandbox: Sandbox, params_for: Any) -> None:
    record = run_inline(RENEW, params_for(sandbox))
    assert record["status"] == "failed" and errors(record) == ["NOT_BOUND"]


def test_dry_run_plans_the_swap_and_changes_nothing(sandbox: Sandbox, params_for: Any) -> None:
    old = first_binding(sandbox, params_for(sandbox))
    before = sandbox.httpsys_path.read_text()
    record = run_inline(RENEW, params_for(sandbox, force_renew=True, dry_run=True))
    assert record["status"] == "planned", record["findings"]
    assert sandbox.httpsys_path.read_text() == before and served(sandbox) == old
    assert any(r["setting"].startswith("HTTP.sys binding") for r in record["plan"])


@pytest.mark.parametrize("drill", ["swap", "wrong-certificate"])
def test_a_failed_swap_restores_the_old_binding_and_the_old_certificate_is_served(
    sandbox: Sandbox, params_for: Any, drill: str
) -> None:
    old = first_binding(sandbox, params_for(sandbox))
    Sandbox(sandbox.root).init(fail=drill, start=False)
    record = run_inline(RENEW, params_for(sandbox, force_renew=True))
    assert record["status"] == "failed"
    assert errors(record)[-1] in {"KEY_NOT_USABLE_BY_HTTPSYS", "SERVED_WRONG_CERTIFICATE"}, record["findings"]
    assert any(c["action"] == "rollback: restore binding" for c in record["changes"])
    assert any(
        c["check"] == "after rollback: port 443 serves what it served before" and c["ok"] and c["seen"] == old
        for c in record["verification"]
    )
    assert served(sandbox) == old
    binding = json.loads(sandbox.httpsys_path.read_text())["0.0.0.0:443"]
    assert binding["hash"] == old
    new = record["certificate"]["thumbprint"]
    assert not (sandbox.stores_dir / "My" / f"{new}.pem").exists(), "what this run imported is removed again"


class Prober:
    """A client that opens a fresh TLS connection every 20 ms and remembers what it was served."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.seen: list[str] = []
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.seen.append(tls_handshake("127.0.0.1", self.port, "localhost", timeout=2).thumbprint)
            except OSError as exc:
                self.failures.append(str(exc))
            time.sleep(0.02)

    def __enter__(self) -> Prober:
        self._thread.start()
        time.sleep(0.2)
        return self

    def __exit__(self, *_: Any) -> None:
        time.sleep(0.2)
        self._stop.set()
        self._thread.join(5)


def test_renewal_has_zero_failed_requests_and_switches_once(sandbox: Sandbox, params_for: Any) -> None:
    old = first_binding(sandbox, params_for(sandbox))
    with Prober(sandbox.status()["port_map"][443]) as probe:
        record = run_inline(RENEW, params_for(sandbox, force_renew=True))
    assert record["status"] == "succeeded", record["findings"]
    new = record["tls"]["thumbprint"]
    assert probe.failures == [], probe.failures
    assert len(probe.seen) > 10
    switch = probe.seen.index(new)
    assert set(probe.seen[:switch]) == {old} and set(probe.seen[switch:]) == {new}


def test_octorunbook_renew_cli_runs_04_headless(sandbox: Sandbox, params_for: Any, tmp_path: Path) -> None:
    from octorunbook.cli.main import main

    first_binding(sandbox, params_for(sandbox))
    params = tmp_path / "params.yaml"
    params.write_text(f"target: sandbox\nsandbox_dir: {sandbox.root}\naudit_dir: {tmp_path / 'audit'}\n")
    assert main(["renew", str(params)]) == 0  # nothing due: unchanged
    assert main(["renew", str(params), "--force"]) == 0
    records = sorted((tmp_path / "audit").glob("*04-renew-certificate*.ipynb"))
    assert len(records) == 2


def german_binding_with_settings(sandbox: Sandbox, params: Any, extra: dict[str, Any] | None = None) -> str:
    """A bound portal on a 'German' server: netsh labels and words translated; disablelegacytls set."""
    old = first_binding(sandbox, params)
    bindings = json.loads(sandbox.httpsys_path.read_text())
    bindings["0.0.0.0:443"]["flags"] = {"disablelegacytls": "enable", "dsmapperusage": "enable"}
    bindings["0.0.0.0:443"]["registry_extra"] = extra or {}
    sandbox.httpsys_path.write_text(json.dumps(bindings))
    sandbox.write_json(sandbox.meta_path, {**sandbox.meta(), "netsh_language": "de"})
    return old


def test_german_netsh_labels_keep_every_setting_through_a_renewal_read_from_the_registry(
    sandbox: Sandbox, params_for: Any
) -> None:
    """Issue 25 item 4: with every label translated, the settings come from the registry and survive."""
    german_binding_with_settings(sandbox, params_for(sandbox))
    record = run_inline(RENEW, params_for(sandbox, force_renew=True))
    assert record["status"] == "succeeded", record["findings"]
    assert record["swap"]["method"] == "netsh-update"
    assert record["swap"]["carried_settings"] == {"disablelegacytls": "enable", "dsmapperusage": "enable"}
    assert any(c["argv"][1:] == ["query", f"{REGISTRY_KEY}\\0.0.0.0:443"] for c in record["commands"]), (
        commands(record)
    )
    flags = json.loads(sandbox.httpsys_path.read_text())["0.0.0.0:443"]["flags"]
    assert flags == {"disablelegacytls": "enable", "dsmapperusage": "enable"}


def test_a_setting_neither_netsh_nor_the_registry_explains_refuses_the_swap(
    sandbox: Sandbox, params_for: Any
) -> None:
    german_binding_with_settings(sandbox, params_for(sandbox), {"DefaultFlags": ["REG_DWORD", "0x2401"]})
    before = sandbox.httpsys_path.read_text()
    record = run_inline(RENEW, params_for(sandbox, force_renew=True))
    assert record["status"] == "failed"
    assert "BINDING_SETTINGS_UNKNOWN" in errors(record), record["findings"]
    finding = next(f for f in record["findings"] if f["code"] == "BINDING_SETTINGS_UNKNOWN")
    assert "0x2000" in finding["message"] and finding["remedy"]
    assert sandbox.httpsys_path.read_text() == before


def lived_pem(folder: Path, days: int, left: float) -> dict[str, str]:
    """A PEM pair for ``localhost`` of ``days`` lifetime with ``left`` days of it to run."""
    from datetime import timedelta

    key = cc.rsa_key()
    cert = cc.leaf(key, names=["localhost"], days=days, starts=timedelta(days=left - days))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "new.crt").write_bytes(cc.pem(cert, cc.ca()[0]))
    (folder / "new.key").write_bytes(cc.key_pem(key))
    return {
        "certificate_source": "pem",
        "pem_cert_path": str(folder / "new.crt"),
        "pem_key_path": str(folder / "new.key"),
    }


def test_a_six_day_certificate_is_renewed_with_half_its_lifetime_left_by_default(
    sandbox: Sandbox, params_for: Any, tmp_path: Path
) -> None:
    params = params_for(sandbox, **lived_pem(tmp_path / "old", 6, left=2.5))
    assert run_inline("01-import-certificate", params)["status"] == "succeeded"
    assert run_inline("03-add-https-binding", params)["status"] == "succeeded"
    record = run_inline(RENEW, params_for(sandbox, **lived_pem(tmp_path / "new", 6, left=5.9)))
    assert record["status"] == "succeeded", record["findings"]
    assert rule(record) == {"rule": "lifetime", "renew_before_days": 3}
    assert record["check"]["status"] == "OK"  # 2.5 of 6 days left: above 1/3 (2), not critical


def test_a_45_day_certificate_with_more_than_a_third_left_is_kept(
    sandbox: Sandbox, params_for: Any, tmp_path: Path
) -> None:
    params = params_for(sandbox, **lived_pem(tmp_path / "old", 45, left=20))
    assert run_inline("01-import-certificate", params)["status"] == "succeeded"
    assert run_inline("03-add-https-binding", params)["status"] == "succeeded"
    record = run_inline(RENEW, params)
    assert record["status"] == "unchanged", record["findings"]
    assert rule(record) == {"rule": "lifetime", "renew_before_days": 15}
    assert record["check"]["thresholds"]["warn_days"] == 15 and record["check"]["status"] == "OK"


def test_a_six_day_certificate_rotates_by_the_lifetime_rule_with_zero_failed_requests(
    sandbox: Sandbox, params_for: Any, tmp_path: Path
) -> None:
    """A ``shortlived`` (160-hour) certificate renewed by 04's own rule, not forced, while a client keeps
    opening connections: every request answered, the old certificate until one switch, then the new."""
    params = params_for(sandbox, **lived_pem(tmp_path / "old", 6, left=2.5))
    old = first_binding(sandbox, params)
    with Prober(sandbox.status()["port_map"][443]) as probe:
        record = run_inline(RENEW, params_for(sandbox, **lived_pem(tmp_path / "new", 6, left=5.9)))
    assert record["status"] == "succeeded", record["findings"]
    assert rule(record) == {"rule": "lifetime", "renew_before_days": 3}
    new = record["tls"]["thumbprint"]
    assert new != old and probe.failures == [], probe.failures
    assert len(probe.seen) > 10 and probe.seen[0] == old and probe.seen[-1] == new
    switch = probe.seen.index(new)
    assert set(probe.seen[:switch]) == {old} and set(probe.seen[switch:]) == {new}
