"""The crash campaign's harness: a real procedure killed with SIGKILL at a named point, then the next run.

A *procedure* is what an operator or a schedule starts: ``octorunbook run`` (01 → 03), ``octorunbook renew
--force`` (04) or runbook 05 with ``apply: true`` (headless, through ``runner.execute`` as ``renew`` runs
04), on a sandbox of either front. The harness prepares a target that already serves certificate A (a
first 01 + 03, in process), starts the procedure in a session of its own through ``/bin/sh`` so that the
session's id can be handed to ``octorunbook.crashpoints`` (``OCTORUNBOOK_CRASH_KILL_PGID``), and lets it
be killed at ``OCTORUNBOOK_CRASH_AT``. A :class:`Prober` takes a TLS handshake every
:data:`PROBE_EVERY` seconds from before the killed run starts until the next run has ended.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import trustme
import yaml
from nginxkit import HOSTNAME, Changes

from octorunbook.crashpoints import AT_ENV, KILL_PGID_ENV, TRACE_ENV
from octorunbook.evidence.tls import tls_handshake
from octorunbook.headless.inline import run_inline
from octorunbook.params.core import Parameters
from octorunbook.runbooks.run import TextReporter
from octorunbook.targets.sandbox import Sandbox
from tests.prockit import running

BIN = Path(sys.executable).parent
PROBE_EVERY = 0.05
# The longest the portal may serve nothing: one restart of the sandbox portal, bounded by the sandbox's
# own deadlines — `service --stop` waits at most 10 s for the portal to exit, `service --start` at most
# 20 s for it to be ready (longer is SERVICE_START_FAILED). nginx reloads without a gap.
RESTART_WINDOW = 30.0
RUN_TIMEOUT = 600.0  # a run on a loaded 2-core machine takes seconds; this only stops a hang
GONE_TIMEOUT = 60.0  # a killed run's kernels go within a poll of kernel_watch (50 ms)
HARDEN = (
    "import sys\n"
    "from octorunbook.headless.runner import execute, load_params_file\n"
    "result = execute('05-harden-tls', load_params_file(sys.argv[1]), progress=print)\n"
    "sys.exit(0 if result.status in {'succeeded', 'unchanged'} else 1)\n"
)
WRAPPER = f'{KILL_PGID_ENV}=$$; export {KILL_PGID_ENV}; exec "$@"'  # $$: the session this sh leads


@dataclass(frozen=True)
class Procedure:
    """What is killed: ``run`` (01 → 03), ``renew`` (04) or ``harden`` (05), on ``httpsys`` or ``nginx``."""

    kind: str
    front: str

    @property
    def key(self) -> str:
        return f"{self.kind}/{self.front}"

    @property
    def hostname(self) -> str:
        return HOSTNAME if self.front == "nginx" else "localhost"

    def argv(self, params_file: Path, *, again: bool = False) -> list[str]:
        """The procedure's command line; ``again``: the one that runs next (for 04 the scheduled
        ``renew``, which renews only when due — the killed run may have finished the renewal)."""
        if self.kind == "run":
            return [str(BIN / "octorunbook"), "run", str(params_file)]
        if self.kind == "renew":
            return [str(BIN / "octorunbook"), "renew", str(params_file), *([] if again else ["--force"])]
        return [sys.executable, "-c", HARDEN, str(params_file)]


PROCEDURES = tuple(Procedure(k, f) for k in ("run", "renew", "harden") for f in ("httpsys", "nginx"))


@dataclass
class Case:
    """A target serving ``old``, and the parameter file of a procedure that makes it serve ``new``."""

    procedure: Procedure
    sandbox: Sandbox
    root: Path  # the test's folder: everything outside the target's own folders must stay as it was
    operator: Path  # the operator's folder: the run's working directory, its parameters and PEM files
    harness: Path  # the harness's own files: traces, logs, the runs' temporary folder
    audit: Path
    params_file: Path
    old: str
    new: str

    @property
    def port(self) -> int:
        return self.sandbox.map_port(443)

    @property
    def served_ok(self) -> frozenset[str]:
        return frozenset({self.old, self.new})

    def served(self) -> str:
        return tls_handshake("127.0.0.1", self.port, self.procedure.hostname).thumbprint

    def weaknesses(self) -> set[str]:
        """What 05 turns off, as the posture scan finds it served now."""
        from octorunbook.evidence.posture import scan

        codes = scan(f"127.0.0.1:{self.port}", self.procedure.hostname).codes()
        return {"TLS_LEGACY_PROTOCOL", "TLS_WEAK_CIPHER"} & set(codes)


def prepare(procedure: Procedure, make_sandbox: Callable[..., Sandbox], tmp_path: Path) -> Case:
    """A sandbox of ``procedure.front`` serving A (01 + 03 in process), and the procedure's parameters."""
    sandbox = make_sandbox("sandbox", front=procedure.front)
    operator, harness = tmp_path / "operator", tmp_path / "harness"
    operator.mkdir()
    harness.mkdir()
    ca = trustme.CA(key_type=trustme.KeyType.RSA)  # RSA: nginx's default suites then include weak ones
    pems = {}
    for name in ("a", "b"):
        leaf = ca.issue_cert(procedure.hostname, key_type=trustme.KeyType.RSA)
        cert, key = operator / f"{name}.crt", operator / f"{name}.key"
        cert.write_bytes(b"".join(p.bytes() for p in leaf.cert_chain_pems) + ca.cert_pem.bytes())
        key.write_bytes(leaf.private_key_pem.bytes())
        pems[name] = {"pem_cert_path": str(cert), "pem_key_path": str(key)}
    audit = tmp_path / "audit"
    values: dict[str, Any] = {
        "sandbox_dir": str(sandbox.root),
        "audit_dir": str(audit),
        "front": procedure.front,
        "hostname": procedure.hostname,
        "certificate_source": "pem",
        **pems["a"],
    }
    if procedure.front == "nginx":
        values.update(force_ssl=True, hsts_max_age=3600)
    baseline = Parameters(**values)
    old = _bind(baseline)
    new = old
    if procedure.kind == "run":  # B and a longer HSTS: the portal's configuration changes (a restart)
        values.update(pems["b"], hsts_max_age=7200)
        new = _thumbprint(pems["b"]["pem_cert_path"])
    elif procedure.kind == "renew":
        values.update(pems["b"])
        new = _thumbprint(pems["b"]["pem_cert_path"])
    else:
        _weaken(sandbox)
        values.update(apply=True)
    params_file = operator / "params.yaml"
    params_file.write_text(yaml.safe_dump(values))
    case = Case(procedure, sandbox, tmp_path, operator, harness, audit, params_file, old, new)
    assert procedure.kind != "harden" or case.weaknesses(), "nothing for 05 to harden"
    return case


def _quiet(runbook: str, params: Parameters) -> dict[str, Any]:
    with open(os.devnull, "w") as devnull:
        return run_inline(runbook, params, TextReporter(devnull))


def _bind(params: Parameters) -> str:
    imported = _quiet("01-import-certificate", params)
    assert imported["status"] == "succeeded", imported["findings"]
    thumbprint = str(imported["certificate"]["thumbprint"])
    bound = _quiet("03-add-https-binding", replace(params, thumbprint=thumbprint))
    assert bound["status"] == "succeeded", bound["findings"]
    return thumbprint


def _thumbprint(cert_path: str) -> str:
    from octorunbook import certificates

    return certificates.load_pem_pair(Path(cert_path), Path(cert_path).with_suffix(".key")).info.thumbprint


def _weaken(sandbox: Sandbox) -> None:
    """What 05 finds to harden: TLS 1.0/1.1 accepted (HTTP.sys), nginx's default suites (a block written
    before 05's cipher list was part of 03's)."""
    if sandbox.front == "httpsys":
        Sandbox(sandbox.root).init(fail="legacy-tls", start=False)
        return
    from octorunbook.targets.sandbox.proxied import nginx_of, upstream

    proxy = nginx_of(sandbox)
    site = proxy.installation.conf_dir / "conf.d" / "octopus-portal.conf"
    site.write_text("".join(line for line in site.read_text().splitlines(True) if "ssl_ciphers" not in line))
    proxy.front(upstream(sandbox)).reload(Changes())


# ---- what the campaign observes -------------------------------------------------------------------
@dataclass(frozen=True)
class Probe:
    at: float
    thumbprint: str | None  # None: nothing served (refused, reset, timed out)
    error: str = ""


@dataclass
class Prober:
    """A TLS handshake every :data:`PROBE_EVERY` seconds on a thread of its own, each outcome kept."""

    port: int
    sni: str
    probes: list[Probe] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def probe(self) -> Probe:
        try:
            seen = Probe(
                time.monotonic(), tls_handshake("127.0.0.1", self.port, self.sni, timeout=5.0).thumbprint
            )
        except Exception as exc:  # every failure is "nothing served", whatever it is
            seen = Probe(time.monotonic(), None, f"{type(exc).__name__}: {exc}")
        return seen

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.probes.append(self.probe())
            self._stop.wait(PROBE_EVERY)

    def __enter__(self) -> Prober:
        self._thread = threading.Thread(target=self._loop, name="crash-prober", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def wrong(self, allowed: frozenset[str]) -> list[Probe]:
        return [p for p in self.probes if p.thumbprint is not None and p.thumbprint not in allowed]

    def longest_outage(self) -> float:
        """The longest time between two probes that served something with only "nothing" in between
        (to the last probe when nothing was served at the end)."""
        longest, since = 0.0, None
        last_ok = self.probes[0].at if self.probes else 0.0
        for probe in self.probes:
            if probe.thumbprint is None:
                since = last_ok if since is None else since
                longest = max(longest, probe.at - since)
            else:
                if since is not None:
                    longest = max(longest, probe.at - since)
                since, last_ok = None, probe.at
        return longest


def snapshot(case: Case) -> dict[str, tuple[str, int]]:
    """Every file and folder under the test's folder but the target's own (the sandbox, with its state
    folder), the audit folder and the harness's files: path → (content hash, mode)."""
    skip = {case.sandbox.root, case.audit, case.harness}
    found: dict[str, tuple[str, int]] = {}
    for path in sorted(case.root.rglob("*")):
        if any(path == s or s in path.parents for s in skip):
            continue
        mode = path.lstat().st_mode
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""
        found[str(path.relative_to(case.root))] = (digest, mode)
    return found


def unfinished_journals(case: Case) -> list[str]:
    """The checkpoints left in the target's state folder (one is removed when its change is proven or
    restored), and anything set aside as untrusted (a crash must never leave a file the next run refuses)."""
    state = case.sandbox.root / "state"
    left = [p.name for p in state.glob("checkpoint-*.json")] + [p.name for p in state.glob("change-*.json")]
    return sorted(left + [f"quarantine/{p.name}" for p in (state / "quarantine").glob("*")])


# ---- running a procedure --------------------------------------------------------------------------
def environment(case: Case, *, trace: Path | None = None, at: str | None = None) -> dict[str, str]:
    """The run's environment. Its temporary folder is the harness's: a killed kernel's connection file
    (jupyter_client removes it only when the kernel is shut down) stays there, with nothing of the target
    in it and the key of a kernel that is dead, instead of piling up in the machine's /tmp."""
    env = {k: v for k, v in os.environ.items() if k not in {TRACE_ENV, AT_ENV, KILL_PGID_ENV}}
    env["OCTORUNBOOK_WAIT_SECONDS"] = "120"  # how long 03 waits for the restarted portal: slow is not failed
    env["TMPDIR"] = str(case.harness / "tmp")
    (case.harness / "tmp").mkdir(exist_ok=True)
    if trace is not None:
        env[TRACE_ENV] = str(trace)
    if at is not None:
        env[AT_ENV] = at
    return env


@dataclass(frozen=True)
class Ended:
    returncode: int
    output: str
    trace: list[str]


@contextlib.contextmanager
def started(
    case: Case, argv: list[str], env: Mapping[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """``argv`` in a session of its own; whatever is left of it is killed when the block ends."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            ["/bin/sh", "-c", WRAPPER, "sh", *argv],
            cwd=case.operator,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        for pid in left_behind(proc.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def run(
    case: Case, name: str, *, trace: Path | None = None, at: str | None = None, again: bool = False
) -> Ended:
    """Run the procedure to its end (or to its kill at ``at``); every process of it is gone on return."""
    log = case.harness / f"{name}.log"
    argv = case.procedure.argv(case.params_file, again=again)
    with started(case, argv, environment(case, trace=trace, at=at), log) as proc:
        try:
            returncode = proc.wait(timeout=RUN_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"{name} did not end within {RUN_TIMEOUT:.0f} s: {log.read_text()[-3000:]}"
            ) from None
        deadline = time.monotonic() + GONE_TIMEOUT
        while left_behind(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not left_behind(proc.pid), f"processes of {name} outlived it: {left_behind(proc.pid)}"
    lines = trace.read_text().splitlines() if trace is not None and trace.exists() else []
    return Ended(returncode, log.read_text(errors="replace"), lines)


def left_behind(session: int) -> list[int]:
    """Live processes started by the run (kernels and their commands carry its session id in their
    environment); the portal and nginx, which outlive every run by design, carry none of it."""
    marker = f"{KILL_PGID_ENV}={session}\0".encode()
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if proc.name == str(os.getpid()) or marker not in (proc / "environ").read_bytes():
                continue
            alive = running(proc.name)  # prockit: a killed kernel holds its locks until its last thread exits
            comm = (proc / "comm").read_text().strip()
        except OSError:
            continue
        if alive and comm != "nginx":
            found.append(int(proc.name))
    return found


def occurrences(trace: list[str]) -> list[str]:
    """``name#n`` for each line of a trace: the n-th time that point was reached."""
    seen: dict[str, int] = {}
    points = []
    for name in trace:
        seen[name] = seen.get(name, 0) + 1
        points.append(f"{name}#{seen[name]}")
    return points
