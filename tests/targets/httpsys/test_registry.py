"""Issue 25 items 4 and 9: a binding's settings read from the registry (any display language), netsh
failures of add/update read in any language and code page, and success proven by reading back."""

from __future__ import annotations

import pytest

from octorunbook.commands import CommandRunner
from octorunbook.redaction import Secret
from octorunbook.targets.httpsys import HttpSys, console_encoding
from octorunbook.targets.httpsys.registry import binding_key, decode, parse_reg_query
from octorunbook.targets.sandbox.reg import answer
from octorunbook.targets.windows import WindowsCertificateStore

try:
    from fakes import OCTOPUS_APP_ID, FakeWindows, make_pfx, raises_code, thumbprint
except ImportError:  # tests/ is a package
    from tests.fakes import OCTOPUS_APP_ID, FakeWindows, make_pfx, raises_code, thumbprint

pytestmark = pytest.mark.windows

HASH = "A1B2C3D4E5F6A1B2C3D4E5F6A1B2C3D4E5F6A1B2"
KEY = "HKLM\\SYSTEM\\CurrentControlSet\\Services\\HTTP\\Parameters\\SslBindingInfo\\0.0.0.0:443"


def reg_output(flags: dict[str, str], extra: dict[str, list[str]] | None = None) -> str:
    binding = {
        "hash": HASH,
        "appid": OCTOPUS_APP_ID,
        "store": "My",
        "flags": flags,
        "registry_extra": extra or {},
    }
    code, text = answer({"0.0.0.0:443": binding}, ["query", KEY])
    assert code == 0
    return text


def test_the_registry_key_of_ip_and_hostname_bindings() -> None:
    assert binding_key("0.0.0.0:443") == KEY
    assert binding_key("[::]:443") == KEY.replace("0.0.0.0:443", "[::]:443")
    assert binding_key("octopus.example.com:443").endswith("\\SslSniBindingInfo\\octopus.example.com:443")


def test_registry_values_decode_to_the_parameters_english_netsh_gives() -> None:
    flags = {
        "disablelegacytls": "enable",
        "dsmapperusage": "enable",
        "verifyclientcertrevocation": "disable",
        "usagecheck": "disable",
        "revocationfreshnesstime": "3600",
        "disablehttp2": "disable",
    }
    values = parse_reg_query(reg_output(flags))
    assert values["DefaultFlags"] == ("REG_DWORD", "0x401")
    assert values["SslCertStoreName"] == ("REG_SZ", "My")
    decoded = decode(values)
    assert decoded.thumbprint == HASH and decoded.unknown == {}
    assert decoded.settings == {
        "disablelegacytls": "enable",
        "dsmapperusage": "enable",
        "verifyclientcertrevocation": "disable",
        "usagecheck": "disable",
        "revocationfreshnesstime": "3600",
    }


@pytest.mark.parametrize(
    ("extra", "name"),
    [
        (
            {"DefaultFlags": ["REG_DWORD", "0x2400"]},
            "DefaultFlags",
        ),  # ENABLE_CLIENT_CORRELATION: no parameter
        ({"DefaultCertCheckMode": ["REG_DWORD", "0x8"]}, "DefaultCertCheckMode"),
        ({"DefaultHttp3Window": ["REG_DWORD", "0x10"]}, "DefaultHttp3Window"),  # a value a newer build adds
    ],
)
def test_what_the_registry_says_and_we_do_not_understand_is_unknown_never_dropped(
    extra: dict[str, list[str]], name: str
) -> None:
    decoded = decode(parse_reg_query(reg_output({}, extra)))
    assert name in decoded.unknown and extra[name][1] in decoded.unknown[name]


def test_a_new_value_at_zero_is_not_a_setting() -> None:
    assert decode(parse_reg_query(reg_output({}, {"DefaultHttp3Window": ["REG_DWORD", "0x0"]}))).unknown == {}


# -- set_binding: the console code page and any language, like show and delete ---------------------------
@pytest.fixture
def httpsys(fake: FakeWindows, runner: CommandRunner, monkeypatch: pytest.MonkeyPatch) -> HttpSys:
    monkeypatch.setenv("OCTORUNBOOK_CONSOLE_CODEPAGE", "850")
    return HttpSys(fake.netsh, runner, encoding=console_encoding())


@pytest.mark.parametrize("language", ["netsh_german", "netsh_french"])
def test_a_localised_add_failure_is_classified_by_its_number(
    fake: FakeWindows, httpsys: HttpSys, runner: CommandRunner, language: str
) -> None:
    fake.bind("0.0.0.0:443", HASH, OCTOPUS_APP_ID, "My")
    fake.scenario(language)
    with raises_code("BINDING_EXISTS") as caught:
        httpsys.set_binding("add", "0.0.0.0:443", HASH, OCTOPUS_APP_ID, "My", {})
    assert "Error: 183" in str(caught.value)
    assert fake.argvs("netsh") == [
        [
            "http",
            "add",
            "sslcert",
            "ipport=0.0.0.0:443",
            f"certhash={HASH}",
            f"appid={OCTOPUS_APP_ID}",
            "certstorename=My",
        ]
    ]


def test_an_update_netsh_calls_a_success_is_read_back_and_refused_when_a_setting_is_missing(
    fake: FakeWindows, httpsys: HttpSys, runner: CommandRunner
) -> None:
    """The stand-in, like a build that ignores a parameter, says 'successfully updated' and keeps no flag."""
    cert = make_pfx(fake.root.parent / "p.pfx", "pw-for-readback")
    WindowsCertificateStore(runner).import_pfx(fake.root.parent / "p.pfx", Secret("pw-for-readback"), "My")
    thumb = thumbprint(cert)
    fake.bind("0.0.0.0:443", thumb, OCTOPUS_APP_ID, "My")
    fake.scenario("netsh_2012r2")  # every label English and known
    with raises_code("BINDING_NOT_AS_ASKED") as caught:
        httpsys.set_binding(
            "update", "0.0.0.0:443", thumb, OCTOPUS_APP_ID, "My", {"disablelegacytls": "enable"}
        )
    assert caught.value.finding.details["asked"]["settings"] == {"disablelegacytls": "enable"}
    assert caught.value.finding.details["seen"]["settings"] == {}
    assert fake.argvs("netsh")[-2:] == [
        [
            "http",
            "update",
            "sslcert",
            "ipport=0.0.0.0:443",
            f"certhash={thumb}",
            f"appid={OCTOPUS_APP_ID}",
            "certstorename=My",
            "disablelegacytls=enable",
        ],
        ["http", "show", "sslcert", "ipport=0.0.0.0:443"],
    ]
