"""Contract tests for issue 11, defects 2, 3, 7, 8 and 10: how the scripts describe keys and failures.

Each is tested twice where PowerShell itself cannot run here: through the stand-in ``powershell`` (real
subprocesses, exact argv) for what the Python side makes of the documented outcome, and on the script's
own text (parsed with the PowerShell grammar) for the behaviour only a real server would show.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import tree_sitter
import tree_sitter_powershell

from octorunbook.commands import CommandRunner
from octorunbook.redaction import Secret
from octorunbook.targets.windows import WindowsCertificateStore, probe_host
from octorunbook.targets.windows.powershell import SCRIPTS_DIR, script_argv, script_path

try:
    from fakes import FakeWindows, make_pfx, raises_code, thumbprint
except ImportError:  # tests/ is a package
    from tests.fakes import FakeWindows, make_pfx, raises_code, thumbprint

pytestmark = pytest.mark.windows

PASSWORD = "pfx-password-for-hardening-tests"
PARSER = tree_sitter.Parser(tree_sitter.Language(tree_sitter_powershell.language()))
SCRIPTS = sorted(p for p in SCRIPTS_DIR.glob("*.ps1") if p.name != "_common.ps1")


def ps_function(name: str, script: str = "_common.ps1") -> str:
    """The text of one function in a shipped script, found with the PowerShell grammar."""
    tree = PARSER.parse(script_path(script).read_bytes())
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        if node.type == "function_statement":
            names = [c for c in node.children if c.type == "function_name"]
            if names and (names[0].text or b"").decode().lower() == name.lower():
                return (node.text or b"").decode()
        stack.extend(node.children)
    raise AssertionError(f"no function {name} in {script}")


def code_lines(text: str) -> str:
    """The text without comments (``<# ... #>`` blocks and ``#`` lines), so a comment that mentions a call
    does not count as the call."""
    text = re.sub(r"<#.*?#>", "", text, flags=re.S)
    return "\n".join(line.split("#", 1)[0] for line in text.splitlines())


@pytest.fixture
def store(runner: CommandRunner) -> WindowsCertificateStore:
    return WindowsCertificateStore(runner)


@pytest.fixture
def imported(fake: FakeWindows, store: WindowsCertificateStore, tmp_path: Path) -> str:
    path = tmp_path / "portal.pfx"
    cert = make_pfx(path, PASSWORD)
    store.import_pfx(path, Secret(PASSWORD), "My")
    return thumbprint(cert)


# -- defect 2: the key kind comes from the key's provider information ---------------------------------
def test_key_kind_is_read_from_the_provider_information_not_the_dotnet_type() -> None:
    body = code_lines(ps_function("Get-OctorunbookKeyDescription"))
    assert "CspKeyContainerInfo" in body and "ProviderName" in body and "ProviderType" in body
    assert ".Provider.Provider" in body
    assert "-like '*Cng'" not in body and "*CryptoServiceProvider" not in body


def test_a_cryptoapi_key_is_opened_through_cryptoapi_first() -> None:
    body = code_lines(ps_function("Get-OctorunbookPrivateKey"))
    assert body.index("$Certificate.PrivateKey") < body.index("GetRSAPrivateKey")
    assert "CspKeyContainerInfo" in body


def test_the_key_test_records_provider_name_and_kind(
    fake: FakeWindows, store: WindowsCertificateStore, imported: str
) -> None:
    check = store.test_private_key(imported, "My")
    assert (
        check.usable and check.provider == "Microsoft Enhanced RSA and AES Cryptographic Provider (CryptoAPI)"
    )
    assert "key_provider_type" in ps_function("Get-OctorunbookCertificateInfo")


# -- defect 3: every way a key fails to open is KEY_NOT_ACCESSIBLE with the right remedy ---------------
@pytest.mark.parametrize(
    ("scenario", "said", "remedy"),
    [
        ("keyset_missing", "Keyset does not exist", "Run elevated"),
        ("key_bad_provider_type", "Invalid provider type specified", "CNG key storage provider"),
        ("key_no_handle", "ArgumentNullException", "no key handle"),
    ],
)
def test_a_key_that_cannot_be_opened_is_explained_by_its_failure(
    fake: FakeWindows, store: WindowsCertificateStore, imported: str, scenario: str, said: str, remedy: str
) -> None:
    fake.scenario(scenario)
    with raises_code("KEY_NOT_ACCESSIBLE") as caught:
        store.test_private_key(imported, "My")
    assert said in caught.value.message
    assert remedy in caught.value.remedy
    assert fake.argvs("powershell")[-1][-4:] == ["-StoreName", "My", "-Thumbprint", imported]


# -- defect 7: ASCII-only JSON, the console left alone ---------------------------------------------------
@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_no_script_changes_the_console_encoding_and_all_print_ascii_json(script: Path) -> None:
    text = code_lines(script.read_text(encoding="utf-8"))
    assert "OutputEncoding" not in text
    assert "ConvertTo-Json" not in text
    last = [
        "ConvertTo-OctorunbookJson -InputObject $result",
        "if ($result.status -eq 'ok') { exit 0 } else { exit 1 }",
    ]
    if script.name == "run-renewal-task.ps1":  # the Scheduled Task's "Last Run Result" is the renewal's code
        last[1] = "exit $code"
    assert text.rstrip().splitlines()[-2:] == last
    # the shared functions are loaded before the try block, so a failure at the start is printed too
    assert text.index("_common.ps1") < text.index("\ntry {")


def test_the_json_writer_escapes_everything_above_ascii() -> None:
    body = code_lines(ps_function("ConvertTo-OctorunbookJson"))
    assert "'\\u{0:x4}' -f $code" in body and "-gt 126" in body and "-Compress" in body
    assert "OutputEncoding" not in code_lines(script_path("_common.ps1").read_text(encoding="utf-8"))


def test_a_non_ascii_subject_arrives_intact_through_ascii_json(
    fake: FakeWindows, store: WindowsCertificateStore, runner: CommandRunner, tmp_path: Path
) -> None:
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, pkcs12
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Portal Zürich")])
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    cert = (
        x509.CertificateBuilder(
            name, name, key.public_key(), x509.random_serial_number(), now, now + dt.timedelta(days=9)
        )
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("octopus.example.com")]), critical=False)
        .sign(key, hashes.SHA256())
    )
    path = tmp_path / "umlaut.pfx"
    path.write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"o", key, cert, None, BestAvailableEncryption(PASSWORD.encode())
        )
    )
    stored = store.import_pfx(path, Secret(PASSWORD), "My")
    assert stored.subject == "CN=Portal Zürich" and stored.thumbprint == thumbprint(cert)
    argv = script_argv("get-certificate.ps1", "-StoreName", "My", "-Thumbprint", stored.thumbprint)
    wire = runner.run(argv).stdout
    assert wire.isascii() and "\\u00fc" in wire


# -- defect 8: Constrained Language Mode and an old .NET stop the run first ------------------------------
@pytest.mark.parametrize(
    ("scenario", "code"),
    [("constrained_language", "POWERSHELL_CONSTRAINED"), ("dotnet_452", "DOTNET_TOO_OLD")],
)
def test_preflight_refuses_constrained_language_and_old_dotnet(
    fake: FakeWindows, runner: CommandRunner, scenario: str, code: str
) -> None:
    fake.scenario(scenario)
    with raises_code(code) as caught:
        probe_host(runner)
    assert caught.value.remedy and "Nothing was changed" in caught.value.remedy
    assert [Path(a[5]).name for a in fake.argvs("powershell")] == ["host-info.ps1"]


def test_host_info_reads_language_mode_and_dotnet_before_any_dotnet_call() -> None:
    text = code_lines(script_path("host-info.ps1").read_text(encoding="utf-8"))
    assert "$ExecutionContext.SessionState.LanguageMode" in text
    assert "NDP\\v4\\Full" in text and "Release" in text
    first_dotnet = text.index("[System.Security.Principal.WindowsIdentity]")
    assert text.index("LanguageMode") < text.index("$dotnetRelease = [int]$ndp.Release") < first_dotnet
    assert "if ($languageMode -eq 'FullLanguage')" in text[:first_dotnet]


def test_a_full_language_host_passes_preflight(fake: FakeWindows, runner: CommandRunner) -> None:
    info = probe_host(runner)
    assert info.elevated is True and info.windows_build == 17763


# -- defect 10: only "not found" means the store is missing ---------------------------------------------
@pytest.mark.parametrize(
    ("scenario", "code"),
    [("store_open_denied", "NOT_ELEVATED"), ("cert_drive_missing", "STORE_CHECK_FAILED")],
)
def test_store_exists_reports_failures_other_than_not_found(
    fake: FakeWindows, store: WindowsCertificateStore, scenario: str, code: str
) -> None:
    fake.scenario(scenario)
    with raises_code(code):
        store.store_exists("WebHosting")


def test_store_exists_asks_the_cert_drive_only_when_it_is_there() -> None:
    text = code_lines(script_path("store-exists.ps1").read_text(encoding="utf-8"))
    assert "-2147024891" in text and "UnauthorizedAccessException" in text
    drive = text.index("Get-PSDrive -Name Cert")
    assert drive < text.index("Test-Path -LiteralPath ('Cert:")
    assert "if ($null -eq $drive) { throw $openFailure }" in text
