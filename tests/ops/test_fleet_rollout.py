"""The HA rollout, end to end: the real ``ansible-playbook`` runs ``ansible/examples/rollout.yml`` (role
``octorunbook.fleet.portal_https``) against three sandbox nodes on this machine behind a balancer.

One cluster is shared by the first rollout, the second run and the renewal (each builds on the one before);
the failure drill has its own cluster. The secret canaries (PFX password, Octopus API key) are grepped in
every file those runs left, Ansible's own log included.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from ansiblekit import ANSIBLE_PLAYBOOK, BIN, REPO, BalancerProbe, Cluster, PingTrace, collection_env

from octorunbook.ops.node_drain import Server, ping

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not ANSIBLE_PLAYBOOK.exists(), reason="ansible-core is not installed (test extra)"),
]


# The slowest setup of the suite (--durations, issue 28), by design: three sandbox nodes, a balancer and the
# real ansible-playbook rolling 01 → 03 over them one at a time, then again and a renewal. Built once for the
# module (under pytest-xdist the module stays on one worker, tests/conftest.py, and starts first).
@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    started = Cluster(tmp_path_factory.mktemp("ha"), 3)
    try:
        yield started.start()
    finally:
        started.stop()


@pytest.fixture(scope="module")
def first_rollout(cluster: Cluster) -> dict[str, Any]:
    pfx, thumbprint = cluster.make_pfx("portal-2026.pfx", validity_days=300)
    with PingTrace(cluster.nodes) as trace:
        run = cluster.playbook("-vvv", pfx=pfx)  # -vvv: the log shows every command line Ansible ran
    return {"run": run, "thumbprint": thumbprint, "trace": trace, "pids": cluster.portal_pids()}


@pytest.fixture(scope="module")
def second_run(cluster: Cluster, first_rollout: dict[str, Any]) -> dict[str, Any]:
    with PingTrace(cluster.nodes) as trace:
        run = cluster.playbook()
    return {"run": run, "trace": trace, "pids": cluster.portal_pids()}


@pytest.fixture(scope="module")
def renewal(cluster: Cluster, second_run: dict[str, Any]) -> dict[str, Any]:
    pfx, thumbprint = cluster.make_pfx("portal-2027.pfx", validity_days=397)
    with BalancerProbe(cluster.lb_port) as probe, PingTrace(cluster.nodes) as trace:
        run = cluster.playbook("-e", "portal_https_mode=renew", pfx=pfx)
    return {"run": run, "thumbprint": thumbprint, "probe": probe, "trace": trace}


def _ok(run: subprocess.CompletedProcess[str]) -> None:
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-3000:]


def test_first_rollout_succeeds_on_every_node_and_all_serve_the_same_thumbprint(
    cluster: Cluster, first_rollout: dict[str, Any]
) -> None:
    _ok(first_rollout["run"])
    code, nodes = cluster.summary(expect=first_rollout["thumbprint"])
    assert code == 0
    assert sorted(nodes) == ["node1", "node2", "node3"]
    for row in nodes.values():
        assert (row["runbook"], row["status"], row["chain"]) == (
            "03-add-https-binding",
            "succeeded",
            "intact",
        )
        assert row["served_thumbprint"] == first_rollout["thumbprint"]
        assert row["records"] == 3  # 01, 02, 03: one chained audit folder per node
    assert "03-add-https-binding  succeeded" in first_rollout["run"].stdout  # the playbook's own summary


def test_first_rollout_drains_each_node_while_it_changes_one_node_at_a_time(
    first_rollout: dict[str, Any],
) -> None:
    trace: PingTrace = first_rollout["trace"]
    for name in ("node1", "node2", "node3"):
        seen = trace.statuses(name)
        assert 418 in seen, (name, seen)
        assert seen[-1] == 200, (name, seen)
        between = seen[seen.index(418) : len(seen) - 1 - seen[::-1].index(418)]
        assert 200 not in between, f"{name} answered 200 while its change was under way: {seen}"
        assert 0 in between, f"{name}: 03's restart (no answer) should fall inside the drain: {seen}"
    assert trace.most_out_at_once() == 1, trace.events  # serial: 1, never two nodes out of the pool
    order = [name for _, name, status in sorted(trace.events) if status == 418]
    assert list(dict.fromkeys(order)) == ["node1", "node2", "node3"]


def test_second_run_is_unchanged_on_every_node_without_drain_or_restart(
    cluster: Cluster, first_rollout: dict[str, Any], second_run: dict[str, Any]
) -> None:
    _ok(second_run["run"])
    code, nodes = cluster.summary(expect=first_rollout["thumbprint"])
    assert code == 0
    assert {n: r["status"] for n, r in nodes.items()} == dict.fromkeys(
        ("node1", "node2", "node3"), "unchanged"
    )
    assert all(row["records"] == 6 for row in nodes.values())
    assert second_run["pids"] == first_rollout["pids"]  # no portal was restarted
    assert all(418 not in second_run["trace"].statuses(n) for n in ("node1", "node2", "node3"))


FETCH_TASK = "Fetch the node's new and changed audit files to the control node"
FETCHED = re.compile(r"^(?:changed|ok): \[(?P<node>[^\]]+)\] => \(item=(?P<label>[^)]*)\)")
RECORD = re.compile(r"^\d{8}T\d{6}Z_\d\d-[a-z-]+_.+\.(?:ipynb|html)$")


def _fetched(run: subprocess.CompletedProcess[str]) -> dict[str, list[str]]:
    """The files the role's fetch task copied, per node (the loop's labels: base names), from a run's output."""
    fetched: dict[str, list[str]] = {}
    in_fetch = False
    for line in run.stdout.splitlines():
        if line.startswith("TASK ["):
            in_fetch = FETCH_TASK in line
        elif in_fetch and (item := FETCHED.match(line)):
            fetched.setdefault(item["node"], []).append(item["label"])
    return fetched


def test_second_run_fetches_only_the_audit_files_it_wrote_not_the_first_rollouts_records(
    cluster: Cluster, first_rollout: dict[str, Any], second_run: dict[str, Any]
) -> None:
    """The control node's copy already holds the first rollout's records: only what the second run wrote (its
    three records, .ipynb and .html, and the appended manifest.jsonl) is fetched, and the copy still mirrors
    every file of the node's audit folder."""
    _ok(second_run["run"])
    first, second = _fetched(first_rollout["run"]), _fetched(second_run["run"])
    for node in cluster.nodes:
        before = {name for name in first[node.name] if RECORD.match(name)}
        assert len(before) == 6, first[node.name]  # 01, 02, 03: .ipynb and .html
        again = second[node.name]
        assert not before & set(again), again  # already in the copy with the same content: not fetched
        assert len([name for name in again if RECORD.match(name)]) == 6, again  # the second run's records
        assert "manifest.jsonl" in again and ".manifest.lock" not in again, again  # appended / unchanged
        audit, copy = cluster.base / "work" / node.name / "audit", cluster.audit_root / node.name
        for path in (p for p in audit.rglob("*") if p.is_file()):
            assert (copy / path.relative_to(audit)).read_bytes() == path.read_bytes(), path


def test_renewal_moves_every_node_to_the_new_certificate_and_the_balancer_never_fails(
    cluster: Cluster, first_rollout: dict[str, Any], renewal: dict[str, Any]
) -> None:
    _ok(renewal["run"])
    code, nodes = cluster.summary(expect=renewal["thumbprint"])
    assert code == 0
    for row in nodes.values():
        assert (row["runbook"], row["status"]) == ("04-renew-certificate", "succeeded")
        assert row["served_thumbprint"] == renewal["thumbprint"]
    probe: BalancerProbe = renewal["probe"]
    assert probe.sent > 20 and probe.failed == 0, (probe.sent, probe.failed)
    assert set(probe.seen) <= {first_rollout["thumbprint"], renewal["thumbprint"]}
    assert probe.seen[-1] == renewal["thumbprint"]
    assert renewal["trace"].most_out_at_once() == 1


def test_fleet_summary_reports_a_fetched_copy_that_was_tampered_with(
    cluster: Cluster, renewal: dict[str, Any], tmp_path: Path
) -> None:
    copy = tmp_path / "audit"
    shutil.copytree(cluster.audit_root, copy)
    record = sorted((copy / "node2").glob("*_04-renew-certificate_*.ipynb"))[-1]
    record.write_text(record.read_text().replace("succeeded", "succeeded "))
    done = subprocess.run(
        [str(BIN / "octorunbook"), "fleet", "summary", str(copy)], capture_output=True, text=True
    )
    assert done.returncode == 1
    assert "node2" in done.stdout and "audit chain broken" in done.stdout


@pytest.mark.canary
def test_secret_canaries_reach_no_file_the_playbook_runs_left(
    cluster: Cluster, first_rollout: dict[str, Any], second_run: dict[str, Any], renewal: dict[str, Any]
) -> None:
    log = cluster.log.read_text()
    assert "EXEC" in log and "no_log: true" in log  # -vvv commands were logged; secret tasks were censored
    canaries = [cluster.pfx_password.encode(), cluster.api_key.encode()]
    files = [p for p in cluster.base.rglob("*") if p.is_file() and not p.is_symlink()]
    assert len(files) > 50
    leaks = [str(p) for p in files for canary in canaries if canary in p.read_bytes()]
    assert leaks == []
    outputs = [first_rollout["run"], second_run["run"], renewal["run"]]
    assert not any(c.decode() in run.stdout + run.stderr for run in outputs for c in canaries)


def test_failure_on_node_two_stops_the_rollout_after_its_rollback(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    drill = Cluster(tmp_path_factory.mktemp("ha-drill"), 3, drills={2: "wrong-certificate"})
    try:
        drill.start()
        pfx, thumbprint = drill.make_pfx("portal.pfx", validity_days=300)
        run = drill.playbook(pfx=pfx)
        assert run.returncode != 0
        assert "node2: 03-add-https-binding failed" in run.stdout
        code, nodes = drill.summary(expect=thumbprint)
        assert code == 1
        assert (nodes["node1"]["status"], nodes["node1"]["served_thumbprint"]) == ("succeeded", thumbprint)
        assert nodes["node1"]["problems"] == []
        assert (nodes["node2"]["runbook"], nodes["node2"]["status"]) == ("03-add-https-binding", "failed")
        assert nodes["node2"]["served_thumbprint"] == ""  # rolled back: no certificate proven on it
        assert (nodes["node3"]["status"], nodes["node3"]["records"]) == ("no records", 0)
        node2, node3 = drill.nodes[1], drill.nodes[2]
        assert ping(Server(node2.url)) == 418  # a failed node is left drained for inspection
        assert node2.sandbox.status()["bindings"] == {}  # its rollback removed the binding it made
        assert ping(Server(node3.url)) == 200 and node3.sandbox.status()["bindings"] == {}
        assert not (drill.base / "work" / "node3").exists()  # untouched
    finally:
        drill.stop()


def test_a_pfx_the_vault_password_does_not_open_stops_before_the_node_is_drained(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    single = Cluster(tmp_path_factory.mktemp("ha-password"), 1)
    try:
        single.start()
        pfx, _ = single.make_pfx("portal.pfx", validity_days=300)
        right = single.pfx_password
        single.pfx_password = "pfx-canary-wrong-" + right[-8:]
        single.write_vault()
        with PingTrace(single.nodes) as trace:
            run = single.playbook(pfx=pfx)
        assert run.returncode != 0
        assert "PFX_WRONG_PASSWORD" in run.stdout
        assert trace.statuses("node1") == [200]  # never drained
        assert list((single.base / "audit" / "node1").iterdir()) == []  # no runbook ran
        for secret in (right, single.pfx_password):
            assert secret not in run.stdout + run.stderr + single.log.read_text()
    finally:
        single.stop()


def test_acme_in_the_shared_parameters_is_refused_before_any_node_is_touched(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Every node behind one balancer ordering the same names would race for the challenge: the role
    refuses certificate_source: acme (HA_ACME_PER_NODE) instead of silently replacing it with pfx."""
    single = Cluster(tmp_path_factory.mktemp("ha-acme"), 1)
    try:
        single.start()
        pfx, _ = single.make_pfx("portal.pfx", validity_days=300)
        shared = '{"portal_https_params": {"target": "sandbox", "store": "My", "certificate_source": "acme"}}'
        with PingTrace(single.nodes) as trace:
            run = single.playbook("-e", shared, pfx=pfx)
        assert run.returncode != 0
        assert "HA_ACME_PER_NODE" in run.stdout
        assert trace.statuses("node1") == [200]  # never drained
        assert list((single.base / "audit" / "node1").iterdir()) == []  # no runbook ran
        assert single.nodes[0].sandbox.status()["bindings"] == {}
    finally:
        single.stop()


def test_ansible_lint_passes_on_the_collection(tmp_path: Path) -> None:
    done = subprocess.run(
        [str(BIN / "ansible-lint"), "--nocolor"],
        cwd=REPO / "ansible",
        env=collection_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Profile 'production' was required, and it passed" in done.stdout + done.stderr
