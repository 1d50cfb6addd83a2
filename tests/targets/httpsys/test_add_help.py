"""A carried binding setting is checked against ``netsh http add sslcert help`` on this host before a
re-bind would use it (sandbox stand-in netsh, real command seam)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from octorunbook.commands import CommandRunner
from octorunbook.findings import TargetError
from octorunbook.targets.httpsys import OCTOPUS_APP_ID
from octorunbook.targets.protocols import PortalIntent, StoredCertificate
from octorunbook.targets.sandbox import Sandbox

OLD = "0123456789ABCDEF0123456789ABCDEF01234567"
NEW = StoredCertificate("89ABCDEF0123456789ABCDEF0123456789ABCDEF", "My", "CN=x", ("x",), "", "", True)


def bound_with(
    sandbox: Sandbox, flags: dict[str, str], lacks: list[str], update_lacks: list[str] | None = None
) -> Any:
    bindings = {"0.0.0.0:443": {"hash": OLD, "appid": OCTOPUS_APP_ID, "store": "My", "flags": flags}}
    sandbox.write_json(sandbox.httpsys_path, bindings)
    meta = sandbox.meta()
    meta["netsh_lacks"] = lacks
    meta["netsh_update_lacks"] = update_lacks or []
    sandbox.write_json(sandbox.meta_path, meta)
    runner = CommandRunner(timeout=60)
    return sandbox.open_target("OctopusServer", runner).parts.front, runner


def intent() -> PortalIntent:
    return replace(PortalIntent.location("localhost", 443), certificate=NEW)


def test_a_carried_setting_this_netsh_does_not_list_refuses_the_rebind_before_any_change(
    sandbox: Sandbox,
) -> None:
    front, runner = bound_with(sandbox, {"disablelegacytls": "enable"}, ["disablelegacytls"])
    current = front.read(intent())
    with pytest.raises(TargetError) as caught:
        front.desired(intent(), current)
    assert caught.value.code == "BINDING_SETTING_UNSUPPORTED" and "disablelegacytls" in caught.value.message
    argvs = [list(r.argv[1:]) for r in runner.records]
    assert ["http", "add", "sslcert", "help"] in argvs
    assert not any(r.mutating for r in runner.records)


def test_a_listed_setting_is_carried_and_help_is_read_once(sandbox: Sandbox) -> None:
    front, runner = bound_with(sandbox, {"disablelegacytls": "enable"}, [])
    current = front.read(intent())
    desired = front.desired(intent(), current)
    front.desired(intent(), current)
    assert desired.carried == {"disablelegacytls": "enable"}
    assert [list(r.argv[1:]) for r in runner.records].count(["http", "add", "sslcert", "help"]) == 1


def test_a_binding_without_settings_needs_no_help(sandbox: Sandbox) -> None:
    front, runner = bound_with(sandbox, {}, ["disablelegacytls"])
    front.desired(intent(), front.read(intent()))
    assert ["http", "add", "sslcert", "help"] not in [list(r.argv[1:]) for r in runner.records]


def test_an_in_place_update_checks_update_sslcert_help_too(sandbox: Sandbox) -> None:
    # add lists it, update does not: the in-place re-bind (netsh http update) would lose it
    front, runner = bound_with(sandbox, {"disablelegacytls": "enable"}, [], ["disablelegacytls"])
    current = front.read(intent())
    with pytest.raises(TargetError) as caught:
        front.desired(intent(), current)
    assert caught.value.code == "BINDING_SETTING_UNSUPPORTED"
    assert "netsh http update sslcert help" in caught.value.message
    argvs = [list(r.argv[1:]) for r in runner.records]
    assert ["http", "add", "sslcert", "help"] in argvs and ["http", "update", "sslcert", "help"] in argvs
    assert not any(r.mutating for r in runner.records)


def test_a_first_binding_is_added_so_update_help_is_not_asked(sandbox: Sandbox) -> None:
    front, runner = bound_with(sandbox, {}, [], ["disablelegacytls"])
    front.require_supported(replace(front.read(intent()), thumbprint=""), {"disablelegacytls": "enable"})
    assert ["http", "update", "sslcert", "help"] not in [list(r.argv[1:]) for r in runner.records]
