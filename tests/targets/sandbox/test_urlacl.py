"""A custom Octopus service account gets the URL reservation for its new https prefix with the binding, and
loses it again on the way back — on the sandbox, whose stand-in service refuses to listen without it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from octorunbook.headless.inline import run_inline
from octorunbook.targets.octopus.urlacl import UrlAcl, parse_start_name
from octorunbook.targets.sandbox import Sandbox
from octorunbook.targets.winsyntax import service_name

ACCOUNT = "CORP\\svc-octopus"


def run_as(sandbox: Sandbox, account: str) -> dict[str, str]:
    """The service runs as ``account``; its existing http prefix was reserved for it (as an admin would)."""
    meta = sandbox.meta()
    meta["service_account"] = account
    sandbox.write_json(sandbox.meta_path, meta)
    config = json.loads(sandbox.instance_path("OctopusServer").read_text())
    http = config["Octopus"]["WebPortal"]["ListenPrefixes"].split(",")[0]
    port = http.rsplit(":", 1)[1].strip("/")
    reservations = {f"http://+:{port}/": account}
    sandbox.write_json(sandbox.urlacl_path, reservations)
    return reservations


def urlacl_commands(record: dict[str, Any]) -> list[list[str]]:
    return [c["argv"][1:] for c in record["commands"] if "urlacl" in c["argv"]]


def prepared(sandbox: Sandbox, params: Any) -> None:
    assert run_inline("01-import-certificate", params)["status"] == "succeeded"
    assert run_inline("02-verify-certificate", params)["status"] == "succeeded"


def prepared_as(sandbox: Sandbox, params_for: Any, account: str) -> tuple[dict[str, str], Any]:
    """The service runs as ``account``, 01 and 02 done: the reservations before 03, and its parameters."""
    before = run_as(sandbox, account)
    params = params_for(sandbox)
    prepared(sandbox, params)
    return before, params


def test_a_custom_service_account_gets_the_https_reservation_with_the_binding_and_it_is_recorded(
    sandbox: Sandbox, params_for: Any
) -> None:
    before, params = prepared_as(sandbox, params_for, ACCOUNT)
    record = run_inline("03-add-https-binding", params)
    assert record["status"] == "succeeded", record["findings"]
    assert json.loads(sandbox.urlacl_path.read_text()) == {**before, "https://+:443/": ACCOUNT}
    commands = urlacl_commands(record)
    add = ["http", "add", "urlacl", "url=https://+:443/", f"user={ACCOUNT}"]
    assert commands.count(add) == 1 and commands[0] == ["http", "show", "urlacl", "url=https://+:443/"]
    # read back after the add, not trusted from the exit code
    assert commands[commands.index(add) + 1] == ["http", "show", "urlacl", "url=https://+:443/"]
    row = next(r for r in record["plan"] if r["setting"] == "URL ACL https://+:443/")
    assert row["current"] == "none" and row["desired"] == f"reserved for {ACCOUNT}"
    assert any("reserve URL" in str(c) for c in record.get("changes", []))
    again = run_inline("03-add-https-binding", params)
    assert again["status"] == "unchanged", again["findings"]  # the reservation is there: nothing to add


def test_the_way_back_removes_only_the_reservation_this_run_added(sandbox: Sandbox, params_for: Any) -> None:
    before, params = prepared_as(sandbox, params_for, ACCOUNT)
    Sandbox(sandbox.root).init(fail="service-start", start=False)  # the restart after configure fails once
    run_as(sandbox, ACCOUNT)
    record = run_inline("03-add-https-binding", params)
    assert record["status"] == "failed"
    assert json.loads(sandbox.urlacl_path.read_text()) == before  # the http reservation stays
    assert ["http", "delete", "urlacl", "url=https://+:443/"] in urlacl_commands(record)


def test_an_add_urlacl_that_reports_success_but_reserves_nothing_fails_03_and_rolls_back(
    sandbox: Sandbox, params_for: Any
) -> None:
    before, params = prepared_as(sandbox, params_for, ACCOUNT)
    meta = sandbox.meta()
    meta["urlacl_add_noop"] = True
    sandbox.write_json(sandbox.meta_path, meta)
    bindings = sandbox.httpsys_path.read_text() if sandbox.httpsys_path.exists() else None
    record = run_inline("03-add-https-binding", params)
    assert record["status"] == "failed"
    refused = next(f for f in record["findings"] if f["code"] == "URLACL_NOT_AS_ASKED")
    assert "reported success" in refused["message"] and "https://+:443/" in refused["message"]
    assert json.loads(sandbox.urlacl_path.read_text()) == before
    after = sandbox.httpsys_path.read_text() if sandbox.httpsys_path.exists() else None
    assert json.loads(after or "{}") == json.loads(bindings or "{}")  # the binding was taken back too


def test_localsystem_needs_no_reservation_and_none_is_read_or_made(sandbox: Sandbox, params_for: Any) -> None:
    params = params_for(sandbox)
    prepared(sandbox, params)
    record = run_inline("03-add-https-binding", params)
    assert record["status"] == "succeeded", record["findings"]
    assert urlacl_commands(record) == []
    assert not sandbox.urlacl_path.exists() or json.loads(sandbox.urlacl_path.read_text()) == {}


def test_sc_qc_start_name_and_the_service_names_of_instances() -> None:
    text = Path(__file__).with_name("test_urlacl.py").read_text()  # any text without the field: ""
    assert parse_start_name(text.replace("SERVICE_START_NAME", "x")) == ""
    assert parse_start_name("        SERVICE_START_NAME : NT AUTHORITY\\NETWORK SERVICE\r\n") == (
        "NT AUTHORITY\\NETWORK SERVICE"
    )
    assert service_name("OctopusServer") == "OctopusDeploy"
    assert service_name("Second") == "OctopusDeploy: Second"
    assert UrlAcl.from_record({"url": "https://+:8443/", "reserved": False}) == UrlAcl(
        "https://+:8443/", False
    )
