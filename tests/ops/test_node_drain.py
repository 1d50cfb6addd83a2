"""``octorunbook node drain|undrain|wait`` against the sandbox portal's node API and load-balancer ping."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from portkit import free_port as _free_port

from octorunbook.cli.main import main
from octorunbook.ops.node_drain import Server, ping
from octorunbook.targets.sandbox import Sandbox
from octorunbook.targets.sandbox.server_cli import start_portal

KEY = "API-NODETESTKEY0123456789"


@pytest.fixture
def node(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Sandbox, str]]:
    sandbox = Sandbox(tmp_path / "octo1")
    port = _free_port()
    sandbox.init(http_port=port)
    monkeypatch.setenv("OCTOPUS_API_KEY", KEY)
    try:
        yield sandbox, f"http://localhost:{port}"
    finally:
        sandbox.stop()


def _node(action: str, url: str, *extra: str) -> list[str]:
    return ["node", action, "--server", url, "--node", "octo1", "--timeout", "5", *extra]


def test_drain_makes_ping_answer_418_and_the_drain_survives_a_portal_restart(
    node: tuple[Sandbox, str], capsys: pytest.CaptureFixture[str]
) -> None:
    sandbox, url = node
    assert ping(Server(url)) == 200
    assert main(_node("drain", url)) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["node"], out["drained"], out["was_drained"], out["ping"]) == ("octo1", True, False, 418)
    assert ping(Server(url)) == 418
    sandbox.stop()
    assert ping(Server(url)) == 0  # down: neither 200 nor 418
    start_portal(sandbox, "OctopusServer")
    assert main(["node", "wait", "--ping-url", url, "--status", "418", "--timeout", "10"]) == 0
    assert main(_node("undrain", url)) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["was_drained"] is True
    assert ping(Server(url)) == 200


def _drained_and_down(node: tuple[Sandbox, str]) -> tuple[Sandbox, str]:
    """The node drained through its API, then its portal stopped (as 03's restart leaves it for a while)."""
    sandbox, url = node
    assert main(_node("drain", url)) == 0
    sandbox.stop()
    return sandbox, url


def test_undrain_with_wait_first_waits_for_a_restarting_node_to_answer_418_before_it_undrains(
    node: tuple[Sandbox, str], capsys: pytest.CaptureFixture[str]
) -> None:
    sandbox, url = _drained_and_down(node)
    restart = threading.Timer(1.0, start_portal, args=(sandbox, "OctopusServer"))
    restart.start()
    try:
        assert main(_node("undrain", url, "--timeout", "20", "--wait-first", "418")) == 0
    finally:
        restart.join()
    out = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert (out["drained"], out["was_drained"], out["ping"]) == (False, True, 200)
    assert out["waited_first_seconds"] > 0.5
    assert ping(Server(url)) == 200


def test_undrain_with_wait_first_changes_nothing_when_the_node_never_answers(
    node: tuple[Sandbox, str], capsys: pytest.CaptureFixture[str]
) -> None:
    sandbox, url = _drained_and_down(node)
    assert main(_node("undrain", url, "--timeout", "0.5", "--wait-first", "418")) == 1
    assert "NODE_WAIT_TIMEOUT" in capsys.readouterr().err
    start_portal(sandbox, "OctopusServer")
    still_drained = ["node", "wait", "--ping-url", url, "--status", "418", "--timeout", "10"]
    assert main(still_drained) == 0


def test_drain_of_a_node_already_drained_says_so(
    node: tuple[Sandbox, str], capsys: pytest.CaptureFixture[str]
) -> None:
    _, url = node
    assert main(_node("drain", url)) == 0
    assert main(_node("drain", url)) == 0
    assert json.loads(capsys.readouterr().out.splitlines()[-1])["was_drained"] is True


def test_drain_of_an_unknown_node_fails_and_changes_nothing(
    node: tuple[Sandbox, str], capsys: pytest.CaptureFixture[str]
) -> None:
    _, url = node
    assert main(["node", "drain", "--server", url, "--node", "octo9", "--timeout", "1"]) == 1
    assert "NODE_NOT_FOUND" in capsys.readouterr().err
    assert ping(Server(url)) == 200


def test_drain_with_a_key_octopus_refuses_is_unauthorized(
    node: tuple[Sandbox, str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, url = node
    monkeypatch.setenv("OCTOPUS_API_KEY", "not-a-key")
    assert main(_node("drain", url)) == 1
    assert "NODE_API_UNAUTHORIZED" in capsys.readouterr().err
    assert ping(Server(url)) == 200


def test_drain_refuses_an_unset_key_variable_before_calling_the_api(
    node: tuple[Sandbox, str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, url = node
    monkeypatch.delenv("OCTOPUS_API_KEY")
    assert main(_node("drain", url)) == 2
    assert "NODE_API_KEY_MISSING" in capsys.readouterr().err
    assert ping(Server(url)) == 200


def test_a_key_given_where_the_variable_name_belongs_is_refused_and_never_echoed(
    node: tuple[Sandbox, str], capsys: pytest.CaptureFixture[str]
) -> None:
    _, url = node
    assert main(_node("drain", url, "--api-key-env", KEY)) == 2
    captured = capsys.readouterr()
    assert "NODE_API_KEY_ENV_INVALID" in captured.err
    assert KEY not in captured.out + captured.err


def test_the_node_api_wants_an_api_key_and_a_boolean(node: tuple[Sandbox, str]) -> None:
    _, url = node
    server = Server(url)
    assert server.request("GET", "/api/octopusservernodes")[0] == 401
    status, page = server.request("GET", "/api/octopusservernodes", KEY)
    assert status == 200 and page["Items"][0]["Name"] == "octo1"
    node_id = page["Items"][0]["Id"]
    assert (
        server.request("PUT", f"/api/octopusservernodes/{node_id}", KEY, {"IsInMaintenanceMode": "yes"})[0]
        == 400
    )
    assert ping(server) == 200


def test_wait_gives_up_after_its_timeout_naming_what_it_saw(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://localhost:{_free_port()}"
    assert main(["node", "wait", "--ping-url", url, "--status", "200", "--timeout", "0.5"]) == 1
    err = capsys.readouterr().err
    assert "NODE_WAIT_TIMEOUT" in err and "no answer" in err


def test_a_server_url_that_is_not_http_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["node", "wait", "--ping-url", "ftp://octopus", "--status", "200"]) == 2
    assert "NODE_URL_INVALID" in capsys.readouterr().err
