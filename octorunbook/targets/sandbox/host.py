"""The sandbox host: a rehearsal stand-in for a Windows Octopus server, in one folder, unprivileged.

Layout of ``DIR``::

    sandbox.json                   instance name, port map, armed failure drill
    instances/<instance>.json      the instance configuration (json-hierarchical shape)
    httpsys.json                   HTTP.sys SSL bindings, keyed "ip:port"
    stores/My, stores/WebHosting   LocalMachine certificate stores (keys 0600)
    bin/Octopus.Server, bin/netsh  stand-in commands speaking the documented syntax and output
    run/portal.pid, portal.log     the portal "service"
    state/                         octorunbook's own memory for this target (last import, locks)

Every port in a listen prefix is virtual: privileged ports (and ports taken, even between check and
bind) are mapped to free high ports on 127.0.0.1, so sandboxes run side by side (``status``).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from ...files import MAX_PARAMETER_FILE, read_limited
from ...findings import InputError, TargetError
from ..winsyntax import DEFAULT_INSTANCE
from . import proxied
from .init_checks import require_init_arguments
from .loopback import is_zombie as _is_zombie
from .loopback import pick_port
from .portal_start import start_portal
from .proxied import UPSTREAM_PORT as UPSTREAM_PORT

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (mypy reads the name)
if TYPE_CHECKING:  # the stand-ins import this module for every command: not the targets' machinery
    from typing import Any

    from ...commands import CommandRunner
    from ..base import Target
    from ..localmachine import PfxSetting

DRILLS = (
    "configure",
    "ssl-certificate",
    "service-start",
    "wrong-certificate",
    "hang",
    "port-in-use",
    "swap",
    "legacy-tls",
    "hang-after-swap",
)
FRONTS = ("httpsys", "nginx")
NGINX_DRILLS = ("bad-directive", "configure", "service-start")  # nginx -t fails; the stand-in's drills


def drills_for(front: str) -> tuple[str, ...]:
    return NGINX_DRILLS if front == "nginx" else DRILLS


IIS_APP_ID = "{4DC3E181-E14B-4A21-B022-59FC669B0914}"
OCTOPUS_VERSION = "2025.3.13578"


class Sandbox:
    """The sandbox host in the folder ``root`` (a plain class, not a dataclass: the stand-ins import this
    module on every start, and the dataclass machinery would be most of what they import)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def __repr__(self) -> str:
        return f"Sandbox(root={self.root!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sandbox) and other.root == self.root

    __hash__ = None  # type: ignore[assignment]  # mutable, as the dataclass was

    # ---- files -----------------------------------------------------------------------------
    @property
    def meta_path(self) -> Path:
        return self.root / "sandbox.json"

    @property
    def httpsys_path(self) -> Path:
        return self.root / "httpsys.json"

    @property
    def stores_dir(self) -> Path:
        return self.root / "stores"

    @property
    def run_dir(self) -> Path:
        return self.root / "run"

    @property
    def pid_path(self) -> Path:
        return self.run_dir / "portal.pid"

    @property
    def server_exe(self) -> Path:
        return self.root / "bin" / "Octopus.Server"

    @property
    def netsh_exe(self) -> Path:
        return self.root / "bin" / "netsh"

    @property
    def reg_exe(self) -> Path:
        return self.root / "bin" / "reg"

    @property
    def sc_exe(self) -> Path:
        return self.root / "bin" / "sc"

    @property
    def urlacl_path(self) -> Path:
        return self.root / "urlacl.json"

    def service_account(self) -> str:
        """Who the sandbox's Octopus service runs as (``sandbox.json`` ``service_account``; LocalSystem)."""
        return str(self.meta().get("service_account") or "LocalSystem")

    def exists(self) -> bool:
        return self.meta_path.is_file()

    def require(self) -> None:
        if not self.exists():
            raise InputError(
                "SANDBOX_NOT_FOUND",
                f"{self.root} is not a sandbox host.",
                f"Create one with `octorunbook sandbox init {self.root}`.",
            )

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Serialise changes to the sandbox's files (the stand-in commands run as separate processes)."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "a+") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def read_json(self, path: Path, default: Any) -> Any:
        try:
            return json.loads(read_limited(path, MAX_PARAMETER_FILE, what="sandbox file", follow=False))
        except (OSError, ValueError, InputError):
            return default

    def write_json(self, path: Path, data: Any) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True))
        tmp.replace(path)

    def meta(self) -> dict[str, Any]:
        data = self.read_json(self.meta_path, {})
        return data if isinstance(data, dict) else {}

    def instance_path(self, instance: str) -> Path:
        return self.root / "instances" / f"{instance}.json"

    def instances(self) -> list[str]:
        return sorted(p.stem for p in (self.root / "instances").glob("*.json"))

    # ---- lifecycle -------------------------------------------------------------------------
    def init(
        self,
        *,
        instance: str = DEFAULT_INSTANCE,
        http_port: int = 80,
        webhosting: bool = True,
        fail: str | None = None,
        start: bool = True,
        front: str = "httpsys",
    ) -> None:
        """Create the host (idempotent: an existing sandbox is left as it is, drills re-armed).

        ``front: nginx`` is the Linux topology: the stand-in Octopus listens on plain HTTP (the
        upstream, port 8080 mapped) and a real nginx under ``DIR/nginx`` terminates TLS in front of it.
        """
        require_init_arguments(
            self.root, front, FRONTS, drills_for(front) if front in FRONTS else (), fail, http_port
        )
        # ".lock" and "state" (the procedure lock, taken before the first runbook creates the host) are ours
        if (
            not self.exists()
            and self.root.is_dir()
            and any(p.name not in {".lock", "state"} for p in self.root.iterdir())
        ):
            raise InputError(
                "SANDBOX_DIR_NOT_EMPTY",
                f"{self.root} is not empty and is not a sandbox host; it will not be turned into one.",
                "Choose a new or empty folder for the sandbox (sandbox_dir).",
            )
        self.require_front(front)
        if self.exists() and self.meta().get("instance", DEFAULT_INSTANCE) != instance:
            raise InputError(
                "SANDBOX_INSTANCE_MISMATCH",
                f"This sandbox hosts instance {self.meta().get('instance')!r}, not {instance!r}.",
                "Use the sandbox's instance name, or create another sandbox for this instance.",
            )
        with self.locked():
            if not self.exists():
                for store in ("My",) + (("WebHosting",) if webhosting else ()):
                    (self.stores_dir / store).mkdir(parents=True, exist_ok=True)
                self.run_dir.mkdir(parents=True, exist_ok=True)
                (self.root / "state").mkdir(mode=0o700, parents=True, exist_ok=True)  # a private state home
                self.write_json(
                    self.meta_path,
                    {
                        "version": 1,
                        "instance": instance,
                        # nginx's upstream is never typed: never the literal 8080 another sandbox may hold next
                        "port_map": {str(UPSTREAM_PORT): pick_port(None, set())} if front == "nginx" else {},
                        "fail": None,
                        "created": time.time(),
                        "front": front,
                    },
                )
                if front == "nginx":  # Octopus on Linux: plain HTTP on 8080, any host name (nginx sends it)
                    http_prefix = f"http://+:{UPSTREAM_PORT}/"
                    http_port = UPSTREAM_PORT
                else:
                    http_prefix = f"http://localhost:{http_port}/"
                self.write_json(
                    self.instance_path(instance),
                    {
                        "Octopus": {
                            "Home": str(self.root / "home"),
                            "WebPortal": {
                                "ListenPrefixes": http_prefix,
                                "ForceSSL": "False",
                                "HttpStrictTransportSecurityEnabled": "False",
                                "HttpStrictTransportSecurityMaxAge": "3600",
                                "RequestLoggingEnabled": "False",
                            },
                        }
                    },
                )
                self.write_json(self.httpsys_path, {})
                from .stand_ins import write_stand_ins

                write_stand_ins(self.root)
                self._map_port_locked(http_port)
            meta = self.meta()
            meta["fail"] = fail
            meta["fired"] = []
            self.write_json(self.meta_path, meta)
            if fail == "port-in-use":
                bindings = self.read_json(self.httpsys_path, {})
                bindings["0.0.0.0:443"] = {
                    "hash": "0123456789ABCDEF0123456789ABCDEF01234567",
                    "appid": IIS_APP_ID,
                    "store": "My",
                }
                self.write_json(self.httpsys_path, bindings)
        if start:
            start_portal(self, instance)
            if front == "nginx":
                proxied.start_front(self)

    @property
    def front(self) -> str:
        """``httpsys`` (the HTTP.sys stand-in serves TLS) or ``nginx`` (a real nginx in front)."""
        return str(self.meta().get("front") or "httpsys")

    def require_front(self, front: str) -> None:
        """``SANDBOX_FRONT_MISMATCH`` when this sandbox was created for the other front (reads only)."""
        if self.exists() and self.front != front:
            raise InputError(
                "SANDBOX_FRONT_MISMATCH",
                f"The sandbox {self.root} was created with front {self.front!r}, not {front!r}.",
                f"Set front: {self.front} to use it, or give another sandbox_dir for the {front} topology "
                f"(`octorunbook sandbox init DIR --front {front}`).",
            )

    def stop_all(self) -> dict[str, bool]:
        """Stop everything this sandbox runs (the portal, and nginx for the nginx front): what was running."""
        stopped = {"portal": self.stop()}
        if self.front == "nginx":
            stopped["nginx"] = proxied.stop_front(self)
        return stopped

    def drill(self) -> str | None:
        fail = self.meta().get("fail")
        return str(fail) if fail else None

    def consume_drill(self, name: str) -> bool:
        """True once per arming: most drills fail the first attempt only, so rollback can succeed."""
        with self.locked():
            return self._consume_drill_locked(name)

    def _consume_drill_locked(self, name: str) -> bool:
        meta = self.meta()
        if meta.get("fail") != name or name in meta.get("fired", []):
            return False
        meta.setdefault("fired", []).append(name)
        self.write_json(self.meta_path, meta)
        return True

    def consume_swap_drill(self, previous: dict[str, Any] | None, new_hash: str) -> bool:
        """Drill 'swap' fires on the first *re*binding only (a different certificate on a bound port).
        Called with :meth:`locked` held (by the stand-in that changes the binding)."""
        if previous is None or str(previous.get("hash", "")).upper() == new_hash.strip().upper():
            return False
        return self._consume_drill_locked("swap")

    def remember_previous_binding(self, endpoint: str, previous: dict[str, Any]) -> None:
        """What drill 'wrong-certificate' keeps serving: the binding before the last change."""
        meta = self.meta()
        meta.setdefault("previous_bindings", {})[endpoint] = previous
        self.write_json(self.meta_path, meta)

    # ---- ports -----------------------------------------------------------------------------
    def _map_port_locked(self, port: int) -> int:
        meta = self.meta()
        mapping = meta.setdefault("port_map", {})
        if str(port) not in mapping:
            mapping[str(port)] = pick_port(port, {int(v) for v in mapping.values()})
            self.write_json(self.meta_path, meta)
        return int(mapping[str(port)])

    def map_port(self, port: int) -> int:
        known = self.meta().get("port_map", {}).get(str(port))
        if known is not None:
            return int(known)
        with self.locked():
            return self._map_port_locked(port)

    def remap_port(self, port: int, taken: int) -> int:
        """``port`` maps to ``taken``, which another process bound first: map it to a free port."""
        with self.locked():
            meta = self.meta()
            mapping = meta.setdefault("port_map", {})
            if int(mapping.get(str(port), taken)) == taken:
                mapping[str(port)] = pick_port(None, {int(v) for v in mapping.values()} | {taken})
                self.write_json(self.meta_path, meta)
            return int(mapping[str(port)])

    # ---- portal ----------------------------------------------------------------------------
    def portal_pid(self) -> int | None:
        try:
            pid = int(read_limited(self.pid_path, 64, what="pid file", follow=False).strip())
        except (OSError, ValueError, InputError):
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return pid
        if _is_zombie(pid):  # exited, not yet reaped by whichever process started it
            return None
        return pid

    def stop(self) -> bool:
        """Stop the portal; True when one was running."""
        pid = self.portal_pid()
        if pid is None:
            self.pid_path.unlink(missing_ok=True)
            return False
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self.portal_pid() == pid:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            time.sleep(0.05)
        if self.portal_pid() == pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.pid_path.unlink(missing_ok=True)
        return True

    def status(self) -> dict[str, Any]:
        self.require()
        from ..octopus import parse_show_configuration

        meta = self.meta()
        instance = str(meta.get("instance", DEFAULT_INSTANCE))
        try:
            text = read_limited(
                self.instance_path(instance), MAX_PARAMETER_FILE, what="instance configuration"
            )
            config = parse_show_configuration(text.decode("utf-8", "replace"))
            stores = sorted(p.name for p in self.stores_dir.iterdir() if p.is_dir())
        except (OSError, InputError) as exc:
            why = exc.message if isinstance(exc, InputError) else f"{exc.strerror} ({exc.filename})"
            raise TargetError(
                "SANDBOX_DAMAGED",
                f"The sandbox at {self.root} is damaged: {why}",
                "Stop it and create a new sandbox in another folder.",
            ) from None
        return {
            "dir": str(self.root),
            "instance": instance,
            "portal_pid": self.portal_pid(),
            "running": self.portal_pid() is not None,
            "config": config.to_record(),
            "bindings": self.read_json(self.httpsys_path, {}),
            "port_map": {int(k): int(v) for k, v in meta.get("port_map", {}).items()},
            "stores": stores,
            "drill": meta.get("fail"),
            "server_exe": str(self.server_exe),
            "front": self.front,
            **(self._front_status() if self.front == "nginx" else {}),
        }

    def _front_status(self) -> dict[str, Any]:
        return proxied.front_status(self)

    def open_target(
        self,
        instance: str,
        runner: CommandRunner,
        store: str = "My",
        pfx_encryption: PfxSetting | None = None,
    ) -> Target:
        """The sandbox as a target: its parts are the HTTP.sys topology (the named LocalMachine store
        over the folder driver, the binding, Octopus on its prefix) or, with the nginx front, the PEM
        store, nginx and Octopus behind it."""
        import dataclasses

        from ..base import HostInfo, Target
        from ..httpsys import HttpSys
        from ..localmachine import httpsys_parts
        from ..octopus import OctopusServer
        from ..octopus.urlacl import UrlAcls
        from .store import DirectoryCertificateStore

        self.require()
        from .forkserver import enable

        enable()  # the stand-ins start from a fork server, each still a process of its own
        octopus = OctopusServer(str(self.server_exe), instance, runner)
        httpsys = HttpSys(str(self.netsh_exe), runner, reg=str(self.reg_exe))
        url_acls = UrlAcls(str(self.netsh_exe), str(self.sc_exe), runner)

        def probe() -> HostInfo:
            return HostInfo("sandbox (" + sys.platform + ")", None, True, f"sandbox:{self.root.name}")

        if self.front == "nginx":
            parts = proxied.open_parts(self, octopus, runner)
        else:
            driver = DirectoryCertificateStore(self.stores_dir)
            parts = httpsys_parts(driver, httpsys, octopus, probe, store, pfx_encryption, url_acls)
        from .acme_responder import SandboxChallengeResponder

        parts = dataclasses.replace(parts, responder=SandboxChallengeResponder(self.run_dir))  # either front
        return Target(
            kind="sandbox",
            host=f"sandbox:{self.root.name}",
            instance=instance,
            parts=parts,
            runner=runner,
            state_dir=self.root / "state",
            connect_host="127.0.0.1",
            port_mapper=self.map_port,
            host_probe=probe,
        )


def ensure_sandbox(root: Path, front: str = "httpsys") -> Sandbox:
    """The sandbox at ``root``, created (and its portal started) on first use, with ``front``."""
    sandbox = Sandbox(root)
    sandbox.require_front(front)
    if not sandbox.exists():
        sandbox.init(front=front)
    elif sandbox.portal_pid() is None:
        with contextlib.suppress(TargetError):
            start_portal(sandbox, str(sandbox.meta().get("instance", DEFAULT_INSTANCE)))
    if sandbox.front == "nginx":
        proxied.start_front(sandbox)  # a no-op when it runs
    return sandbox


__all__ = ["DRILLS", "Sandbox", "ensure_sandbox"]
