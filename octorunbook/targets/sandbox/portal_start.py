"""Starting the sandbox's portal process: below both the sandbox (``host``) and its stand-in CLI.

``sandbox init`` and the stand-in ``Octopus.Server service --start`` both start the portal; the
function lives here, typed against the few sandbox facts it reads (:class:`PortalHome`), so neither
of those modules has to import the other to reach it.
"""

from __future__ import annotations

import time
from pathlib import Path

from ...findings import TargetError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (mypy reads the name)
if TYPE_CHECKING:  # the stand-in Octopus.Server imports this module on every start: a type, not a class
    from typing import Protocol

    class PortalHome(Protocol):
        """What starting the portal needs to know about a sandbox (``host.Sandbox`` is one)."""

        @property
        def root(self) -> Path: ...

        @property
        def run_dir(self) -> Path: ...

        @property
        def pid_path(self) -> Path: ...

        def portal_pid(self) -> int | None: ...


def start_portal(
    sandbox: PortalHome, instance: str, *, hang: bool = False, wrong_certificate: bool = False
) -> int:
    """Start the portal process detached (own session, output to a log file: no pipe is held open)."""
    import subprocess  # here: most stand-in commands start no portal

    from ...commands import child_environment
    from .stand_ins import without_site

    running = sandbox.portal_pid()
    if running is not None:
        return running
    sandbox.run_dir.mkdir(parents=True, exist_ok=True)
    ready = sandbox.run_dir / "portal.ready"
    ready.unlink(missing_ok=True)
    argv = [*without_site("portal"), str(sandbox.root), instance]  # started for every sandbox and restart
    if hang:
        argv.append("--hang")
    if wrong_certificate:
        argv.append("--wrong-certificate")
    with open(sandbox.run_dir / "portal.log", "ab") as log:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
            env=child_environment(daemon=True),  # it outlives the run: no password in its environ
        )
    sandbox.pid_path.write_text(str(proc.pid))
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if ready.exists():
            return proc.pid
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    log_tail = (sandbox.run_dir / "portal.log").read_text(errors="replace")[-1500:]
    if proc.poll() is None:
        proc.kill()
    sandbox.pid_path.unlink(missing_ok=True)
    raise TargetError(
        "SERVICE_START_FAILED",
        "The sandbox portal did not start.",
        "Read run/portal.log in the sandbox.",
        details={"log": log_tail},
    )
