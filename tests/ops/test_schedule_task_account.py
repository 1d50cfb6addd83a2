"""``schedule install`` on Windows: the SYSTEM task can do what the operator's session did — every secret
the parameters name is handed over, paths the task cannot reach are refused, and one dry run as the
task's account proves it (through the stand-in PowerShell and Task Scheduler, exact argv)."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest

from octorunbook.cli.main import main
from octorunbook.ops.schedule_paths import check_task_paths
from octorunbook.params.core import Parameters
from octorunbook.targets.windows.powershell import script_path
from tests.ops.test_schedule import secret_file, write_params

EAB = "eab-hmac-" + "k" * 40
HOOKS = "json://notify.example/" + "t" * 32
PFX_PASSWORD = "pfx-password-" + "p" * 20

pytestmark = pytest.mark.windows


def scripts_called(fake: Any) -> list[str]:
    return [Path(argv[5]).name for argv in fake.argvs("powershell")]


def sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def test_every_secret_the_parameters_name_reaches_the_dry_run_as_system_and_nothing_else_does(
    win: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CA_EAB_HMAC", EAB)
    monkeypatch.setenv("PORTAL_HOOKS", HOOKS)
    monkeypatch.setenv("OPERATOR_ONLY", "what the operator's session has and SYSTEM has not")
    params = write_params(
        tmp_path,
        target="windows",
        certificate_source="acme",
        acme_email="ops@example.com",
        acme_eab_kid="kid-1",
        acme_eab_hmac_env="CA_EAB_HMAC",
        notify_env="PORTAL_HOOKS",
    )
    assert main(["schedule", "install", str(params), "--platform", "windows"]) == 0, capsys.readouterr().err
    secret = secret_file(tmp_path)
    register = [a for a in win.argvs("powershell") if Path(a[5]).name == "register-renewal-task.ps1"][0]
    assert register[register.index("-SecretNames") + 1] == "CA_EAB_HMAC,PORTAL_HOOKS"
    assert register[register.index("-SecretPath") + 1] == str(secret)
    seen = json.loads(win.probe_seen.read_text())
    assert seen["argv"] == ["renew", str(params), "--dry-run"]
    assert seen["cwd"] == str(params.parent)
    assert seen["env"]["CA_EAB_HMAC"] == sha(EAB) and seen["env"]["PORTAL_HOOKS"] == sha(HOOKS)
    assert "OPERATOR_ONLY" not in seen["env"]  # the task has its own environment, not the session's
    out = capsys.readouterr().out
    assert "secrets (CA_EAB_HMAC, PORTAL_HOOKS): DPAPI LocalMachine-protected" in out
    assert "dry run as SYSTEM: Last Run Result 0" in out
    for value in (EAB, HOOKS):
        assert value not in win.log_text() and value.encode() not in secret.read_bytes()


def test_a_secret_variable_not_set_at_install_registers_nothing(
    win: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("PORTAL_HOOKS", raising=False)
    params = write_params(tmp_path, target="windows", notify_env="PORTAL_HOOKS")
    assert main(["schedule", "install", str(params), "--platform", "windows"]) == 2
    err = capsys.readouterr().err
    assert "SCHEDULE_PASSWORD_MISSING" in err and "PORTAL_HOOKS" in err
    assert win.calls("powershell") == []


@pytest.mark.parametrize(
    ("field", "value", "why"),
    [
        ("audit_dir", "audit", "it is relative"),
        ("audit_dir", "~/octorunbook/audit", "it starts with ~"),
        ("pfx_path", "C:drop\\portal.pfx", "it names a drive but not a folder from its root"),
        ("pfx_path", "..\\drop\\portal.pfx", "it is relative"),
        ("audit_dir", "C:\\audit\rC:\\elsewhere", "control character U+000D"),
        ("audit_dir", "C:\\au\tdit", "control character U+0009"),
        ("audit_dir", "C:\\audit|C:\\elsewhere", "it holds |"),
        ("audit_dir", "\\\\.\\PhysicalDrive0", "device or literal path"),
        ("pfx_path", "\\\\?\\C:\\drop\\portal.pfx", "device or literal path"),
    ],
)
def test_a_path_the_task_would_resolve_elsewhere_is_refused_before_anything_is_registered(
    win: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    field: str,
    value: str,
    why: str,
) -> None:
    monkeypatch.setenv("DROP_PFX_PASSWORD", PFX_PASSWORD)
    pfx = tmp_path / "portal.pfx"
    pfx.write_bytes(b"x")
    values = {"target": "windows", "certificate_source": "pfx", "pfx_path": str(pfx)}
    values.update(pfx_password_env="DROP_PFX_PASSWORD", **{field: value})
    params = write_params(tmp_path, **values)
    code = main(["schedule", "install", str(params), "--platform", "windows"])
    err = capsys.readouterr().err
    assert code == 2 and "SCHEDULE_PATH_UNUSABLE" in err and why in err and f"{field}:" in err, err
    assert win.calls("powershell") == [] and not secret_file(tmp_path).exists()


def test_an_octorunbook_installed_on_a_mapped_network_drive_is_refused_before_the_task_exists(
    win: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The task runs the octorunbook command of this installation: in a virtual environment on Z: it
    would not start as SYSTEM, so the host judges its path with the others (issue 25, item 6)."""
    import octorunbook.ops.schedule as schedule_module

    (win.root / "network_drives.json").write_text('["Z:"]')
    monkeypatch.setattr(
        schedule_module, "octorunbook_executable", lambda: "Z:\\venv\\Scripts\\octorunbook.exe"
    )
    monkeypatch.setenv("DROP_PFX_PASSWORD", PFX_PASSWORD)
    (tmp_path / "portal.pfx").write_bytes(b"x")
    drop = {"certificate_source": "pfx", "pfx_path": str(tmp_path / "portal.pfx")}
    params = write_params(tmp_path, target="windows", pfx_password_env="DROP_PFX_PASSWORD", **drop)
    assert main(["schedule", "install", str(params), "--platform", "windows", "--name", "portal"]) == 1
    err = capsys.readouterr().err
    assert "SCHEDULE_PATH_UNUSABLE" in err and "Z:\\venv" in err and "network drive" in err, err
    assert main(["schedule", "show", "--platform", "windows", "--name", "portal"]) == 1  # no task


def test_a_path_on_a_mapped_network_drive_is_refused_by_the_host_before_the_task_exists(
    win: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (win.root / "network_drives.json").write_text('["Z:"]')
    monkeypatch.setenv("DROP_PFX_PASSWORD", PFX_PASSWORD)
    params = write_params(
        tmp_path,
        target="windows",
        certificate_source="pfx",
        pfx_path="Z:\\drop\\portal.pfx",
        pfx_password_env="DROP_PFX_PASSWORD",
    )
    assert main(["schedule", "install", str(params), "--platform", "windows", "--name", "portal"]) == 1
    err = capsys.readouterr().err
    assert "SCHEDULE_PATH_UNUSABLE" in err and "network drive" in err and "UNC" in err
    assert scripts_called(win)[-1] == "register-renewal-task.ps1"
    assert main(["schedule", "show", "--platform", "windows", "--name", "portal"]) == 1  # no task
    assert not secret_file(tmp_path, "portal").exists()


def test_a_dry_run_that_fails_as_system_is_a_coded_error_with_its_last_run_result(
    win: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    unimportable = tmp_path / "octorunbook-user-site"  # `pip --user`: SYSTEM cannot import it
    unimportable.write_text("#!/bin/sh\necho 'ModuleNotFoundError: octorunbook' >&2\nexit 1\n")
    unimportable.chmod(0o755)
    monkeypatch.setenv("FAKE_TASK_OCTORUNBOOK", str(unimportable))
    params = write_params(tmp_path, target="windows")
    assert main(["schedule", "install", str(params), "--platform", "windows", "--name", "portal"]) == 1
    err = capsys.readouterr().err
    assert "SCHEDULE_DRY_RUN_FAILED" in err and "Last Run Result 0x1" in err and "audit list" in err
    assert main(["schedule", "show", "--platform", "windows", "--name", "portal"]) == 0  # it stays, said


def test_an_install_in_the_user_site_packages_is_refused_before_anything_is_registered(
    win: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import site

    import octorunbook

    monkeypatch.setattr(site, "getusersitepackages", lambda: str(Path(octorunbook.__file__).parents[1]))
    params = write_params(tmp_path, target="windows")
    assert main(["schedule", "install", str(params), "--platform", "windows"]) == 2
    assert "SCHEDULE_USER_INSTALL" in capsys.readouterr().err
    assert win.calls("powershell") == []


def test_no_dry_run_skips_the_start(win: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    params = write_params(tmp_path, target="windows")
    assert main(["schedule", "install", str(params), "--platform", "windows", "--no-dry-run"]) == 0
    assert scripts_called(win) == ["register-renewal-task.ps1"]
    assert "skipped (--no-dry-run)" in capsys.readouterr().out


def test_the_paths_a_run_uses_are_listed_by_source_and_front() -> None:
    params = Parameters(
        target="windows",
        certificate_source="pem",
        pem_cert_path="C:\\certs\\portal.crt",
        pem_key_path="\\\\files\\certs\\portal.key",
        pfx_path="relative-but-unused.pfx",
        audit_dir="D:/audit",
        acme_dns_hook="relative-but-unused.cmd",
    )
    assert check_task_paths(params, windows=True) == [
        "D:/audit",
        "C:\\certs\\portal.crt",
        "\\\\files\\certs\\portal.key",
    ]
    hooked = Parameters(
        target="windows", certificate_source="acme", audit_dir="C:\\a", acme_dns_hook='"hooks\\dns.cmd" add'
    )
    with pytest.raises(Exception, match="acme_dns_hook: 'hooks\\\\\\\\dns.cmd'"):
        check_task_paths(hooked, windows=True)
    bare = Parameters(
        target="windows",
        certificate_source="acme",
        audit_dir="C:\\a",
        acme_dns_hook="powershell -File C:\\h.ps1",
    )
    assert check_task_paths(bare, windows=True) == ["C:\\a"]  # a bare command is found on the machine PATH
    assert check_task_paths(Parameters(target="windows", audit_dir="/srv/audit"), windows=False) == [
        "/srv/audit"
    ]
    with pytest.raises(Exception, match="SCHEDULE_PATH_UNUSABLE|no drive"):
        check_task_paths(Parameters(target="windows", audit_dir="/srv/audit"), windows=True)


def code_of(name: str) -> str:
    text = re.sub(r"<#.*?#>", "", script_path(name).read_text(encoding="utf-8"), flags=re.S)
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))


def test_the_dry_run_is_a_twin_task_with_the_same_account_and_action_removed_in_every_case() -> None:
    code = code_of("test-renewal-task.ps1")
    assert "-Argument ([string]$action.Arguments + ' -DryRun')" in code
    assert "-WorkingDirectory $action.WorkingDirectory" in code
    assert "-Principal $task.Principal" in code and "Start-ScheduledTask -TaskName $twin" in code
    assert "$code -ne 0x41301 -and $code -ne 0x41303" in code  # running / has not run yet
    finally_block = code[code.index("finally {") :]
    assert "Unregister-ScheduledTask -TaskName $twin" in finally_block
    assert "Start-ScheduledTask -TaskName $TaskName" not in code  # the real task would renew for real
    runner = code_of("run-renewal-task.ps1")
    assert "if ($DryRun) { & $Octorunbook $Subcommand $ParamsPath '--dry-run' }" in runner
    assert (
        "foreach ($name in $names) { [Environment]::SetEnvironmentVariable($name, $null, 'Process') }"
        in runner
    )


def test_a_network_drive_letter_is_judged_by_its_drive_type_on_the_host() -> None:
    code = code_of("register-renewal-task.ps1")
    assert "New-Object System.IO.DriveInfo -ArgumentList $path.Substring(0, 2)" in code
    assert "$drive.DriveType -eq [System.IO.DriveType]::Network" in code
    assert (
        code.index("$phase = 'paths'")
        < code.index("$phase = 'protect'")
        < code.index("Register-ScheduledTask")
    )


def test_a_reinstall_deletes_the_pfx_password_file_of_the_task_it_replaces(
    win: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DROP_PFX_PASSWORD", PFX_PASSWORD)
    pfx = tmp_path / "portal.pfx"
    pfx.write_bytes(b"x")
    params = write_params(
        tmp_path,
        target="windows",
        certificate_source="pfx",
        pfx_path=str(pfx),
        pfx_password_env="DROP_PFX_PASSWORD",
    )
    install = ["schedule", "install", str(params), "--platform", "windows", "--no-dry-run"]
    assert main(install) == 0  # the secrets folder, made private
    legacy = secret_file(tmp_path).with_name("octorunbook-renew.pfx-password.dpapi")
    legacy.write_bytes(b"FAKE-DPAPI-LocalMachine\x00old")  # what an earlier version kept
    assert main(install) == 0
    assert not legacy.exists() and secret_file(tmp_path).exists()
