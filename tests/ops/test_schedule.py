"""``octorunbook schedule``: a Windows Scheduled Task through the stand-in PowerShell (exact argv), a systemd
timer (real only where systemd runs) or a crontab line, and a PFX password that never reaches argv or disk
in clear."""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import shlex
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from octorunbook.cli.main import main
from octorunbook.findings import InputError
from octorunbook.ops.schedule import RENEW_SUBCOMMAND, Schedule, octorunbook_executable
from octorunbook.ops.schedule_systemd import crontab_line, systemd_running, unit_texts
from octorunbook.ops.schedule_windows import register_argv
from octorunbook.targets.windows.powershell import POWERSHELL_OPTIONS, script_path
from tests.test_emit import windows_argv

FAKES = Path(__file__).resolve().parents[1] / "fakes"
sys.path.insert(0, str(FAKES))
from schedule_powershell import protect, unprotect  # noqa: E402

NO_SYSTEMD = "systemd is not PID 1 here (a container): a real user timer cannot be installed"


def write_params(tmp_path: Path, **values: Any) -> Path:
    path = tmp_path / "params.yaml"
    values.setdefault("audit_dir", str(tmp_path / "audit"))  # a scheduled run refuses a relative one
    path.write_text(yaml.safe_dump({"hostname": "octopus.example.com", **values}))
    return path


def ps_argv(fake: Any, script: str, *arguments: str) -> list[str]:
    """The argv the stand-in receives after the executable (what ``argv.log`` keeps)."""
    return [*POWERSHELL_OPTIONS, "-File", str(script_path(script)), *arguments]


def secret_file(tmp_path: Path, name: str = "octorunbook-renew") -> Path:
    return tmp_path / "ProgramData" / "octorunbook" / "secrets" / f"{name}.secrets.dpapi"


# -- Windows -------------------------------------------------------------------------------------------
@pytest.mark.windows
def test_windows_install_registers_a_daily_system_task_with_the_exact_argv(
    win: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    params = write_params(tmp_path, target="windows")
    assert main(["schedule", "install", str(params), "--platform", "windows", "--at", "04:05"]) == 0
    exe = octorunbook_executable()
    assert win.argvs("powershell") == [
        ps_argv(
            win,
            "register-renewal-task.ps1",
            *("-TaskName", "octorunbook-renew", "-At", "04:05", "-Octorunbook", exe),
            *("-Subcommand", "renew", "-ParamsPath", str(params)),
            *("-LocalPaths", f"{params}|{exe}|{tmp_path / 'audit'}"),
            *(
                "-LegacySecretPath",
                str(secret_file(tmp_path).with_name("octorunbook-renew.pfx-password.dpapi")),
            ),
        ),
        ps_argv(win, "test-renewal-task.ps1", "-TaskName", "octorunbook-renew", "-WaitSeconds", "900"),
    ]
    out = capsys.readouterr().out
    assert "daily at 04:05, as SYSTEM (ServiceAccount, Highest)" in out
    assert f"runs: {exe} renew {params}" in out
    assert "dry run as SYSTEM: Last Run Result 0" in out
    assert not secret_file(tmp_path).exists()  # a self-signed source has no password to keep


@pytest.mark.windows
def test_windows_show_and_remove_read_and_unregister_the_task(
    win: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    params = write_params(tmp_path, target="windows")
    main(["schedule", "install", str(params), "--platform", "windows", "--name", "portal"])
    capsys.readouterr()
    assert main(["schedule", "show", "--platform", "windows", "--name", "portal"]) == 0
    shown = capsys.readouterr().out
    assert "Scheduled Task \\octorunbook\\portal: Ready" in shown and "daily at 03:17" in shown
    assert main(["schedule", "remove", "--platform", "windows", "--name", "portal"]) == 0
    assert "Scheduled Task portal removed" in capsys.readouterr().out
    assert main(["schedule", "show", "--platform", "windows", "--name", "portal"]) == 1
    assert win.argvs("powershell")[2:] == [
        ps_argv(win, "show-renewal-task.ps1", "-TaskName", "portal"),
        ps_argv(
            win,
            "remove-renewal-task.ps1",
            *("-TaskName", "portal", "-SecretPath", str(secret_file(tmp_path, "portal"))),
            *(
                "-LegacySecretPath",
                str(secret_file(tmp_path, "portal").with_name("portal.pfx-password.dpapi")),
            ),
        ),
        ps_argv(win, "show-renewal-task.ps1", "-TaskName", "portal"),
    ]


@pytest.mark.windows
def test_windows_pfx_password_is_machine_protected_and_reaches_only_the_renewal_environment(
    win: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    canary = "canary-" + secrets.token_hex(12)
    monkeypatch.setenv("DROP_PFX_PASSWORD", canary)
    pfx = tmp_path / "drop" / "portal.pfx"
    pfx.parent.mkdir()
    pfx.write_bytes(b"not read at install time")
    params = write_params(
        tmp_path,
        target="windows",
        certificate_source="pfx",
        pfx_path=str(pfx),
        pfx_password_env="DROP_PFX_PASSWORD",
    )
    assert main(["schedule", "install", str(params), "--platform", "windows"]) == 0

    secret = secret_file(tmp_path)
    inspect, create, call, dry_run = win.calls("powershell")
    # The secrets folder is made SYSTEM + Administrators only before the secret is written into it.
    assert inspect["argv"] == ps_argv(win, "protect-state-folder.ps1", "-Path", str(secret.parent))
    assert create["argv"] == ps_argv(win, "protect-state-folder.ps1", "-Path", str(secret.parent), "-Create")
    assert call["argv"] == ps_argv(
        win,
        "register-renewal-task.ps1",
        *("-TaskName", "octorunbook-renew", "-At", "03:17", "-Octorunbook", octorunbook_executable()),
        *("-Subcommand", "renew", "-ParamsPath", str(params)),
        *("-SecretPath", str(secret), "-SecretNames", "DROP_PFX_PASSWORD"),
        *("-LocalPaths", f"{params}|{octorunbook_executable()}|{tmp_path / 'audit'}|{pfx}"),
        *("-LegacySecretPath", str(secret.with_name("octorunbook-renew.pfx-password.dpapi"))),
    )
    assert "OCTORUNBOOK_SCHEDULE_SECRET" in call["env_names"]  # handed over in the child's environment
    assert json.loads(unprotect(secret.read_bytes())) == {"DROP_PFX_PASSWORD": canary}
    assert dry_run["argv"] == ps_argv(
        win, "test-renewal-task.ps1", "-TaskName", "octorunbook-renew", "-WaitSeconds", "900"
    )

    # The scheduler runs the task's action; the launcher puts the password in the renewal's environment.
    task = win.calls("powershell")  # (re-read below after the run)
    probe = tmp_path / "renew-probe"
    seen = tmp_path / "renew-saw.txt"
    probe.write_text(
        f'#!/bin/sh\nprintf "%s" "$DROP_PFX_PASSWORD" | sha256sum > "{seen}"\necho "$@" >> "{seen}"\n'
    )
    probe.chmod(0o755)
    shown = subprocess.run(
        [str(win.wrapper), *ps_argv(win, "show-renewal-task.ps1", "-TaskName", "octorunbook-renew")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    arguments = shlex.split(yaml.safe_load(shown[shown.index("{") :])["arguments"])
    arguments[arguments.index("-Octorunbook") + 1] = str(probe)
    assert subprocess.run([str(win.wrapper), *arguments], check=False).returncode == 0
    digest, argv_seen = seen.read_text().splitlines()
    assert digest.split()[0] == hashlib.sha256(canary.encode()).hexdigest()
    assert argv_seen == f"{RENEW_SUBCOMMAND} {params}"

    # Canary: never in argv, the task definition, or any file written in clear.
    assert task and canary not in win.log_text() and canary not in " ".join(arguments)
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert canary.encode() not in path.read_bytes(), path


@pytest.mark.windows
def test_windows_pfx_source_without_the_password_refuses_and_registers_nothing(
    win: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    params = write_params(tmp_path, target="windows", certificate_source="pfx", pfx_path="C:/drop/p.pfx")
    assert (
        main(["schedule", "install", str(params), "--platform", "windows"]) == 2
    )  # bad input: the password variable is not set
    assert "SCHEDULE_PASSWORD_MISSING" in capsys.readouterr().err
    assert win.calls("powershell") == []


@pytest.mark.windows
def test_windows_install_not_elevated_is_a_coded_error(
    win: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    win.scenario("not_elevated")
    assert main(["schedule", "install", str(write_params(tmp_path)), "--platform", "windows"]) == 1
    assert "NOT_ELEVATED" in capsys.readouterr().err


@pytest.mark.windows
def test_schedule_scripts_are_windows_powershell_51_and_register_as_system() -> None:
    names = (
        "register-renewal-task.ps1",
        "show-renewal-task.ps1",
        "remove-renewal-task.ps1",
        "run-renewal-task.ps1",
    )
    for name in names:
        text = script_path(name).read_text(encoding="utf-8")
        text = re.sub(r"<#.*?#>", "", text, flags=re.S)  # the comment-based help
        code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
        assert "??" not in code and "?." not in code and " ? " not in code, name
    register = script_path("register-renewal-task.ps1").read_text(encoding="utf-8")
    assert "-UserId 'NT AUTHORITY\\SYSTEM' -LogonType ServiceAccount -RunLevel Highest" in register
    assert "DataProtectionScope]::LocalMachine" in register and "Register-ScheduledTask" in register
    assert "Unregister-ScheduledTask" in script_path("remove-renewal-task.ps1").read_text(encoding="utf-8")


@pytest.mark.windows
def test_fake_dpapi_output_never_holds_the_plaintext() -> None:
    assert b"hunter2" not in protect("hunter2") and unprotect(protect("hunter2")) == "hunter2"


# -- Linux ---------------------------------------------------------------------------------------------
def schedule_for(params: Path, **overrides: Any) -> Schedule:
    values: dict[str, Any] = {
        "name": "octorunbook-renew",
        "at": "03:17",
        "params_path": params,
        "octorunbook": "/opt/octo runbook/.venv/bin/octorunbook",
    }
    values.update(overrides)
    return Schedule(**values)


def test_systemd_units_run_the_renewal_daily_persistent_and_spread() -> None:
    units = unit_texts(schedule_for(Path("/etc/octo/100%/params.yaml")))
    assert units.timer_name == "octorunbook-renew.timer"
    assert "OnCalendar=*-*-* 03:17:00\nPersistent=true\nRandomizedDelaySec=15min\n" in units.timer
    assert "Unit=octorunbook-renew.service" in units.timer and "WantedBy=timers.target" in units.timer
    assert "Type=oneshot\n" in units.service
    assert (
        'ExecStart="/opt/octo runbook/.venv/bin/octorunbook" renew /etc/octo/100%%/params.yaml\n'
        in units.service
    )
    assert "WorkingDirectory=/etc/octo/100%%\n" in units.service


def test_crontab_line_is_marked_and_quotes_for_sh() -> None:
    line = crontab_line(schedule_for(Path("/srv/a b/params.yaml"), at="04:05"))
    assert line == (
        "5 4 * * * cd '/srv/a b' && '/opt/octo runbook/.venv/bin/octorunbook' renew '/srv/a b/params.yaml'"
        "  # octorunbook:octorunbook-renew"
    )


def test_crontab_line_refuses_percent_which_cron_reads_as_a_line_break() -> None:
    # cronie turns \% into %, but a backslash before it cannot be expressed, and crons differ: refused.
    with pytest.raises(InputError) as caught:
        crontab_line(schedule_for(Path("/srv/a%b/params.yaml"), at="04:05"))
    assert (
        caught.value.code == "RENDER_UNSAFE"
        and caught.value.finding.details["destination"] == "a crontab line"
    )


@dataclass
class Done:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def run_cli(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Callable[..., Done]:
    """``octorunbook schedule ...`` in this process, with ``XDG_CONFIG_HOME`` in tmp_path/xdg."""

    def run(*args: str, **env: str) -> Done:
        monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        capsys.readouterr()
        code = main(["schedule", *args])
        out, err = capsys.readouterr()
        return Done(code, out, err)

    return run


@pytest.mark.skipif(systemd_running(), reason="systemd runs here: install enables a real timer instead")
def test_install_without_systemd_prints_the_crontab_line_and_installs_nothing(
    tmp_path: Path, run_cli: Any
) -> None:
    params = write_params(tmp_path)
    done = run_cli("install", str(params), "--user", "--at", "02:30")
    assert done.returncode == 0, done.stderr
    assert "systemd is not running here, so nothing was installed" in done.stdout
    assert f"30 2 * * * cd {tmp_path} && {octorunbook_executable()} renew {params}" in done.stdout
    assert not (tmp_path / "xdg").exists()


def test_platform_systemd_writes_user_units_that_show_and_remove_handle(tmp_path: Path, run_cli: Any) -> None:
    params = write_params(tmp_path)
    done = run_cli("install", str(params), "--platform", "systemd", "--user")
    assert done.returncode == 0, done.stderr
    folder = tmp_path / "xdg" / "systemd" / "user"
    timer = folder / "octorunbook-renew.timer"
    service = folder / "octorunbook-renew.service"
    assert timer.read_text() == unit_texts(schedule_for(params, octorunbook=octorunbook_executable())).timer
    assert f"ExecStart={octorunbook_executable()} renew {params}\n" in service.read_text()
    assert stat.S_IMODE(service.stat().st_mode) == 0o644
    shown = run_cli("show", "--platform", "systemd", "--user")
    assert (
        shown.returncode == 0 and f"# {timer}" in shown.stdout and "OnCalendar=*-*-* 03:17:00" in shown.stdout
    )
    removed = run_cli("remove", "--platform", "systemd", "--user")
    assert removed.returncode == 0 and f"removed {timer}" in removed.stdout
    assert list(folder.iterdir()) == []
    assert run_cli("show", "--platform", "systemd", "--user").returncode == 1


@pytest.mark.skipif(not systemd_running(), reason=NO_SYSTEMD)
def test_real_user_timer_is_enabled_and_removed(
    tmp_path: Path, run_cli: Any
) -> None:  # pragma: no cover - needs systemd
    params = write_params(tmp_path)
    name = "octorunbook-test-" + secrets.token_hex(4)
    assert run_cli("install", str(params), "--user", "--name", name).returncode == 0
    try:
        timers = subprocess.run(
            ["systemctl", "--user", "list-timers", f"{name}.timer"], capture_output=True, text=True
        )
        assert f"{name}.timer" in timers.stdout
    finally:
        assert run_cli("remove", "--user", "--name", name).returncode == 0


def test_linux_refuses_a_pfx_source_and_writes_nothing(tmp_path: Path, run_cli: Any) -> None:
    canary = "canary-" + secrets.token_hex(12)
    params = write_params(
        tmp_path, certificate_source="pfx", pfx_path="/drop/p.pfx", pfx_password_env="DROP_PW"
    )
    done = run_cli("install", str(params), "--platform", "systemd", "--user", DROP_PW=canary)
    assert done.returncode == 2 and "SCHEDULE_SECRET_UNSUPPORTED" in done.stderr
    assert not (tmp_path / "xdg").exists()
    assert canary not in done.stdout + done.stderr


SECRET_PARAMS = {
    "pfx": {"certificate_source": "pfx", "pfx_path": "/drop/p.pfx", "pfx_password_env": "DROP_PW"},
    "acme-eab": {
        "certificate_source": "acme",
        "acme_directory": "https://ca.example.net/directory",
        "acme_eab_kid": "kid-1",
        "acme_eab_hmac_env": "CA_EAB_HMAC",
    },
    "notify": {"notify_env": "PORTAL_HOOKS"},
    "acme-eab-and-notify": {
        "certificate_source": "acme",
        "acme_directory": "https://ca.example.net/directory",
        "acme_eab_kid": "kid-1",
        "acme_eab_hmac_env": "CA_EAB_HMAC",
        "notify_env": "PORTAL_HOOKS",
    },
}


@pytest.mark.parametrize("platform", ["systemd", "cron"])
@pytest.mark.parametrize("kind", sorted(SECRET_PARAMS))
def test_linux_refuses_every_secret_variable_by_name_and_no_canary_reaches_a_unit_or_crontab(
    tmp_path: Path, run_cli: Any, platform: str, kind: str
) -> None:
    canary = "canary-" + secrets.token_hex(12)
    values = SECRET_PARAMS[kind]
    names = [values[k] for k in ("pfx_password_env", "acme_eab_hmac_env", "notify_env") if k in values]
    done = run_cli(
        "install",
        str(write_params(tmp_path, **values)),
        "--platform",
        platform,
        "--user",
        **dict.fromkeys(names, canary),
    )
    assert done.returncode == 2 and "SCHEDULE_SECRET_UNSUPPORTED" in done.stderr, done.stderr
    assert all(name in done.stderr for name in names)  # every variable named, so the remedy is concrete
    assert not (tmp_path / "xdg").exists()  # no unit file
    assert "* * *" not in done.stdout and "nothing was installed" not in done.stdout  # no crontab line
    assert canary not in done.stdout + done.stderr


def test_unit_and_crontab_writers_refuse_a_schedule_that_needs_a_secret(tmp_path: Path) -> None:
    schedule = Schedule(
        name="octorunbook-renew",
        at="03:17",
        params_path=tmp_path / "params.yaml",
        octorunbook="/opt/venv/bin/octorunbook",
        secret_envs=("CA_EAB_HMAC", "PORTAL_HOOKS"),
    )
    for render in (unit_texts, crontab_line):
        with pytest.raises(InputError) as refused:
            render(schedule)
        assert refused.value.code == "SCHEDULE_SECRET_UNSUPPORTED"
        assert "CA_EAB_HMAC, PORTAL_HOOKS" in refused.value.message


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["--at", "25:00"], "SCHEDULE_TIME_INVALID"),
        (["--at", "3pm"], "SCHEDULE_TIME_INVALID"),
        (["--name", "my renewal"], "SCHEDULE_NAME_INVALID"),
        (["--name", "../../etc/x"], "SCHEDULE_NAME_INVALID"),
    ],
)
def test_bad_time_or_name_is_refused_before_anything_is_written(
    tmp_path: Path, run_cli: Any, args: list[str], code: str
) -> None:
    done = run_cli("install", str(write_params(tmp_path)), "--platform", "systemd", "--user", *args)
    assert done.returncode == 2 and code in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "xdg").exists()


def test_a_windows_target_is_not_scheduled_on_linux(tmp_path: Path, run_cli: Any) -> None:
    done = run_cli("install", str(write_params(tmp_path, target="windows")), "--platform", "cron")
    assert done.returncode == 1 and "SCHEDULE_TARGET_ELSEWHERE" in done.stderr


# -- a value a scheduler would read as syntax (issue 24) --------------------------------------------------
def broken_params(tmp_path: Path) -> Path:
    """A real parameter file in a folder whose name holds a line break and a would-be second directive."""
    folder = tmp_path / "x\nExecStart=touch pwned"
    folder.mkdir()
    return write_params(folder)


def test_a_line_break_in_the_params_path_is_refused_for_systemd_and_nothing_is_written(
    tmp_path: Path, run_cli: Any
) -> None:
    done = run_cli("install", str(broken_params(tmp_path)), "--platform", "systemd", "--user")
    assert done.returncode == 2 and "RENDER_UNSAFE" in done.stderr and "Traceback" not in done.stderr
    assert "a systemd unit" in done.stderr
    assert not (tmp_path / "xdg").exists()


def test_a_line_break_in_the_params_path_is_refused_for_cron_and_no_line_is_printed(
    tmp_path: Path, run_cli: Any
) -> None:
    done = run_cli("install", str(broken_params(tmp_path)), "--platform", "cron")
    assert done.returncode == 2 and "RENDER_UNSAFE" in done.stderr and "a crontab line" in done.stderr
    assert "* * *" not in done.stdout and "nothing was installed" not in done.stdout


@pytest.mark.windows
def test_a_line_break_in_the_params_path_is_refused_for_the_scheduled_task(
    win: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    params = broken_params(tmp_path)
    assert main(["schedule", "install", str(params), "--platform", "windows"]) == 2
    err = capsys.readouterr().err
    assert "SCHEDULE_PATH_UNUSABLE" in err and "control character U+000A" in err
    assert "\nExecStart" not in err  # the value is quoted, never printed as a second line
    assert win.calls("powershell") == []


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed here")
def test_units_written_through_the_cli_pass_systemd_analyze_verify_with_one_exec_start(
    tmp_path: Path, run_cli: Any
) -> None:
    folder = tmp_path / "odd folder 100% $HOME 'q' \"d\" \\b; x"
    folder.mkdir()
    params = write_params(folder)
    done = run_cli("install", str(params), "--platform", "systemd", "--user")
    assert done.returncode == 0, done.stderr
    service = tmp_path / "xdg" / "systemd" / "user" / "octorunbook-renew.service"
    text = service.read_text()
    assert text.count("ExecStart=") == 1 and text.count("WorkingDirectory=") == 1
    verified = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(service)], capture_output=True, text=True, check=False
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "not absolute" not in verified.stderr and "Ignoring" not in verified.stderr, verified.stderr


@pytest.mark.windows
@settings(max_examples=200, deadline=None)
@given(st.text(max_size=30), st.text(max_size=30))
def test_the_task_arguments_the_script_builds_read_back_as_the_values_or_are_refused(
    folder: str, exe: str
) -> None:
    """register_argv's checks are enough for the string register-renewal-task.ps1 concatenates."""
    schedule = Schedule(
        "renew", "03:17", Path("C:/drop", folder, "p.yaml"), "C:\\o\\" + exe, "PW", secret_envs=("PW",)
    )
    try:
        argv = register_argv(schedule, Path("C:/ProgramData/octorunbook/secrets/renew.dpapi"))
    except InputError as exc:
        assert exc.code == "RENDER_UNSAFE"
        return
    named = dict(zip(argv[::2], argv[1::2], strict=True))
    runner = "C:\\Program Files\\octorunbook\\run-renewal-task.ps1"
    arguments = (  # as the script writes them
        f'-NoProfile -NonInteractive -ExecutionPolicy Bypass -File "{runner}"'
        f' -Octorunbook "{named["-Octorunbook"]}" -Subcommand "{named["-Subcommand"]}"'
        f' -ParamsPath "{named["-ParamsPath"]}" -SecretPath "{named["-SecretPath"]}" -SecretNames PW'
    )
    assert "%" not in arguments  # the Task Scheduler would expand %VAR%
    words = windows_argv(arguments)
    assert words[words.index("-Octorunbook") + 1] == schedule.octorunbook
    assert words[words.index("-ParamsPath") + 1] == str(schedule.params_path)
    assert len(words) == 16
