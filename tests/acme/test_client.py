"""certificate_source: acme against a real ACME server (pebble): account, order, HTTP-01 through the
sandbox portal's own port 80, DNS-01 through a hook, finalise, download, import, bind, prove; renewal by
04 with no failed request. Pebble's default badNonce rejections stay on in every test here."""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest
from pebble_ca import SKIP_REASON, Pebble

from octorunbook.audit.records import extract_result
from octorunbook.evidence.tls import tls_handshake
from octorunbook.headless.inline import run_inline
from octorunbook.targets.sandbox import Sandbox

BIN = Path(sys.executable).parent
pytestmark = [pytest.mark.acme, pytest.mark.skipif(bool(SKIP_REASON), reason=SKIP_REASON)]


def acme_params(params_for: Any, sandbox: Sandbox, pebble: Pebble, **extra: Any) -> Any:
    values = {
        "certificate_source": "acme",
        "acme_directory": pebble.directory,
        "acme_ca_bundle": str(pebble.bundle),
        "acme_email": "ops@example.com",
    }
    return params_for(sandbox, **{**values, **extra})


def errors(record: dict[str, Any]) -> list[str]:
    return [f["code"] for f in record["findings"] if f["severity"] == "error"]


def served_chain(sandbox: Sandbox) -> Any:
    return tls_handshake("127.0.0.1", sandbox.status()["port_map"][443], "localhost")


# Among the 20 slowest (--durations, issue 28), by design: a real ACME order against pebble through the
# whole procedure.
def test_http01_order_end_to_end_through_octorunbook_run_serves_a_certificate_chaining_to_pebbles_root(
    sandbox: Sandbox, pebble: Pebble, tmp_path: Path
) -> None:
    params = tmp_path / "params.yaml"
    values = {
        "sandbox_dir": str(sandbox.root),
        "audit_dir": str(tmp_path / "audit"),
        "certificate_source": "acme",
        "acme_directory": pebble.directory,
        "acme_ca_bundle": str(pebble.bundle),
        "acme_email": "ops@example.com",
    }
    params.write_text("".join(f"{k}: {json.dumps(v)}\n" for k, v in values.items()))
    done = subprocess.run(
        [str(BIN / "octorunbook"), "run", str(params)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr + pebble.log()[-2000:]
    records = sorted((tmp_path / "audit").glob("*.ipynb"))
    first, _verify, bound = (extract_result(nbformat.read(str(p), as_version=4)) or {} for p in records)
    acme = first["acme"]
    assert acme["challenge"] == "http-01" and acme["order_url"].startswith("https://127.0.0.1:")
    assert acme["account"]["reused"] is False and acme["account"]["terms_of_service"]
    assert [(a["identifier"], a["status"], a["preflight"]) for a in acme["authorizations"]] == [
        ("localhost", "valid", "ok")
    ]
    assert not list((sandbox.run_dir / "acme-challenge").iterdir()), "challenge unregistered afterwards"
    assert bound["status"] == "succeeded", bound["findings"]
    served = served_chain(sandbox)
    assert served.thumbprint == first["certificate"]["thumbprint"]
    # what the portal serves verifies against the root pebble generated at this start (management API)
    context = ssl.create_default_context(cadata=pebble.root_pem().decode())
    port = sandbox.status()["port_map"][443]
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            assert tls.getpeercert(binary_form=True) is not None
            assert tls.version() in {"TLSv1.2", "TLSv1.3"}
    key_file = next((sandbox.root / "state" / "acme").iterdir()) / "account.key"
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    key_line = key_file.read_text().splitlines()[1]
    for path in tmp_path.joinpath("audit").rglob("*"):
        if path.is_file():
            assert key_line not in path.read_text(errors="replace"), f"account key in {path}"


def test_dns01_through_a_hook_that_sets_the_txt_record_in_challtestsrv(
    sandbox: Sandbox, pebble: Pebble, params_for: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = tmp_path / "dns-hook.py"
    hook.write_text(
        "import json, os, urllib.request\n"
        "action = os.environ['OCTORUNBOOK_ACME_ACTION']\n"
        "body = {'host': os.environ['OCTORUNBOOK_ACME_RECORD_NAME']}\n"
        "if action == 'present':\n"
        "    body['value'] = os.environ['OCTORUNBOOK_ACME_RECORD_VALUE']\n"
        "path = '/set-txt' if action == 'present' else '/clear-txt'\n"
        "request = urllib.request.Request(os.environ['CHALLTEST'] + path, data=json.dumps(body).encode())\n"
        "urllib.request.urlopen(request, timeout=5).read()\n"
        "open(os.environ['HOOK_LOG'], 'a').write(action + ' ' + body['host'] + '\\n')\n"
    )
    monkeypatch.setenv("CHALLTEST", pebble.challtest)
    monkeypatch.setenv("HOOK_LOG", str(tmp_path / "hook.log"))
    sandbox.stop()  # dns-01 needs nothing from port 80
    params = acme_params(
        params_for,
        sandbox,
        pebble,
        acme_challenge="dns-01",
        acme_dns_hook=f"{sys.executable} {hook}",
        acme_dns_resolver=f"{pebble.dns[0]}:{pebble.dns[1]}",
    )
    record = run_inline("01-import-certificate", params)
    assert record["status"] == "succeeded", record["findings"]
    auth = record["acme"]["authorizations"]
    assert [(a["identifier"], a["challenge"], a["status"]) for a in auth] == [
        ("localhost", "dns-01", "valid")
    ]
    assert "dns_visible_after_seconds" in auth[0]
    hooks = [c for c in record["commands"] if c["label"].startswith("acme dns hook")]
    assert [c["label"] for c in hooks] == ["acme dns hook present", "acme dns hook cleanup"]
    assert (tmp_path / "hook.log").read_text().splitlines() == [
        "present _acme-challenge.localhost.",
        "cleanup _acme-challenge.localhost.",
    ]


def test_a_challenge_the_ca_cannot_fetch_is_acme_challenge_failed_with_its_detail_and_changes_nothing(
    sandbox: Sandbox, make_pebble: Any, params_for: Any
) -> None:
    from portkit import free_ports

    pebble = make_pebble(free_ports(1)[0])  # the CA connects to a port where nothing answers
    record = run_inline("01-import-certificate", acme_params(params_for, sandbox, pebble))
    assert record["status"] == "failed"
    assert errors(record) == ["ACME_CHALLENGE_FAILED"]
    failure = next(f for f in record["findings"] if f["code"] == "ACME_CHALLENGE_FAILED")
    assert "localhost" in failure["message"] and "connection" in failure["message"].lower()
    assert "connection refused" in failure["message"], "the CA's own detail"
    # our own fetch through the portal worked (as behind a NAT without hairpin): the CA's view decides
    assert [(a["preflight"], a["status"]) for a in record["acme"]["authorizations"]] == [("ok", "invalid")]
    assert not list((sandbox.stores_dir / "My").iterdir()), "nothing imported"
    assert not [c for c in record["commands"] if c["mutating"]]
    assert not list((sandbox.run_dir / "acme-challenge").iterdir()), "challenge unregistered after failure"


def test_the_account_is_registered_once_and_reused_for_the_next_order(
    sandbox: Sandbox, pebble: Pebble, params_for: Any
) -> None:
    params = acme_params(params_for, sandbox, pebble)
    first = run_inline("01-import-certificate", params)
    second = run_inline("01-import-certificate", params)
    assert first["status"] == second["status"] == "succeeded", second["findings"]
    assert first["acme"]["account"]["reused"] is False and second["acme"]["account"]["reused"] is True
    assert first["acme"]["account"]["url"] == second["acme"]["account"]["url"]
    assert first["acme"]["order_url"] != second["acme"]["order_url"]
    assert [c["action"] for c in second["changes"]].count("acme account") == 0
    assert len(list((sandbox.root / "state" / "acme").iterdir())) == 1


def test_renewal_by_04_through_acme_has_zero_failed_requests_from_a_client_probing_every_20_ms(
    sandbox: Sandbox, pebble: Pebble, params_for: Any
) -> None:
    from tests.runbooks.test_renew import Prober

    params = acme_params(params_for, sandbox, pebble)
    first = run_inline("01-import-certificate", params)
    assert run_inline("03-add-https-binding", params)["status"] == "succeeded"
    old = first["certificate"]["thumbprint"]
    with Prober(sandbox.status()["port_map"][443]) as probe:
        record = run_inline(
            "04-renew-certificate", acme_params(params_for, sandbox, pebble, force_renew=True)
        )
    assert record["status"] == "succeeded", record["findings"]
    new = record["tls"]["thumbprint"]
    assert new != old and record["acme"]["account"]["reused"] is True
    assert probe.failures == [], probe.failures
    switch = probe.seen.index(new)
    assert set(probe.seen[:switch]) == {old} and set(probe.seen[switch:]) == {new}


def test_dry_run_reads_the_directory_but_registers_no_account_and_orders_nothing(
    sandbox: Sandbox, pebble: Pebble, params_for: Any
) -> None:
    record = run_inline("01-import-certificate", acme_params(params_for, sandbox, pebble, dry_run=True))
    assert record["status"] == "planned", record["findings"]
    assert record["acme"]["dry_run"] is True and "order_url" not in record["acme"]
    assert "ACME_DRY_RUN" in [f["code"] for f in record["findings"]]
    assert not (sandbox.root / "state" / "acme").exists()
    assert not list((sandbox.stores_dir / "My").iterdir())


def test_an_acme_api_whose_certificate_is_not_trusted_is_acme_ca_untrusted(
    sandbox: Sandbox, pebble: Pebble, params_for: Any
) -> None:
    params = acme_params(params_for, sandbox, pebble, acme_ca_bundle="")
    record = run_inline("01-import-certificate", params)
    assert errors(record) == ["ACME_CA_UNTRUSTED"]
    assert "acme_ca_bundle" in record["findings"][-1]["remedy"]
    assert not list((sandbox.stores_dir / "My").iterdir())


def test_an_unreachable_directory_is_acme_unreachable_and_changes_nothing(
    sandbox: Sandbox, params_for: Any
) -> None:
    from portkit import free_ports

    params = params_for(
        sandbox, certificate_source="acme", acme_directory=f"https://127.0.0.1:{free_ports(1)[0]}/dir"
    )
    record = run_inline("01-import-certificate", params)
    assert errors(record) == ["ACME_UNREACHABLE"]
    assert not [c for c in record["commands"] if c["mutating"]] and not record["changes"]


@pytest.mark.canary
def test_external_account_binding_uses_the_hmac_from_the_environment_and_writes_it_nowhere(
    sandbox: Sandbox, make_pebble: Any, params_for: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import base64
    import secrets

    canary = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
    pebble = make_pebble(sandbox.status()["port_map"][80], eab={"kid-octo": canary})
    without = run_inline("01-import-certificate", acme_params(params_for, sandbox, pebble))
    assert errors(without) == ["ACME_ACCOUNT_EAB_REQUIRED"]
    monkeypatch.setenv("OCTO_EAB_HMAC", canary)
    params = acme_params(
        params_for, sandbox, pebble, acme_eab_kid="kid-octo", acme_eab_hmac_env="OCTO_EAB_HMAC"
    )
    record = run_inline("01-import-certificate", params)
    assert record["status"] == "succeeded", record["findings"]
    for path in list(tmp_path.rglob("*")) + list(sandbox.root.rglob("*")):
        if path.is_file() and "pebble" not in path.parts[-2]:
            assert canary not in path.read_text(errors="replace"), f"EAB HMAC in {path}"
    assert canary not in json.dumps(record)
