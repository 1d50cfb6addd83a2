"""Contract tests: HTTP.sys bindings through the stand-in ``netsh``, through real subprocesses.

``show sslcert`` output varies by build (fields added over time, ``Extended Properties`` blocks) and
by language (labels translated, OEM code page); the driver must find the binding, its hash, its
application id and its store in all of them (reference/windows-cert-store-and-httpsys.md §3).
"""

from __future__ import annotations

import pytest

from octorunbook.commands import CommandRunner
from octorunbook.targets.httpsys import HttpSys

try:
    from fakes import IIS_APP_ID, OCTOPUS_APP_ID, FakeWindows, raises_code
except ImportError:  # tests/ is a package
    from tests.fakes import IIS_APP_ID, OCTOPUS_APP_ID, FakeWindows, raises_code

pytestmark = pytest.mark.windows

HASH = "a1b2c3d4e5f6a1b2c3d4e5f6a1b2c3d4e5f6a1b2"


@pytest.fixture
def httpsys(fake: FakeWindows, runner: CommandRunner) -> HttpSys:
    return HttpSys(fake.netsh, runner)


def test_show_argv_is_exact_and_not_mutating(
    fake: FakeWindows, httpsys: HttpSys, runner: CommandRunner
) -> None:
    assert httpsys.show(443) is None
    assert fake.argvs("netsh") == [["http", "show", "sslcert", "ipport=0.0.0.0:443"]]
    assert runner.records[0].mutating is False
    assert list(runner.records[0].argv) == [fake.netsh, "http", "show", "sslcert", "ipport=0.0.0.0:443"]


@pytest.mark.parametrize("layout", ["success", "netsh_2012r2", "netsh_extended", "netsh_german"])
def test_show_finds_the_octopus_binding_in_every_layout(
    fake: FakeWindows, httpsys: HttpSys, layout: str
) -> None:
    fake.bind("0.0.0.0:443", HASH, OCTOPUS_APP_ID, "WebHosting")
    fake.scenario(layout)
    binding = httpsys.show(443)
    assert binding is not None
    assert binding.ip_port == "0.0.0.0:443"
    assert binding.certificate_hash == HASH.upper()
    assert binding.application_id == OCTOPUS_APP_ID
    assert binding.is_octopus is True
    assert binding.store_name == "WebHosting"


def test_extended_properties_do_not_start_a_new_binding(
    fake: FakeWindows, httpsys: HttpSys, runner: CommandRunner
) -> None:
    fake.bind("0.0.0.0:443", HASH, OCTOPUS_APP_ID)
    fake.scenario("netsh_extended")
    assert httpsys.show(443) is not None
    result = runner.run([fake.netsh, "http", "show", "sslcert", "ipport=0.0.0.0:443"])
    assert "Extended Properties" in result.stdout


def test_a_binding_held_by_iis_is_returned_and_is_not_octopus(fake: FakeWindows, httpsys: HttpSys) -> None:
    fake.bind("0.0.0.0:443", HASH, IIS_APP_ID, "My")
    binding = httpsys.show(443)
    assert binding is not None
    assert binding.is_octopus is False
    assert binding.application_id == IIS_APP_ID.upper()
    assert binding.to_record()["application_id"] == IIS_APP_ID.upper()


def test_store_name_null_means_my(fake: FakeWindows, httpsys: HttpSys) -> None:
    fake.bind("0.0.0.0:8443", HASH, OCTOPUS_APP_ID, "(null)")
    binding = httpsys.show(8443)
    assert binding is not None and binding.store_name == "MY"


def test_show_only_returns_the_endpoint_asked_for(fake: FakeWindows, httpsys: HttpSys) -> None:
    fake.bind("0.0.0.0:8443", HASH, OCTOPUS_APP_ID)
    assert httpsys.show(443) is None
    assert httpsys.show(8443, "0.0.0.0") is not None


def test_delete_argv_is_exact_and_mutating(
    fake: FakeWindows, httpsys: HttpSys, runner: CommandRunner
) -> None:
    fake.bind("0.0.0.0:443", HASH, OCTOPUS_APP_ID)
    httpsys.delete(443)
    assert fake.argvs("netsh") == [
        ["http", "delete", "sslcert", "ipport=0.0.0.0:443"],
        ["http", "show", "sslcert", "ipport=0.0.0.0:443"],  # confirmed by reading back
    ]
    assert [r.mutating for r in runner.records] == [True, False]
    assert fake.bindings() == {}


def test_delete_of_a_binding_already_gone_is_fine(fake: FakeWindows, httpsys: HttpSys) -> None:
    httpsys.delete(443)  # "Error: 2" - the rollback's goal is already reached


def test_show_all_lists_every_binding_with_the_exact_argv(
    fake: FakeWindows, httpsys: HttpSys, runner: CommandRunner
) -> None:
    # what an interrupted renewal's restore asks before it removes the certificate that run imported
    fake.bind("0.0.0.0:443", HASH, OCTOPUS_APP_ID)
    fake.bind("0.0.0.0:8443", HASH, IIS_APP_ID, "WebHosting")
    bindings = httpsys.show_all()
    assert fake.argvs("netsh") == [["http", "show", "sslcert"]]
    assert runner.records[0].mutating is False
    assert sorted((b.ip_port, b.certificate_hash.lower(), b.store_name) for b in bindings) == [
        ("0.0.0.0:443", HASH, "My"),
        ("0.0.0.0:8443", HASH, "WebHosting"),
    ]


@pytest.mark.parametrize("scenario", ["", "netsh_extended", "netsh_german"])
def test_show_all_lists_ipv6_wildcard_and_hostname_port_records(
    fake: FakeWindows, httpsys: HttpSys, scenario: str
) -> None:
    # a certificate shared with an SNI site or bound on [::] must be seen before it is removed
    if scenario:
        fake.scenario(scenario)
    fake.bind("0.0.0.0:443", HASH, OCTOPUS_APP_ID)
    fake.bind("[::]:443", HASH, OCTOPUS_APP_ID)
    fake.bind("portal.example.com:443", HASH, IIS_APP_ID, "WebHosting")
    bindings = httpsys.show_all()
    assert sorted((b.ip_port, b.certificate_hash.lower()) for b in bindings) == [
        ("0.0.0.0:443", HASH),
        ("[::]:443", HASH),
        ("portal.example.com:443", HASH),
    ]


def test_show_all_refuses_to_guess_when_netsh_fails(fake: FakeWindows, httpsys: HttpSys) -> None:
    fake.bind("0.0.0.0:443", HASH, OCTOPUS_APP_ID)
    fake.scenario("netsh_show_5")
    with raises_code("NOT_ELEVATED"):
        httpsys.show_all()


@pytest.mark.parametrize(
    ("number", "code"),
    [
        (5, "NOT_ELEVATED"),
        (87, "NETSH_BAD_PARAMETER"),
        (1312, "KEY_NOT_USABLE_BY_HTTPSYS"),
        (183, "BINDING_EXISTS"),
    ],
)
def test_delete_failures_map_to_codes(fake: FakeWindows, httpsys: HttpSys, number: int, code: str) -> None:
    fake.bind("0.0.0.0:443", HASH, OCTOPUS_APP_ID)
    fake.scenario(f"netsh_{number}")
    with raises_code(code):
        httpsys.delete(443)
    assert "0.0.0.0:443" in fake.bindings()


@pytest.mark.parametrize(
    ("number", "text"),
    [
        (183, "Cannot create a file when that file already exists."),
        (1312, "A specified logon session does not exist. It may already have been terminated."),
        (87, "The parameter is incorrect."),
        (1359, "An internal error occurred."),
    ],
)
def test_the_stand_in_prints_the_documented_add_errors(
    fake: FakeWindows, runner: CommandRunner, number: int, text: str
) -> None:
    """The stand-in itself speaks the documented text, so the driver tests above mean something."""
    fake.scenario(f"netsh_{number}")
    result = runner.run(
        [
            fake.netsh,
            "http",
            "add",
            "sslcert",
            "ipport=0.0.0.0:443",
            f"certhash={HASH}",
            f"appid={OCTOPUS_APP_ID}",
        ]
    )
    assert result.exit_code != 0
    assert f"SSL Certificate add failed, Error: {number}" in result.stdout
    assert text in result.stdout
