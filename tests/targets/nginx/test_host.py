"""The runbooks on the nginx topology, end to end, with a real nginx: `sandbox init --front nginx` and
`target: nginx`.

What the parts do on their own (the server block, nginx -t, reload, restore, the PEM store) is
specified beside this file in test_front, test_config and test_store; here the same behaviour is
proven through the runbooks an operator runs (01 → 02 → 03, papermill or in-process), with their
records, codes and rollback.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import ssl
import stat
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import trustme
from nginxkit import HOSTNAME, NGINX, Changes, Upstream, needs_nginx

from octorunbook.evidence.tls import http_get, tls_handshake
from octorunbook.headless.inline import run_inline
from octorunbook.params.core import Parameters
from octorunbook.runbooks.run import TextReporter
from octorunbook.runbooks.undo import checkpoint_name
from octorunbook.targets.nginx import NginxSandbox
from octorunbook.targets.nginx.process import workers
from octorunbook.targets.sandbox import Sandbox
from octorunbook.targets.sandbox.proxied import nginx_of
from octorunbook.targets.sandbox.proxied import upstream as upstream_of
from octorunbook.targets.state import StateHome

pytestmark = needs_nginx
BIN = Path(sys.executable).parent


def _quiet(runbook: str, params: Parameters) -> dict[str, Any]:
    return run_inline(runbook, params, TextReporter(open(os.devnull, "w")))  # noqa: SIM115


def _codes(record: dict[str, Any]) -> list[str]:
    return [f["code"] for f in record["findings"] if f["severity"] == "error"]


@pytest.fixture
def front_nginx(make_sandbox: Callable[..., Any]) -> Callable[..., Sandbox]:
    """A sandbox of the nginx topology; the portal and nginx are stopped when the test ends."""

    def make(**kwargs: Any) -> Sandbox:
        return make_sandbox(front="nginx", **kwargs)  # type: ignore[no-any-return]

    return make


def _params(sandbox: Sandbox, tmp_path: Path, **extra: Any) -> Parameters:
    values: dict[str, Any] = {
        "sandbox_dir": str(sandbox.root),
        "audit_dir": str(tmp_path / "audit"),
        "front": "nginx",
        "hostname": HOSTNAME,
        "force_ssl": True,
        "hsts_max_age": 3600,
    }
    values.update(extra)
    return Parameters(**values)


def _bind(params: Parameters) -> tuple[dict[str, Any], dict[str, Any]]:
    imported = _quiet("01-import-certificate", params)
    assert imported["status"] == "succeeded", _codes(imported)
    thumbprint = imported["certificate"]["thumbprint"]
    return imported, _quiet("03-add-https-binding", replace(params, thumbprint=thumbprint))


Bound = tuple[Sandbox, Parameters, dict[str, Any]]


@pytest.fixture
def bound(front_nginx: Callable[..., Sandbox], tmp_path: Path) -> Bound:
    """An nginx-front sandbox after a first 01 + 03 (force_ssl, HSTS): the sandbox, the parameters, 03's record."""
    sandbox = front_nginx()
    params = _params(sandbox, tmp_path)
    _, first = _bind(params)
    assert first["status"] == "succeeded", _codes(first)
    return sandbox, params, first


def _octopus_moves_away(sandbox: Sandbox) -> None:
    """The stand-in Octopus now listens elsewhere: nothing answers where nginx proxies to (nginx: 502)."""
    exe = str(sandbox.server_exe)
    moved = "http://+:8089/"
    subprocess.run(
        [exe, "configure", "--instance", "OctopusServer", "--webListenPrefixes", moved], check=True
    )
    subprocess.run([exe, "service", "--instance", "OctopusServer", "--stop", "--start"], check=True)


def _served(sandbox: Sandbox) -> str:
    return tls_handshake("127.0.0.1", sandbox.map_port(443), HOSTNAME).thumbprint


# ---- the sandbox topology -------------------------------------------------------------------------
def test_sandbox_init_front_nginx_runs_the_stand_in_octopus_on_plain_http_behind_a_real_nginx(
    front_nginx: Callable[..., Sandbox],
) -> None:
    sandbox = front_nginx()
    status = sandbox.status()

    assert status["front"] == "nginx" and status["running"] and status["nginx_pid"]
    assert status["config"]["listen_prefixes"] == ["http://+:8080/"]
    upstream = http_get("http", "127.0.0.1", sandbox.map_port(8080), HOSTNAME)
    assert upstream.status == 200 and (upstream.json() or {}).get("Application") == "Octopus Deploy"
    portal, proxy = status["portal_pid"], status["nginx_pid"]

    assert sandbox.stop_all() == {"portal": True, "nginx": True}
    assert sandbox.portal_pid() is None and nginx_of(sandbox).pid() is None
    for pid in (portal, proxy):
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]


def test_stand_in_octopus_records_trusted_proxies_and_refuses_what_is_not_an_address(
    front_nginx: Callable[..., Sandbox],
) -> None:
    sandbox = front_nginx()
    exe = str(sandbox.server_exe)

    ok = subprocess.run(
        [exe, "configure", "--instance", "OctopusServer", "--trustedProxies", "127.0.0.1,::1"]
    )
    bad = subprocess.run(
        [exe, "configure", "--instance", "OctopusServer", "--trustedProxies", "nginx.local"],
        capture_output=True,
        text=True,
    )

    assert ok.returncode == 0 and bad.returncode != 0 and "nginx.local" in bad.stderr
    portal = json.loads(sandbox.instance_path("OctopusServer").read_text())["Octopus"]["WebPortal"]
    assert portal["TrustedProxies"] == "127.0.0.1,::1"


def test_a_sandbox_made_for_one_front_refuses_the_other_with_exit_2_before_anything_runs(
    make_sandbox: Callable[..., Sandbox], tmp_path: Path
) -> None:
    sandbox = make_sandbox()  # HTTP.sys
    params = tmp_path / "params.yaml"
    params.write_text(f"sandbox_dir: {sandbox.root}\nfront: nginx\naudit_dir: {tmp_path / 'audit'}\n")

    done = subprocess.run([str(BIN / "octorunbook"), "run", str(params)], capture_output=True, text=True)

    assert done.returncode == 2, done.stdout + done.stderr
    assert "SANDBOX_FRONT_MISMATCH" in done.stdout + done.stderr
    assert not list((tmp_path / "audit").glob("*.ipynb"))
    assert not (sandbox.root / "nginx").exists()


@pytest.mark.parametrize(
    ("values", "code"),
    [
        ({"front": "iis"}, "FRONT_INVALID"),
        ({"target": "windows", "front": "nginx"}, "FRONT_INVALID"),
        ({"target": "nginx", "nginx_bin": "nginx"}, "PATH_INVALID"),
        ({"target": "nginx", "cert_dir": "certs"}, "PATH_INVALID"),
        ({"target": "nginx", "nginx_pid": "/run/nginx\n.pid"}, "PATH_INVALID"),
        ({"target": "nginx", "octopus_upstream": "ftp://octopus:8080"}, "NGINX_UPSTREAM_INVALID"),
        ({"target": "nginx", "octopus_upstream": "http://127.0.0.1:8080/;evil"}, "NGINX_UPSTREAM_INVALID"),
        ({"target": "linux"}, "TARGET_INVALID"),
    ],
)
def test_nginx_parameters_are_refused_at_the_boundary_with_a_code_and_remedy(
    values: dict[str, Any], code: str, tmp_path: Path
) -> None:
    problems = Parameters(sandbox_dir=str(tmp_path / "none"), **values).check()

    errors = [p for p in problems if p.severity == "error"]
    assert code in [p.code for p in errors] and all(p.remedy for p in errors)


def test_the_debian_defaults_of_target_nginx_are_valid_parameters() -> None:
    params = Parameters(target="nginx")

    assert [p.code for p in params.check() if p.severity == "error"] == []
    assert (params.nginx_bin, params.nginx_conf_dir, params.nginx_pid, params.cert_dir) == (
        "/usr/sbin/nginx",
        "/etc/nginx",
        "/run/nginx.pid",
        "/etc/octorunbook/certs",
    )
    assert params.octopus_upstream == "http://127.0.0.1:8080" and params.front_kind == "nginx"


# ---- the procedure through papermill ----------------------------------------------------------
@pytest.mark.canary
def test_first_binding_through_octorunbook_run_then_a_rerun_is_unchanged_without_reload(
    front_nginx: Callable[..., Sandbox], tmp_path: Path
) -> None:
    """Also the canary: a PFX password never reaches any file the procedure writes."""
    from tests.test_redaction_canary import _files_containing, _pfx

    sandbox = front_nginx()
    canary = "canary-" + secrets.token_hex(12)
    work = tmp_path / "work"
    work.mkdir()
    pfx = _pfx(work / "portal.pfx", canary)
    params = work / "params.yaml"
    values = {
        "sandbox_dir": str(sandbox.root),
        "audit_dir": str(tmp_path / "audit"),
        "front": "nginx",
        "hostname": "localhost",
        "certificate_source": "pfx",
        "pfx_path": str(pfx),
        "pfx_password_env": "OCTORUNBOOK_CANARY_PW",
        "force_ssl": True,
        "hsts_max_age": 3600,
    }
    params.write_text("".join(f"{k}: {json.dumps(v)}\n" for k, v in values.items()))
    env = {**os.environ, "OCTORUNBOOK_CANARY_PW": canary, "IPYTHONDIR": str(tmp_path / "ipython")}

    done = subprocess.run(
        [str(BIN / "octorunbook"), "run", str(params)], capture_output=True, text=True, cwd=work, env=env
    )

    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    records = sorted((tmp_path / "audit").glob("*03-add-https-binding*.ipynb"))
    record = _record_of(records[-1])
    assert record["status"] == "succeeded"
    assert record["implementations"] == {
        "store": "pem-directory",
        "front": "nginx",
        "instance": "octopus-behind-proxy",
    }
    thumbprint = record["certificate"]["thumbprint"]
    assert [c["action"] for c in record["changes"]] == [
        "install nginx site",
        "reload nginx",
        "configure",
        "service restart",
    ]
    assert all(v["ok"] for v in record["verification"])
    assert _served(sandbox) == thumbprint
    folder = sandbox.root / "nginx" / "certs" / thumbprint
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((folder / "privkey.pem").stat().st_mode) == 0o600
    portal = json.loads(sandbox.instance_path("OctopusServer").read_text())["Octopus"]["WebPortal"]
    assert portal["TrustedProxies"] == "127.0.0.1"
    verified = _record_of(sorted((tmp_path / "audit").glob("*02-verify*.ipynb"))[-1])
    assert "nginx -t loads the certificate and key" in [v["check"] for v in verified["verification"]]
    assert _files_containing([tmp_path, sandbox.root], canary.encode()) == []

    proxy = nginx_of(sandbox)
    master = proxy.pid()
    assert master is not None
    before = workers(master)
    again = _quiet(
        "03-add-https-binding", _params(sandbox, tmp_path, hostname="localhost", thumbprint=thumbprint)
    )

    assert again["status"] == "unchanged" and again["changes"] == []
    assert not any("reload" in " ".join(c["argv"]) for c in again["commands"])
    assert proxy.pid() == master and workers(master) == before


def _record_of(path: Path) -> dict[str, Any]:
    for cell in json.loads(path.read_text())["cells"]:
        for output in cell.get("outputs", []):
            data = output.get("data", {}).get("application/vnd.octorunbook.result+json")
            if data:
                return data  # type: ignore[no-any-return]
    raise AssertionError(f"no record in {path}")


# ---- changes, failures and rollback -------------------------------------------------------------
@contextlib.contextmanager
def probing(sandbox: Sandbox) -> Iterator[list[str]]:
    """A client opening a new HTTPS connection to /api every 20 ms; each outcome ("ok" or why not)."""
    url = f"https://127.0.0.1:{sandbox.map_port(443)}/api"
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    outcomes: list[str] = []
    stop = threading.Event()

    def probe() -> None:
        while not stop.is_set():
            request = urllib.request.Request(url, headers={"Host": HOSTNAME})
            try:
                with urllib.request.urlopen(request, context=context, timeout=2) as answer:
                    outcomes.append("ok" if answer.status == 200 else f"status {answer.status}")
            except Exception as exc:  # every failure counts, whatever it is
                outcomes.append(f"failed: {exc}")
            time.sleep(0.02)

    prober = threading.Thread(target=probe)
    prober.start()
    try:
        _until(lambda: len(outcomes) >= 1)  # probing before the change starts
        yield outcomes
        during = len(outcomes)  # how many fall inside the change depends on the machine's load, not on nginx
        _until(lambda: len(outcomes) >= during + 10)  # and well after it
    finally:
        stop.set()
        prober.join()


def _until(condition: Callable[[], bool], seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)


def test_a_certificate_change_is_served_after_reload_with_no_failed_request_every_20_ms(bound: Bound) -> None:
    sandbox, params, first = bound
    master = nginx_of(sandbox).pid()
    with probing(sandbox) as outcomes:
        _, second = _bind(params)

    assert second["status"] == "succeeded", _codes(second)
    assert [c["action"] for c in second["changes"]] == ["install nginx site", "reload nginx"]
    assert _served(sandbox) == second["certificate"]["thumbprint"] != first["certificate"]["thumbprint"]
    assert nginx_of(sandbox).pid() == master
    failures = [o for o in outcomes if o != "ok"]
    assert len(outcomes) > 11 and failures == []  # one probe before the change, those during it, 10 after
    print(f"probes: {len(outcomes)}, failed: {len(failures)}")


def test_bad_directive_drill_is_nginx_config_invalid_with_nginx_message_and_changes_nothing(
    front_nginx: Callable[..., Sandbox], tmp_path: Path
) -> None:
    sandbox = front_nginx(fail="bad-directive")
    config_before = sandbox.instance_path("OctopusServer").read_text()

    _, record = _bind(_params(sandbox, tmp_path))

    assert record["status"] == "failed" and _codes(record)[0] == "NGINX_CONFIG_INVALID"
    error = next(f for f in record["findings"] if f["code"] == "NGINX_CONFIG_INVALID")
    assert "octorunbook_drill_unknown_directive" in error["message"]
    assert not (sandbox.root / "nginx" / "conf.d" / "octopus-portal.conf").exists()
    assert not list((sandbox.root / "nginx" / "conf.d").glob(".*candidate*"))
    assert sandbox.instance_path("OctopusServer").read_text() == config_before
    assert not any(c["action"].startswith(("install", "reload", "configure")) for c in record["changes"])


def test_an_upstream_that_does_not_answer_is_portal_not_answering_and_rollback_serves_the_old_site(
    bound: Bound,
) -> None:
    sandbox, params, first = bound
    site = sandbox.root / "nginx" / "conf.d" / "octopus-portal.conf"
    old_text = site.read_text()
    _octopus_moves_away(sandbox)

    _, record = _bind(params)

    assert record["status"] == "failed" and _codes(record)[0] == "PORTAL_NOT_ANSWERING"
    assert [c["action"] for c in record["changes"]] == [
        "install nginx site",
        "reload nginx",
        "rollback: install nginx site",
        "rollback: reload nginx",
    ]
    assert site.read_text() == old_text
    assert _served(sandbox) == first["certificate"]["thumbprint"]
    rollback = record["verification"][-1]
    assert rollback["code"] == "ROLLBACK_UNVERIFIED" and rollback["ok"]
    assert not (sandbox.root / "state" / checkpoint_name("OctopusServer")).exists()


def test_an_unmanaged_file_at_the_site_path_is_never_overwritten(
    front_nginx: Callable[..., Sandbox], tmp_path: Path
) -> None:
    sandbox = front_nginx()
    site = sandbox.root / "nginx" / "conf.d" / "octopus-portal.conf"
    site.write_text("# hand-written by the web team\n")

    _, record = _bind(_params(sandbox, tmp_path))

    assert record["status"] == "failed" and _codes(record) == ["NGINX_CONFIG_UNMANAGED"]
    assert site.read_text() == "# hand-written by the web team\n"
    assert record["changes"] == []


def test_an_interrupted_nginx_change_is_restored_by_the_next_run_before_it_plans(bound: Bound) -> None:
    sandbox, params, first = bound
    site = sandbox.root / "nginx" / "conf.d" / "octopus-portal.conf"
    snapshot = json.loads(json.dumps(first["state"]["after"]))
    journal = sandbox.root / "state" / checkpoint_name("OctopusServer")
    StateHome.open(journal.parent, "sandbox/octopusserver").write(
        journal.name,
        "checkpoint",
        {
            "version": 2,
            "kind": "parts",
            "phase": "applying",
            "runbook": "03-add-https-binding",
            "operator": "someone",
            "pid": 1,
            "started_at": "2026-01-01T00:00:00Z",
            "instance": "OctopusServer",
            "port": 443,
            "snapshot": snapshot,
            "served_before": {},
            "commands": [],
        },
    )
    site.write_text(site.read_text().replace("max-age=3600", "max-age=60"))  # half-changed, not reloaded

    record = _quiet("02-verify-certificate", replace(params, dry_run=False))
    assert record["findings"][0]["code"] == "INTERRUPTED_CHANGE" and journal.exists()

    again = _quiet("03-add-https-binding", replace(params, thumbprint=first["certificate"]["thumbprint"]))

    assert again["findings"][0]["code"] == "INTERRUPTED_CHANGE"
    assert "max-age=3600" in site.read_text() and not journal.exists()
    assert again["status"] == "succeeded", _codes(again)


# ---- target: nginx (this host's nginx, here a private one) -----------------------------------------
def test_target_nginx_binds_through_the_host_nginx_and_octopus_sees_the_forwarded_headers(
    nginx: NginxSandbox, upstream: Upstream, tmp_path: Path, ca: trustme.CA
) -> None:
    assert NGINX is not None
    from portkit import free_port as _free_port

    port = _free_port()
    params = Parameters(
        target="nginx",
        nginx_bin=NGINX,
        nginx_conf_dir=str(nginx.prefix),
        nginx_pid=str(nginx.prefix / "nginx.pid"),
        cert_dir=str(tmp_path / "etc" / "certs"),
        octopus_upstream=upstream.url,
        hostname=HOSTNAME,
        https_port=port,
        keep_http=False,
        hsts_max_age=3600,
        audit_dir=str(tmp_path / "audit"),
    )

    imported, record = _bind(params)
    verified = _quiet(
        "02-verify-certificate", replace(params, thumbprint=imported["certificate"]["thumbprint"])
    )

    assert verified["status"] == "succeeded", _codes(verified)
    assert record["status"] == "succeeded", _codes(record)
    assert record["target"] == "nginx" and record["implementations"]["front"] == "nginx"
    assert "TRUSTED_PROXIES_NOT_CHECKED" in [f["code"] for f in record["findings"]]
    assert "POLLING_TENTACLES_NEED_OWN_PORT" in [f["code"] for f in record["findings"]]
    assert tls_handshake("127.0.0.1", port, HOSTNAME).thumbprint == imported["certificate"]["thumbprint"]
    proxied = [h for h in upstream.seen if h.get("x-forwarded-proto") == "https"]
    assert proxied and proxied[-1]["host"] == HOSTNAME
    assert (tmp_path / "etc" / "certs" / imported["certificate"]["thumbprint"] / "privkey.pem").is_file()
    assert (tmp_path / "etc" / "state").is_dir()


def test_check_compares_the_served_certificate_with_the_one_the_managed_server_block_names(
    front_nginx: Callable[..., Sandbox], tmp_path: Path
) -> None:
    from octorunbook.evidence.check import OK, check_params

    sandbox = front_nginx()
    params = _params(sandbox, tmp_path)
    _, record = _bind(params)

    result = check_params(params)

    assert result.status == OK, result.reasons
    assert result.bound is not None and result.bound.thumbprint == record["certificate"]["thumbprint"]
    assert result.bound.endpoint == "nginx:443"


def test_hardening_plan_on_a_block_03_wrote_has_nothing_to_change(bound: Bound) -> None:
    sandbox, params, _ = bound

    record = _quiet("05-harden-tls", params)

    assert record["status"] == "planned", _codes(record)
    assert record["hardening_plan"]["strategy"] == "nginx" and record["hardening_plan"]["changes"] == []
    assert record["changes"] == [] and not [c for c in record["commands"] if c["mutating"]]
    assert "TLS_WEAK_CIPHER" not in json.dumps(record["posture"])


def test_hardening_an_older_block_on_the_nginx_front_reloads_and_the_scan_proves_it(bound: Bound) -> None:
    sandbox, params, _ = bound
    proxy = nginx_of(sandbox)
    site = proxy.installation.conf_dir / "conf.d" / "octopus-portal.conf"
    # A block written before 05's cipher list was part of it: nginx's default HIGH:!aNULL:!MD5 applies.
    site.write_text("".join(line for line in site.read_text().splitlines(True) if "ssl_ciphers" not in line))
    master = proxy.pid()
    front = proxy.front(upstream_of(sandbox))
    front.reload(Changes())

    plan = _quiet("05-harden-tls", params)
    assert plan["status"] == "planned", _codes(plan)
    assert [c["name"] for c in plan["hardening_plan"]["changes"]] == ["ssl_ciphers"]
    assert "TLS_WEAK_CIPHER" in json.dumps(plan["posture"]), "an RSA key with nginx's default suites"
    assert "ssl_ciphers" not in site.read_text(), "a plan changes nothing"

    applied = _quiet("05-harden-tls", replace(params, apply=True))
    assert applied["status"] == "succeeded", _codes(applied)
    assert "TLS_WEAK_CIPHER" not in json.dumps(applied["posture"])
    assert "ssl_ciphers ECDHE-" in site.read_text()
    assert proxy.pid() == master, "a reload, not a restart"
    assert _quiet("05-harden-tls", params)["hardening_plan"]["changes"] == []


def test_sandbox_cli_inits_shows_and_stops_both_processes_of_the_nginx_front(tmp_path: Path) -> None:
    root = tmp_path / "linux"
    cli = str(BIN / "octorunbook")
    try:
        init = subprocess.run(
            [cli, "sandbox", "init", str(root), "--front", "nginx"], capture_output=True, text=True
        )
        status = subprocess.run(
            [cli, "sandbox", "status", str(root), "--json"], capture_output=True, text=True
        )
    finally:
        stop = subprocess.run([cli, "sandbox", "stop", str(root)], capture_output=True, text=True)

    assert init.returncode == 0, init.stderr
    assert "front: nginx running" in init.stdout
    shown = json.loads(status.stdout)
    assert shown["front"] == "nginx" and shown["nginx_pid"] and shown["running"]
    assert stop.stdout.splitlines() == ["portal stopped", "nginx stopped"]
    assert (
        not Path(f"/proc/{shown['nginx_pid']}/cmdline").exists()
        or not Path(f"/proc/{shown['nginx_pid']}/cmdline").read_bytes()
    )


# ---- 04 on the nginx front ------------------------------------------------------------------------
def test_renewal_on_the_nginx_front_reloads_with_no_failed_request_and_retires_the_old_directory_after_proof(
    bound: Bound,
) -> None:
    sandbox, params, first = bound
    old = first["certificate"]["thumbprint"]
    master = nginx_of(sandbox).pid()

    with probing(sandbox) as outcomes:
        record = _quiet("04-renew-certificate", replace(params, force_renew=True, retire_old="remove"))

    assert record["status"] == "succeeded", _codes(record)
    new = record["certificate"]["thumbprint"]
    assert new != old and _served(sandbox) == new
    assert [c["action"] for c in record["changes"]] == [
        "import",
        "install nginx site",
        "reload nginx",
        "remove old certificate",
    ]
    certs = sandbox.root / "nginx" / "certs"
    assert (certs / new / "privkey.pem").is_file() and not (certs / old).exists()
    assert nginx_of(sandbox).pid() == master
    assert len(outcomes) > 10 and [o for o in outcomes if o != "ok"] == []
    print(f"04 on nginx: probes {len(outcomes)}, failed 0")


def test_renewal_on_the_nginx_front_is_unchanged_while_the_certificate_has_time_left(bound: Bound) -> None:
    sandbox, params, first = bound

    record = _quiet("04-renew-certificate", params)

    assert record["status"] == "unchanged" and record["changes"] == []
    assert _served(sandbox) == first["certificate"]["thumbprint"]


def test_a_failed_renewal_on_the_nginx_front_restores_the_old_site_and_removes_the_new_certificate(
    bound: Bound,
) -> None:
    sandbox, params, first = bound
    old = first["certificate"]["thumbprint"]
    _octopus_moves_away(sandbox)

    record = _quiet("04-renew-certificate", replace(params, force_renew=True))

    assert record["status"] == "failed" and _codes(record)[0] == "PORTAL_NOT_ANSWERING"
    new = record["certificate"]["thumbprint"]
    assert _served(sandbox) == old
    assert record["changes"][-1]["action"] == "rollback: remove new certificate"
    certs = sandbox.root / "nginx" / "certs"
    assert (certs / old).is_dir() and not (certs / new).exists()
