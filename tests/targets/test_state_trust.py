"""What octorunbook wrote earlier is data it checks, never instructions it obeys: the attacks of issue 22,
each through the door a user has (``octorunbook run``, ``renew``, ``recover``), as the user who would try it.

The state home of a target (the sandbox's ``state/``, ``state/`` beside an nginx target's ``cert_dir``)
must belong to the user running octorunbook, mode 0700, on a path nobody else may write to; every file
read back from it must be authenticated and name this target; a file that fails is quarantined and never
acted on. Each test asserts on the target itself (the bytes of files, the certificate served over TLS,
the store), not only on an exit code. The attacker is ``nobody`` (``setpriv``/``runuser`` from root).
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from trustkit import (
    attacker,
    bound,
    codes,
    first_binding,
    kill_whole_run,
    octorunbook,
    params_file,
    records,
    renewal_hanging_after_its_swap,
    target,
    tree,
)

from octorunbook.targets.sandbox import Sandbox

pytestmark = [
    pytest.mark.redteam,
    pytest.mark.skipif(sys.platform != "linux", reason="POSIX owners and modes, /proc"),
]


# ---- a renewal killed after its swap, and the journal an attacker would write in its place ----------
def killed_renewal(sandbox: Sandbox, tmp_path: Path, yaml_path: Path) -> list[Path]:
    """``octorunbook renew --force`` killed with -9 after its swap (drill 'hang-after-swap': the new
    binding is in place, the proof has not run). Returns the state files that run created or changed
    (its checkpoint, whatever it is called), lock files aside."""
    state = sandbox.root / "state"
    before = tree(state)
    kill_whole_run(renewal_hanging_after_its_swap(sandbox, tmp_path, yaml_path))
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


def quarantined(sandbox: Sandbox) -> str:
    """Everything the files in the target's ``state/quarantine/`` hold, as text."""
    folder = sandbox.root / "state" / "quarantine"
    return "".join(p.read_text("utf-8", "replace") for p in sorted(folder.rglob("*")) if p.is_file())


# ---- 1. one protected home per target ------------------------------------------------------------------
@pytest.mark.parametrize("how", ["owned by another user", "in a folder others may write"])
def test_renew_refuses_a_state_folder_another_user_owns_or_may_replace(
    make_sandbox: Callable[..., Sandbox], tmp_path: Path, how: str
) -> None:
    sandbox = make_sandbox()
    yaml_path, _ = first_binding(sandbox, tmp_path)
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
@pytest.mark.parametrize("door", ["run with dry_run: true", "renew --force"])
def test_nothing_is_written_through_links_planted_in_the_state_folder_even_by_a_dry_run(
    make_sandbox: Callable[..., Sandbox], tmp_path: Path, door: str
) -> None:
    sandbox = make_sandbox()
    yaml_path, _ = first_binding(sandbox, tmp_path)
    state = sandbox.root / "state"
    names = {str(p.relative_to(state)) for p in state.rglob("*") if p.is_file()}  # what one run keeps
    for instance in ("OctopusServer", "octopusserver"):  # and what a run may write: lock, journal, memory
        names |= {f"{kind}-{instance}.json" for kind in ("lock", "change", "last-import", "checkpoint")}
        names.add(f"lock-{instance}.lock")
    names |= {n + ".tmp" for n in names} | {str(Path(n).with_suffix(".tmp")) for n in names}
    victims = tmp_path / "victims"
    victims.mkdir()
    for i, name in enumerate(sorted(names)):
        link, victim = state / name, victims / name.replace("/", "_")
        link.unlink(missing_ok=True)
        if i % 2:  # a link to a file that does not exist: following it would create the file
            link.symlink_to(victim.with_name("created-through-" + victim.name))
        else:
            victim.write_bytes(f"not octorunbook's: {name}\n".encode())
            link.symlink_to(victim)
    before = tree(victims)
    dry = params_file(
        tmp_path / "dry.yaml", sandbox_dir=str(sandbox.root), audit_dir=str(tmp_path / "audit"), dry_run=True
    )

    done = octorunbook(*(["run", str(dry)] if "dry_run" in door else ["renew", str(yaml_path), "--force"]))

    assert tree(victims) == before, "written through a link in the state folder: " + done.stdout[-2000:]


# ---- 3. a crafted journal is never acted on --------------------------------------------------------------
# Among the 20 slowest (--durations, issue 28), by design: real runs before and after the crafted journal:
# what renew does with it is the test.
def test_a_crafted_renewal_journal_never_makes_renew_delete_files_outside_its_store(
    make_sandbox: Callable[..., Sandbox], tmp_path: Path
) -> None:
    sandbox = make_sandbox()
    yaml_path, _ = first_binding(sandbox, tmp_path)
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
    assert str(elsewhere) in quarantined(sandbox), "the crafted journal is kept in quarantine/"
    assert not any(p.exists() and p.read_text("utf-8", "replace") == crafted for p in checkpoints)

    again = octorunbook("renew", str(yaml_path), "--force")  # would change the target: refused
    assert again.returncode == 1 and "STATE_UNTRUSTED" in again.stdout, again.stdout[-3000:]
    assert target(sandbox) == after_kill

    shown = octorunbook("recover", str(yaml_path), "--discard")
    assert shown.returncode == 0, shown.stdout[-3000:]
    assert str(elsewhere) in shown.stdout, "recover --discard shows what the quarantined file held"
    assert quarantined(sandbox) == ""

    after = octorunbook("renew", str(yaml_path))
    assert after.returncode == 0 and "STATE_UNTRUSTED" not in after.stdout, after.stdout[-3000:]
    assert tree(elsewhere) == outside


# Among the 20 slowest (--durations, issue 28), by design: real runs before and after the crafted journal.
def test_a_crafted_renewal_journal_never_removes_a_certificate_that_was_in_the_store_before(
    make_sandbox: Callable[..., Sandbox], tmp_path: Path
) -> None:
    sandbox = make_sandbox()
    yaml_path, _ = first_binding(sandbox, tmp_path)
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
    assert f'"{earlier}"' in quarantined(sandbox), "the crafted journal is kept in quarantine/"
