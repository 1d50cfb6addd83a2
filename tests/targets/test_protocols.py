"""One change loop written against ``targets.protocols`` drives both topologies: HTTP.sys and nginx.

``change`` below is the shape runbook 03 takes over the protocols (read → desired → apply the parts
that differ → prove → restore the changed parts in reverse order); here it runs on the sandbox's
HTTP.sys stand-ins and on a real nginx with the same code.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
import trustme
from nginxkit import HOSTNAME, Changes, Upstream, intent, issue, needs_nginx

from octorunbook.commands import CommandRunner
from octorunbook.evidence.tls import http_get, tls_handshake, wait_for_portal
from octorunbook.findings import VerificationError
from octorunbook.targets.base import Target
from octorunbook.targets.httpsys.front import HttpSysFront
from octorunbook.targets.nginx import NginxSandbox
from octorunbook.targets.octopus.instance import OctopusServerInstance
from octorunbook.targets.protocols import CertificateStore, Part, PortalIntent
from octorunbook.targets.sandbox import Sandbox
from tests.drivers import httpsys_of, octopus_of


def change(parts: Sequence[Part[Any]], wanted: PortalIntent, prove: Callable[[], None]) -> Changes:
    log = Changes()
    current = [(part, part.read(wanted)) for part in parts]
    plan = [(part, now, part.desired(wanted, now)) for part, now in current]
    changed: list[tuple[Part[Any], Any]] = []
    try:
        for part, now, desired in plan:
            if now != desired:
                part.apply(now, desired, log)
                changed.append((part, now))
        prove()
    except Exception:
        for part, before in reversed(changed):
            part.restore(before, log)
        raise
    return log


def served_is(host: str, port: int, thumbprint: str) -> Callable[[], None]:
    def prove() -> None:
        answer, error = wait_for_portal(lambda: http_get("https", host, port, HOSTNAME), timeout=8)
        seen = tls_handshake(host, port, HOSTNAME).thumbprint if answer else error
        if seen != thumbprint:
            raise VerificationError("SERVED_WRONG_CERTIFICATE", f"expected {thumbprint}, seen {seen}")

    return prove


def httpsys_parts(sandbox: Sandbox) -> tuple[Target, CertificateStore, list[Part[Any]]]:
    target = sandbox.open_target("OctopusServer", CommandRunner(timeout=60))
    parts: list[Part[Any]] = [
        HttpSysFront(httpsys_of(target), octopus_of(target)),
        OctopusServerInstance(octopus_of(target)),
    ]
    assert target.parts.store.name == "My"
    return target, target.parts.store, parts


def test_the_change_loop_binds_the_httpsys_sandbox_and_a_second_run_changes_nothing(
    sandbox: Sandbox, ca: trustme.CA, tmp_path: Path
) -> None:
    target, store, parts = httpsys_parts(sandbox)
    stored = store.add(issue(ca, tmp_path, "a"))
    assert [p.ok for p in store.prove(stored.thumbprint)] == [True]
    host, port = target.endpoint(443)

    first = change(parts, intent(stored), served_is(host, port, stored.thumbprint))
    again = change(parts, intent(stored), served_is(host, port, stored.thumbprint))

    # Octopus's documented order: bind, configure while the service runs, then restart
    assert [a for a, _ in first.items] == ["bind certificate", "configure", "service restart"]
    assert again.items == []
    wanted = intent(stored)
    assert all(p.actions(p.read(wanted), p.desired(wanted, p.read(wanted))) == [] for p in parts)


@needs_nginx
def test_the_same_loop_binds_the_nginx_topology(
    nginx: NginxSandbox, ca: trustme.CA, tmp_path: Path, upstream: Upstream
) -> None:
    stored = nginx.store().add(issue(ca, tmp_path, "a"))
    parts: list[Part[Any]] = [nginx.front(upstream.url)]

    log = change(parts, intent(stored), served_is("127.0.0.1", nginx.map_port(443), stored.thumbprint))

    assert [a for a, _ in log.items] == ["install nginx site", "reload nginx"]


def test_the_loop_restores_every_changed_part_in_reverse_when_the_proof_fails(
    sandbox: Sandbox, ca: trustme.CA, tmp_path: Path
) -> None:
    target, store, parts = httpsys_parts(sandbox)
    stored = store.add(issue(ca, tmp_path, "a"))
    wanted = intent(stored)
    before = [p.read(wanted) for p in parts]

    with pytest.raises(VerificationError):
        change(parts, wanted, served_is(*target.endpoint(443), "0" * 40))

    assert [p.read(wanted) for p in parts] == before


@needs_nginx
def test_nginx_sandbox_fronts_the_stand_in_portal_through_the_host_port_map(
    sandbox: Sandbox, ca: trustme.CA, tmp_path: Path
) -> None:
    """What `sandbox init --front nginx` will do: the stand-in Octopus on plain HTTP behind a real nginx."""
    target = sandbox.open_target("OctopusServer", CommandRunner(timeout=60))
    octopus_of(target).configure(listen_prefixes=("http://+:8080/",))
    octopus_of(target).service("restart")
    proxy = NginxSandbox(tmp_path / "nginx", port_mapper=sandbox.map_port)
    proxy.init()
    try:
        proxy.start()
        stored = proxy.store().add(issue(ca, tmp_path, "a"))
        front = proxy.front(f"http://127.0.0.1:{sandbox.map_port(8080)}")
        assert front.prove_upstream().ok
        change([front], intent(stored), served_is("127.0.0.1", sandbox.map_port(443), stored.thumbprint))

        answer = http_get("https", "127.0.0.1", sandbox.map_port(443), HOSTNAME)
        assert answer.status == 200 and answer.json() is not None
        assert answer.json()["Application"] == "Octopus Deploy"  # type: ignore[index]
        assert answer.header("Strict-Transport-Security") == "max-age=3600"
    finally:
        proxy.stop()


def test_octopus_instance_warns_when_a_run_would_turn_force_ssl_and_hsts_off(
    sandbox: Sandbox, ca: trustme.CA, tmp_path: Path
) -> None:
    target, store, parts = httpsys_parts(sandbox)
    stored = store.add(issue(ca, tmp_path, "a"))
    host, port = target.endpoint(443)
    change(parts, intent(stored), served_is(host, port, stored.thumbprint))
    instance = parts[1]
    weaker = intent(stored, force_ssl=False, hsts_max_age=0)

    now = instance.read(weaker)
    findings = instance.findings(now, instance.desired(weaker, now))

    assert [(f.code, f.severity) for f in findings] == [("PLAN_WEAKENS_SECURITY", "warning")]
    assert "ForceSSL and HSTS" in findings[0].message
    assert instance.findings(now, instance.desired(intent(stored), now)) == []


@needs_nginx
def test_nginx_front_warns_that_polling_tentacles_cannot_use_the_offloaded_port(
    nginx: NginxSandbox, ca: trustme.CA, tmp_path: Path, upstream: Upstream
) -> None:
    front = nginx.front(upstream.url)
    stored = nginx.store().add(issue(ca, tmp_path, "a"))
    now = front.read()

    findings = front.findings(now, front.desired(intent(stored), now))

    assert [(f.code, f.severity) for f in findings] == [("POLLING_TENTACLES_NEED_OWN_PORT", "warning")]
