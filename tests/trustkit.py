"""Shared pieces of the trust tests (issue 22): the doors a user has, the attacker, what a target is.

The attacker is ``nobody``/``nogroup`` with no supplementary groups, reached from root with ``setpriv`` (or
``runuser``); a test that needs one is skipped, saying why, where neither exists or the tests do not run
as root. What a target *is* is read from outside: the certificate served over TLS, the files' bytes.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from octorunbook.evidence.tls import tls_handshake
from octorunbook.targets.sandbox import Sandbox
from tests.prockit import running

BIN = Path(sys.executable).parent
RECORD_MIME = "application/vnd.octorunbook.result+json"


# ---- the doors a user has ---------------------------------------------------------------------------
def octorunbook(*args: str, timeout: float = 600, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """The ``octorunbook`` command as an operator types it; its stderr is merged into ``stdout``."""
    return subprocess.run(
        [str(BIN / "octorunbook"), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
        **kwargs,
    )


def params_file(path: Path, **values: Any) -> Path:
    path.write_text(yaml.safe_dump(values))
    return path


def attacker() -> list[str]:
    """argv prefix that runs a command as ``nobody``/``nogroup`` with no supplementary groups."""
    if os.geteuid() != 0:
        pytest.skip("acting as another user needs root (the tests run as root in CI)")
    if shutil.which("setpriv"):
        return ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]
    if shutil.which("runuser"):
        return ["runuser", "-u", "nobody", "--"]
    pytest.skip("neither setpriv nor runuser is installed: cannot act as an unprivileged user")


def as_attacker(script: str, *args: str | Path, stdin: str = "") -> None:
    """Run a shell ``script`` (``$1`` … are ``args``) as the unprivileged attacker; it must succeed."""
    done = subprocess.run(
        [*attacker(), "sh", "-euc", script, "attacker", *map(str, args)],
        input=stdin,
        capture_output=True,
        text=True,
        cwd="/",
    )
    assert done.returncode == 0, f"the attacker could not act: {done.stderr}"


def let_others_traverse(path: Path) -> None:
    """Give others search (x) permission on ``path`` and its parents below the temporary folder, so the
    attacker can reach a folder the test hands them (nothing becomes readable or writable)."""
    top = Path(tempfile.gettempdir()).resolve()
    for folder in [path, *path.parents]:
        if folder == top or folder == Path("/"):
            break
        mode = stat.S_IMODE(folder.stat().st_mode)
        if not mode & 0o001:
            folder.chmod(mode | 0o001)


def tree(folder: Path) -> dict[str, str]:
    """Every entry under ``folder``: a file's SHA-256 and first bytes, a link's target, or ``dir``."""
    found: dict[str, str] = {}
    if not folder.exists():
        return found
    for path in sorted(folder.rglob("*")):
        name = str(path.relative_to(folder))
        if path.is_symlink():
            found[name] = "-> " + os.readlink(path)
        elif path.is_dir():
            found[name] = "dir"
        else:
            data = path.read_bytes()
            found[name] = f"sha256 {hashlib.sha256(data).hexdigest()[:16]} {data[:60]!r}"
    return found


def records(audit: Path, runbook: str = "") -> list[dict[str, Any]]:
    """The result records of the notebooks stored in ``audit`` (oldest first)."""
    found = []
    for path in sorted(audit.glob(f"*{runbook}*.ipynb")):
        for cell in json.loads(path.read_text())["cells"]:
            for output in cell.get("outputs", []):
                data = output.get("data", {}).get(RECORD_MIME)
                if data:
                    found.append(data)
    return found


def codes(record: dict[str, Any]) -> list[str]:
    return [f["code"] for f in record.get("findings", [])]


# ---- the sandbox as a user sets it up -----------------------------------------------------------------
def served(sandbox: Sandbox) -> str:
    return str(tls_handshake("127.0.0.1", sandbox.map_port(443), "localhost").thumbprint)


def bound(sandbox: Sandbox) -> str:
    return str(json.loads(sandbox.httpsys_path.read_text())["0.0.0.0:443"]["hash"])


def store(sandbox: Sandbox) -> dict[str, str]:
    return tree(sandbox.stores_dir)


def target(sandbox: Sandbox) -> dict[str, Any]:
    """What the sandbox target is: the certificate served over TLS, its HTTP.sys bindings, its store."""
    return {
        "served": served(sandbox),
        "bindings": json.loads(sandbox.httpsys_path.read_text()),
        "store": store(sandbox),
    }


def first_binding(
    sandbox: Sandbox, tmp_path: Path, env: dict[str, str] | None = None, **extra: Any
) -> tuple[Path, str]:
    """``octorunbook run`` (01 → 02 → 03) with a self-signed certificate: HTTPS is served. The YAML,
    and what the run printed."""
    yaml_path = params_file(
        tmp_path / "params.yaml", sandbox_dir=str(sandbox.root), audit_dir=str(tmp_path / "audit"), **extra
    )
    done = octorunbook("run", str(yaml_path), env=env)
    assert done.returncode == 0, done.stdout[-4000:]
    assert served(sandbox) == bound(sandbox)
    return yaml_path, done.stdout


def processes() -> dict[int, tuple[int, int, str]]:
    """pid → (parent pid, process group, command line) of every live (not zombie) process."""
    found = {}
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat_file.read_text().rsplit(")", 1)[1].split()
            cmdline = (
                (stat_file.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            )
        except OSError:
            continue
        if running(stat_file.parent.name):  # prockit: not a zombie whose threads have all exited
            found[int(stat_file.parent.name)] = (int(fields[1]), int(fields[2]), cmdline)
    return found


def kill_whole_run(run: subprocess.Popen[Any]) -> None:
    """``kill -9`` of a run as an operator does it: its process group and each kernel's; then wait (up to
    a minute, load or not) until every process of those groups is gone."""
    table = processes()
    kernels = [pid for pid, (ppid, _, cmd) in table.items() if ppid == run.pid and "kernel" in cmd]
    groups = {run.pid, *(table[k][1] for k in kernels)} - {os.getpgid(0)}
    for group in groups:
        try:
            os.killpg(group, signal.SIGKILL)
        except ProcessLookupError:
            pass
    run.wait()
    deadline = time.monotonic() + 60
    while [p for p, (_, g, _) in processes().items() if g in groups] and time.monotonic() < deadline:
        time.sleep(0.05)
    left = [p for p, (_, g, _) in processes().items() if g in groups]
    assert not left, f"the killed run's processes outlived SIGKILL: {left}"


def renewal_hanging_after_its_swap(
    sandbox: Sandbox, tmp_path: Path, yaml_path: Path
) -> subprocess.Popen[bytes]:
    """``octorunbook renew --force`` in its own session, hanging after its swap (drill 'hang-after-swap':
    the new binding is in place, the proof has not run; the command returns by itself after 120 s)."""
    Sandbox(sandbox.root).init(fail="hang-after-swap", start=False)
    log = tmp_path / f"renewal-{time.monotonic_ns()}.out"
    with log.open("wb") as out:
        run = subprocess.Popen(
            [str(BIN / "octorunbook"), "renew", str(yaml_path), "--force"],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 300
        while "hang-after-swap" not in sandbox.meta().get("fired", []):
            assert run.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() < deadline, "the swap never happened"
            time.sleep(0.1)
        time.sleep(0.5)  # the stand-in has written the new binding and hangs
    except BaseException:
        kill_whole_run(run)
        raise
    return run


def tls_thumbprint(pem: bytes) -> str:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    return x509.load_pem_x509_certificate(pem).fingerprint(hashes.SHA1()).hex().upper()  # noqa: S303
