"""Contract tests: a non-English server, Octopus 4.0+'s own binding errors, and where the tools are run from.

Issue 11, defects 5, 6 and 9, through the stand-in ``netsh`` and ``Octopus.Server.exe`` (real subprocesses,
exact argv): netsh writes in the console's OEM code page and in the server's language; Octopus 4.0+ binds
through the HTTP Server API and prints Win32 messages or HRESULTs; the executables are never bare names.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509

from octorunbook.commands import CommandRunner, netsh_exe, powershell_exe
from octorunbook.findings import OctorunbookError
from octorunbook.redaction import Secret
from octorunbook.targets.httpsys import HttpSys, console_encoding, netsh_error_number
from octorunbook.targets.octopus import OctopusServer
from octorunbook.targets.windows import WindowsCertificateStore

try:
    from fakes import OCTOPUS_APP_ID, FakeWindows, make_pfx, raises_code, thumbprint
except ImportError:  # tests/ is a package
    from tests.fakes import OCTOPUS_APP_ID, FakeWindows, make_pfx, raises_code, thumbprint

pytestmark = pytest.mark.windows

HASH = "a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4e5f6a1b2"
PASSWORD = "pfx-password-for-localised-tests"


@pytest.fixture
def httpsys(fake: FakeWindows, runner: CommandRunner, monkeypatch: pytest.MonkeyPatch) -> HttpSys:
    monkeypatch.setenv("OCTORUNBOOK_CONSOLE_CODEPAGE", "850")  # a German or French server's OEM code page
    return HttpSys(fake.netsh, runner, encoding=console_encoding())


# -- defect 5: netsh in the console code page and the server's language ---------------------------------
def test_german_show_output_is_decoded_with_the_oem_code_page(fake: FakeWindows, httpsys: HttpSys) -> None:
    fake.bind("0.0.0.0:443", HASH, OCTOPUS_APP_ID, "My")
    fake.scenario("netsh_german")
    binding = httpsys.show(443)
    assert binding is not None and binding.certificate_hash == HASH.upper()
    assert "Überprüfung der Clientzertifikatsperre" in binding.fields


@pytest.mark.parametrize("language", ["netsh_german", "netsh_french", "success"])
def test_delete_of_a_binding_already_gone_succeeds_in_every_language(
    fake: FakeWindows, httpsys: HttpSys, runner: CommandRunner, language: str
) -> None:
    fake.scenario(language)
    httpsys.delete(443)
    assert fake.argvs("netsh") == [
        ["http", "delete", "sslcert", "ipport=0.0.0.0:443"],
        ["http", "show", "sslcert", "ipport=0.0.0.0:443"],
    ]
    assert [r.mutating for r in runner.records] == [True, False]


@pytest.mark.parametrize("language", ["netsh_german", "netsh_french"])
def test_show_access_denied_is_not_read_as_no_binding_in_any_language(
    fake: FakeWindows, httpsys: HttpSys, language: str
) -> None:
    fake.scenario(language, "netsh_show_5")
    with raises_code("NOT_ELEVATED") as caught:
        httpsys.show(443)
    assert "Error: 5" in str(caught.value)


def test_delete_is_confirmed_by_reading_the_binding_back(fake: FakeWindows, httpsys: HttpSys) -> None:
    fake.bind("0.0.0.0:443", HASH, OCTOPUS_APP_ID, "My")
    fake.scenario("netsh_german")
    httpsys.delete(443)
    assert fake.bindings() == {}
    fake.bind("0.0.0.0:443", HASH, OCTOPUS_APP_ID, "My")
    fake.scenario("netsh_french", "netsh_5")
    with raises_code("NOT_ELEVATED"):
        httpsys.delete(443)
    assert "0.0.0.0:443" in fake.bindings()


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("SSL Certificate add failed, Error: 183\nCannot create a file", 183),
        ("Fehler beim Hinzufügen des SSL-Zertifikats. Fehler: 1312\n", 1312),
        ("Échec de l'ajout du certificat SSL, Erreur : 5\nAccès refusé.\n", 5),
        ("\nSSL Certificate bindings:\n-------------------------\n\n", None),
    ],
)
def test_netsh_error_numbers_are_read_in_any_language(text: str, number: int | None) -> None:
    assert netsh_error_number(text) == number


# -- defect 6: Octopus 4.0+ prints Win32 messages and HRESULTs ------------------------------------------
@pytest.fixture
def imported(fake: FakeWindows, runner: CommandRunner, tmp_path: Path) -> x509.Certificate:
    path = tmp_path / "portal.pfx"
    cert = make_pfx(path, PASSWORD)
    WindowsCertificateStore(runner).import_pfx(path, Secret(PASSWORD), "My")
    return cert


@pytest.mark.parametrize("style", ["octopus_httpapi", "octopus_hresult"])
@pytest.mark.parametrize(
    ("number", "code"),
    [(1312, "KEY_NOT_USABLE_BY_HTTPSYS"), (1359, "KEY_NOT_USABLE_BY_HTTPSYS"), (87, "NETSH_BAD_PARAMETER")],
)
def test_ssl_certificate_failures_from_the_http_server_api_are_classified(
    fake: FakeWindows, runner: CommandRunner, imported: x509.Certificate, style: str, number: int, code: str
) -> None:
    fake.scenario(style, f"netsh_{number}")
    octopus = OctopusServer(fake.server_exe, "OctopusServer", runner)
    with pytest.raises(OctorunbookError) as caught:
        octopus.ssl_certificate(thumbprint(imported), "My")
    assert caught.value.code == code
    assert f"Error: {number}" in caught.value.message
    assert [c["argv"][:2] for c in fake.calls() if c["argv"][:1] == ["ssl-certificate"]] == [
        ["ssl-certificate", "--console"]
    ]


# -- defect 9: never a bare executable name ---------------------------------------------------------------
def test_tools_default_to_the_system_folder_not_a_bare_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OCTORUNBOOK_POWERSHELL", raising=False)
    monkeypatch.delenv("OCTORUNBOOK_NETSH", raising=False)
    monkeypatch.delenv("PROCESSOR_ARCHITEW6432", raising=False)
    monkeypatch.setenv("SystemRoot", "D:\\Windows")
    assert powershell_exe() == "D:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe"
    assert netsh_exe() == "D:\\Windows\\System32\\netsh.exe"


def test_a_32_bit_python_reaches_the_64_bit_tools_through_sysnative(monkeypatch: pytest.MonkeyPatch) -> None:
    import octorunbook.commands as commands

    monkeypatch.delenv("OCTORUNBOOK_NETSH", raising=False)
    monkeypatch.setenv("SystemRoot", "C:\\Windows")
    monkeypatch.setenv("PROCESSOR_ARCHITEW6432", "AMD64")
    monkeypatch.setattr(commands.sys, "maxsize", 2**31 - 1)
    assert netsh_exe() == "C:\\Windows\\Sysnative\\netsh.exe"


def test_the_override_still_wins(fake: FakeWindows) -> None:
    assert powershell_exe() == fake.powershell and netsh_exe() == fake.netsh
