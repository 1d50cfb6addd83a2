"""Contract tests: the Windows certificate store, host probe and target, through real subprocesses.

The stand-in ``powershell`` (tests/fakes) binds arguments against each real script's ``param()`` block
and prints the JSON shape the script documents; these tests assert the exact argv octorunbook issues
and what it makes of every documented outcome.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from octorunbook.commands import CommandRunner
from octorunbook.findings import InputError, OctorunbookError, TargetError
from octorunbook.redaction import Secret
from octorunbook.targets.base import StoredCertificate
from octorunbook.targets.localmachine import LocalMachineStore
from octorunbook.targets.windows import (
    WindowsCertificateStore,
    find_server_exe,
    open_windows_target,
    probe_host,
    require_elevated,
)
from octorunbook.targets.windows.powershell import (
    SCRIPTS_DIR,
    extract_json_object,
    iso_utc,
    normalise,
    strings,
)
from tests.drivers import httpsys_of, octopus_of

try:
    from fakes import FakeWindows, install, make_pfx, raises_code, thumbprint
except ImportError:  # tests/ is a package
    from tests.fakes import FakeWindows, install, make_pfx, raises_code, thumbprint

pytestmark = pytest.mark.windows

PASSWORD = "correct horse battery staple"
OPTIONS = ["-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass", "-File"]


@pytest.fixture
def store(runner: CommandRunner) -> WindowsCertificateStore:
    return WindowsCertificateStore(runner)


@pytest.fixture
def pfx(tmp_path: Path) -> tuple[Path, x509.Certificate]:
    path = tmp_path / "octopus.pfx"
    return path, make_pfx(path, PASSWORD, dns=("octopus.example.com", "octopus"))


def script(name: str) -> str:
    return str(SCRIPTS_DIR / name)


def expected(fake: FakeWindows, name: str, *args: str) -> list[str]:
    """argv as the stand-in received it (argv[0] is the wrapper itself)."""
    return [*OPTIONS, script(name), *args]


# -- argv, exactly --------------------------------------------------------------------------------
def test_store_exists_runs_the_script_with_the_exact_argv(
    fake: FakeWindows, store: WindowsCertificateStore, runner: CommandRunner
) -> None:
    assert store.store_exists("WebHosting") is True
    assert fake.argvs("powershell") == [expected(fake, "store-exists.ps1", "-StoreName", "WebHosting")]
    assert list(runner.records[0].argv) == [
        fake.powershell,
        *expected(fake, "store-exists.ps1", "-StoreName", "WebHosting"),
    ]
    assert runner.records[0].mutating is False


def test_import_argv_is_exact_and_mutating(
    fake: FakeWindows,
    store: WindowsCertificateStore,
    runner: CommandRunner,
    pfx: tuple[Path, x509.Certificate],
) -> None:
    path, cert = pfx
    stored = store.import_pfx(path, Secret(PASSWORD), "My")
    assert fake.argvs("powershell") == [
        expected(fake, "import-pfx.ps1", "-StoreName", "My", "-FilePath", str(path.resolve()))
    ]
    assert runner.records[-1].mutating is True
    assert stored.thumbprint == thumbprint(cert)
    assert stored.has_private_key is True
    assert stored.key_exportable is False


def test_import_exportable_adds_the_switch_and_nothing_else(
    fake: FakeWindows, store: WindowsCertificateStore, pfx: tuple[Path, x509.Certificate]
) -> None:
    path, _ = pfx
    stored = store.import_pfx(path, Secret(PASSWORD), "WebHosting", exportable=True)
    assert fake.argvs("powershell") == [
        expected(
            fake,
            "import-pfx.ps1",
            "-StoreName",
            "WebHosting",
            "-FilePath",
            str(path.resolve()),
            "-Exportable",
        )
    ]
    assert stored.key_exportable is True
    assert stored.store == "WebHosting"


def test_get_test_list_remove_argv_are_exact(
    fake: FakeWindows,
    store: WindowsCertificateStore,
    runner: CommandRunner,
    pfx: tuple[Path, x509.Certificate],
) -> None:
    path, cert = pfx
    thumb = thumbprint(cert)
    store.import_pfx(path, Secret(PASSWORD), "My")
    store.get_certificate(thumb.lower(), "My")
    store.test_private_key(thumb, "My")
    store.list_certificates("My")
    store.remove_certificate(thumb, "My")
    assert fake.argvs("powershell")[1:] == [
        expected(fake, "get-certificate.ps1", "-StoreName", "My", "-Thumbprint", thumb),
        expected(fake, "test-private-key.ps1", "-StoreName", "My", "-Thumbprint", thumb),
        expected(fake, "list-certificates.ps1", "-StoreName", "My"),
        expected(fake, "remove-certificate.ps1", "-StoreName", "My", "-Thumbprint", thumb),
    ]
    assert [r.mutating for r in runner.records] == [True, False, False, False, True]


def test_host_info_and_find_server_exe_argv_are_exact(fake: FakeWindows, runner: CommandRunner) -> None:
    probe_host(runner)
    find_server_exe("", runner)
    assert fake.argvs("powershell") == [
        expected(fake, "host-info.ps1"),
        expected(fake, "find-server-exe.ps1"),
    ]


def test_every_script_octorunbook_runs_is_shipped_next_to_its_helper() -> None:
    for name in (
        "store-exists.ps1",
        "import-pfx.ps1",
        "get-certificate.ps1",
        "list-certificates.ps1",
        "test-private-key.ps1",
        "remove-certificate.ps1",
        "host-info.ps1",
        "find-server-exe.ps1",
        "_common.ps1",
    ):
        assert (SCRIPTS_DIR / name).is_file(), name


# -- secrets ---------------------------------------------------------------------------------------
@pytest.mark.canary
def test_canary_password_travels_only_in_the_child_environment(
    fake: FakeWindows, store: WindowsCertificateStore, runner: CommandRunner, tmp_path: Path
) -> None:
    canary = "canary-Pa55-7f3e9c1d"
    path = tmp_path / "canary.pfx"
    make_pfx(path, canary)
    store.import_pfx(path, Secret(canary), "My")
    (call,) = fake.calls("powershell")
    # The stand-in decrypted the PFX with what it found in its environment ...
    assert call["password_in_env"] is True
    assert call["password_sha256"] == hashlib.sha256(canary.encode()).hexdigest()
    assert "OCTORUNBOOK_PFX_PASSWORD_CHILD" in call["env_names"]
    # ... and the value is in no argv the stand-in saw, nor in the runner's records.
    assert canary not in fake.log_text()
    assert all(canary not in arg for arg in call["argv"])
    assert all(canary not in arg for record in runner.records for arg in record.argv)


def test_the_password_is_not_in_the_environment_of_other_scripts(
    fake: FakeWindows, store: WindowsCertificateStore, pfx: tuple[Path, x509.Certificate]
) -> None:
    path, cert = pfx
    store.import_pfx(path, Secret(PASSWORD), "My")
    store.test_private_key(thumbprint(cert), "My")
    assert [c["password_in_env"] for c in fake.calls("powershell")] == [True, False]


# -- documented outcomes ---------------------------------------------------------------------------
def test_import_round_trip_reads_back_what_windows_stored(
    fake: FakeWindows, store: WindowsCertificateStore, pfx: tuple[Path, x509.Certificate]
) -> None:
    path, cert = pfx
    thumb = thumbprint(cert)
    imported = store.import_pfx(path, Secret(PASSWORD), "My")
    assert isinstance(imported, StoredCertificate)
    assert imported.dns_names == ("octopus.example.com", "octopus")
    assert imported.eku_oids == ("1.3.6.1.5.5.7.3.1",)
    assert imported.not_before == "2026-01-01T00:00:00Z"
    assert imported.not_after == "2026-04-01T00:00:00Z"
    assert imported.key_provider == "Microsoft Enhanced RSA and AES Cryptographic Provider (CryptoAPI)"
    assert store.get_certificate(thumb, "My") == imported
    check = store.test_private_key(thumb, "My")
    assert check.usable is True
    assert check.algorithm == "RSA 2048"
    assert [c.thumbprint for c in store.list_certificates("My")] == [thumb]
    store.remove_certificate(thumb, "My")
    assert store.get_certificate(thumb, "My") is None
    store.remove_certificate(thumb, "My")  # already gone: rollback is idempotent


def test_cng_key_provider_is_reported(
    fake: FakeWindows, store: WindowsCertificateStore, pfx: tuple[Path, x509.Certificate]
) -> None:
    fake.scenario("cng")
    path, cert = pfx
    stored = store.import_pfx(path, Secret(PASSWORD), "My")
    assert stored.key_provider == "Microsoft Software Key Storage Provider (CNG)"
    assert store.test_private_key(thumbprint(cert), "My").provider == stored.key_provider


def test_ecdsa_certificates_are_read_and_proven(
    fake: FakeWindows, store: WindowsCertificateStore, tmp_path: Path
) -> None:
    path = tmp_path / "ec.pfx"
    cert = make_pfx(path, PASSWORD, key_type="ec")
    store.import_pfx(path, Secret(PASSWORD), "My")
    check = store.test_private_key(thumbprint(cert), "My")
    assert check.usable and check.algorithm == "ECDSA 256"


def test_import_into_missing_webhosting_stops_with_store_missing_and_creates_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pfx: tuple[Path, x509.Certificate]
) -> None:
    fake = install(tmp_path, monkeypatch, stores=("My",))
    store = WindowsCertificateStore(CommandRunner(timeout=60))
    assert store.store_exists("WebHosting") is False
    path, _ = pfx
    with pytest.raises(TargetError) as caught:
        store.import_pfx(path, Secret(PASSWORD), "WebHosting")
    assert caught.value.code == "STORE_MISSING"
    assert "My" in caught.value.remedy and "IIS" in caught.value.remedy
    assert not fake.store_dir("WebHosting").exists()


def test_webhosting_missing_scenario_for_every_reader(
    fake: FakeWindows, store: WindowsCertificateStore
) -> None:
    fake.scenario("webhosting_missing")
    assert store.store_exists("WebHosting") is False
    thumb = "A" * 40
    for call in (
        lambda: store.get_certificate(thumb, "WebHosting"),
        lambda: store.list_certificates("WebHosting"),
        lambda: store.test_private_key(thumb, "WebHosting"),
        lambda: store.remove_certificate(thumb, "WebHosting"),
    ):
        with raises_code("STORE_MISSING"):
            call()


def test_import_wrong_password_says_it_may_be_aes_on_server_2016(
    fake: FakeWindows, store: WindowsCertificateStore, pfx: tuple[Path, x509.Certificate]
) -> None:
    path, _ = pfx
    with pytest.raises(InputError) as caught:
        store.import_pfx(path, Secret("not the password"), "My")
    assert caught.value.code == "PFX_WRONG_PASSWORD"
    assert "AES-256" in caught.value.message and "2016" in caught.value.message
    assert "0x80070056" in caught.value.message
    assert "TripleDES" in caught.value.remedy


def test_import_wrong_password_scenario_even_with_the_right_password(
    fake: FakeWindows, store: WindowsCertificateStore, pfx: tuple[Path, x509.Certificate]
) -> None:
    fake.scenario("wrong_password")
    with raises_code("PFX_WRONG_PASSWORD"):
        store.import_pfx(pfx[0], Secret(PASSWORD), "My")


def test_import_refuses_pfx_without_private_key(
    fake: FakeWindows, store: WindowsCertificateStore, tmp_path: Path
) -> None:
    path = tmp_path / "nokey.pfx"
    make_pfx(path, PASSWORD, with_key=False)
    with pytest.raises(InputError) as caught:
        store.import_pfx(path, Secret(PASSWORD), "My")
    assert caught.value.code == "PFX_NO_PRIVATE_KEY"
    assert list(fake.store_dir("My").iterdir()) == []


def test_import_no_key_scenario(
    fake: FakeWindows, store: WindowsCertificateStore, pfx: tuple[Path, x509.Certificate]
) -> None:
    fake.scenario("no_key")
    with raises_code("PFX_NO_PRIVATE_KEY"):
        store.import_pfx(pfx[0], Secret(PASSWORD), "My")


def test_import_not_elevated(
    fake: FakeWindows, store: WindowsCertificateStore, pfx: tuple[Path, x509.Certificate]
) -> None:
    fake.scenario("not_elevated")
    with raises_code("NOT_ELEVATED"):
        store.import_pfx(pfx[0], Secret(PASSWORD), "My")


def test_import_other_failure_is_import_failed_with_the_windows_message(
    fake: FakeWindows, store: WindowsCertificateStore, pfx: tuple[Path, x509.Certificate]
) -> None:
    fake.scenario("import_error")
    with pytest.raises(OctorunbookError) as caught:
        store.import_pfx(pfx[0], Secret(PASSWORD), "My")
    assert caught.value.code == "IMPORT_FAILED"
    assert "An internal error occurred." in caught.value.message


def test_import_of_a_missing_file_runs_nothing(
    fake: FakeWindows, store: WindowsCertificateStore, tmp_path: Path
) -> None:
    with raises_code("FILE_NOT_FOUND"):
        store.import_pfx(tmp_path / "missing.pfx", Secret(PASSWORD), "My")
    assert fake.calls() == []


def test_keyset_does_not_exist_is_key_not_accessible(
    fake: FakeWindows, store: WindowsCertificateStore, pfx: tuple[Path, x509.Certificate]
) -> None:
    path, cert = pfx
    store.import_pfx(path, Secret(PASSWORD), "My")
    fake.scenario("keyset_missing")
    stored = store.get_certificate(thumbprint(cert), "My")
    assert stored is not None and stored.has_private_key is True and stored.key_provider == ""
    with pytest.raises(TargetError) as caught:
        store.test_private_key(thumbprint(cert), "My")
    assert caught.value.code == "KEY_NOT_ACCESSIBLE"
    assert "Keyset does not exist" in caught.value.message
    assert "0x80090016" in caught.value.message


def test_a_key_that_signs_but_does_not_verify_is_not_usable(
    fake: FakeWindows, store: WindowsCertificateStore, pfx: tuple[Path, x509.Certificate]
) -> None:
    path, cert = pfx
    store.import_pfx(path, Secret(PASSWORD), "My")
    fake.scenario("verify_failed")
    check = store.test_private_key(thumbprint(cert), "My")
    assert check.usable is False
    assert "does not belong" in check.detail


def test_testing_the_key_of_a_missing_certificate_is_cert_not_found(
    fake: FakeWindows, store: WindowsCertificateStore
) -> None:
    with raises_code("CERT_NOT_FOUND"):
        store.test_private_key("ab" * 20, "My")


def test_ps51_dates_never_reach_the_value_objects(
    fake: FakeWindows, store: WindowsCertificateStore, pfx: tuple[Path, x509.Certificate]
) -> None:
    path, cert = pfx
    fake.scenario("ps51_dates")
    imported = store.import_pfx(path, Secret(PASSWORD), "My")
    listed = store.list_certificates("My")
    got = store.get_certificate(thumbprint(cert), "My")
    for value in (imported, got, *listed):
        assert value is not None
        assert "Date(" not in json.dumps(value.to_record())
        assert value.not_before == "2026-01-01T00:00:00Z"
        assert value.not_after == "2026-04-01T00:00:00Z"


def test_text_around_the_json_is_ignored(
    fake: FakeWindows, store: WindowsCertificateStore, pfx: tuple[Path, x509.Certificate]
) -> None:
    path, cert = pfx
    fake.scenario("garbage_before_json", "utf8_bom")
    assert store.import_pfx(path, Secret(PASSWORD), "My").thumbprint == thumbprint(cert)
    assert store.store_exists("My") is True


def test_no_json_at_all_is_powershell_output_unreadable(
    fake: FakeWindows, store: WindowsCertificateStore
) -> None:
    fake.scenario("no_json")
    with pytest.raises(TargetError) as caught:
        store.store_exists("My")
    assert caught.value.code == "POWERSHELL_OUTPUT_UNREADABLE"
    assert "running scripts is disabled" in caught.value.message


def test_bad_thumbprint_or_store_is_refused_before_anything_runs(
    fake: FakeWindows, store: WindowsCertificateStore
) -> None:
    with raises_code("THUMBPRINT_INVALID"):
        store.get_certificate("not-a-thumbprint", "My")
    with raises_code("STORE_INVALID"):
        store.list_certificates("My\\..\\Root")
    assert fake.calls() == []


def test_thumbprint_with_the_mmc_invisible_prefix_and_spaces_is_cleaned(
    fake: FakeWindows, store: WindowsCertificateStore
) -> None:
    assert store.get_certificate("\u200e" + " ".join(["ab"] * 20), "My") is None
    assert fake.argvs("powershell")[0][-1] == "AB" * 20


def test_certificate_pem_is_the_public_certificate(
    fake: FakeWindows, store: WindowsCertificateStore, pfx: tuple[Path, x509.Certificate]
) -> None:
    path, cert = pfx
    store.import_pfx(path, Secret(PASSWORD), "My")
    pem = store.certificate_pem(thumbprint(cert), "My")
    assert pem is not None and b"PRIVATE" not in pem
    assert x509.load_pem_x509_certificate(pem) == cert
    assert store.certificate_pem("cd" * 20, "My") is None


# -- host ------------------------------------------------------------------------------------------
def test_probe_host_reports_build_and_elevation(fake: FakeWindows, runner: CommandRunner) -> None:
    info = probe_host(runner)
    assert info.windows_build == 17763 and info.elevated is True and info.computer_name == "OCTO-WIN01"
    assert "Windows Server 2019" in info.os and "PowerShell 5.1" in info.os
    require_elevated(info)


def test_probe_host_on_server_2016_not_elevated(fake: FakeWindows, runner: CommandRunner) -> None:
    fake.scenario("windows_2016", "not_elevated")
    info = probe_host(runner)
    assert info.windows_build == 14393 and info.elevated is False
    with raises_code("NOT_ELEVATED"):
        require_elevated(info)


def test_find_server_exe_prefers_the_parameter(fake: FakeWindows, runner: CommandRunner) -> None:
    assert find_server_exe(fake.server_exe, runner) == fake.server_exe
    assert fake.calls() == []


def test_find_server_exe_parameter_that_does_not_exist(
    fake: FakeWindows, runner: CommandRunner, tmp_path: Path
) -> None:
    with raises_code("SERVER_EXE_NOT_FOUND"):
        find_server_exe(str(tmp_path / "nowhere" / "Octopus.Server.exe"), runner)


def test_find_server_exe_from_the_registry(fake: FakeWindows, runner: CommandRunner) -> None:
    assert find_server_exe("", runner) == fake.server_exe


def test_find_server_exe_not_installed(fake: FakeWindows, runner: CommandRunner) -> None:
    fake.scenario("server_exe_missing")
    with pytest.raises(TargetError) as caught:
        find_server_exe("", runner)
    assert caught.value.code == "SERVER_EXE_NOT_FOUND"
    assert "Octopus Deploy\\Octopus\\Octopus.Server.exe" in caught.value.message
    assert "server_exe" in caught.value.remedy


# -- target ----------------------------------------------------------------------------------------
def test_open_windows_target_wires_the_stand_ins_and_probes_once(
    fake: FakeWindows, runner: CommandRunner, tmp_path: Path
) -> None:
    target = open_windows_target(
        instance="OctopusServer", server_exe="", runner=runner, state_dir=tmp_path / "state"
    )
    assert target.kind == "windows"
    assert target.instance == "OctopusServer"
    assert octopus_of(target).exe == fake.server_exe
    assert httpsys_of(target).exe == fake.netsh
    store = target.parts.store
    assert isinstance(store, LocalMachineStore) and isinstance(store.driver, WindowsCertificateStore)
    assert (store.name, store.family, store.kind) == ("My", "localmachine", "WindowsCertificateStore")
    assert target.endpoint(443) == ("127.0.0.1", 443)
    first = target.host_info()
    assert target.host_info() is first
    assert [Path(a[len(OPTIONS)]).name for a in fake.argvs("powershell")] == [
        "find-server-exe.ps1",
        "host-info.ps1",
    ]


def test_open_windows_target_state_dir_defaults_to_programdata(
    fake: FakeWindows, runner: CommandRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ProgramData", str(tmp_path / "ProgramData"))
    target = open_windows_target(instance="OctopusServer", server_exe=fake.server_exe, runner=runner)
    assert target.state_dir == tmp_path / "ProgramData" / "octorunbook"


# -- parsing, at the boundary ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "iso"),
    [
        ("/Date(1767225600000)/", "2026-01-01T00:00:00Z"),
        ("/Date(1767225600000+0100)/", "2026-01-01T00:00:00Z"),
        ("/Date(-62135596800000)/", "0001-01-01T00:00:00Z"),
        ("2026-01-01T00:00:00.0000000Z", "2026-01-01T00:00:00Z"),
        ("2026-01-01T01:00:00.1234567+01:00", "2026-01-01T00:00:00Z"),
        ("2026-01-01T00:00:00", "2026-01-01T00:00:00Z"),
    ],
)
def test_dates_from_either_powershell_become_iso_utc(raw: str, iso: str) -> None:
    assert iso_utc(raw) == iso


def test_unreadable_dates_are_refused() -> None:
    with pytest.raises(ValueError):
        iso_utc("Sunday 14 July 2024 02:13:02")


def test_normalise_turns_every_ms_date_and_unwraps_ets_arrays() -> None:
    data = json.loads('{"a":"\\/Date(0)\\/","b":{"value":["x"],"Count":1},"c":[{"d":"/Date(1000)/"}]}')
    assert normalise(data) == {"a": "1970-01-01T00:00:00Z", "b": ["x"], "c": [{"d": "1970-01-01T00:00:01Z"}]}
    assert strings([{"value": "a.example", "PSPath": "x"}, "b.example", ""]) == ("a.example", "b.example")
    assert strings("one.example") == ("one.example",)


def test_extract_json_object_skips_braces_in_noise() -> None:
    text = 'WARNING: {not json}\r\n{"status":"ok","n":1}\r\ntrailing {'
    assert extract_json_object(text) == {"status": "ok", "n": 1}
    assert extract_json_object("no json here") is None
    assert extract_json_object('{"no_status": true}') is None


def test_raw_der_is_the_source_of_sans_when_present(
    fake: FakeWindows, store: WindowsCertificateStore, pfx: tuple[Path, x509.Certificate]
) -> None:
    path, cert = pfx
    store.import_pfx(path, Secret(PASSWORD), "My")
    entry_path = fake.store_dir("My") / f"{thumbprint(cert)}.json"
    entry = json.loads(entry_path.read_text())
    assert base64.b64decode(entry["der"]) == cert.public_bytes(Encoding.DER)
    stored = store.get_certificate(thumbprint(cert), "My")
    assert stored is not None and stored.dns_names == ("octopus.example.com", "octopus")


# -- the scripts themselves ------------------------------------------------------------------------
PS1 = sorted(SCRIPTS_DIR.glob("*.ps1"))
# run-renewal-task.ps1 is what the Scheduled Task runs: it exits with the renewal's code, it prints no JSON.
WRAPPERS = {"run-renewal-task.ps1"}
ENTRY_SCRIPTS = [p for p in PS1 if not p.name.startswith("_") and p.name not in WRAPPERS]


def _code(path: Path) -> str:
    """The script without comments and string literals (so prose cannot trip the checks)."""
    text = path.read_text(encoding="utf-8")
    text = re.sub(r"<#.*?#>", "", text, flags=re.S)
    text = re.sub(r"'[^'\n]*'", "''", text)
    text = re.sub(r'"[^"\n]*"', '""', text)
    return "\n".join(line.split("#", 1)[0] for line in text.splitlines())


def test_there_are_scripts() -> None:
    names = {p.name for p in ENTRY_SCRIPTS}
    assert {"import-pfx.ps1", "test-private-key.ps1", "host-info.ps1", "store-exists.ps1"} <= names
    assert {"read-schannel.ps1", "set-schannel.ps1"} <= names  # TLS hardening (05)
    assert {"register-renewal-task.ps1", "show-renewal-task.ps1", "remove-renewal-task.ps1"} <= names
    assert "serve-acme-challenge.ps1" in names  # ACME HTTP-01 through HTTP.sys


@pytest.mark.parametrize("path", PS1, ids=lambda p: p.name)
def test_scripts_avoid_powershell_7_only_syntax(path: Path) -> None:
    code = _code(path)
    assert "?." not in code
    assert "??" not in code
    assert "-AsArray" not in code
    assert "-EscapeHandling" not in code
    assert not re.search(r"\s\?\s[^:\n]*\s:\s", code), "ternary operator"
    assert "-Parallel" not in code and "&&" not in code and "||" not in code


@pytest.mark.parametrize("path", ENTRY_SCRIPTS, ids=lambda p: p.name)
def test_each_script_catches_everything_and_prints_one_json_object(path: Path) -> None:
    code = _code(path)
    assert re.search(r"^try \{", code, re.M) and re.search(r"^catch \{", code, re.M)
    assert "ConvertTo-Json" not in code  # only through the ASCII writer in _common.ps1
    assert re.search(r"^ConvertTo-OctorunbookJson -InputObject \$result$", code, re.M)
    assert "OutputEncoding" not in code  # the caller's console is left alone
    assert "Write-Host" not in code and "Write-Output" not in code and "Out-Host" not in code
    assert "$ErrorActionPreference = ''" in code  # 'Stop', literal blanked by _code


def test_the_helper_defines_functions_and_prints_nothing() -> None:
    code = _code(SCRIPTS_DIR / "_common.ps1")
    assert code.count("ConvertTo-Json") == 1  # inside ConvertTo-OctorunbookJson, which returns the text
    top_level = [line for line in code.splitlines() if line and not line.startswith((" ", "}", "function "))]
    assert top_level == []


@pytest.mark.parametrize("path", ENTRY_SCRIPTS, ids=lambda p: p.name)
def test_scripts_never_serialise_dates_or_certificates_raw(path: Path) -> None:
    text = path.read_text() + (SCRIPTS_DIR / "_common.ps1").read_text()
    for raw in re.findall(r"\.(NotBefore|NotAfter)\b(?!\))", _code(path)):
        pytest.fail(f"{path.name} uses .{raw} outside Format-OctorunbookDate")
    assert ".PrivateKey" not in _code(path)
    # .PrivateKey only where a CryptoAPI key is opened through CryptoAPI, inside a try (it throws for CNG keys)
    common = (SCRIPTS_DIR / "_common.ps1").read_text()
    assert common.count("try { $legacy = $Certificate.PrivateKey } catch { }") == _code(
        SCRIPTS_DIR / "_common.ps1"
    ).count(".PrivateKey")
    assert "DnsNameList" not in _code(path) and "DnsNameList" not in _code(SCRIPTS_DIR / "_common.ps1")
    assert "ToUniversalTime().ToString('o')" in text


def test_stores_are_opened_existing_only_and_never_created() -> None:
    common = (SCRIPTS_DIR / "_common.ps1").read_text()
    assert "'ReadWrite, OpenExistingOnly'" in common and "'ReadOnly, OpenExistingOnly'" in common
    for path in ENTRY_SCRIPTS:
        code = _code(path)
        assert "X509Store -ArgumentList" not in code, f"{path.name} opens a store itself"


def test_import_reads_the_password_from_the_environment_only() -> None:
    text = (SCRIPTS_DIR / "import-pfx.ps1").read_text()
    assert "$env:OCTORUNBOOK_PFX_PASSWORD_CHILD" in text
    assert "Remove-Item -Path 'Env:\\OCTORUNBOOK_PFX_PASSWORD_CHILD'" in text
    assert "Password" not in re.search(r"^param\((.*?)^\)", text, re.S | re.M).group(1)  # type: ignore[union-attr]
    assert "'MachineKeySet, PersistKeySet'" in text and "'MachineKeySet, PersistKeySet, Exportable'" in text


FIELDS_READ = {
    # Every field octorunbook reads from a script must be one the scripts print.
    "store-exists.ps1": ["status", "exists"],
    "import-pfx.ps1": ["status", "certificate", "password_received", "message"],
    "get-certificate.ps1": ["status", "certificate"],
    "list-certificates.ps1": ["status", "certificates"],
    "test-private-key.ps1": [
        "status",
        "key_algorithm",
        "key_kind",
        "key_provider",
        "hash",
        "message",
    ],
    "remove-certificate.ps1": ["status"],
    "host-info.ps1": [
        "status",
        "elevated",
        "windows_build",
        "registry_build",
        "os_caption",
        "os_version",
        "computer_name",
        "ps_version",
    ],
    "find-server-exe.ps1": ["status", "path", "exists", "candidates"],
    "_common.ps1": [
        "thumbprint",
        "subject",
        "not_before",
        "not_after",
        "has_private_key",
        "dns_names",
        "eku_oids",
        "raw",
        "key_kind",
        "key_provider",
        "key_exportable",
        # New-OctorunbookFailure, for every script
        "phase",
        "message",
        "hresult",
    ],
}


@pytest.mark.parametrize("name", sorted(FIELDS_READ))
def test_fields_octorunbook_reads_are_printed_by_the_script(name: str) -> None:
    text = (SCRIPTS_DIR / name).read_text()
    for field in FIELDS_READ[name]:
        assert re.search(rf"(?:^|[;{{])\s*{field}\s*=", text, re.M), f"{name} never sets {field}"
