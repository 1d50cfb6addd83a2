"""The posture scan against a real nginx front: what the managed block accepts, and 05's hardening of an
older, looser block proven by the scan after the reload."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import certcorpus as cc
from nginxkit import HOSTNAME, Changes, Upstream, intent, needs_nginx

from octorunbook import certificates
from octorunbook.evidence.posture import scan
from octorunbook.targets.hardening import harden_server_block, plan_nginx
from octorunbook.targets.nginx import NginxFront, NginxSandbox, NginxSiteState

pytestmark = needs_nginx


def rsa_binding(nginx: NginxSandbox, tmp_path: Path, upstream: Upstream) -> tuple[NginxFront, NginxSiteState]:
    """An RSA certificate behind the managed block (RSA: ECDSA keys alone would hide RSA-key-exchange suites)."""
    key = cc.rsa_key()
    ca_cert, _ = cc.ca()
    (tmp_path / "portal.crt").write_bytes(cc.pem(cc.leaf(key, names=[HOSTNAME]), ca_cert))
    (tmp_path / "portal.key").write_bytes(cc.key_pem(key))
    stored = nginx.store().add(certificates.load_pem_pair(tmp_path / "portal.crt", tmp_path / "portal.key"))
    front = nginx.front(upstream.url)
    current = front.read()
    desired = front.desired(intent(stored, hsts_max_age=31536000), current)
    front.apply(current, desired, Changes())
    return front, desired


def suites(report: object) -> dict[str, str]:
    rows = report.rows  # type: ignore[attr-defined]
    return {
        r.check.removeprefix("TLS 1.2 suite "): r.seen for r in rows if r.check.startswith("TLS 1.2 suite ")
    }


def test_the_managed_block_accepts_only_tls12_and_13_with_forward_secret_aead_suites(
    nginx: NginxSandbox, tmp_path: Path, upstream: Upstream
) -> None:
    rsa_binding(nginx, tmp_path, upstream)
    report = scan(("127.0.0.1", nginx.map_port(443)), HOSTNAME, front="nginx")
    seen = {r.check: r.seen for r in report.rows}
    assert seen["protocol TLS 1.0"].startswith("rejected") and seen["protocol TLS 1.1"].startswith("rejected")
    assert seen["protocol TLS 1.2"].startswith("accepted") and seen["protocol TLS 1.3"].startswith("accepted")
    assert "TLS_LEGACY_PROTOCOL" not in report.codes() and "TLS_WEAK_CIPHER" not in report.codes()
    assert "HSTS_MISSING" not in report.codes() and "HSTS_TOO_SHORT" not in report.codes()
    by_suite = suites(report)
    assert by_suite["TLS_RSA_WITH_AES_128_CBC_SHA"].startswith("rejected")
    assert by_suite["TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"].startswith("rejected")
    assert by_suite["TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"].startswith("accepted")


def test_hardening_an_older_looser_block_is_planned_applied_by_reload_and_proven_by_the_scan(
    nginx: NginxSandbox, tmp_path: Path, upstream: Upstream
) -> None:
    front, hardened_by_03 = rsa_binding(nginx, tmp_path, upstream)
    # A block written before the cipher list existed: nginx's default HIGH:!aNULL:!MD5 applies.
    loose_text = "".join(
        line for line in hardened_by_03.text.splitlines(keepends=True) if "ssl_ciphers" not in line
    )
    loose = dataclasses.replace(hardened_by_03, text=loose_text)
    front.restore(loose, Changes())
    before = scan(("127.0.0.1", nginx.map_port(443)), HOSTNAME, front="nginx")
    assert "TLS_WEAK_CIPHER" in before.codes()
    assert suites(before)["TLS_RSA_WITH_AES_128_CBC_SHA"] == "accepted"

    plan = plan_nginx(front.read().text)
    assert [c.name for c in plan.changes] == ["ssl_ciphers"] and not plan.reboot_required
    master, _ = front.generation()
    front.restore(dataclasses.replace(loose, text=harden_server_block(loose_text)), Changes())
    after = scan(("127.0.0.1", nginx.map_port(443)), HOSTNAME, front="nginx")
    assert "TLS_WEAK_CIPHER" not in after.codes() and "TLS_LEGACY_PROTOCOL" not in after.codes()
    assert front.generation()[0] == master, "a reload, not a restart: the same master serves"
    assert plan_nginx(front.read().text).changes == ()
