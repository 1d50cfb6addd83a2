"""What octorunbook wrote earlier is data it checks, never instructions it obeys: the attacks of issue 22,
each through the door a user has (``octorunbook run``, ``renew``, ``recover``), as the user who would try it.

The state home of a target (the sandbox's ``state/``, ``state/`` beside an nginx target's ``cert_dir``)
must belong to the user running octorunbook, mode 0700, on a path nobody else may write to; every file
read back from it must be authenticated and name this target; a file that fails is quarantined and never
acted on. Each test asserts on the target itself (the bytes of files, the certificate served over TLS,
the store), not only on an exit code. The attacker is ``nobody`` (``setpriv``/``runuser`` from root).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import trustme
import yaml
from nginxkit import HOSTNAME, NGINX, needs_nginx

from octorunbook.targets.sandbox import Sandbox
from octorunbook.verify import http_get, tls_handshake

pytestmark = [
    pytest.mark.redteam,
    pytest.mark.skipif(sys.platform != "linux", reason="POSIX owners and modes, /proc"),
]
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
    return tls_handshake("127.0.0.1", sandbox.map_port(443), "localhost").thumbprint


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


def first_binding(sandbox: Sandbox, tmp_path: Path, **extra: Any) -> Path:
    """``octorunbook run`` (01 → 02 → 03) with a self-signed certificate: HTTPS is served. The YAML."""
    yaml_path = params_file(
        tmp_path / "params.yaml", sandbox_dir=str(sandbox.root), audit_dir=str(tmp_path / "audit"), **extra
    )
    done = octorunbook("run", str(yaml_path))
    assert done.returncode == 0, done.stdout[-4000:]
    assert served(sandbox) == bound(sandbox)
    return yaml_path


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
        if fields[0] != "Z":
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


def killed_renewal(sandbox: Sandbox, tmp_path: Path, yaml_path: Path) -> list[Path]:
    """``octorunbook renew --force`` killed with -9 after its swap (drill 'hang-after-swap': the new
    binding is in place, the proof has not run). Returns the state files that run created or changed
    (its checkpoint, whatever it is called), lock files aside."""
    state = sandbox.root / "state"
    before = tree(state)
    Sandbox(sandbox.root).init(fail="hang-after-swap", start=False)
    with (tmp_path / "killed-renewal.out").open("wb") as out:
        run = subprocess.Popen(
            [str(BIN / "octorunbook"), "renew", str(yaml_path), "--force"],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 300
        while "hang-after-swap" not in sandbox.meta().get("fired", []):
            assert run.poll() is None, (tmp_path / "killed-renewal.out").read_text()[-3000:]
            assert time.monotonic() < deadline, "the swap never happened"
            time.sleep(0.1)
        time.sleep(0.5)  # the stand-in has written the new binding and hangs
    finally:
        kill_whole_run(run)
    after = tree(state)
    left = [
        state / name
        for name, content in after.items()
        if before.get(name) != content
        and content != "dir"
        and "lock" not in Path(name).name.lower()
        and not name.startswith("quarantine")
    ]
    assert left, f"the killed renewal left no checkpoint in {state}: {sorted(after)}"
    return left


def netsh_fields(sandbox: Sandbox) -> dict[str, str]:
    """``netsh http show sslcert ipport=0.0.0.0:443`` as anyone on the host can read it."""
    netsh = Path(sandbox.status()["server_exe"]).with_name("netsh")
    shown = subprocess.run(
        [str(netsh), "http", "show", "sslcert", "ipport=0.0.0.0:443"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {
        key.strip(): value.strip()
        for key, sep, value in (line.partition(" : ") for line in shown.splitlines())
        if sep and key.strip()
    }


def crafted_renewal_journal(sandbox: Sandbox, old: str, fields: dict[str, str], new: dict[str, Any]) -> str:
    """A renewal journal in the old JSON format, well-formed, written by hand (no MAC): it says the killed
    run swapped ``old`` away and imported ``new`` (which a restore would then remove)."""
    appid = json.loads(sandbox.httpsys_path.read_text())["0.0.0.0:443"]["appid"]
    binding = {"ip_port": "0.0.0.0:443", "certificate_hash": old, "application_id": appid, "store_name": "My"}
    return json.dumps(
        {
            "kind": "renewal",
            "renewal": {
                "topology": "httpsys",
                "method": "octopus",
                "old_binding": {**binding, "fields": fields},
                "settings": {},
                "new_certificate": new,
                "hostname": "localhost",
            },
            "version": 1,
            "phase": "applying",
            "runbook": "04-renew-certificate",
            "operator": "root",
            "pid": 1,
            "started_at": "2026-01-01T00:00:00Z",
            "instance": "OctopusServer",
            "port": 443,
            "snapshot": {
                "portal": {
                    "listen_prefixes": ["http://localhost:80/", "https://localhost:443/"],
                    "force_ssl": False,
                    "hsts_enabled": False,
                    "hsts_max_age": 3600,
                },
                "binding": binding,
            },
            "desired": {"binding": new["thumbprint"], "store": new["store"]},
            "commands": [],
        },
        indent=2,
    )


# ---- 1. one protected home per target ------------------------------------------------------------------
@pytest.mark.parametrize("how", ["owned by another user", "in a folder others may write"])
def test_renew_refuses_a_state_folder_another_user_owns_or_may_replace(
    make_sandbox: Callable[..., Sandbox], tmp_path: Path, how: str
) -> None:
    sandbox = make_sandbox()
    yaml_path = first_binding(sandbox, tmp_path)
    state = sandbox.root / "state"
    if how == "owned by another user":
        attacker()  # skips without a way to be another user
        for path in [state, *state.rglob("*")]:
            os.lchown(path, 65534, 65534)
    else:
        sandbox.root.chmod(0o777)  # no sticky bit: anyone may rename state/ away and put their own there
    before, state_before = target(sandbox), tree(state)
    audit_before = set((tmp_path / "audit").glob("*.ipynb"))

    done = octorunbook("renew", str(yaml_path), "--force")

    assert target(sandbox) == before, "the renewal changed the target from a state folder it must not trust"
    assert tree(state) == state_before, "something was read or written in the state folder first"
    assert done.returncode == 1, done.stdout[-3000:]
    assert "✖ STATE_DIR_UNSAFE: " in done.stdout and "remedy:" in done.stdout, done.stdout[-3000:]
    new = [p for p in (tmp_path / "audit").glob("*.ipynb") if p not in audit_before]
    assert new and "STATE_DIR_UNSAFE" in codes(records(tmp_path / "audit", new[-1].stem)[-1])


def test_the_state_home_is_created_0700_and_a_sticky_folder_owned_by_root_on_its_path_is_accepted(
    make_sandbox: Callable[..., Sandbox], tmp_path: Path
) -> None:
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared").chmod(0o1777)  # like /tmp: others may create, not rename or remove ours
    sandbox = make_sandbox("shared/sandbox")

    first_binding(sandbox, tmp_path)

    state = (sandbox.root / "state").stat()
    assert (state.st_uid, stat.S_IMODE(state.st_mode)) == (os.geteuid(), 0o700)


# ---- 2. writes in the state home never follow links --------------------------------------------------
def test_a_dry_run_never_writes_through_links_planted_in_the_state_folder(
    make_sandbox: Callable[..., Sandbox], tmp_path: Path
) -> None:
    sandbox = make_sandbox()
    first_binding(sandbox, tmp_path)
    state = sandbox.root / "state"
    names = {p.name for p in state.iterdir() if p.is_file()}
    for instance in ("OctopusServer", "octopusserver"):
        names |= {f"{kind}-{instance}.json" for kind in ("lock", "change", "last-import", "journal")}
        names |= {f"lock-{instance}.lock", f"checkpoint-{instance}.json"}
    names |= {n + ".tmp" for n in names} | {Path(n).with_suffix(".tmp").name for n in names}
    victims = tmp_path / "victims"
    victims.mkdir()
    for i, name in enumerate(sorted(names)):
        (state / name).unlink(missing_ok=True)
        if i % 2:  # a link to a file that does not exist: following it would create the file
            (state / name).symlink_to(victims / f"created-through-{name}")
        else:
            (victims / name).write_bytes(f"not octorunbook's: {name}\n".encode())
            (state / name).symlink_to(victims / name)
    before = tree(victims)
    dry = params_file(
        tmp_path / "dry.yaml",
        sandbox_dir=str(sandbox.root),
        audit_dir=str(tmp_path / "audit-dry"),
        dry_run=True,
    )

    done = octorunbook("run", str(dry))

    assert tree(victims) == before, "written through a link in the state folder: " + done.stdout[-2000:]


# ---- 3. a crafted journal is never acted on --------------------------------------------------------------
def test_a_crafted_renewal_journal_never_makes_renew_delete_files_outside_its_store(
    make_sandbox: Callable[..., Sandbox], tmp_path: Path
) -> None:
    sandbox = make_sandbox()
    yaml_path = first_binding(sandbox, tmp_path)
    old, fields = bound(sandbox), netsh_fields(sandbox)
    elsewhere = tmp_path / "another-service" / "tls"  # another program's certificate and key
    elsewhere.mkdir(parents=True)
    shutil.copy(sandbox.stores_dir / "My" / f"{old}.pem", elsewhere / "SERVICE.pem")
    (elsewhere / "SERVICE.key").write_bytes(b"-----BEGIN PRIVATE KEY-----\nnot octorunbook's\n")
    outside = tree(elsewhere)
    checkpoints = killed_renewal(sandbox, tmp_path, yaml_path)
    crafted = crafted_renewal_journal(
        sandbox, old, fields, {"thumbprint": "SERVICE", "store": str(elsewhere), "imported_by_run": True}
    )
    for path in checkpoints:  # a well-formed journal in the old format, by root, without a valid MAC
        path.write_text(crafted)
    after_kill = target(sandbox)

    done = octorunbook("renew", str(yaml_path))

    assert tree(elsewhere) == outside, "renew deleted files outside its store: " + done.stdout[-3000:]
    assert target(sandbox) == after_kill
    assert done.returncode == 1 and "STATE_UNTRUSTED" in done.stdout, done.stdout[-3000:]
    quarantine = sandbox.root / "state" / "quarantine"
    assert str(elsewhere) in "".join(p.read_text() for p in quarantine.rglob("*") if p.is_file())
    assert not any(p.exists() and p.read_text() == crafted for p in checkpoints)

    again = octorunbook("renew", str(yaml_path), "--force")  # would change the target: refused
    assert again.returncode == 1 and "STATE_UNTRUSTED" in again.stdout, again.stdout[-3000:]
    assert target(sandbox) == after_kill

    shown = octorunbook("recover", str(yaml_path), "--discard")
    assert shown.returncode == 0, shown.stdout[-3000:]
    assert str(elsewhere) in shown.stdout, "recover --discard shows what the quarantined file held"
    assert not [p for p in quarantine.rglob("*") if p.is_file()]

    after = octorunbook("renew", str(yaml_path))
    assert after.returncode == 0 and "STATE_UNTRUSTED" not in after.stdout, after.stdout[-3000:]
    assert tree(elsewhere) == outside


def test_a_crafted_renewal_journal_never_removes_a_certificate_that_was_in_the_store_before(
    make_sandbox: Callable[..., Sandbox], tmp_path: Path
) -> None:
    sandbox = make_sandbox()
    yaml_path = first_binding(sandbox, tmp_path)
    earlier = bound(sandbox)
    renewed = octorunbook("renew", str(yaml_path), "--force")  # the earlier one stays in the store
    assert renewed.returncode == 0, renewed.stdout[-3000:]
    current, fields = bound(sandbox), netsh_fields(sandbox)
    assert current != earlier and (sandbox.stores_dir / "My" / f"{earlier}.key").is_file()
    kept = {p.name: p.read_bytes() for p in (sandbox.stores_dir / "My").glob(f"{earlier}.*")}
    checkpoints = killed_renewal(sandbox, tmp_path, yaml_path)
    crafted = crafted_renewal_journal(
        sandbox, current, fields, {"thumbprint": earlier, "store": "My", "imported_by_run": True}
    )
    for path in checkpoints:
        path.write_text(crafted)

    done = octorunbook("renew", str(yaml_path))

    assert {p.name: p.read_bytes() for p in (sandbox.stores_dir / "My").glob(f"{earlier}.*")} == kept, (
        "a certificate (and its key) that was in the store before was removed: " + done.stdout[-3000:]
    )
    assert done.returncode == 1 and "STATE_UNTRUSTED" in done.stdout, done.stdout[-3000:]
    assert list((sandbox.root / "state" / "quarantine").iterdir())


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def planted_site(site_text: str, certificate: Path, key: Path, include: Path) -> str:
    """The managed server block, pointed at the attacker's certificate and including the attacker's file."""
    lines = []
    for line in site_text.splitlines(keepends=True):
        if line.strip().startswith("ssl_certificate "):
            lines.append(f"    include {include};\n    ssl_certificate {certificate};\n")
        elif line.strip().startswith("ssl_certificate_key "):
            lines.append(f"    ssl_certificate_key {key};\n")
        else:
            lines.append(line)
    return "".join(lines)


@needs_nginx
def test_renew_on_nginx_refuses_a_state_folder_an_unprivileged_user_planted_beside_cert_dir(
    nginx: Any, upstream: Any, ca: trustme.CA, tmp_path: Path
) -> None:
    shared = tmp_path / "shared"  # cert_dir's parent: the state home is shared/state
    shared.mkdir(mode=0o755)
    port = free_port()
    yaml_path = params_file(
        tmp_path / "nginx.yaml",
        target="nginx",
        nginx_bin=NGINX,
        nginx_conf_dir=str(nginx.prefix),
        nginx_pid=str(nginx.prefix / "nginx.pid"),
        cert_dir=str(shared / "certs"),
        octopus_upstream=upstream.url,
        hostname=HOSTNAME,
        https_port=port,
        keep_http=False,
        hsts_max_age=3600,
        audit_dir=str(tmp_path / "audit"),
    )
    first = octorunbook("run", str(yaml_path))
    assert first.returncode == 0, first.stdout[-4000:]
    ours = tls_handshake("127.0.0.1", port, HOSTNAME).thumbprint
    site = nginx.prefix / "conf.d" / "octopus-portal.conf"
    site_before = site.read_bytes()
    assert ours in json.dumps(records(tmp_path / "audit", "03-add-https-binding")[-1]["certificate"])

    # A careless operator lets a team write into the folder; the attacker (nobody) swaps in a state
    # folder of their own with a journal that restores "the previous site": their certificate, their file.
    shared.chmod(0o777)
    let_others_traverse(shared)
    leaf = ca.issue_cert(HOSTNAME)
    evil = shared / "evil"
    chain = b"".join(pem.bytes() for pem in leaf.cert_chain_pems).decode()
    planted = tls_thumbprint(leaf.cert_chain_pems[0].bytes())
    journal = {
        "version": 1,
        "topology": "parts",
        "phase": "applying",
        "runbook": "03-add-https-binding",
        "operator": "root",
        "pid": 1,
        "started_at": "2026-01-01T00:00:00Z",
        "instance": "OctopusServer",
        "port": port,
        "snapshot": {
            "nginx": {
                "path": str(site),
                "exists": True,
                "managed": True,
                "thumbprint": planted,
                "text": planted_site(
                    site_before.decode(), evil / "planted.crt", evil / "planted.key", evil / "evil.conf"
                ),
            },
            "octopus-behind-proxy": {"trusted_proxies": [], "listen_prefixes": [], "managed": False},
        },
        "served_before": {str(port): planted},
        "commands": [],
    }
    as_attacker(
        'mv "$1/state" "$1/state.old"; mkdir -m 0777 "$1/state" "$1/evil"; cat > "$1/state/$2"',
        shared,
        "change-OctopusServer.json",
        stdin=json.dumps(journal),
    )
    as_attacker('cat > "$1"', evil / "planted.crt", stdin=chain)
    as_attacker('cat > "$1"', evil / "planted.key", stdin=leaf.private_key_pem.bytes().decode())
    as_attacker('cat > "$1"', evil / "evil.conf", stdin='add_header X-Planted "yes" always;\n')
    planted_state = tree(shared / "state")

    done = octorunbook("renew", str(yaml_path))

    assert tls_handshake("127.0.0.1", port, HOSTNAME).thumbprint == ours, (
        "nginx serves the planter's certificate: " + done.stdout[-3000:]
    )
    assert http_get("https", "127.0.0.1", port, HOSTNAME).header("X-Planted") is None, "evil.conf is included"
    assert site.read_bytes() == site_before, "the managed server block was rewritten"
    assert done.returncode == 1, done.stdout[-3000:]
    assert "✖ STATE_DIR_UNSAFE: " in done.stdout and "remedy:" in done.stdout, done.stdout[-3000:]
    assert tree(shared / "state") == planted_state, "the planted folder was read from or written to"


def tls_thumbprint(pem: bytes) -> str:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes

    return x509.load_pem_x509_certificate(pem).fingerprint(hashes.SHA1()).hex().upper()  # noqa: S303
