"""A rehearsal HA cluster for the Ansible tests and the benchmark: N sandboxes, a balancer, a vault.

Everything lives under one folder (``base``): the sandboxes, each node's work and audit folder, the
control node's fetched audit folders, Ansible's HOME (``~/.ansible``), its log, the vault and the
balancer's log — so a test can grep every file a playbook run leaves. The real ``ansible-playbook``
from the test environment runs ``ansible/examples/rollout.yml`` against an inventory shaped like
``ansible/examples/inventory.yml`` (free ports instead of 1808N/1844N).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import socket
import ssl
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import yaml
from portkit import free_ports

from octorunbook.ops.node_drain import Server, ping
from octorunbook.targets.sandbox import Sandbox
from octorunbook.targets.sandbox.balancer import HEALTH_INTERVAL

REPO = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
ANSIBLE_PLAYBOOK = BIN / "ansible-playbook"
OCTORUNBOOK = BIN / "octorunbook"
HOSTNAME = "portal.example.test"


def collection_env(base: Path) -> dict[str, str]:
    """The collection made visible as ``octorunbook.fleet`` under ``base`` (as the test cluster has it),
    and the environment Ansible's own tools (ansible-doc, ansible-lint) need to find it there."""
    collections = base / "ansible_collections" / "octorunbook"
    collections.mkdir(parents=True)
    (collections / "fleet").symlink_to(REPO / "ansible")
    return {"PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(base), "ANSIBLE_COLLECTIONS_PATH": str(base)}


def ansible_doc(base: Path, kind: str, name: str) -> dict[str, Any]:
    """What ``ansible-doc --json -t KIND NAME`` says of a plugin of the collection (made visible under ``base``);
    fails the test when ansible-doc cannot find it or parse its documentation."""
    done = subprocess.run(
        [str(BIN / "ansible-doc"), "--json", "-t", kind, name],
        env=collection_env(base),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    found: dict[str, Any] = json.loads(done.stdout)[name]
    return found


@dataclass
class Node:
    name: str
    sandbox: Sandbox
    http_port: int
    https_port: int

    @property
    def url(self) -> str:
        return f"http://localhost:{self.http_port}"


class Watcher:
    """Runs ``_loop`` on a daemon thread for the length of a ``with`` block; ``_loop`` polls ``_stop``."""

    def _loop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: Any) -> None:
        self._stop.set()
        self._thread.join()


@dataclass
class PingTrace(Watcher):
    """Every change of each node's ping status while a playbook runs (what the balancer saw)."""

    nodes: list[Node]
    events: list[tuple[float, str, int]] = field(default_factory=list)

    def _loop(self) -> None:
        # One poller per node: on a busy machine a slow answer from one node must not delay the samples
        # of the others (a sample taken late reads as two nodes out of the pool at once). The 5 s timeout
        # is for load too: a restarting portal refuses at once (0), a busy one only answers late.
        pollers = [threading.Thread(target=self._poll, args=(node,), daemon=True) for node in self.nodes]
        for poller in pollers:
            poller.start()
        for poller in pollers:
            poller.join()

    def _poll(self, node: Node) -> None:
        last: int | None = None
        while not self._stop.is_set():
            status = ping(Server(node.url, timeout=5.0))
            if last != status:
                last = status
                self.events.append((time.monotonic(), node.name, status))
            time.sleep(HEALTH_INTERVAL)  # as often as the balancer looks: finer sees nothing it acts on

    def statuses(self, name: str) -> list[int]:
        return [status for _, node, status in self.events if node == name]  # one poller: in order

    def most_out_at_once(self) -> int:
        """The largest number of nodes not answering 200 at the same moment."""
        state = {node.name: 200 for node in self.nodes}
        worst = 0
        for _, name, status in sorted(self.events):
            state[name] = status
            worst = max(worst, sum(1 for s in state.values() if s != 200))
        return worst


@dataclass
class BalancerProbe(Watcher):
    """A client opening a fresh TLS connection through the balancer every 50 ms."""

    port: int
    sent: int = 0
    failed: int = 0
    seen: list[str] = field(default_factory=list)

    def _loop(self) -> None:
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        while not self._stop.is_set():
            self.sent += 1
            try:
                with (
                    socket.create_connection(("127.0.0.1", self.port), timeout=5) as raw,
                    context.wrap_socket(raw, server_hostname=HOSTNAME) as tls,
                ):
                    der = tls.getpeercert(binary_form=True) or b""
                thumbprint = hashlib.sha1(der).hexdigest().upper()
                if not self.seen or self.seen[-1] != thumbprint:
                    self.seen.append(thumbprint)
            except OSError:
                self.failed += 1
            time.sleep(0.05)


class Cluster:
    """N sandbox nodes on this machine, a balancer over their HTTPS, and the files Ansible needs."""

    def __init__(self, base: Path, size: int, drills: dict[int, str] | None = None) -> None:
        self.base = base
        self.pfx_password = "pfx-canary-" + secrets.token_hex(12)
        self.api_key = "API-" + secrets.token_hex(16).upper()
        ports = free_ports(2 * size + 1)
        self.lb_port = ports[-1]
        self.nodes = [
            Node(f"node{i}", Sandbox(base / "sandboxes" / f"node{i}"), ports[2 * i - 2], ports[2 * i - 1])
            for i in range(1, size + 1)
        ]
        self.drills = drills or {}
        self.audit_root = base / "audit"
        self.log = base / "ansible.log"
        self.balancer: subprocess.Popen[bytes] | None = None

    # ---- set-up ----------------------------------------------------------------------------
    def start(self) -> Cluster:
        home = self.base / "home"
        collections = self.base / "collections" / "ansible_collections" / "octorunbook"
        collections.mkdir(parents=True)
        (collections / "fleet").symlink_to(REPO / "ansible")
        home.mkdir()
        for i, node in enumerate(self.nodes, start=1):
            node.sandbox.init(http_port=node.http_port, fail=self.drills.get(i))
        self.balancer = subprocess.Popen(
            [sys.executable, "-m", "octorunbook.targets.sandbox.balancer", "--port", str(self.lb_port)]
            + [arg for n in self.nodes for arg in ("--node", f"{n.https_port}={n.url}")],
            stdout=(self.base / "balancer.log").open("wb"),
            stderr=subprocess.STDOUT,
            env={"PATH": os.environ.get("PATH", ""), "HOME": str(home)},
        )
        self.write_vault()
        self.write_inventory()
        return self

    def stop(self) -> None:
        for node in self.nodes:
            with contextlib.suppress(Exception):
                node.sandbox.stop()
        if self.balancer is not None:
            self.balancer.terminate()
            try:
                self.balancer.wait(10)
            except subprocess.TimeoutExpired:
                self.balancer.kill()
                self.balancer.wait()

    def env(self) -> dict[str, str]:
        keep = {k: v for k, v in os.environ.items() if k in {"LANG", "LC_ALL", "TMPDIR", "TZ"}}
        return {
            **keep,
            "PATH": f"{BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            "HOME": str(self.base / "home"),
            "ANSIBLE_COLLECTIONS_PATH": str(self.base / "collections"),
            "ANSIBLE_LOG_PATH": str(self.log),
            "ANSIBLE_LOCAL_TEMP": str(self.base / "home" / ".ansible" / "tmp"),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_RETRY_FILES_ENABLED": "0",
        }

    def make_pfx(self, name: str, validity_days: int) -> tuple[Path, str]:
        """A PFX for the portal (protected with the canary password) and its thumbprint."""
        path = self.base / name
        done = subprocess.run(
            [str(OCTORUNBOOK), "certificate", "new", "--hostname", HOSTNAME, "--out", str(path)]
            + ["--password-env", "FLEET_PFX_PASSWORD", "--validity-days", str(validity_days)],
            env={**self.env(), "FLEET_PFX_PASSWORD": self.pfx_password},
            capture_output=True,
            text=True,
            check=True,
        )
        return path, done.stdout.split("Thumbprint:")[1].strip()

    def write_vault(self) -> None:
        (self.base / "vault-pass").write_text(secrets.token_hex(16) + "\n")
        vault = self.base / "vault.yml"
        vault.write_text(
            yaml.safe_dump({"vault_pfx_password": self.pfx_password, "vault_octopus_api_key": self.api_key})
        )
        subprocess.run(
            [str(BIN / "ansible-vault"), "encrypt", "--vault-password-file", str(self.base / "vault-pass")]
            + [str(vault)],
            env=self.env(),
            capture_output=True,
            check=True,
        )

    def write_inventory(self) -> None:
        hosts = {
            node.name: {
                "portal_https_sandbox_dir": str(node.sandbox.root),
                "portal_https_node_dir": str(self.base / "work" / node.name),
                "portal_https_node_url": node.url,
                "portal_https_node_https_url": f"https://127.0.0.1:{node.https_port}",
                "portal_https_https_port": node.https_port,
            }
            for node in self.nodes
        }
        group_vars = {
            "ansible_connection": "local",
            "ansible_python_interpreter": sys.executable,
            "ansible_pipelining": True,
            "portal_https_executable": str(OCTORUNBOOK),
            "portal_https_hostname": HOSTNAME,
            "portal_https_pfx_src": str(self.base / "portal.pfx"),
            "portal_https_pfx_password": "{{ vault_pfx_password }}",
            "portal_https_api_key": "{{ vault_octopus_api_key }}",
            "portal_https_params": {"target": "sandbox", "store": "My", "keep_http": True},
            "portal_https_lb_url": f"https://127.0.0.1:{self.lb_port}",
            "portal_https_drain_timeout": 60,
        }
        inventory = {
            "all": {
                "vars": {
                    "portal_https_audit_root": str(self.audit_root),
                    "portal_https_controller_executable": str(OCTORUNBOOK),
                },
                "children": {"octopus_nodes": {"vars": group_vars, "hosts": hosts}},
            }
        }
        (self.base / "inventory.yml").write_text(yaml.safe_dump(inventory, sort_keys=False))

    # ---- runs ------------------------------------------------------------------------------
    def playbook(
        self, *extra: str, pfx: Path | None = None, timeout: float = 900
    ) -> subprocess.CompletedProcess[str]:
        if pfx is not None:  # the certificate this run rolls out, where the inventory says
            (self.base / "portal.pfx").write_bytes(pfx.read_bytes())
        return subprocess.run(
            [str(ANSIBLE_PLAYBOOK), "-i", str(self.base / "inventory.yml")]
            + [str(REPO / "ansible" / "examples" / "rollout.yml")]
            + ["--vault-password-file", str(self.base / "vault-pass"), "-e", f"@{self.base / 'vault.yml'}"]
            + list(extra),
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.base,
        )

    def summary(self, expect: str | None = None) -> tuple[int, dict[str, dict[str, Any]]]:
        argv = [str(OCTORUNBOOK), "fleet", "summary", str(self.audit_root), "--json"]
        done = subprocess.run(
            argv + (["--expect-thumbprint", expect] if expect else []),
            env=self.env(),
            capture_output=True,
            text=True,
        )
        return done.returncode, {row["node"]: row for row in json.loads(done.stdout)}

    def portal_pids(self) -> dict[str, int | None]:
        return {node.name: node.sandbox.portal_pid() for node in self.nodes}
