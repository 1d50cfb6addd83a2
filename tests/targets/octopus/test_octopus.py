"""Contract tests: the Octopus.Server.exe driver against the stand-in, through real subprocesses.

Exact argv for every command (reference/octopus-server-cli.md §1, OctopusDSC's unattended style:
values as separate tokens, ``--console`` on every call) and every documented outcome.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509

from octorunbook.certificates import load_pfx_file
from octorunbook.commands import CommandRunner
from octorunbook.findings import OctorunbookError
from octorunbook.redaction import Secret
from octorunbook.targets.base import PortalConfig
from octorunbook.targets.httpsys import HttpSys
from octorunbook.targets.octopus import OctopusServer
from octorunbook.targets.windows import WindowsCertificateStore, open_windows_target
from tests.drivers import httpsys_of, octopus_of

try:
    from fakes import OCTOPUS_APP_ID, FakeWindows, make_pfx, raises_code, thumbprint
except ImportError:  # tests/ is a package
    from tests.fakes import OCTOPUS_APP_ID, FakeWindows, make_pfx, raises_code, thumbprint

pytestmark = pytest.mark.windows

PASSWORD = "pfx-password-for-octopus-tests"


@pytest.fixture
def octopus(fake: FakeWindows, runner: CommandRunner) -> OctopusServer:
    return OctopusServer(fake.server_exe, "OctopusServer", runner)


@pytest.fixture
def imported(fake: FakeWindows, runner: CommandRunner, tmp_path: Path) -> x509.Certificate:
    path = tmp_path / "portal.pfx"
    cert = make_pfx(path, PASSWORD)
    WindowsCertificateStore(runner).import_pfx(path, Secret(PASSWORD), "My")
    return cert


# -- list-instances ---------------------------------------------------------------------------------
def test_list_instances_argv_and_parse(fake: FakeWindows, octopus: OctopusServer) -> None:
    assert octopus.list_instances() == {"OctopusServer": "C:\\Octopus\\OctopusServer.config"}
    assert fake.argvs("octopus") == [["list-instances", "--console"]]


def test_require_instance_passes_for_an_existing_instance(octopus: OctopusServer) -> None:
    octopus.require_instance()


def test_instance_not_found(fake: FakeWindows, runner: CommandRunner) -> None:
    with pytest.raises(OctorunbookError) as caught:
        OctopusServer(fake.server_exe, "Staging", runner).require_instance()
    assert caught.value.code == "INSTANCE_NOT_FOUND"
    assert "OctopusServer" in caught.value.message  # names the instances that do exist


# -- show-configuration -----------------------------------------------------------------------------
def test_show_configuration_argv_and_parse(fake: FakeWindows, octopus: OctopusServer) -> None:
    config = octopus.show_configuration()
    assert fake.argvs("octopus") == [
        [
            "show-configuration",
            "--format=json-hierarchical",
            "--noconsolelogging",
            "--console",
            "--instance",
            "OctopusServer",
        ]
    ]
    assert config == PortalConfig(("http://localhost:80/",), False, False, 3600)


def test_show_configuration_with_an_nlog_exception_printed_before_the_json(
    fake: FakeWindows, octopus: OctopusServer
) -> None:
    fake.scenario("nlog_prefix")
    config = octopus.show_configuration()
    assert config.listen_prefixes == ("http://localhost:80/",)
    assert config.hsts_max_age == 3600


# -- configure --------------------------------------------------------------------------------------
def test_configure_argv_is_exact(fake: FakeWindows, octopus: OctopusServer, runner: CommandRunner) -> None:
    octopus.configure(
        listen_prefixes=("https://octopus.example.com:443/", "http://octopus.example.com:80/"),
        force_ssl=True,
        hsts_enabled=True,
        hsts_max_age=3600,
    )
    assert fake.argvs("octopus") == [
        [
            "configure",
            "--console",
            "--instance",
            "OctopusServer",
            "--webListenPrefixes",
            "https://octopus.example.com:443/,http://octopus.example.com:80/",
            "--webForceSSL",
            "True",
            "--hstsEnabled",
            "True",
            "--hstsMaxAge",
            "3600",
        ]
    ]
    assert runner.records[-1].mutating is True
    config = octopus.show_configuration()
    assert config == PortalConfig(
        ("https://octopus.example.com:443/", "http://octopus.example.com:80/"), True, True, 3600
    )


# -- ssl-certificate --------------------------------------------------------------------------------
def test_ssl_certificate_argv_is_exact_and_the_binding_is_octopus(
    fake: FakeWindows, octopus: OctopusServer, imported: x509.Certificate, runner: CommandRunner
) -> None:
    thumb = thumbprint(imported)
    octopus.ssl_certificate(thumb, "My", port=443)
    assert fake.argvs("octopus") == [
        [
            "ssl-certificate",
            "--console",
            "--instance",
            "OctopusServer",
            "--thumbprint",
            thumb,
            "--certificate-store",
            "My",
            "--ip-address",
            "0.0.0.0",
            "--port",
            "443",
        ]
    ]
    assert runner.records[-1].mutating is True
    binding = HttpSys(fake.netsh, runner).show(443)
    assert binding is not None
    assert binding.is_octopus and binding.certificate_hash == thumb and binding.store_name == "My"
    assert binding.application_id == OCTOPUS_APP_ID


def test_ssl_certificate_for_a_certificate_without_a_usable_key_is_1312(
    fake: FakeWindows, octopus: OctopusServer
) -> None:
    with pytest.raises(OctorunbookError) as caught:
        octopus.ssl_certificate("AB" * 20, "My")
    assert caught.value.code == "KEY_NOT_USABLE_BY_HTTPSYS"
    assert "1312" in caught.value.message


@pytest.mark.parametrize(
    ("number", "code"),
    [
        (183, "BINDING_EXISTS"),
        (1312, "KEY_NOT_USABLE_BY_HTTPSYS"),
        (1359, "KEY_NOT_USABLE_BY_HTTPSYS"),
        (87, "NETSH_BAD_PARAMETER"),
        (5, "NOT_ELEVATED"),
    ],
)
def test_ssl_certificate_http_sys_errors_map_to_codes_with_remedies(
    fake: FakeWindows, octopus: OctopusServer, imported: x509.Certificate, number: int, code: str
) -> None:
    fake.scenario(f"netsh_{number}")
    with pytest.raises(OctorunbookError) as caught:
        octopus.ssl_certificate(thumbprint(imported), "My")
    assert caught.value.code == code
    assert f"Error: {number}" in caught.value.message
    assert caught.value.remedy
    if number == 1359:
        assert "CryptoAPI" in caught.value.remedy or "SChannel" in caught.value.remedy
    assert fake.bindings() == {}


def test_ssl_certificate_webhosting_rejected_by_octopus_4_0(
    fake: FakeWindows, octopus: OctopusServer, imported: x509.Certificate
) -> None:
    fake.scenario("octopus_4_0")
    with raises_code("STORE_NOT_SUPPORTED"):
        octopus.ssl_certificate(thumbprint(imported), "WebHosting")


# -- service ----------------------------------------------------------------------------------------
def test_service_stop_and_start_argv(
    fake: FakeWindows, octopus: OctopusServer, runner: CommandRunner
) -> None:
    octopus.service("stop")
    assert fake.octopus_state()["instances"]["OctopusServer"]["service"] == "stopped"
    octopus.service("start")
    assert fake.argvs("octopus") == [
        ["service", "--console", "--instance", "OctopusServer", "--stop"],
        ["service", "--console", "--instance", "OctopusServer", "--start"],
    ]
    assert [r.mutating for r in runner.records] == [True, True]
    assert fake.octopus_state()["instances"]["OctopusServer"]["service"] == "running"


def test_restart_is_one_documented_command_that_also_starts_a_stopped_service(
    fake: FakeWindows, octopus: OctopusServer, runner: CommandRunner
) -> None:
    """``service --stop --start`` (Octopus's HTTPS page): one command, so no run stops between the two."""
    octopus.restart()
    octopus.service("stop")
    octopus.restart()
    assert fake.argvs("octopus")[0] == [
        "service",
        "--console",
        "--instance",
        "OctopusServer",
        "--stop",
        "--start",
    ]
    assert [r.label for r in runner.records] == ["service restart", "service stop", "service restart"]
    assert fake.octopus_state()["instances"]["OctopusServer"]["service"] == "running"


def test_a_restart_that_cannot_start_is_port_in_use(fake: FakeWindows, octopus: OctopusServer) -> None:
    fake.scenario("port_in_use")
    with raises_code("PORT_IN_USE"):
        octopus.restart()


def test_service_start_with_the_prefix_held_by_another_process_is_port_in_use(
    fake: FakeWindows, octopus: OctopusServer
) -> None:
    fake.scenario("port_in_use")
    with raises_code("PORT_IN_USE"):
        octopus.service("start")


# -- the whole target -------------------------------------------------------------------------------
def test_windows_target_runs_the_procedure_end_to_end_on_the_stand_ins(
    fake: FakeWindows, runner: CommandRunner, tmp_path: Path
) -> None:
    """Import, prove, bind, configure, restart, verify: every command through the seam, no secret in argv."""
    target = open_windows_target(
        instance="OctopusServer", server_exe="", runner=runner, state_dir=tmp_path / "state"
    )
    host = target.host_info()
    assert host.elevated and host.windows_build == 17763
    octopus_of(target).require_instance()
    store = target.parts.store.sibling("WebHosting")
    assert store.exists()
    path = tmp_path / "portal.pfx"
    cert = make_pfx(path, PASSWORD)
    stored = store.add(load_pfx_file(path, Secret(PASSWORD)))  # through a one-time PFX, as 01 does
    assert [(p.check, p.ok) for p in store.prove(stored.thumbprint)] == [("private key usable", True)]
    assert httpsys_of(target).show(443) is None
    octopus_of(target).service("stop")
    octopus_of(target).ssl_certificate(stored.thumbprint, "WebHosting", port=443)
    octopus_of(target).configure(
        listen_prefixes=("http://octopus.example.com:80/", "https://octopus.example.com:443/")
    )
    octopus_of(target).service("start")
    binding = httpsys_of(target).show(443)
    assert binding is not None and binding.is_octopus
    assert binding.certificate_hash == thumbprint(cert) and binding.store_name == "WebHosting"
    assert octopus_of(target).show_configuration().listen_prefixes[-1] == "https://octopus.example.com:443/"
    assert all(PASSWORD not in arg for record in runner.records for arg in record.argv)
    assert PASSWORD not in fake.log_text()
    assert [r.label for r in runner.mutating_records] == [
        "import PFX into LocalMachine\\WebHosting",
        "service stop",
        "bind certificate (HTTP.sys)",
        "configure web portal",
        "service start",
    ]
