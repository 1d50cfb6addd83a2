"""The TLS hardening plan: SCHANNEL through the stand-in PowerShell (exact argv, registry paths and values),
the per-binding netsh plan for Server 2019+, and the nginx server block, proven by a posture scan."""

from __future__ import annotations

import json
import stat
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from octorunbook.commands import CommandRunner
from octorunbook.findings import OctorunbookError
from octorunbook.targets.base import SslBinding
from octorunbook.targets.hardening import (
    NGINX_CIPHERS,
    apply_schannel,
    harden_server_block,
    plan_nginx,
    plan_schannel,
    plan_windows,
    read_schannel,
    rollback_schannel,
)
from octorunbook.targets.hardening.windows import parse_schannel
from octorunbook.targets.state import StateHome
from octorunbook.targets.windows.powershell import SCRIPTS_DIR

try:
    from fakes import OCTOPUS_APP_ID, FakeWindows
except ImportError:  # tests/ is a package
    from tests.fakes import OCTOPUS_APP_ID, FakeWindows
try:
    from tlsserver import loopback_servers
except ImportError:  # tests/ is a package
    from tests.tlsserver import loopback_servers

OPTIONS = ["-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass", "-File"]
PROTOCOLS = r"HKLM:\SYSTEM\CurrentControlSet\Control\SecurityProviders\SCHANNEL\Protocols"
TLS10 = PROTOCOLS + r"\TLS 1.0\Server"
TLS11 = PROTOCOLS + r"\TLS 1.1\Server"
TLS12 = PROTOCOLS + r"\TLS 1.2\Server"
ORDER = r"HKLM:\SOFTWARE\Policies\Microsoft\Cryptography\Configuration\SSL\00010002"
LOCAL_ORDER = r"HKLM:\SYSTEM\CurrentControlSet\Control\Cryptography\Configuration\Local\SSL\00010002"
NET64 = r"HKLM:\SOFTWARE\Microsoft\.NETFramework\v4.0.30319"
NET32 = r"HKLM:\SOFTWARE\Wow6432Node\Microsoft\.NETFramework\v4.0.30319"
STRONG = (
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,"
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
)


@pytest.fixture
def windows(fake: FakeWindows) -> FakeWindows:
    """The shared stand-ins, with powershell answering the SCHANNEL scripts (tests/fakes/schannel.py)."""
    wrapper = fake.bin / "powershell"
    program = Path(__file__).resolve().parents[2] / "fakes" / "schannel.py"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{program}" "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    return fake


def seed(fake: FakeWindows, values: dict[tuple[str, str], tuple[str, Any]]) -> None:
    data: dict[str, dict[str, Any]] = {}
    for (path, name), (kind, value) in values.items():
        data.setdefault(path.lower(), {})[name] = {"type": kind, "value": value}
    (fake.root / "registry.json").write_text(json.dumps(data))


def registry(fake: FakeWindows) -> dict[str, dict[str, Any]]:
    return json.loads((fake.root / "registry.json").read_text())


@pytest.mark.windows
def test_read_schannel_runs_the_script_with_the_exact_argv_and_reads_exact_values(
    windows: FakeWindows, runner: CommandRunner
) -> None:
    seed(windows, {(TLS10, "Enabled"): ("DWord", 1), (NET64, "SchUseStrongCrypto"): ("DWord", 1)})
    state = read_schannel(runner)
    assert windows.argvs("powershell") == [[*OPTIONS, str(SCRIPTS_DIR / "read-schannel.ps1")]]
    assert runner.records[0].mutating is False
    assert state.windows_build == 17763
    assert [(v.path, v.name) for v in state.values] == [
        (TLS10, "Enabled"),
        (TLS10, "DisabledByDefault"),
        (TLS11, "Enabled"),
        (TLS11, "DisabledByDefault"),
        (TLS12, "Enabled"),
        (TLS12, "DisabledByDefault"),
        (ORDER, "Functions"),
        (LOCAL_ORDER, "Functions"),
        (NET64, "SchUseStrongCrypto"),
        (NET32, "SchUseStrongCrypto"),
    ]
    assert state.get(TLS10, "Enabled").value == 1  # type: ignore[union-attr]
    assert state.get(TLS11, "Enabled").value is None  # type: ignore[union-attr]


@pytest.mark.windows
def test_schannel_plan_on_a_default_server_2016_lists_the_exact_changes_reboot_and_clients(
    windows: FakeWindows, runner: CommandRunner
) -> None:
    windows.scenario("windows_2016")
    state = read_schannel(runner)
    binding = SslBinding("0.0.0.0:443", "ab" * 20, OCTOPUS_APP_ID, "My")
    plan = plan_windows(state, binding)  # build 14393: no per-binding flag, so SCHANNEL
    assert plan.strategy == "schannel"
    assert [(c.path, c.name, c.before, c.after) for c in plan.changes] == [
        (TLS10, "Enabled", None, 0),
        (TLS10, "DisabledByDefault", None, 1),
        (TLS11, "Enabled", None, 0),
        (TLS11, "DisabledByDefault", None, 1),
    ]  # the cipher suite order is machine-wide, outbound too: only with schannel_cipher_order
    assert any("left as it is (schannel_cipher_order: false)" in n for n in plan.notes)
    assert plan.reboot_required is True
    assert any("reboot is needed" in n for n in plan.notes)
    assert any("SchUseStrongCrypto is not 1" in n for n in plan.notes)
    assert any(m.startswith("Tentacles on old Windows") for m in plan.may_break)
    assert any("Windows PowerShell 5.1" in m for m in plan.may_break)
    assert windows.calls("netsh") == []  # planning never touches HTTP.sys


@pytest.mark.windows
def test_server_2019_plans_the_per_binding_flag_first_with_exact_netsh_argv(
    windows: FakeWindows, runner: CommandRunner
) -> None:
    state = read_schannel(runner)
    binding = SslBinding("0.0.0.0:443", "AB" * 20, OCTOPUS_APP_ID, "WebHosting")
    plan = plan_windows(state, binding)
    base = [
        windows.netsh, "http", "update", "sslcert", "ipport=0.0.0.0:443", f"certhash={'AB' * 20}",
        f"appid={OCTOPUS_APP_ID}", "certstorename=WebHosting",
    ]  # fmt: skip
    assert plan.strategy == "per-binding"
    assert [list(c) for c in plan.commands] == [[*base, "disablelegacytls=enable"]]
    assert [list(c) for c in plan.rollback_commands] == [[*base, "disablelegacytls=disable"]]
    assert plan.reboot_required is False and plan.changes == ()
    assert not any("Tentacles on old Windows" in m for m in plan.may_break)
    assert plan_windows(state, None).strategy == "schannel"  # no binding yet: machine-wide


@pytest.mark.windows
def test_server_2022_cipher_order_leads_with_the_tls13_suites(
    windows: FakeWindows, runner: CommandRunner
) -> None:
    windows.scenario("windows_2022")
    plan = plan_schannel(read_schannel(runner), order=True)
    order = next(c for c in plan.changes if c.name == "Functions")
    assert order.after == "TLS_AES_256_GCM_SHA384,TLS_AES_128_GCM_SHA256," + STRONG


@pytest.mark.windows
def test_plan_changes_only_the_difference_and_reenables_a_disabled_tls12(
    windows: FakeWindows, runner: CommandRunner
) -> None:
    seed(
        windows,
        {
            (TLS10, "Enabled"): ("DWord", 0),
            (TLS10, "DisabledByDefault"): ("DWord", 1),
            (TLS12, "Enabled"): ("DWord", 0),
            (ORDER, "Functions"): ("String", STRONG),
            (NET64, "SchUseStrongCrypto"): ("DWord", 1),
            (NET32, "SchUseStrongCrypto"): ("DWord", 1),
        },
    )
    plan = plan_schannel(read_schannel(runner))
    assert [(c.path, c.name, c.before, c.after) for c in plan.changes] == [
        (TLS11, "Enabled", None, 0),
        (TLS11, "DisabledByDefault", None, 1),
        (TLS12, "Enabled", 0, 1),
    ]
    assert not any("SchUseStrongCrypto" in n for n in plan.notes)


@pytest.mark.windows
def test_apply_writes_exact_values_exports_the_previous_ones_and_rollback_restores_them(
    windows: FakeWindows, runner: CommandRunner, tmp_path: Path
) -> None:
    seed(
        windows,
        {
            (TLS10, "Enabled"): ("DWord", 0xFFFFFFFF),
            (ORDER, "Functions"): ("String", "TLS_RSA_WITH_RC4_128_SHA"),
        },
    )
    before = registry(windows)
    plan = plan_schannel(read_schannel(runner))
    home = StateHome.open(tmp_path / "state", "windows/octopusserver")
    applied = apply_schannel(runner, plan, home)
    set_calls = [a for a in windows.argvs("powershell") if a[5].endswith("set-schannel.ps1")]
    plan_file = next((tmp_path / "state" / "schannel").glob("schannel-plan-*.json"))
    assert stat.S_IMODE(plan_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(applied.backup_path.stat().st_mode) == 0o600
    assert set_calls == [[*OPTIONS, str(SCRIPTS_DIR / "set-schannel.ps1"), "-PlanPath", str(plan_file)]]
    assert json.loads(plan_file.read_text())["changes"][0] == {
        "path": TLS10,
        "name": "Enabled",
        "type": "DWord",
        "value": 0,
    }
    assert [r.mutating for r in runner.records] == [False, True]
    assert registry(windows) == {
        TLS10.lower(): {
            "Enabled": {"type": "DWord", "value": 0},
            "DisabledByDefault": {"type": "DWord", "value": 1},
        },
        TLS11.lower(): {
            "Enabled": {"type": "DWord", "value": 0},
            "DisabledByDefault": {"type": "DWord", "value": 1},
        },
        ORDER.lower(): {
            "Functions": {"type": "String", "value": "TLS_RSA_WITH_RC4_128_SHA"}
        },  # not asked: kept
    }
    backup = json.loads(applied.backup_path.read_text())["changes"]
    assert {(c["path"], c["name"]): c["value"] for c in backup} == {
        (TLS10, "Enabled"): 0xFFFFFFFF,
        (TLS10, "DisabledByDefault"): None,
        (TLS11, "Enabled"): None,
        (TLS11, "DisabledByDefault"): None,
    }
    assert plan_schannel(read_schannel(runner)).changes == ()  # applied: nothing left to change
    rollback_schannel(runner, applied, home)
    restored = {k: v for k, v in registry(windows).items() if v}
    assert restored == before


@pytest.mark.windows
def test_apply_without_elevation_is_not_elevated_and_leaves_the_backup(
    windows: FakeWindows, runner: CommandRunner, tmp_path: Path
) -> None:
    plan = plan_schannel(read_schannel(runner))
    windows.scenario("not_elevated")
    with pytest.raises(OctorunbookError) as caught:
        apply_schannel(runner, plan, StateHome.open(tmp_path / "state", "windows/octopusserver"))
    assert caught.value.code == "NOT_ELEVATED"
    assert "registry" in caught.value.message
    backup_file = next((tmp_path / "state" / "schannel").glob("schannel-backup-*.json"))
    backup = json.loads(backup_file.read_text())["changes"]
    assert [(c["path"], c["name"], c["value"]) for c in backup][:2] == [
        (TLS10, "Enabled", None),
        (TLS10, "DisabledByDefault", None),
    ]
    assert not (windows.root / "registry.json").exists()


@pytest.mark.windows
def test_an_unknown_answer_shape_is_refused_not_guessed() -> None:
    with pytest.raises(OctorunbookError, match="^SCHANNEL_UNREADABLE:"):
        parse_schannel(
            {"status": "ok", "windows_build": 17763, "values": [{"path": "x", "name": "y", "value": [1]}]}
        )


# -- nginx ----------------------------------------------------------------------------------------
BLOCK = """server {
    listen 443 ssl;
    server_name octopus.example.com;
    ssl_certificate /etc/octorunbook/portal.pem;
    ssl_protocols TLSv1 TLSv1.1 TLSv1.2;  # old default
    ssl_protocols TLSv1.2;
}
"""


def test_nginx_plan_and_block_rewrite_are_exact_and_idempotent() -> None:
    plan = plan_nginx(BLOCK)
    assert [(c.name, c.before, c.after) for c in plan.changes] == [
        ("ssl_protocols", "TLSv1.2", "TLSv1.2 TLSv1.3"),
        ("ssl_ciphers", None, NGINX_CIPHERS),
        ("ssl_prefer_server_ciphers", None, "off"),
    ]
    assert plan.reboot_required is False
    hardened = harden_server_block(BLOCK)
    assert hardened == (
        "server {\n"
        "    listen 443 ssl;\n"
        "    server_name octopus.example.com;\n"
        "    ssl_certificate /etc/octorunbook/portal.pem;\n"
        "    ssl_protocols TLSv1.2 TLSv1.3;\n"
        f"    ssl_ciphers {NGINX_CIPHERS};\n"
        "    ssl_prefer_server_ciphers off;\n"
        "}\n"
    )
    assert harden_server_block(hardened) == hardened
    assert plan_nginx(hardened).unchanged


def test_nginx_cipher_list_proves_hardened_under_a_posture_scan(serve: Any) -> None:
    """The same OpenSSL cipher string nginx would get, on a real TLS server: no weak suite, no legacy version."""
    from octorunbook.evidence.posture import scan

    server = serve(ciphers=NGINX_CIPHERS)
    report = scan(("127.0.0.1", server.port), "octopus.example.com")
    assert "TLS_WEAK_CIPHER" not in report.codes() and "TLS_LEGACY_PROTOCOL" not in report.codes()
    accepted = [
        r.check for r in report.rows if r.check.startswith("TLS 1.2 suite") and r.seen.startswith("accepted")
    ]
    assert accepted and all("ECDHE" in c and ("GCM" in c or "CHACHA20" in c) for c in accepted)


@pytest.fixture
def serve() -> Iterator[Callable[..., Any]]:
    with loopback_servers() as start:
        yield start


@pytest.mark.windows
def test_the_cipher_order_is_written_only_when_asked_with_its_outbound_impact_in_the_plan(
    windows: FakeWindows, runner: CommandRunner
) -> None:
    windows.scenario("windows_2016")
    plan = plan_schannel(read_schannel(runner), order=True)
    assert (ORDER, "Functions", None, STRONG) in [(c.path, c.name, c.before, c.after) for c in plan.changes]
    outbound = next(n for n in plan.notes if "outbound" in n)
    assert "SQL Server" in outbound and "Tentacles" in outbound and plan.reboot_required


@pytest.mark.windows
def test_a_cipher_order_someone_else_set_is_shown_and_never_replaced(
    windows: FakeWindows, runner: CommandRunner
) -> None:
    seed(windows, {(ORDER, "Functions"): ("String", "TLS_RSA_WITH_RC4_128_SHA")})
    with pytest.raises(OctorunbookError) as refused:
        plan_schannel(read_schannel(runner), order=True)
    assert refused.value.code == "SCHANNEL_CIPHER_ORDER_MANAGED"
    assert "TLS_RSA_WITH_RC4_128_SHA" in refused.value.message and "GPO" in refused.value.remedy
    assert plan_schannel(read_schannel(runner)).strategy == "schannel"  # protocols only: still possible


@pytest.mark.windows
@pytest.mark.parametrize("kind", ["MultiString", "String"])
def test_a_cipher_order_enable_tlsciphersuite_set_locally_is_shown_and_never_replaced(
    windows: FakeWindows, runner: CommandRunner, kind: str
) -> None:
    # no policy value: the list lives in the local CNG configuration Enable-/Disable-TlsCipherSuite change
    local = "TLS_AES_256_GCM_SHA384,TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA"
    seed(windows, {(LOCAL_ORDER, "Functions"): (kind, local)})
    state = read_schannel(runner)
    assert state.get(LOCAL_ORDER, "Functions").value == local  # type: ignore[union-attr]
    with pytest.raises(OctorunbookError) as refused:
        plan_schannel(state, order=True)
    assert refused.value.code == "SCHANNEL_CIPHER_ORDER_MANAGED"
    assert local in refused.value.message and "Enable-TlsCipherSuite" in refused.value.message
    assert refused.value.finding.details["key"] == LOCAL_ORDER
    plan = plan_schannel(state)  # protocols only: still possible, and neither order is touched
    assert not [c for c in plan.changes if c.name == "Functions"]


@pytest.mark.windows
def test_an_empty_local_cipher_list_or_the_one_05_writes_is_no_conflict(
    windows: FakeWindows, runner: CommandRunner
) -> None:
    windows.scenario("windows_2016")
    for value in ("", STRONG):
        seed(windows, {(LOCAL_ORDER, "Functions"): ("MultiString", value)})
        plan = plan_schannel(read_schannel(runner), order=True)
        assert [(c.path, c.after) for c in plan.changes if c.name == "Functions"] == [(ORDER, STRONG)]
