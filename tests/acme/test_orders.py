"""``answer_authorizations`` for an order of two names on Windows: both HTTP-01 challenges are served by one
listener (one script start) until the caller's ExitStack closes, each fetched by the preflight through the
stand-in's port; a token that begins with ``-`` never reaches a command line."""

from __future__ import annotations

import json
import stat
import sys
from contextlib import ExitStack
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import josepy
import pytest
from acme import challenges, messages
from cryptography.hazmat.primitives.asymmetric import rsa

from octorunbook.acme.orders import answer_authorizations
from octorunbook.commands import CommandRunner
from octorunbook.targets.windows.acme_listener import CHALLENGE_PREFIX, HttpListenerResponder

FAKES = Path(__file__).resolve().parents[1] / "fakes"

pytestmark = pytest.mark.windows


def _authorization(name: str, token: bytes) -> messages.AuthorizationResource:
    chall = messages.ChallengeBody(
        chall=challenges.HTTP01(token=token),
        status=messages.STATUS_PENDING,
        uri=f"https://ca.test/chall/{name}",
    )
    identifier = messages.Identifier(typ=messages.IDENTIFIER_FQDN, value=name)
    body = messages.Authorization(identifier=identifier, status=messages.STATUS_PENDING, challenges=[chall])
    return messages.AuthorizationResource(body=body, uri=f"https://ca.test/authz/{name}")


def test_an_order_for_two_names_is_answered_by_one_listener_serving_both_tokens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    exe = tmp_path / "bin" / "powershell"
    exe.parent.mkdir(parents=True)
    exe.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKES / "acme_powershell.py"}" "$@"\n')
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("OCTORUNBOOK_POWERSHELL", str(exe))
    monkeypatch.setenv("FAKE_ACME_LOG", str(tmp_path / "argv.log"))
    monkeypatch.setenv("FAKE_ACME_PORT_FILE", str(tmp_path / "port"))

    runner = CommandRunner(timeout=60)
    target = SimpleNamespace(
        kind="windows",
        runner=runner,
        parts=SimpleNamespace(responder=HttpListenerResponder(runner)),
        endpoint=lambda _port: ("127.0.0.1", int((tmp_path / "port").read_text())),
    )
    notes: list[Any] = []
    run: Any = SimpleNamespace(
        require_target=lambda: target,
        state={},
        params=SimpleNamespace(acme_challenge="http-01"),
        note=notes.append,
    )
    key = josepy.JWKRSA(key=rsa.generate_private_key(public_exponent=65537, key_size=2048))
    answered: list[Any] = []
    acme = SimpleNamespace(
        net=SimpleNamespace(key=key), answer_challenge=lambda chall, response: answered.append(chall)
    )
    dash = b"\xf8" + b"t" * 31  # base64url "-..." : a parameter name on a -File command line
    order = SimpleNamespace(
        authorizations=[_authorization("a.example", dash), _authorization("b.example", b"u" * 32)]
    )
    tokens = [a.body.challenges[0].chall.encode("token") for a in order.authorizations]
    assert tokens[0].startswith("-")

    with ExitStack() as registered:
        entries = answer_authorizations(run, acme, order, registered)
        (argv,) = [json.loads(line) for line in (tmp_path / "argv.log").read_text().splitlines()]
        folder = Path(argv[argv.index("-TokenFolder") + 1])
        assert sorted(p.name for p in folder.iterdir()) == sorted([*tokens, "listener.ready"])
    assert [e["preflight"] for e in entries] == ["ok", "ok"] and notes == []
    assert len(answered) == 2 and len(runner.records) == 1, "one listener for both names"
    assert argv[argv.index("-File") + 2 :] == [
        "-Prefix",
        CHALLENGE_PREFIX,
        "-TokenFolder",
        str(folder),
        "-TimeoutSeconds",
        "300",
    ]
    (report,) = run.state["acme_listener"]
    assert report["served"] == 2 and not folder.parent.exists()
