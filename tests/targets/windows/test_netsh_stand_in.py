"""The Windows stand-in ``netsh`` answers what the drivers ask besides ``sslcert`` records: ``add|update
sslcert help`` (the parameter names of the build it models) and ``add|delete|show urlacl`` (reservations
kept beside its state), read through the real drivers."""

from __future__ import annotations

import json

import pytest

from octorunbook.commands import CommandRunner
from octorunbook.findings import TargetError
from octorunbook.targets.httpsys import HttpSys
from octorunbook.targets.octopus.urlacl import UrlAcls

try:
    from fakes import FakeWindows
except ImportError:  # tests/ is a package
    from tests.fakes import FakeWindows

pytestmark = pytest.mark.windows

URL = "https://+:8443/"
ACCOUNT = "CORP\\svc-octopus"


@pytest.mark.parametrize("verb", ["add", "update"])
def test_sslcert_help_lists_the_parameters_of_the_modelled_build(
    fake: FakeWindows, runner: CommandRunner, verb: str
) -> None:
    names = HttpSys(fake.netsh, runner).sslcert_parameters(verb)
    assert names is not None and {"certhash", "appid", "disablelegacytls", "dsmapperusage"} <= names
    assert fake.argvs("netsh") == [["http", verb, "sslcert", "help"]]


def test_sslcert_help_of_an_older_build_lacks_the_newer_parameters(
    fake: FakeWindows, runner: CommandRunner
) -> None:
    fake.scenario("netsh_2012r2")
    names = HttpSys(fake.netsh, runner).add_parameters()
    assert names is not None and "dsmapperusage" in names and "disablelegacytls" not in names


def test_an_unreadable_help_proves_nothing(fake: FakeWindows, runner: CommandRunner) -> None:
    fake.scenario("netsh_no_help")
    assert HttpSys(fake.netsh, runner).add_parameters() is None


def test_urlacl_add_show_delete_are_kept_beside_the_state_and_read_back(
    fake: FakeWindows, runner: CommandRunner
) -> None:
    acls = UrlAcls(fake.netsh, str(fake.bin / "sc"), runner)
    assert not acls.show(URL, ACCOUNT).reserved
    acls.add(URL, ACCOUNT)
    assert json.loads((fake.root / "urlacl.json").read_text()) == {URL: ACCOUNT}
    shown = acls.show(URL, ACCOUNT)
    assert shown.reserved and shown.user == ACCOUNT
    acls.delete(URL)
    assert json.loads((fake.root / "urlacl.json").read_text()) == {}
    assert ["http", "add", "urlacl", f"url={URL}", f"user={ACCOUNT}"] in fake.argvs("netsh")


def test_an_add_urlacl_that_reports_success_and_reserves_nothing_is_urlacl_not_as_asked(
    fake: FakeWindows, runner: CommandRunner
) -> None:
    fake.scenario("urlacl_add_noop")
    acls = UrlAcls(fake.netsh, str(fake.bin / "sc"), runner)
    with pytest.raises(TargetError) as caught:
        acls.add(URL, ACCOUNT)
    assert caught.value.code == "URLACL_NOT_AS_ASKED"
    assert "reported success" in caught.value.message and "missing" in caught.value.message
