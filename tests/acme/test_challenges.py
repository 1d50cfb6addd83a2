"""The ACME pieces that need no CA: parameter checks, problem codes, badNonce retries (also on the
authorisations' record), the Windows HTTP-01 listener's argv and lifecycle (stand-in PowerShell), the
account folder's ACL command."""

from __future__ import annotations

import datetime
import json
import stat
import sys
import tomllib
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from acme import challenges, errors, messages

from octorunbook.acme.challenges import http01_registered, record_name, resolver_address
from octorunbook.acme.client import account_acl_argvs
from octorunbook.acme.errors import problem_error, retry_bad_nonce
from octorunbook.acme.orders import await_authorizations
from octorunbook.commands import CommandRunner
from octorunbook.findings import OctorunbookError
from octorunbook.params.core import LETS_ENCRYPT, LETS_ENCRYPT_STAGING, Parameters
from octorunbook.targets.windows.acme_listener import CHALLENGE_PREFIX

ROOT = Path(__file__).resolve().parents[2]
FAKES = Path(__file__).resolve().parents[1] / "fakes"


def codes(**values: Any) -> list[str]:
    return [f.code for f in Parameters(certificate_source="acme", **values).check() if f.severity == "error"]


def test_acme_defaults_are_lets_encrypt_http01_and_pass_the_check() -> None:
    params = Parameters(certificate_source="acme")
    assert params.acme_directory_url == LETS_ENCRYPT and params.acme_challenge == "http-01"
    assert codes() == []


def test_staging_is_a_shorthand_for_lets_encrypt_staging() -> None:
    assert Parameters(acme_directory="staging").acme_directory_url == LETS_ENCRYPT_STAGING


@pytest.mark.parametrize(
    ("values", "code"),
    [
        ({"acme_directory": "http://ca.example/dir"}, "ACME_DIRECTORY_INVALID"),
        ({"acme_challenge": "tls-alpn-01"}, "ACME_CHALLENGE_INVALID"),
        ({"acme_challenge": "dns-01"}, "ACME_DNS_HOOK_REQUIRED"),
        ({"extra_dns_names": "*.example.com"}, "ACME_WILDCARD_NEEDS_DNS01"),
        ({"acme_email": "not an address"}, "ACME_EMAIL_INVALID"),
        ({"acme_eab_kid": "kid-1"}, "ACME_EAB_INCOMPLETE"),
        ({"acme_eab_kid": "kid-1", "acme_eab_hmac_env": "hmac value!"}, "ACME_EAB_HMAC_ENV_INVALID"),
        ({"acme_ca_bundle": "/nonexistent/ca.pem"}, "FILE_NOT_FOUND"),
    ],
)
def test_bad_acme_parameters_are_coded_errors_before_anything_is_contacted(
    values: dict[str, Any], code: str
) -> None:
    assert code in codes(**values)


def test_acme_and_josepy_are_project_dependencies() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    names = {d.split(">")[0].split("=")[0].strip().lower() for d in project["project"]["dependencies"]}
    assert {"acme", "josepy"} <= names


@pytest.mark.parametrize(
    ("kind", "code"),
    [
        ("rateLimited", "ACME_RATE_LIMITED"),
        ("unauthorized", "ACME_UNAUTHORIZED"),
        ("dns", "ACME_DNS"),
        ("badNonce", "ACME_BAD_NONCE"),
        ("externalAccountRequired", "ACME_ACCOUNT_EAB_REQUIRED"),
        ("accountDoesNotExist", "ACME_ACCOUNT_NOT_FOUND"),
        ("somethingNew", "ACME_PROTOCOL"),
    ],
)
def test_problem_documents_map_to_stable_codes_with_the_cas_detail(kind: str, code: str) -> None:
    error = problem_error(messages.Error(typ=f"urn:ietf:params:acme:error:{kind}", detail="CA says so"))
    assert error.code == code and "CA says so" in error.message and error.remedy


def _bad_nonce() -> messages.Error:
    return messages.Error(
        typ="urn:ietf:params:acme:error:badNonce", detail="JWS has an invalid anti-replay nonce"
    )


def test_bad_nonce_is_retried_and_counted() -> None:
    run: Any = SimpleNamespace(state={})
    answers = [_bad_nonce(), _bad_nonce(), "order"]

    def call() -> str:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert retry_bad_nonce(call, run) == "order"
    assert run.state["acme_bad_nonce_retries"] == 2


def test_bad_nonce_three_times_in_a_row_is_given_up() -> None:
    run: Any = SimpleNamespace(state={})

    def call() -> str:
        raise _bad_nonce()

    with pytest.raises(messages.Error):
        retry_bad_nonce(call, run)


def _authorization(name: str, status: Any, error: str = "") -> messages.AuthorizationResource:
    problem = messages.Error(typ="urn:ietf:params:acme:error:connection", detail=error) if error else None
    chall = messages.ChallengeBody(chall=challenges.HTTP01(token=b"t" * 32), status=status, error=problem)
    identifier = messages.Identifier(typ=messages.IDENTIFIER_FQDN, value=name)
    body = messages.Authorization(identifier=identifier, status=status, challenges=[chall])
    return messages.AuthorizationResource(body=body, uri=f"https://ca.test/authz/{name}")


class RefusingCA:
    """The two calls of an ACME client that decide the authorisations: ``poll_authorizations`` ends as
    ``outcome`` says; each ``poll`` answers the CA's verdict after ``refusals`` badNonce errors as the
    library raises them (its own single retry already spent)."""

    def __init__(self, verdicts: list[messages.AuthorizationResource], outcome: Exception, refusals: int):
        self.verdicts = {authzr.uri: authzr for authzr in verdicts}
        self.outcome, self.refusals, self.polls = outcome, refusals, 0

    def poll_authorizations(self, order: Any, deadline: datetime.datetime) -> Any:
        raise self.outcome

    def poll(self, authzr: messages.AuthorizationResource) -> tuple[messages.AuthorizationResource, None]:
        self.polls += 1
        if self.polls <= self.refusals:
            raise _bad_nonce()
        return self.verdicts[authzr.uri], None


def await_with(ca: RefusingCA, names: list[str]) -> list[dict[str, Any]]:
    """Run await_authorizations over an order for ``names`` answered as pending; the recorded results."""
    pending = [_authorization(name, messages.STATUS_PENDING) for name in names]
    order = messages.OrderResource(body=messages.Order(), authorizations=pending)
    summary: dict[str, Any] = {"authorizations": [{"url": a.uri, "status": "pending"} for a in pending]}
    run: Any = SimpleNamespace(state={})
    with pytest.raises(type(ca.outcome)):
        await_authorizations(run, ca, order, summary, datetime.datetime.now())
    return [
        {k: e[k] for k in ("url", "status", "errors", "unknown_because") if k in e}
        for e in summary["authorizations"]
    ]


def test_a_failed_authorisation_is_recorded_invalid_with_the_cas_error_whatever_nonces_it_refuses() -> None:
    failed = _authorization("a.test", messages.STATUS_INVALID, "connect: connection refused")
    ca = RefusingCA([failed], errors.ValidationError([failed]), refusals=99)
    assert await_with(ca, ["a.test"]) == [
        {"url": failed.uri, "status": "invalid", "errors": ["connection: connect: connection refused"]}
    ]


def test_the_valid_authorisation_beside_a_failed_one_is_asked_again_through_bad_nonces() -> None:
    failed = _authorization("a.test", messages.STATUS_INVALID, "connect: connection refused")
    valid = _authorization("b.test", messages.STATUS_VALID)
    ca = RefusingCA([failed, valid], errors.ValidationError([failed]), refusals=2)
    assert [e["status"] for e in await_with(ca, ["a.test", "b.test"])] == ["invalid", "valid"]
    assert ca.polls == 3, "only b.test was asked again: twice refused, then answered"


def test_an_authorisation_the_ca_cannot_be_asked_about_is_unknown_with_the_reason_never_pending() -> None:
    ca = RefusingCA([_authorization("a.test", messages.STATUS_PENDING)], errors.TimeoutError(), refusals=99)
    [entry] = await_with(ca, ["a.test"])
    assert entry["status"] == "unknown" and "badNonce" in entry["unknown_because"]


@pytest.mark.windows
def test_account_folder_is_taken_for_administrators_reset_then_limited_to_administrators_and_system(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SystemRoot", "C:\\Windows")
    monkeypatch.delenv("PROCESSOR_ARCHITEW6432", raising=False)
    folder = Path("C:/ProgramData/octorunbook/acme/ca")
    assert account_acl_argvs(folder) == [
        ["C:\\Windows\\System32\\takeown.exe", "/F", str(folder), "/A"],
        ["C:\\Windows\\System32\\icacls.exe", str(folder), "/reset"],
        [
            "C:\\Windows\\System32\\icacls.exe",
            str(folder),
            "/inheritance:r",
            "/grant:r",
            "*S-1-5-32-544:(OI)(CI)F",
            "*S-1-5-18:(OI)(CI)F",
        ],
    ]


@pytest.mark.parametrize(
    ("command", "argv"),
    [
        (r'"C:\Program Files\dns\hook.exe"', [r"C:\Program Files\dns\hook.exe"]),
        (
            r'"C:\Program Files\dns\hook.exe" --zone "example com" -v',
            [r"C:\Program Files\dns\hook.exe", "--zone", "example com", "-v"],
        ),
        (r"'C:\Program Files\dns\hook.cmd'", [r"C:\Program Files\dns\hook.cmd"]),
        (r"C:\tools\hook.exe", [r"C:\tools\hook.exe"]),
    ],
)
def test_a_quoted_windows_hook_path_loses_its_quotes_and_keeps_its_backslashes(
    command: str, argv: list[str]
) -> None:
    from octorunbook.acme.challenges import hook_argv

    assert hook_argv(command, windows=True) == argv


def test_a_quoted_hook_path_with_a_space_runs_through_the_seam(tmp_path: Path) -> None:
    from octorunbook.acme.challenges import run_dns_hook

    hook = tmp_path / "dns tools" / "hook.sh"
    hook.parent.mkdir()
    hook.write_text('#!/bin/sh\necho "$OCTORUNBOOK_ACME_ACTION $1" > "$(dirname "$0")/said"\n')
    hook.chmod(0o755)
    runner = CommandRunner(timeout=60)
    target = SimpleNamespace(runner=runner)
    params = SimpleNamespace(acme_dns_hook=f'"{hook}" zone-1')
    run: Any = SimpleNamespace(require_target=lambda: target, params=params)
    run_dns_hook(run, "present", "octopus.example.com", "txt-value")
    assert (hook.parent / "said").read_text() == "present zone-1\n"
    (record,) = runner.records
    assert record.argv == (str(hook), "zone-1") and record.exit_code == 0


def test_dns01_record_name_and_resolver_setting() -> None:
    assert record_name("*.octopus.example.com") == "_acme-challenge.octopus.example.com."
    assert resolver_address("127.0.0.1:8053") == ("127.0.0.1", 8053)
    assert resolver_address("[::1]:53") == ("::1", 53)
    assert resolver_address("1.1.1.1") == ("1.1.1.1", 53)


# ------------------------------------------------------------------------------------------------
# Windows: the HttpListener script, through the seam, against a stand-in PowerShell
# ------------------------------------------------------------------------------------------------
@pytest.fixture
def acme_powershell(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    exe = tmp_path / "bin" / "powershell"
    exe.parent.mkdir(parents=True)
    exe.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{FAKES / "acme_powershell.py"}" "$@"\n')
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("OCTORUNBOOK_POWERSHELL", str(exe))
    monkeypatch.setenv("FAKE_ACME_LOG", str(tmp_path / "argv.log"))
    return tmp_path / "argv.log"


def windows_run() -> Any:
    """A run on a Windows target whose HTTP-01 responder is the real ``HttpListenerResponder``."""
    from octorunbook.targets.windows.acme_listener import HttpListenerResponder

    runner = CommandRunner(timeout=60)
    parts = SimpleNamespace(responder=HttpListenerResponder(runner))
    target = SimpleNamespace(kind="windows", runner=runner, parts=parts)
    return SimpleNamespace(require_target=lambda: target, state={}, runner=runner)


def _listener_argv(log: Path) -> list[list[str]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


@pytest.mark.windows
def test_windows_http01_listener_runs_the_script_with_the_exact_argv_and_stops_after_validation(
    acme_powershell: Path,
) -> None:
    from octorunbook.targets.windows.powershell import POWERSHELL_OPTIONS, script_path

    run = windows_run()
    with http01_registered(run, "tok-EN_1", "tok-EN_1.thumb"):
        (argv,) = _listener_argv(acme_powershell)
        folder = Path(argv[argv.index("-TokenFolder") + 1])
        assert (folder / "tok-EN_1").read_text() == "tok-EN_1.thumb", "served from its file"
        assert not (folder / "listener.stop").exists(), "still listening inside the with"
    assert argv == [
        *POWERSHELL_OPTIONS,
        "-File",
        str(script_path("serve-acme-challenge.ps1")),
        "-Prefix",
        CHALLENGE_PREFIX,
        "-TokenFolder",
        str(folder),
        "-TimeoutSeconds",
        "300",
    ]
    assert CHALLENGE_PREFIX == "http://+:80/.well-known/acme-challenge/"
    (record,) = run.runner.records
    assert record.exit_code == 0 and record.mutating and record.label == "acme http-01 listener"
    assert run.state["acme_listener"] == [
        {"status": "ok", "prefix": CHALLENGE_PREFIX, "served": 0, "requests": 0, "seconds": 0}
    ]
    assert not folder.parent.exists(), "the token folder and its private parent are removed"


def _fetch(port: int, token: str) -> tuple[int, str]:
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    connection.request("GET", f"/.well-known/acme-challenge/{token}", headers={"Host": "a.example"})
    response = connection.getresponse()
    body = response.read().decode()
    connection.close()
    return response.status, body


@pytest.mark.windows
def test_two_names_are_served_by_one_listener_from_files_and_no_token_is_on_its_command_line(
    acme_powershell: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HTTP.sys refuses a second registration of the prefix (183): one script start for the whole order;
    a token that begins with ``-`` (a parameter name to ``-File``) travels only through its file."""
    from contextlib import ExitStack

    port_file = tmp_path / "port"
    monkeypatch.setenv("FAKE_ACME_PORT_FILE", str(port_file))
    run = windows_run()
    tokens = {"-Token": "-Token.thumb", "b_Tok-2": "b_Tok-2.thumb"}
    with ExitStack() as registered:
        for token, key_authorization in tokens.items():
            registered.enter_context(http01_registered(run, token, key_authorization))
        (argv,) = _listener_argv(acme_powershell)
        folder = Path(argv[argv.index("-TokenFolder") + 1])
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        assert stat.S_IMODE(folder.parent.stat().st_mode) == 0o700
        port = int(port_file.read_text())
        assert {t: _fetch(port, t) for t in tokens} == {t: (200, k) for t, k in tokens.items()}
        assert _fetch(port, "listener")[0] == 404 and _fetch(port, "..%2Flistener.ready")[0] == 404
        assert argv[argv.index("-File") + 2 :] == [
            "-Prefix",
            CHALLENGE_PREFIX,
            "-TokenFolder",
            str(folder),
            "-TimeoutSeconds",
            "300",
        ], "no token and no key authorisation on the command line"
    assert len(run.runner.records) == 1, "one script start for both names"
    (report,) = run.state["acme_listener"]
    assert report["status"] == "ok" and report["served"] == 2 and report["requests"] == 4
    assert not folder.parent.exists(), "tokens, control files and the folders are removed"


@pytest.mark.windows
def test_each_token_is_removed_when_its_own_with_ends_and_the_listener_outlives_it(
    acme_powershell: Path,
) -> None:
    from octorunbook.targets.windows.acme_listener import HttpListenerResponder

    responder = HttpListenerResponder(CommandRunner(timeout=60))
    with responder.serving("first", "first.k") as first_report:
        with responder.serving("second", "second.k") as second_report:
            (argv,) = _listener_argv(acme_powershell)
            folder = Path(argv[argv.index("-TokenFolder") + 1])
            assert sorted(p.name for p in folder.iterdir()) == ["first", "listener.ready", "second"]
        assert sorted(p.name for p in folder.iterdir()) == ["first", "listener.ready"]
        assert second_report == {}, "only the last with to end carries the listener's report"
    assert first_report["status"] == "ok" and not folder.parent.exists()
    with responder.serving("third", "third.k"):
        assert len(_listener_argv(acme_powershell)) == 2, "a later order starts a new listener"


@pytest.mark.windows
@pytest.mark.parametrize("token", ["../x", "-a b", "", "tok\nx", "x" * 257, "a.b"])
def test_the_windows_responder_refuses_a_token_that_is_not_base64url_before_starting_anything(
    acme_powershell: Path, token: str
) -> None:
    from octorunbook.targets.windows.acme_listener import HttpListenerResponder

    responder = HttpListenerResponder(CommandRunner(timeout=60))
    with pytest.raises(OctorunbookError) as refused, responder.serving(token, "k"):
        pytest.fail("served")
    assert refused.value.code == "ACME_TOKEN_INVALID" and not acme_powershell.exists()


@pytest.mark.windows
def test_windows_listener_refused_by_httpsys_is_acme_listener_failed_with_its_message(
    acme_powershell: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_ACME_SCENARIO", "access-denied")
    with pytest.raises(OctorunbookError) as failure, http01_registered(windows_run(), "tok", "tok.thumb"):
        pytest.fail("the challenge must not be answered without a listener")
    assert failure.value.code == "ACME_LISTENER_FAILED" and "Access is denied" in failure.value.message


@pytest.mark.windows
def test_the_listener_script_is_windows_powershell_51_syntax_and_unregisters_in_finally() -> None:
    from octorunbook.targets.windows.powershell import script_path

    text = script_path("serve-acme-challenge.ps1").read_text()
    assert "System.Net.HttpListener" in text
    finally_block = text[text.index("\nfinally {") :]
    assert "$listener.Stop()" in finally_block and "$listener.Close()" in finally_block
    for newer_only in ("??", "?.", " ? ", "-AsArray", "&&", "||"):
        assert newer_only not in text, newer_only


@pytest.mark.windows
def test_the_listener_script_takes_no_token_and_serves_only_base64url_names_from_its_private_folder() -> None:
    """Tokens come through files: the script has no -Token/-KeyAuthorization parameter; the folder is
    created with its final ACL (protected, SYSTEM/Administrators/the running account) before listening."""
    from octorunbook.targets.windows.powershell import script_path

    text = script_path("serve-acme-challenge.ps1").read_text()
    params = text[text.index("param(") : text.index(")\n", text.index("param("))]
    assert "$TokenFolder" in params and "$Token]" not in params and "$Token," not in params
    assert "KeyAuthorization" not in params
    assert "'^[A-Za-z0-9_-]{1,256}\\z'" in text and "$token -cmatch $tokenPattern" in text
    create = text.index("[System.IO.Directory]::CreateDirectory($TokenFolder, $security)")
    assert text.index("SetAccessRuleProtection($true, $false)") < create < text.index("$listener.Start()")
    for sid in ("'S-1-5-18'", "'S-1-5-32-544'", "WindowsIdentity]::GetCurrent().User"):
        assert sid in text[:create]
    assert text.index("if (Test-Path -LiteralPath $TokenFolder)") < create, "a planted folder is refused"


def test_the_acme_guide_s_lets_encrypt_params_yaml_is_valid() -> None:
    import yaml

    section = (ROOT / "docs" / "how-to" / "acme.md").read_text()
    block = section[
        section.index("```yaml") + len("```yaml") : section.index("```", section.index("```yaml") + 7)
    ]
    params = Parameters.from_mapping(yaml.safe_load(block), strict=True)
    assert params.certificate_source == "acme" and params.acme_challenge == "http-01"
    assert [f.code for f in params.check() if f.severity == "error"] == []


def test_preflight_that_cannot_fetch_the_challenge_is_a_warning_naming_port_80() -> None:
    import socket

    from octorunbook.acme.challenges import preflight

    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    notes: list[Any] = []
    target = SimpleNamespace(endpoint=lambda _: ("127.0.0.1", port))
    run: Any = SimpleNamespace(require_target=lambda: target, note=notes.append)
    assert preflight(run, "tok", "tok.thumb", "octopus.example.com") is False
    (finding,) = notes
    assert finding.code == "ACME_PREFLIGHT_FAILED" and finding.severity == "warning"
    assert "http://octopus.example.com/.well-known/acme-challenge/tok" in finding.message
    assert "port 80" in finding.remedy.lower()


def test_a_target_without_an_http01_responder_is_refused_before_anything_is_ordered() -> None:
    """nginx: octorunbook does not own the front's locations, so HTTP-01 is refused (dns-01 is the way)."""
    from octorunbook.acme.challenges import require_responder

    target = SimpleNamespace(kind="nginx", parts=SimpleNamespace(responder=None))
    run = SimpleNamespace(require_target=lambda: target, state={})
    with pytest.raises(OctorunbookError) as refused:
        require_responder(run)  # type: ignore[arg-type]
    assert refused.value.code == "ACME_CHALLENGE_UNSUPPORTED" and "dns-01" in refused.value.remedy


def test_the_sandbox_responder_refuses_a_token_that_is_not_base64url(tmp_path: Path) -> None:
    """A token comes from the CA: one that would name a path is never written."""
    from octorunbook.targets.sandbox import Sandbox
    from octorunbook.targets.sandbox.acme_responder import SandboxChallengeResponder

    responder = SandboxChallengeResponder(Sandbox(tmp_path / "sandbox").run_dir)
    for token in ("../../etc/passwd", "a/b", "", "tok\nx", "x" * 300):
        with pytest.raises(OctorunbookError) as refused, responder.serving(token, "k"):
            pytest.fail("served")
        assert refused.value.code == "ACME_TOKEN_INVALID"
    assert not (tmp_path / "etc").exists()
    with responder.serving("tok-EN_1", "tok-EN_1.thumb") as report:
        assert (responder.folder / "tok-EN_1").read_text() == "tok-EN_1.thumb" and report == {}
    assert not (responder.folder / "tok-EN_1").exists()
