"""A renewal (04) killed between its swap and its proof is restored by the next run the way 04 promises:
through the one restorer (``restore_parts``, a ``parts`` checkpoint like 03's), the binding only — no
service stop or start, no configure — proven over TLS with every setting as before, and the certificate
the killed run imported (the checkpoint's ``added``) removed again. And ``kill -9`` of ``octorunbook
renew``'s process group takes its kernel, and the command the kernel was running, along."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from octorunbook.evidence.tls import tls_handshake
from octorunbook.headless.inline import run_inline
from octorunbook.runbooks.undo import Checkpoint, checkpoint_name
from octorunbook.targets.protocols import PortalIntent
from octorunbook.targets.sandbox import Sandbox
from tests.drivers import octopus_of
from tests.prockit import running
from tests.runbooks.test_renew import RENEW, first_binding, served
from tests.targets.windows.test_windows import _run, windows_host  # noqa: F401 - the fixture, used by name

JOURNAL = checkpoint_name("OctopusServer")
pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="finds the kernel through /proc")


def _processes() -> dict[int, tuple[int, int, str, str]]:
    """pid → (parent pid, process group, state, command line) of every live process."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            cmdline = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if running(stat.parent.name):  # a zombie whose threads have all exited holds no lock
            found[int(stat.parent.name)] = (int(fields[1]), int(fields[2]), fields[0], cmdline)
    return found


def _descendants(pid: int) -> list[int]:
    table = _processes()
    found: list[int] = []
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        children = [p for p, (ppid, *_) in table.items() if ppid == parent]
        found += children
        frontier += children
    return found


def _kill_renewal_after_the_swap(
    sandbox: Sandbox,
    tmp_path: Path,
    kill: Callable[[subprocess.Popen[bytes], list[int]], None],
    target: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], list[int], list[int]]:
    """``octorunbook renew --force`` in its own process group, killed by ``kill`` while the swap command
    hangs (drill 'hang-after-swap': the new binding is in place, the proof has not run). Returns the
    journal as the killed run left it, its kernels and every process under them before the kill."""
    Sandbox(sandbox.root).init(fail="hang-after-swap", start=False)
    params = tmp_path / "renew.yaml"
    params.write_text(
        yaml.safe_dump(
            {**(target or {"sandbox_dir": str(sandbox.root)}), "audit_dir": str(tmp_path / "audit-killed")}
        )
    )
    run = subprocess.Popen(
        [sys.executable, "-m", "octorunbook.cli.main", "renew", str(params), "--force"],
        stdout=(tmp_path / "renew.out").open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    kernels: list[int] = []
    under: list[int] = []
    try:
        deadline = time.monotonic() + 180
        while "hang-after-swap" not in sandbox.meta().get("fired", []) and time.monotonic() < deadline:
            assert run.poll() is None, (tmp_path / "renew.out").read_text()  # ended before the drill fired
            time.sleep(0.05)
        time.sleep(0.5)  # the stand-in has written the new binding and hangs
        journal = json.loads(_journal_file(sandbox, target).read_text())["body"]
        table = _processes()
        kernels = [p for p, (ppid, _, _, cmd) in table.items() if ppid == run.pid and "ipykernel" in cmd]
        under = [p for k in kernels for p in _descendants(k)]
        kill(run, kernels)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
        run.wait()
    assert kernels, "no kernel was running"
    assert under, "the swap command was not running under the kernel"
    return journal, kernels, under


def _journal_file(sandbox: Sandbox, target: dict[str, Any] | None) -> Path:
    """Where the target keeps its change journal: the sandbox's state folder, or octorunbook's home."""
    if target is None:
        return sandbox.root / "state" / JOURNAL
    from octorunbook.commands import CommandRunner
    from octorunbook.params.core import Parameters
    from octorunbook.targets import open_target

    return open_target(Parameters(**target), CommandRunner()).state_dir / JOURNAL


def _holders(record: dict[str, Any]) -> dict[int, Any]:
    """For a TARGET_BUSY: what the pids it names are now (once a killed kernel not yet exited: see
    ``_kill_everything``)."""
    import re

    pids = {int(p) for f in record["findings"] for p in re.findall(r"pid (\d+)", str(f.get("message", "")))}
    table = _processes()
    return {pid: table.get(pid, "gone") for pid in pids}


def _assert_restored_binding_only(
    sandbox: Sandbox, params: Any, old: str, new: str, portal_pid: int, https_port: int | None = None
) -> dict[str, Any]:
    """The next run restores the binding with no restart, proves it, removes what the killed run imported."""
    port = https_port or sandbox.status()["port_map"][443]
    record = run_inline(RENEW, params)
    # 04 then reads the old state: nothing due. It changed the target (the restore), so not 'unchanged'.
    assert record["status"] == "succeeded", (record["findings"], _holders(record))
    assert "plan" not in record
    assert record["findings"][0]["code"] == "INTERRUPTED_CHANGE"
    assert record["interrupted_change"]["kind"] == "parts"
    assert record["interrupted_change"]["added"] == new
    actions = [c["action"] for c in record["changes"]]
    assert actions == [
        "restore interrupted change: octopus-server already as before",
        "restore interrupted change: restore binding",
        "restore interrupted change: remove new certificate",
    ], actions
    argv = [" ".join(c["argv"]) for c in record["commands"]]
    assert not [a for a in argv if " service " in a or " configure " in a], argv
    proof = {c["check"]: c for c in record["verification"]}
    served_again = proof[
        f"after restore interrupted change: port {params.https_port} serves what it served before"
    ]
    assert served_again["ok"] and served_again["seen"] == old
    assert proof["after restore interrupted change: httpsys as before"]["ok"]
    assert proof["after restore interrupted change: octopus-server as before"]["ok"]
    assert tls_handshake("127.0.0.1", port, "localhost").thumbprint == old
    assert json.loads(sandbox.httpsys_path.read_text())[f"0.0.0.0:{params.https_port}"]["hash"] == old
    assert not (sandbox.stores_dir / "My" / f"{new}.pem").exists(), "what the killed run imported is removed"
    assert (sandbox.stores_dir / "My" / f"{old}.pem").is_file()
    assert not _journal_file(sandbox, None if params.target == "sandbox" else params.to_record()).exists()
    assert sandbox.status()["portal_pid"] == portal_pid, "Octopus was restarted"
    return record


def _kill_everything(run: subprocess.Popen[bytes], kernels: list[int]) -> None:
    """SIGKILL to the run's group and each kernel's (with the hanging swap command): no watch needed.

    Returns once the killed kernels and everything under them have exited. SIGKILL is only delivered when
    the process next runs, and the OS lock the kernel holds is dropped when its descriptors are closed on
    exit: on a busy machine that is later than ``killpg`` returning, and a run started in that moment is
    rightly told TARGET_BUSY (CI saw it once). An operator's ``kill -9`` is not over before that either."""
    doomed = set(kernels) | {p for k in kernels for p in _descendants(k)}
    for kernel in kernels:
        os.killpg(kernel, signal.SIGKILL)
    os.killpg(run.pid, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while doomed & set(_processes()) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not doomed & set(_processes()), f"outlived SIGKILL: {doomed & set(_processes())}"


# Among the 20 slowest (--durations, issue 28), by design: a real renewal killed at its swap, and the
# restoring run.
def test_a_renewal_killed_after_the_swap_is_restored_binding_only_without_a_restart(
    sandbox: Sandbox, params_for: Any, tmp_path: Path
) -> None:
    params = params_for(sandbox)
    old = first_binding(sandbox, params)
    portal_pid = sandbox.status()["portal_pid"]

    journal, _, _ = _kill_renewal_after_the_swap(sandbox, tmp_path, _kill_everything)
    assert journal["kind"] == "parts" and journal["phase"] == "applying"
    assert journal["runbook"] == RENEW
    new = journal["added"]
    assert journal["snapshot"]["httpsys"]["thumbprint"] == old
    assert journal["snapshot"]["httpsys"]["endpoint"] == "0.0.0.0:443"
    assert journal["snapshot"]["octopus-server"]["listen_prefixes"]
    assert len(journal["commands"]) == 1 and "ssl-certificate" in journal["commands"][0], journal["commands"]
    assert new in journal["commands"][0] and new != old
    assert served(sandbox) == new, "the kill left the swap in place, unproven"

    _assert_restored_binding_only(sandbox, params, old, new, portal_pid)


# Among the 20 slowest (--durations, issue 28), by design: a real renewal held at its swap, killed with its
# process group, and the restoring run after it.
def test_kill_9_of_the_renew_process_group_takes_its_kernel_and_the_command_in_flight_along(
    sandbox: Sandbox, params_for: Any, tmp_path: Path
) -> None:
    params = params_for(sandbox)
    old = first_binding(sandbox, params)
    portal_pid = sandbox.status()["portal_pid"]

    connection_files: list[str] = []

    def kill_the_group(run: subprocess.Popen[bytes], kernels: list[int]) -> None:
        for kernel in kernels:  # the kernel is found later by its connection file, not only its pid
            argv = _processes()[kernel][3].split()
            connection_files.append(argv[argv.index("-f") + 1])
        os.killpg(run.pid, signal.SIGKILL)  # what an operator or a scheduler does; the kernel is not in it

    journal, kernels, under = _kill_renewal_after_the_swap(sandbox, tmp_path, kill_the_group)
    killed = time.monotonic()

    def alive() -> list[int]:
        table = _processes()
        return [
            p
            for p, (*_, cmd) in table.items()
            if p in kernels + under or any(f in cmd for f in connection_files)
        ]

    # The watch kills within a poll (50 ms); 10 s is for a busy machine. Without the watch the command in
    # flight is never stopped, so a longer wait does not let that regression through.
    while alive() and time.monotonic() < killed + 10.0:
        time.sleep(0.02)
    left = alive()
    try:
        assert connection_files and left == [], (
            f"outlived the killed run: {[_processes().get(p) for p in left]}"
        )
    finally:
        for pid in left:
            os.kill(pid, signal.SIGKILL)
    new = journal["added"]
    _assert_restored_binding_only(sandbox, params, old, new, portal_pid)


def _leave_renewal_journal(sandbox: Sandbox, params: Any, new: str, imported: bool) -> None:
    """A checkpoint as a killed 04 leaves it, after swapping to ``new`` with Octopus's command."""
    from octorunbook.runbooks.run import Run, TextReporter

    run = Run(RENEW, params, TextReporter())
    target = run.open()
    parts = target.parts
    where = PortalIntent.location("localhost", 443)
    front, instance = parts.front.read(where), parts.instance.read(where)
    assert parts.front.serves(front)
    Checkpoint.begin(
        run,
        "parts",
        443,
        {parts.front.kind: front.to_record(), parts.instance.kind: instance.to_record()},
        [],
        {443: parts.front.serves(front)},
        added=new if imported else "",
    )
    octopus_of(target).ssl_certificate(new, "My", ip_address="0.0.0.0", port=443)
    run.finish()


def test_a_certificate_that_was_in_the_store_before_the_killed_renewal_is_kept(
    sandbox: Sandbox, params_for: Any, tmp_path: Path
) -> None:
    old = first_binding(sandbox, params_for(sandbox))
    other = run_inline("01-import-certificate", params_for(sandbox, audit_dir=str(tmp_path / "other")))
    new = other["certificate"]["thumbprint"]
    assert new != old
    _leave_renewal_journal(sandbox, params_for(sandbox), new, imported=False)
    assert served(sandbox) == new
    record = run_inline(RENEW, params_for(sandbox))
    assert record["findings"][0]["code"] == "INTERRUPTED_CHANGE"
    assert [c["action"] for c in record["changes"]] == [
        "restore interrupted change: octopus-server already as before",
        "restore interrupted change: restore binding",
    ]
    assert served(sandbox) == old
    assert (sandbox.stores_dir / "My" / f"{new}.pem").is_file(), "not the killed run's to remove"


def _killed_renewal_imported(sandbox: Sandbox, params_for: Any, tmp_path: Path) -> str:
    """A new certificate imported, and the journal a renewal killed after swapping to it leaves."""
    new = run_inline("01-import-certificate", params_for(sandbox, audit_dir=str(tmp_path / "other")))[
        "certificate"
    ]["thumbprint"]
    _leave_renewal_journal(sandbox, params_for(sandbox), new, imported=True)
    return str(new)


def test_a_certificate_the_killed_renewal_imported_is_kept_while_another_binding_uses_it(
    sandbox: Sandbox, params_for: Any, tmp_path: Path
) -> None:
    old = first_binding(sandbox, params_for(sandbox))
    new = _killed_renewal_imported(sandbox, params_for, tmp_path)
    netsh = Path(sandbox.status()["server_exe"]).with_name("netsh")
    subprocess.run(
        [
            str(netsh),
            "http",
            "add",
            "sslcert",
            "ipport=0.0.0.0:8443",
            f"certhash={new}",
            "appid={00000000-0000-0000-0000-000000000001}",
            "certstorename=My",
        ],
        check=True,
        capture_output=True,
    )
    record = run_inline(RENEW, params_for(sandbox))
    assert served(sandbox) == old
    assert (sandbox.stores_dir / "My" / f"{new}.pem").is_file()
    kept = next(f for f in record["findings"] if f["code"] == "CERT_STILL_BOUND")
    assert "0.0.0.0:8443" in kept["message"] and kept["details"]["bindings"] == ["0.0.0.0:8443"]


# Among the 20 slowest (--durations, issue 28), by design: a real renewal on the Windows stand-ins killed at
# its swap, and the restoring run.
@pytest.mark.windows
def test_on_windows_a_killed_renewal_is_restored_through_netsh_and_powershell_without_a_restart(
    windows_host: dict[str, Any],  # noqa: F811 - the fixture imported above
) -> None:
    from octorunbook.params.core import Parameters

    target = {k: v for k, v in windows_host["params"].items() if not k.startswith("pfx_")}
    target["certificate_source"] = "self-signed"  # 04 makes one that outlives it
    windows_host["params"] = target
    done, records = _run(windows_host)  # 01 → 03 on the stand-ins: the first binding
    assert done.returncode == 0, done.stdout + done.stderr
    old = records[0]["certificate"]["thumbprint"]
    sandbox: Sandbox = windows_host["sandbox"]
    portal_pid = sandbox.status()["portal_pid"]
    journal, _, _ = _kill_renewal_after_the_swap(sandbox, windows_host["tmp"], _kill_everything, target)
    new = journal["added"]
    assert new

    record = _assert_restored_binding_only(
        sandbox, Parameters(**target), old, new, portal_pid, windows_host["https_port"]
    )
    assert record["target"] == "windows"
    calls = [json.loads(line) for line in (windows_host["fake"].root / "argv.log").read_text().splitlines()]
    removals = [c["argv"][6:] for c in calls if "remove-certificate.ps1" in json.dumps(c["argv"])]
    assert removals == [["-StoreName", "My", "-Thumbprint", new]]
    argv = [c["argv"] for c in record["commands"]]
    assert [a[1:] for a in argv if "ssl-certificate" in a] == [
        [
            "ssl-certificate",
            "--console",
            "--instance",
            "OctopusServer",
            "--thumbprint",
            old,
            "--certificate-store",
            "My",
            "--ip-address",
            "0.0.0.0",
            "--port",
            str(windows_host["https_port"]),
        ]
    ]
    assert [a[1:] for a in argv if a[1:4] == ["http", "show", "sslcert"] and len(a) == 4] == [
        ["http", "show", "sslcert"]  # nothing else binds the new certificate: then it is removed
    ]


def test_a_dry_run_reports_the_interrupted_renewal_and_restores_nothing(
    sandbox: Sandbox, params_for: Any, tmp_path: Path
) -> None:
    first_binding(sandbox, params_for(sandbox))
    new = _killed_renewal_imported(sandbox, params_for, tmp_path)
    before = sandbox.httpsys_path.read_text()
    record = run_inline(RENEW, params_for(sandbox, dry_run=True))
    finding = record["findings"][0]
    assert finding["code"] == "INTERRUPTED_CHANGE" and "NOT restored" in finding["message"]
    assert "ssl-certificate" in finding["remedy"] and f"remove {new}" in finding["remedy"]
    assert "service" not in finding["remedy"]
    assert sandbox.httpsys_path.read_text() == before and served(sandbox) == new
    assert (sandbox.root / "state" / JOURNAL).exists()


def test_a_renewal_restore_that_fails_keeps_the_journal_and_the_next_run_restores_it(
    sandbox: Sandbox, params_for: Any, tmp_path: Path
) -> None:
    old = first_binding(sandbox, params_for(sandbox))
    new = _killed_renewal_imported(sandbox, params_for, tmp_path)
    Sandbox(sandbox.root).init(fail="ssl-certificate", start=False)  # the restore's rebind fails once
    record = run_inline(RENEW, params_for(sandbox))
    assert record["status"] == "failed"
    assert record["findings"][-1]["code"] == "INTERRUPTED_RESTORE_FAILED"
    assert "plan" not in record and (sandbox.root / "state" / JOURNAL).exists()
    assert (sandbox.stores_dir / "My" / f"{new}.pem").is_file(), "nothing removed before the proof"
    again = run_inline(RENEW, params_for(sandbox))
    assert again["findings"][0]["code"] == "INTERRUPTED_CHANGE", again["findings"]
    assert served(sandbox) == old and not (sandbox.root / "state" / JOURNAL).exists()
    assert not (sandbox.stores_dir / "My" / f"{new}.pem").exists()


def test_a_checkpoint_whose_instance_is_as_before_but_stopped_restarts_it(
    sandbox: Sandbox, params_for: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed inside the restart itself: the configuration is as in the snapshot but the service is stopped.
    The restore must not call the instance 'already as before': it restarts it, and the portal answers.
    (The sandbox starts a stopped portal when it is opened, as a booting host would; a Windows host whose
    service stays stopped is modelled by opening it without that.)"""
    import octorunbook.targets.sandbox as sandbox_package
    from octorunbook.runbooks.run import Run, TextReporter

    old = first_binding(sandbox, params_for(sandbox))
    run = Run(RENEW, params_for(sandbox), TextReporter())
    target = run.open()
    parts = target.parts
    where = PortalIntent.location("localhost", 443)
    front, instance = parts.front.read(where), parts.instance.read(where)
    Checkpoint.begin(
        run,
        "parts",
        443,
        {parts.front.kind: front.to_record(), parts.instance.kind: instance.to_record()},
        [],
        {443: old},
    )
    octopus_of(target).service("stop")
    run.finish()
    with pytest.raises(OSError):
        tls_handshake("127.0.0.1", sandbox.status()["port_map"][443], "localhost")

    monkeypatch.setattr(sandbox_package, "ensure_sandbox", lambda root, front="httpsys": Sandbox(root))
    record = run_inline(RENEW, params_for(sandbox))
    assert record["findings"][0]["code"] == "INTERRUPTED_CHANGE"
    actions = [c["action"] for c in record["changes"]]
    assert "restore interrupted change: service restart" in actions, actions
    assert "restore interrupted change: octopus-server already as before" not in actions
    assert served(sandbox) == old
    assert record["status"] == "succeeded", record["findings"]
