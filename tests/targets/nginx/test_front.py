"""nginx as the TLS front, with a real nginx under a private prefix: plan, apply, reload, rollback."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import trustme
from nginxkit import HOSTNAME, Changes, Upstream, intent, issue, needs_nginx

from octorunbook.evidence.tls import http_get, tls_handshake
from octorunbook.findings import OctorunbookError
from octorunbook.targets.nginx import NginxFront, NginxSandbox, NginxSiteState
from octorunbook.targets.protocols import StoredCertificate

pytestmark = needs_nginx


def plan_first(
    nginx: NginxSandbox, ca: trustme.CA, tmp_path: Path, upstream: Upstream, **overrides: Any
) -> tuple[NginxFront, StoredCertificate, NginxSiteState, NginxSiteState]:
    """A certificate in the store and the front's plan for it: (front, certificate, current, desired)."""
    stored = nginx.store().add(issue(ca, tmp_path, "first"))
    front = nginx.front(upstream.url)
    current = front.read()
    return front, stored, current, front.desired(intent(stored, **overrides), current)


def first_binding(
    nginx: NginxSandbox, ca: trustme.CA, tmp_path: Path, upstream: Upstream, **overrides: Any
) -> tuple[NginxFront, StoredCertificate, NginxSiteState]:
    front, stored, current, desired = plan_first(nginx, ca, tmp_path, upstream, **overrides)
    front.apply(current, desired, Changes())
    return front, stored, desired


def served(nginx: NginxSandbox) -> str:
    return tls_handshake("127.0.0.1", nginx.map_port(443), HOSTNAME).thumbprint


def get(nginx: NginxSandbox, scheme: str, port: int) -> Any:
    return http_get(scheme, "127.0.0.1", nginx.map_port(port), HOSTNAME)


def test_first_binding_serves_the_certificate_over_tls_and_proxies_api_with_forwarded_headers(
    nginx: NginxSandbox, ca: trustme.CA, tmp_path: Path, upstream: Upstream
) -> None:
    front, stored, desired = first_binding(nginx, ca, tmp_path, upstream)

    tls = tls_handshake("127.0.0.1", nginx.map_port(443), HOSTNAME)
    assert tls.thumbprint == stored.thumbprint
    assert tls.tls_version in {"TLSv1.2", "TLSv1.3"}
    answer = get(nginx, "https", 443)
    document = answer.json()
    assert answer.status == 200 and document["Application"] == "Octopus Deploy"
    assert document["Headers"]["x-forwarded-proto"] == "https"
    assert document["Headers"]["x-forwarded-host"] == HOSTNAME
    assert document["Headers"]["x-forwarded-for"] == "127.0.0.1"
    assert document["Headers"]["host"] == HOSTNAME
    assert answer.header("Strict-Transport-Security") == "max-age=3600"
    assert front.read() == desired and desired.text.startswith("# Managed by octorunbook")
    assert "ssl http2;" in desired.text  # nginx 1.22: http2 is a listen parameter


def test_force_ssl_answers_308_to_https_on_the_http_port_and_never_proxies_there(
    nginx: NginxSandbox, ca: trustme.CA, tmp_path: Path, upstream: Upstream
) -> None:
    first_binding(nginx, ca, tmp_path, upstream)

    answer = get(nginx, "http", 80)
    assert answer.status == 308
    assert answer.header("Location") == f"https://{HOSTNAME}/api"
    assert upstream.seen == []  # the plain-HTTP request never reached Octopus


def test_without_force_ssl_and_keep_http_the_http_port_proxies_with_proto_http(
    nginx: NginxSandbox, ca: trustme.CA, tmp_path: Path, upstream: Upstream
) -> None:
    first_binding(nginx, ca, tmp_path, upstream, force_ssl=False, hsts_max_age=0)

    answer = get(nginx, "http", 80)
    assert answer.status == 200 and answer.json()["Headers"]["x-forwarded-proto"] == "http"
    assert get(nginx, "https", 443).header("Strict-Transport-Security") is None


def test_reapplying_the_same_intent_is_unchanged_and_does_not_reload(
    nginx: NginxSandbox, ca: trustme.CA, tmp_path: Path, upstream: Upstream
) -> None:
    front, stored, desired = first_binding(nginx, ca, tmp_path, upstream)
    generation = front.generation()
    commands = len(nginx.runner.records)

    again = front.desired(intent(stored), front.read())
    log = Changes()
    front.apply(front.read(), again, log)

    assert again == front.read()
    assert front.actions(front.read(), again) == []
    assert log.items == []
    assert [r for r in nginx.runner.records[commands:] if r.mutating] == []
    assert front.generation() == generation  # same master, same workers: no reload happened


def test_certificate_change_is_served_after_reload_with_no_failed_handshake(
    nginx: NginxSandbox, ca: trustme.CA, tmp_path: Path, upstream: Upstream
) -> None:
    front, old, _ = first_binding(nginx, ca, tmp_path, upstream)
    new = nginx.store().add(issue(ca, tmp_path, "second"))
    master, workers = front.generation()
    seen: list[tuple[float, str]] = []  # (when the connection was opened, what it was served)
    stop = threading.Event()

    def probe() -> None:  # a fresh TLS connection every 20 ms
        while not stop.is_set():
            opened = time.monotonic()
            try:
                seen.append((opened, served(nginx)))
            except OSError as exc:
                seen.append((opened, f"failed: {exc!r}"))
            time.sleep(0.02)

    prober = threading.Thread(target=probe)
    prober.start()
    try:
        time.sleep(0.3)
        current = front.read()
        front.apply(current, front.desired(intent(new), current), Changes())
        reloaded = time.monotonic()
        time.sleep(0.5)
    finally:
        stop.set()
        prober.join()

    failures = [s for _, s in seen if s.startswith("failed")]
    assert failures == [], failures
    before = [s for t, s in seen if t < reloaded]
    after = [s for t, s in seen if t >= reloaded]
    assert len(before) > 10 and before[0] == old.thumbprint
    # once apply has returned, every new connection gets the new certificate (old workers stopped accepting)
    assert len(after) > 10 and set(after) == {new.thumbprint}
    assert front.generation()[0] == master and not front.generation()[1] & workers


def test_config_rejected_by_nginx_t_is_config_invalid_with_nginx_message_and_changes_nothing(
    nginx: NginxSandbox, ca: trustme.CA, tmp_path: Path, upstream: Upstream
) -> None:
    front, old, before = first_binding(nginx, ca, tmp_path, upstream)
    generation = front.generation()
    drilled = nginx.front(upstream.url, drill="bad-directive")
    new = nginx.store().add(issue(ca, tmp_path, "second"))
    desired = drilled.desired(intent(new), drilled.read())

    with pytest.raises(OctorunbookError) as caught:
        drilled.apply(drilled.read(), desired, Changes())

    assert caught.value.code == "NGINX_CONFIG_INVALID"
    assert 'unknown directive "octorunbook_drill_unknown_directive"' in caught.value.message
    assert front.read() == before
    assert sorted(p.name for p in (nginx.prefix / "conf.d").iterdir()) == ["octopus-portal.conf"]
    assert not list(nginx.prefix.glob(".*octorunbook-test"))
    assert front.generation() == generation
    assert served(nginx) == old.thumbprint


def test_upstream_that_does_not_answer_is_portal_not_answering_and_rollback_restores_the_old_site(
    nginx: NginxSandbox, ca: trustme.CA, tmp_path: Path, upstream: Upstream
) -> None:
    front, stored, before = first_binding(nginx, ca, tmp_path, upstream)
    dead = Upstream()
    dead.close()  # a port where nothing listens any more
    moved = nginx.front(dead.url)
    log = Changes()
    moved.apply(moved.read(), moved.desired(intent(stored), moved.read()), log)

    proof = moved.prove_upstream()
    assert not proof.ok and proof.code == "PORTAL_NOT_ANSWERING"
    assert get(nginx, "https", 443).status == 502  # nginx answers; Octopus behind it does not

    moved.restore(before, log)
    assert front.read() == before
    assert get(nginx, "https", 443).status == 200
    assert front.prove_upstream().ok
    assert [a for a, _ in log.items][-2:] == ["rollback: install nginx site", "rollback: reload nginx"]


def test_unmanaged_file_at_the_site_path_is_never_overwritten(
    nginx: NginxSandbox, ca: trustme.CA, tmp_path: Path, upstream: Upstream
) -> None:
    site = nginx.prefix / "conf.d" / "octopus-portal.conf"
    site.write_text("# written by hand\nserver { listen 127.0.0.1:1; }\n")
    original = site.read_bytes()
    stored = nginx.store().add(issue(ca, tmp_path, "first"))
    front = nginx.front(upstream.url)
    current = front.read()
    assert current.exists and not current.managed

    with pytest.raises(OctorunbookError) as planning:
        front.desired(intent(stored), current)
    managed = NginxSiteState(str(site), True, True, "# Managed by octorunbook\n")
    with pytest.raises(OctorunbookError) as applying:
        front.apply(NginxSiteState(str(site), False, False), managed, Changes())

    assert planning.value.code == applying.value.code == "NGINX_CONFIG_UNMANAGED"
    assert site.read_bytes() == original


def test_rollback_puts_the_previous_file_back_and_the_old_certificate_answers(
    nginx: NginxSandbox, ca: trustme.CA, tmp_path: Path, upstream: Upstream
) -> None:
    front, old, before = first_binding(nginx, ca, tmp_path, upstream)
    new = nginx.store().add(issue(ca, tmp_path, "second"))
    front.apply(before, front.desired(intent(new), before), Changes())
    assert served(nginx) == new.thumbprint

    front.restore(before, Changes())

    assert front.read() == before
    assert served(nginx) == old.thumbprint


def test_rollback_of_a_first_binding_removes_the_managed_file_and_https_stops_answering(
    nginx: NginxSandbox, ca: trustme.CA, tmp_path: Path, upstream: Upstream
) -> None:
    front = nginx.front(upstream.url)
    absent = front.read()
    first_binding(nginx, ca, tmp_path, upstream)

    front.restore(absent, Changes())

    assert not front.site_path.exists() and front.read() == absent
    with pytest.raises(OSError):
        served(nginx)


def test_apply_without_a_running_master_is_nginx_not_running_and_writes_nothing(
    nginx: NginxSandbox, ca: trustme.CA, tmp_path: Path, upstream: Upstream
) -> None:
    front, _, current, desired = plan_first(nginx, ca, tmp_path, upstream)
    nginx.stop()

    with pytest.raises(OctorunbookError) as caught:
        front.apply(current, desired, Changes())

    assert caught.value.code == "NGINX_NOT_RUNNING"
    assert list((nginx.prefix / "conf.d").iterdir()) == []


def test_plan_lists_the_exact_test_and_reload_argv(
    nginx: NginxSandbox, ca: trustme.CA, tmp_path: Path, upstream: Upstream
) -> None:
    front, stored, current, desired = plan_first(nginx, ca, tmp_path, upstream)
    actions = front.actions(current, desired)
    front.apply(current, desired, Changes())

    p = str(nginx.prefix)
    base = ["/usr/sbin/nginx", "-p", p + "/"]
    pid = ["-g", f"pid {p}/nginx.pid;"]
    assert [list(a.argv) for a in actions if a.argv] == [
        [*base, "-c", f"{p}/.nginx.conf.octorunbook-test", *pid, "-t"],
        [*base, "-c", f"{p}/nginx.conf", *pid, "-s", "reload"],
    ]
    ran = [list(r.argv) for r in nginx.runner.records if "-t" in r.argv or "reload" in r.argv]
    assert ran == [list(a.argv) for a in actions if a.argv]
    rows = {d.setting: d for d in front.diff(current, front.read())}
    assert rows["certificate"].desired == stored.thumbprint
    assert rows["HTTP port"].desired.startswith("308")


def test_a_reload_the_master_rejects_is_reload_failed_and_rollback_serves_the_old_site(
    nginx: NginxSandbox, ca: trustme.CA, tmp_path: Path, upstream: Upstream
) -> None:
    """nginx -t binds no socket, so a port held by another process passes the test and fails the reload."""
    front, stored, before = first_binding(nginx, ca, tmp_path, upstream)
    front.reload_timeout = 4.0  # the master retries a failing bind for 2.5 s before it gives up
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        wanted = front.desired(intent(stored, http_port=taken), before)

        with pytest.raises(OctorunbookError) as caught:
            front.apply(before, wanted, Changes())
        assert caught.value.code == "NGINX_RELOAD_FAILED"
        assert front.read() == wanted  # in place, but the master still serves the old configuration
        assert get(nginx, "http", 80).status == 308

        front.reload_timeout = 10.0
        front.restore(before, Changes())
    assert front.read() == before
    assert served(nginx) == stored.thumbprint
