"""Contract tests: the Windows state folder is SYSTEM + Administrators only from creation, or refused.

``%ProgramData%`` lets ordinary users create folders, so a state folder (or the DPAPI secret of the
scheduled task) found there proves nothing until its owner and DACL are read. The stand-in
``powershell`` answers ``protect-state-folder.ps1`` from the owners and DACLs kept in
``tests/fakes/acl_powershell.py``; these tests assert the exact argv octorunbook issues, that nothing
is created or written when a folder is refused, and what the shipped PowerShell says it does.
"""

from __future__ import annotations

import re
import stat
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from octorunbook.cli.main import main
from octorunbook.commands import CommandRunner
from octorunbook.findings import OctorunbookError
from octorunbook.targets.state import StateHome
from octorunbook.targets.windows import WindowsFolderGuard, windows_state_guard
from octorunbook.targets.windows.powershell import POWERSHELL_OPTIONS, SCRIPTS_DIR, script_path
from octorunbook.targets.windows.state_acl import FolderReport, SecurityFacts, private_problems

try:
    from fakes import FakeWindows, raises_code
except ImportError:  # tests/ is a package
    from tests.fakes import FakeWindows, raises_code

pytestmark = pytest.mark.windows

FAKES = Path(__file__).resolve().parents[2] / "fakes"
sys.path.insert(0, str(FAKES))
from acl_powershell import (  # noqa: E402
    A_USER,
    ADMINISTRATORS,
    AUTHENTICATED_USERS,
    CREATE_FILES_AND_FOLDERS,
    CREATOR_OWNER,
    EVERYONE,
    FULL_CONTROL,
    INHERIT_ONLY,
    MODIFY,
    SYSTEM,
    USERS,
    private_folder,
    program_data_inherited,
    rule,
)

DELETE_CHILD = 0x40
READ_ATTRIBUTES_AND_SYNCHRONIZE = 0x100080
GENERIC_READ = 0x80000000


@pytest.fixture
def program_data(tmp_path: Path) -> Path:
    folder = tmp_path / "ProgramData"
    folder.mkdir()
    return folder


@pytest.fixture
def state(program_data: Path) -> Path:
    return program_data / "octorunbook"


@pytest.fixture
def guard(fake: FakeWindows, runner: CommandRunner) -> WindowsFolderGuard:
    return WindowsFolderGuard(runner)


def ps(name: str, *arguments: str) -> list[str]:
    """The argv the stand-in receives after the executable."""
    return [*POWERSHELL_OPTIONS, "-File", str(script_path(name)), *arguments]


def inspect_argv(folder: Path) -> list[str]:
    return ps("protect-state-folder.ps1", "-Path", str(folder))


def create_argv(folder: Path) -> list[str]:
    return ps("protect-state-folder.ps1", "-Path", str(folder), "-Create")


def private_with(*extra: dict[str, Any], owner: str = ADMINISTRATORS) -> dict[str, Any]:
    entry = private_folder()
    return entry | {"owner": owner, "rules": entry["rules"] + list(extra)}


def refused(error: pytest.ExceptionInfo[OctorunbookError]) -> str:
    assert error.value.code == "STATE_DIR_UNSAFE"
    return error.value.message


# -- creating --------------------------------------------------------------------------------------
def test_a_missing_state_folder_is_read_first_then_created_with_its_final_acl(
    fake: FakeWindows, guard: WindowsFolderGuard, runner: CommandRunner, state: Path
) -> None:
    guard.protect(state)
    assert fake.argvs("powershell") == [inspect_argv(state), create_argv(state)]
    assert [r.mutating for r in runner.records] == [False, True]
    assert state.is_dir()
    assert fake.acls()[str(state)] == private_folder()


def test_missing_folders_above_a_subfolder_are_created_protected_too(
    fake: FakeWindows, guard: WindowsFolderGuard, state: Path
) -> None:
    secrets = state / "secrets"
    guard.protect(secrets)
    assert fake.argvs("powershell") == [inspect_argv(secrets), create_argv(secrets)]
    assert fake.acls() == {str(state): private_folder(), str(secrets): private_folder()}


def test_an_existing_private_folder_is_accepted_with_one_read_that_changes_nothing(
    fake: FakeWindows, guard: WindowsFolderGuard, runner: CommandRunner, state: Path
) -> None:
    state.mkdir()
    fake.set_acl(state, private_folder())
    guard.protect(state)
    assert fake.argvs("powershell") == [inspect_argv(state)]
    assert runner.mutating_records == []


@pytest.mark.parametrize(
    "extra",
    [
        rule(USERS, READ_ATTRIBUTES_AND_SYNCHRONIZE),  # can see the folder is there, not what it holds
        rule(EVERYONE, FULL_CONTROL, allow=False),  # a deny rule only takes away
    ],
    ids=["users-read-attributes", "everyone-denied"],
)
def test_rules_that_give_nobody_else_data_or_write_access_are_accepted(
    fake: FakeWindows, guard: WindowsFolderGuard, state: Path, extra: dict[str, Any]
) -> None:
    state.mkdir()
    fake.set_acl(state, private_with(extra))
    guard.protect(state)


def test_a_folder_owned_by_system_is_accepted(
    fake: FakeWindows, guard: WindowsFolderGuard, state: Path
) -> None:
    state.mkdir()
    fake.set_acl(state, private_with(owner=SYSTEM))
    guard.protect(state)


# -- refusing an existing folder: STATE_DIR_UNSAFE, one read, nothing written ----------------------
REFUSED = {
    "owned-by-a-user": (private_with(owner=A_USER), f"owned by {A_USER}"),
    "users-may-write": (private_with(rule(USERS, MODIFY)), "BUILTIN\\Users"),
    "authenticated-users-create-files": (
        private_with(rule(AUTHENTICATED_USERS, CREATE_FILES_AND_FOLDERS)),
        "Authenticated Users create files",
    ),
    "everyone-full-control": (private_with(rule(EVERYONE, FULL_CONTROL)), "Everyone full control"),
    "creator-owner-on-children": (
        private_with(rule(CREATOR_OWNER, FULL_CONTROL, propagation=INHERIT_ONLY)),
        "CREATOR OWNER",
    ),
    "users-may-read-the-key": (private_with(rule(USERS, GENERIC_READ)), "read (generic)"),
    "inherited-from-programdata": (program_data_inherited(), "inherited rule gives BUILTIN\\Users"),
    "unprotected-dacl": (private_folder() | {"protected": False}, "not protected"),
    "callback-ace": (private_folder() | {"sddl_extra": "(XA;;FA;;;WD;(Member_of {SID(BA)}))"}, "XA"),
}


@pytest.mark.parametrize("entry, why", REFUSED.values(), ids=REFUSED.keys())
def test_an_existing_folder_others_control_is_refused_and_nothing_is_written(
    fake: FakeWindows,
    guard: WindowsFolderGuard,
    runner: CommandRunner,
    state: Path,
    entry: dict[str, Any],
    why: str,
) -> None:
    state.mkdir()
    (state / "planted.json").write_text("{}")
    fake.set_acl(state, entry)
    with pytest.raises(OctorunbookError) as error:
        guard.protect(state)
    assert why in refused(error)
    assert error.value.finding.details["state_dir"] == str(state)
    assert "Rename-Item" in error.value.remedy and "Nothing was changed" in error.value.remedy
    assert fake.argvs("powershell") == [inspect_argv(state)]
    assert runner.mutating_records == []
    assert sorted(p.name for p in state.iterdir()) == ["planted.json"]
    assert fake.acls()[str(state)] == entry


def test_a_folder_made_without_the_guard_inherits_programdata_and_is_refused(
    fake: FakeWindows, guard: WindowsFolderGuard, state: Path
) -> None:
    state.mkdir()  # e.g. by mkdir or an older octorunbook: no descriptor of ours
    with raises_code("STATE_DIR_UNSAFE"):
        guard.protect(state)


def test_a_junction_in_place_of_the_folder_is_refused_never_followed(
    fake: FakeWindows, guard: WindowsFolderGuard, state: Path, tmp_path: Path
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    fake.set_acl(elsewhere, private_folder())
    state.symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(OctorunbookError) as error:
        guard.protect(state)
    assert "link or junction" in refused(error)
    assert list(elsewhere.iterdir()) == []


# -- refusing because of a folder above ------------------------------------------------------------
@pytest.mark.parametrize(
    "entry, why",
    [
        (private_with(owner=A_USER), "owned by"),
        (private_with(rule(USERS, DELETE_CHILD | CREATE_FILES_AND_FOLDERS)), "delete children"),
        (private_with(rule(AUTHENTICATED_USERS, MODIFY)), "Authenticated Users"),
    ],
    ids=["owned-by-a-user", "users-delete-children", "authenticated-users-modify"],
)
def test_a_folder_above_that_others_could_swap_is_refused_before_anything_is_created(
    fake: FakeWindows,
    guard: WindowsFolderGuard,
    runner: CommandRunner,
    program_data: Path,
    state: Path,
    entry: dict[str, Any],
    why: str,
) -> None:
    fake.set_acl(program_data, entry)
    with pytest.raises(OctorunbookError) as error:
        guard.protect(state)
    assert why in refused(error) and "above it" in refused(error)
    assert fake.argvs("powershell") == [inspect_argv(state)]
    assert runner.mutating_records == [] and not state.exists()


def test_programdatas_own_acl_above_the_folder_is_accepted(
    fake: FakeWindows, guard: WindowsFolderGuard, program_data: Path, state: Path
) -> None:
    # Users may create folders in ProgramData and CREATOR OWNER rules pass to children: neither lets
    # anyone replace a folder that belongs to Administrators.
    fake.set_acl(program_data, program_data_inherited())
    guard.protect(state)
    assert fake.acls()[str(state)] == private_folder()


# -- what creation can go wrong with ---------------------------------------------------------------
def test_a_folder_someone_else_made_first_is_refused_after_reading_back(
    fake: FakeWindows, guard: WindowsFolderGuard, state: Path
) -> None:
    fake.scenario("state_folder_race")
    with pytest.raises(OctorunbookError) as error:
        guard.protect(state)
    assert f"owned by {A_USER}" in refused(error)
    assert error.value.finding.details["created"] == [str(state)]


def test_creating_without_elevation_is_not_elevated(
    fake: FakeWindows, guard: WindowsFolderGuard, state: Path
) -> None:
    fake.scenario("not_elevated")
    with raises_code("NOT_ELEVATED"):
        guard.protect(state)
    assert not state.exists()


# -- the state home opened with the guard ----------------------------------------------------------
def test_the_state_home_of_a_windows_target_opens_through_the_guard(
    fake: FakeWindows, runner: CommandRunner, state: Path
) -> None:
    guard = windows_state_guard(runner)
    assert isinstance(guard, WindowsFolderGuard)
    home = StateHome.open(state, "windows:octo-win01:octopusserver", guard)
    home.write("memory.json", "memory", {"thumbprint": "AB" * 20})
    assert home.read("memory.json", "memory") == {"thumbprint": "AB" * 20}
    assert fake.argvs("powershell")[:2] == [inspect_argv(state), create_argv(state)]


def test_a_refused_state_home_reads_and_writes_nothing(
    fake: FakeWindows, runner: CommandRunner, state: Path
) -> None:
    state.mkdir()
    fake.set_acl(state, private_with(owner=A_USER))
    with raises_code("STATE_DIR_UNSAFE"):
        StateHome.open(state, "windows:octo-win01:octopusserver", windows_state_guard(runner))
    assert list(state.iterdir()) == []


# -- the JSON boundary -----------------------------------------------------------------------------
def test_facts_parse_a_single_rule_and_a_negative_mask_as_powershell_51_prints_them() -> None:
    facts = SecurityFacts.from_json(
        {
            "path": "C:\\ProgramData\\octorunbook",
            "exists": True,
            "owner_sid": ADMINISTRATORS,
            "protected": True,
            "rules": rule(USERS, GENERIC_READ),  # one element, unwrapped; 0x80000000 as a signed int
        }
    )
    assert len(facts.rules) == 1 and facts.rules[0].rights == GENERIC_READ
    assert private_problems(facts) == ["a rule gives BUILTIN\\Users read (generic)"]


@pytest.mark.parametrize(
    "folder",
    [
        {"path": "C:\\x", "exists": True, "owner_sid": "BUILTIN\\Administrators", "protected": True},
        {
            "path": "C:\\x",
            "exists": True,
            "owner_sid": ADMINISTRATORS,
            "rules": [rule(USERS, 1) | {"type": "Audit"}],
        },
        {
            "path": "C:\\x",
            "exists": True,
            "owner_sid": ADMINISTRATORS,
            "rules": [rule(USERS, 1) | {"rights": "Read"}],
        },
        None,
    ],
    ids=["owner-not-a-sid", "unknown-rule-type", "rights-not-a-mask", "no-facts"],
)
def test_facts_the_script_should_not_print_are_refused_at_the_boundary(folder: Any) -> None:
    with pytest.raises(ValueError):
        FolderReport.from_json({"status": "ok", "path": "C:\\x", "folder": folder, "ancestors": []})


# -- the DPAPI secret of the scheduled task --------------------------------------------------------
@pytest.fixture
def win(
    fake: FakeWindows, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, program_data: Path
) -> FakeWindows:
    """The stand-in powershell answering the scheduled-renewal scripts too."""
    wrapper = fake.bin / "powershell-schedule"
    wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKES / "schedule_powershell.py"}" "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("OCTORUNBOOK_POWERSHELL", str(wrapper))
    monkeypatch.setenv("ProgramData", str(program_data))
    monkeypatch.setenv("DROP_PFX_PASSWORD", "drop-password")
    return fake


def install_pfx_schedule(tmp_path: Path) -> int:
    params = tmp_path / "params.yaml"
    params.write_text(
        yaml.safe_dump(
            {
                "hostname": "octopus.example.com",
                "target": "windows",
                "certificate_source": "pfx",
                "pfx_path": "C:/drop/portal.pfx",
                "pfx_password_env": "DROP_PFX_PASSWORD",
                "audit_dir": "C:/octorunbook/audit",
            }
        )
    )
    return main(["schedule", "install", str(params), "--platform", "windows", "--no-dry-run"])


def test_the_secret_is_written_into_a_secrets_folder_made_private_first(
    win: FakeWindows, tmp_path: Path, state: Path
) -> None:
    assert install_pfx_schedule(tmp_path) == 0
    secrets = state / "secrets"
    names = [argv[len(POWERSHELL_OPTIONS) + 1] for argv in win.argvs("powershell")]
    assert [Path(n).name for n in names] == [
        "protect-state-folder.ps1",
        "protect-state-folder.ps1",
        "register-renewal-task.ps1",
    ]
    assert win.argvs("powershell")[:2] == [inspect_argv(secrets), create_argv(secrets)]
    assert win.acls()[str(secrets)] == private_folder()
    secret = secrets / "octorunbook-renew.secrets.dpapi"
    assert win.acls()[str(secret)]["protected"] is True


def test_a_secrets_folder_someone_else_made_refuses_before_the_password_is_handed_over(
    win: FakeWindows, tmp_path: Path, state: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (state / "secrets").mkdir(parents=True)
    win.set_acl(state, private_folder())
    win.set_acl(state / "secrets", program_data_inherited(owner=A_USER))
    assert install_pfx_schedule(tmp_path) == 1
    assert "STATE_DIR_UNSAFE" in capsys.readouterr().err
    assert [Path(a[len(POWERSHELL_OPTIONS) + 1]).name for a in win.argvs("powershell")] == [
        "protect-state-folder.ps1"
    ]
    assert list((state / "secrets").iterdir()) == []


def test_a_secret_whose_read_back_acl_is_not_private_fails_the_install(
    win: FakeWindows, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    win.scenario("secret_acl_inherited")
    assert install_pfx_schedule(tmp_path) == 1
    err = capsys.readouterr().err
    assert "SCHEDULE_SECRET_NOT_PROTECTED" in err and "not protected" in err


# -- what the shipped PowerShell says it does ------------------------------------------------------
def code_of(name: str) -> str:
    """A script without its comment-based help and comment lines."""
    text = re.sub(r"<#.*?#>", "", (SCRIPTS_DIR / name).read_text(encoding="utf-8"), flags=re.S)
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))


def function_of(name: str) -> str:
    text = code_of("_common.ps1")
    start = text.index(f"function {name} {{")
    return text[start : text.index("\n}\n", start)]


def test_the_private_descriptor_is_protected_owned_by_administrators_and_names_only_well_known_sids() -> None:
    body = function_of("New-OctorunbookPrivateSecurity")
    assert "$security.SetAccessRuleProtection($true, $false)" in body  # protected, inherited rules dropped
    assert (
        "$security.SetOwner((New-Object System.Security.Principal.SecurityIdentifier -ArgumentList 'S-1-5-32-544'))"
        in body
    )
    assert "foreach ($sid in @('S-1-5-18', 'S-1-5-32-544'))" in body
    assert "FileSystemRights]::FullControl" in body and "'ContainerInherit, ObjectInherit'" in body
    assert not re.search(r"Administrators'|'SYSTEM'|NT AUTHORITY|BUILTIN\\", body)  # never a translated name


def test_the_state_folder_is_created_with_its_descriptor_never_created_then_changed() -> None:
    code = code_of("protect-state-folder.ps1")
    assert "[void][System.IO.Directory]::CreateDirectory($folder, $security)" in code
    assert "$security = New-OctorunbookPrivateSecurity -Folder $true" in code
    for later in ("New-Item", "Set-Acl", "icacls", "mkdir"):
        assert later not in code
    assert "if ($Create) {" in code  # without -Create the script only reads


def test_the_security_facts_are_sids_and_masks_and_never_follow_a_link() -> None:
    body = function_of("Get-OctorunbookSecurityFacts")
    assert "$acl.GetOwner($sidType)" in body and "$acl.GetAccessRules($true, $true, $sidType)" in body
    assert "[bool]$acl.AreAccessRulesProtected" in body and "[int]$rule.FileSystemRights" in body
    assert body.index("if ($facts.reparse_point) { return $facts }") < body.index("Get-Acl -LiteralPath")


def test_the_dpapi_secret_is_created_new_with_its_final_acl_from_the_first_byte() -> None:
    code = code_of("register-renewal-task.ps1")
    assert "$security = New-OctorunbookPrivateSecurity -Folder $false" in code
    assert (
        "New-Object System.IO.FileStream -ArgumentList $SecretPath, ([System.IO.FileMode]::CreateNew),"
        in code
    )
    assert "([System.IO.FileOptions]::WriteThrough), $security" in code
    assert "$secretAcl = Get-OctorunbookSecurityFacts -LiteralPath $SecretPath" in code
    for window in ("WriteAllBytes", "Set-Acl", "New-Item"):
        assert window not in code  # no write-then-protect, no folder made with the inherited ACL


def test_a_file_in_place_of_the_folder_is_refused(
    fake: FakeWindows, guard: WindowsFolderGuard, state: Path
) -> None:
    state.write_text("not a folder")
    fake.set_acl(state, private_folder())
    with pytest.raises(OctorunbookError) as error:
        guard.protect(state)
    assert "a file, not a folder" in refused(error)


def test_an_entry_after_a_conditional_ace_is_still_judged() -> None:
    facts = SecurityFacts.from_json(
        {
            "path": "C:\\x",
            "exists": True,
            "folder": True,
            "owner_sid": ADMINISTRATORS,
            "protected": True,
            "sddl": "O:BAD:PAI(A;OICI;FA;;;SY)(XA;;FA;;;WD;(Member_of {SID(BA)}))(OA;;FA;;;BU)",
        }
    )
    assert facts.ace_types == {"A", "XA", "OA"}
    assert private_problems(facts) == ["its DACL holds entries of a kind octorunbook does not judge (OA, XA)"]
