"""nginx as the TLS front: one managed server block, tested before it is used, reloaded gracefully.

Apply, in the order an administrator would do it by hand::

    1. the running master is found from its pid file      (NGINX_NOT_RUNNING: nothing changed)
    2. the candidate is written beside the managed file   (a dot-name no include pattern picks up)
    3. nginx -t with the candidate in the managed file's place (NGINX_CONFIG_INVALID with nginx's own
       message: candidate removed, nothing changed)
    4. the candidate is renamed over the managed file      (atomic: nginx never reads half a file)
    5. nginx -s reload; the reload counts as done when the master has started new workers
       (old workers finish their connections: no request is dropped)

Rollback is the same path with the previous file (or none). All commands run through the command
seam, so the record shows each argv, exit code and duration. ``nginx_bin``, ``nginx_conf_dir`` and
``nginx_pid`` say where nginx is; the defaults are Debian's.
"""

from __future__ import annotations

import contextlib
import dataclasses
import http.client
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from octorunbook import crashpoints
from octorunbook.files import read_limited
from octorunbook.params.nginx import DEFAULT_UPSTREAM, check_hostname, check_upstream
from octorunbook.targets.hardening.nginx import harden_server_block, plan_nginx

from ...commands import CommandRunner
from ...findings import CommandError, Finding, OctorunbookError, TargetError
from ..protocols import Action, ChangeLog, PortalIntent, Proof, SettingDiff, StoredCertificate
from . import config
from .config import SiteSettings

if TYPE_CHECKING:
    from octorunbook.targets.hardening.plan import HardeningPlan
from .process import (
    MAX_CONFIG_FILE,
    NginxInstallation,
    NginxVersion,
    alive,
    command_details,
    is_master,
    nginx_messages,
    nginx_path,
    parse_version,
    read_config,
    retiring,
    scratch_config,
    site_lock,
    workers,
)

SITE_NAME = "octopus-portal.conf"


@dataclass(frozen=True)
class NginxSiteState:
    """The managed file as it is (or would be): the text is the state."""

    path: str
    exists: bool
    managed: bool
    text: str = field(default="", repr=False)
    thumbprint: str = ""  # of the certificate the file points at, when it can be read

    def to_record(self) -> dict[str, Any]:
        s = config.summarize(self.text)
        return {
            "path": self.path,
            "exists": self.exists,
            "managed": self.managed,
            "thumbprint": self.thumbprint,
            "listen": list(s.listen),
            "server_name": s.server_name,
            "certificate": s.certificate,
            "upstream": s.upstream,
            "redirect": s.redirect,
            "hsts": s.hsts,
            "text": self.text,
        }


class NginxFront:
    """``TlsFront`` over one managed server-block file of a running nginx."""

    kind = "nginx"

    def __init__(
        self,
        installation: NginxInstallation,
        runner: CommandRunner,
        *,
        site_path: Path | None = None,
        upstream: str = DEFAULT_UPSTREAM,
        port_mapper: Callable[[int], int] | None = None,
        listen_address: str = "",
        extra_directives: Sequence[str] = (),
        reload_timeout: float = 10.0,
    ) -> None:
        self.nginx = installation
        self.runner = runner
        self.site_path = site_path or installation.conf_dir / "conf.d" / SITE_NAME
        self.upstream = check_upstream(upstream)
        self.port_mapper = port_mapper
        self.listen_address = listen_address
        self.extra_directives = config.check_directives(tuple(extra_directives))
        self.reload_timeout = reload_timeout

    # ---- reading ---------------------------------------------------------------------------
    @cached_property
    def version(self) -> NginxVersion:
        result = self.runner.run([self.nginx.bin, "-V"], label="nginx version")
        if not result.ok:
            raise CommandError(
                "NGINX_NOT_FOUND",
                f"{self.nginx.bin} -V failed: {nginx_messages(result.output)}",
                "Install nginx (apt-get install nginx) or set nginx_bin to its path.",
                details=command_details(result),
            )
        return parse_version(result.output)

    def master_pid(self) -> int:
        """The running master, from the pid file ``nginx -s reload`` will read (``NGINX_NOT_RUNNING`` when
        there is none, or when the pid in it is no nginx master: a stale file after nginx stopped)."""
        pid_file = self.nginx.master_pid_file
        try:
            pid = int((read_config(pid_file) or "").strip())
        except ValueError:
            pid = 0
        if pid <= 0 or not alive(pid) or not is_master(pid):
            named = "" if pid_file == self.nginx.pid_file else f" (named by {self.nginx.main_conf})"
            seen = f": pid {pid} in it is not an nginx master (a stale pid file)" if pid > 0 else ""
            raise TargetError(
                "NGINX_NOT_RUNNING",
                f"No running nginx master found from {pid_file}{named}{seen}.",
                "Start nginx (systemctl start nginx), or set nginx_pid to the pid file of the running "
                "master; nothing was changed.",
            )
        return pid

    def generation(self) -> tuple[int, frozenset[int]]:
        """(master pid, worker pids): a reload keeps the master and replaces the workers."""
        master = self.master_pid()
        return master, workers(master)

    def read(self, intent: PortalIntent | None = None) -> NginxSiteState:
        """The managed file as it is now (one file whatever the intent: ``intent`` is not needed).

        Read bounded and without blocking: a FIFO, a device or a huge file at the path is refused."""
        try:
            data = read_limited(self.site_path, MAX_CONFIG_FILE, what="nginx site file")
        except OctorunbookError as exc:
            if exc.code == "FILE_NOT_FOUND" and not self.site_path.is_symlink():
                return NginxSiteState(str(self.site_path), False, False)
            raise TargetError(
                "NGINX_CONFIG_UNREADABLE",
                f"Cannot read {self.site_path}: {exc.message}",
                "Run as a user who may read (and write) the nginx configuration, and make the path a "
                "regular file (or remove what is there); nothing was changed.",
            ) from None
        text = data.decode("utf-8", "replace")
        return NginxSiteState(str(self.site_path), True, config.is_managed(text), text, _served(text))

    # ---- planning --------------------------------------------------------------------------
    def _require_managed(self, current: NginxSiteState) -> None:
        if current.exists and not current.managed:
            raise TargetError(
                "NGINX_CONFIG_UNMANAGED",
                f"{self.site_path} exists and was not written by octorunbook; it will not be overwritten.",
                "Move it away (or merge it by hand and add the marker line), or choose another site_path.",
                details={"first_line": current.text.splitlines()[0] if current.text else ""},
            )

    def settings(self, intent: PortalIntent) -> SiteSettings:
        files = intent.certificate.files
        if files is None:
            raise TargetError(
                "NGINX_NEEDS_PEM_FILES",
                f"nginx serves certificates from PEM files; {intent.certificate.thumbprint} is in the "
                f"{intent.certificate.store} store, which has none.",
                "Use the PEM directory store with the nginx front (target: nginx).",
            )
        mapped = self.port_mapper or (lambda port: port)
        keep_http_server = intent.force_ssl or intent.keep_http
        return SiteSettings(
            hostname=check_hostname(intent.hostname),
            https_port=mapped(intent.https_port),
            public_https_port=intent.https_port,
            fullchain=files.fullchain,
            privkey=files.privkey,
            thumbprint=intent.certificate.thumbprint,
            upstream=self.upstream,
            http2=self.version.http2,
            hsts_max_age=intent.hsts_max_age,
            http_port=mapped(intent.http_port) if keep_http_server else None,
            redirect_http=intent.force_ssl,
            listen_address=self.listen_address,
            extra_directives=self.extra_directives,
        )

    def desired(self, intent: PortalIntent, current: NginxSiteState) -> NginxSiteState:
        self._require_managed(current)
        text = config.render(self.settings(intent))
        return NginxSiteState(str(self.site_path), True, True, text, intent.certificate.thumbprint)

    def diff(self, current: NginxSiteState, desired: NginxSiteState) -> list[SettingDiff]:
        now, will = config.summarize(current.text), config.summarize(desired.text)
        return [
            SettingDiff("nginx site " + str(self.site_path), _presence(current), _presence(desired)),
            SettingDiff("listen", ", ".join(now.listen), ", ".join(will.listen)),
            SettingDiff("server_name", now.server_name, will.server_name),
            SettingDiff("certificate", current.thumbprint, desired.thumbprint),
            SettingDiff("proxy_pass", now.upstream, will.upstream),
            SettingDiff(
                "HTTP port",
                now.redirect or ("proxy" if len(now.listen) > 1 else ""),
                will.redirect or ("proxy" if len(will.listen) > 1 else ""),
            ),
            SettingDiff("HSTS", now.hsts or "off", will.hsts or "off"),
        ]

    def findings(self, current: NginxSiteState, desired: NginxSiteState) -> list[Finding]:
        """nginx ends TLS here: polling Tentacles, which authenticate by their own certificate over
        WebSockets, cannot use this port (Octopus's docs on TLS offload)."""
        return [
            Finding(
                "POLLING_TENTACLES_NEED_OWN_PORT",
                "warning",
                "nginx terminates TLS for the web portal; polling Tentacles (including over WebSockets) "
                "cannot connect through a TLS-offloading proxy.",
                "Keep polling Tentacles on Octopus's own port 10943 (not proxied), or pass it through at "
                "TCP level (nginx stream with ssl_preread), never through this server block.",
            )
        ]

    def actions(self, current: NginxSiteState, desired: NginxSiteState) -> list[Action]:
        if current == desired:
            return []
        candidate = self._candidate_path()
        test_conf = self._test_conf_path()
        return [
            Action(f"write {candidate} (the candidate, beside {self.site_path})"),
            Action(f"test it in place of {self.site_path}", tuple(self.nginx.argv("-t", conf=test_conf))),
            Action(f"rename {candidate} to {self.site_path}"),
            Action("reload nginx gracefully", tuple(self.nginx.argv("-s", "reload"))),
        ]

    # ---- changing --------------------------------------------------------------------------
    def apply(self, current: NginxSiteState, desired: NginxSiteState, log: ChangeLog) -> None:
        """Install ``desired`` only if the file is still what was planned from (compared under a lock):
        otherwise another operator's change would be overwritten unseen."""
        if current == desired:
            return
        with site_lock(self.site_path):
            now = self.read()
            self._require_managed(now)  # somebody's own file is the more precise refusal
            if now != current:
                raise TargetError(
                    "NGINX_CONFIG_CHANGED",
                    f"{self.site_path} changed after this run planned (another operator or run wrote it).",
                    "Nothing was changed by this run. Run 03 again: it plans from the file as it is now.",
                )
            self._install(desired.text if desired.exists else None, log, "")

    def restore(self, previous: NginxSiteState, log: ChangeLog) -> None:
        """Put the previous file back (or remove ours when there was none), test, reload.

        Only over the file it was read from: a state recorded for another path (a journal left by a run
        with another nginx_conf_dir) would otherwise remove or overwrite the file this front manages."""
        if previous.path != str(self.site_path):
            raise TargetError(
                "NGINX_SITE_PATH_CHANGED",
                f"The state to restore is of {previous.path}, but this run manages {self.site_path}: "
                "it is not put over a file it was not read from.",
                f"Run again with the nginx_conf_dir of that change ({Path(previous.path).parent.parent}) to "
                f"restore it, or restore {previous.path} by hand; nothing was changed here.",
            )
        self._require_managed(previous)
        with site_lock(self.site_path):
            if self.read() != previous:
                self._install(previous.text if previous.exists else None, log, "rollback: ")

    def _candidate_path(self) -> Path:
        return self.site_path.with_name(f".{self.site_path.name}.octorunbook-candidate")

    def _test_conf_path(self) -> Path:
        return self.nginx.main_conf.with_name(f".{self.nginx.main_conf.name}.octorunbook-test")

    def test(self, candidate: Path | None) -> None:
        """``nginx -t`` with ``candidate`` in the managed file's place (None: without the file)."""
        test_conf = self._test_conf_path()
        text = config.candidate_main_config(self.nginx.main_conf, self.site_path, candidate)
        try:
            _write_new(test_conf, text, 0o600)
            result = self.runner.run(self.nginx.argv("-t", conf=test_conf), label="nginx -t (candidate)")
        finally:
            test_conf.unlink(missing_ok=True)
        if not result.ok:
            raise CommandError(
                "NGINX_CONFIG_INVALID",
                f"nginx -t rejected the new configuration: {nginx_messages(result.output)}",
                "Nothing was changed. Read nginx's message: fix the parameter it names (or the other "
                "configuration files it mentions) and run again.",
                details=command_details(result),
            )

    def _install(self, text: str | None, log: ChangeLog, prefix: str) -> None:
        self.master_pid()
        self._require_managed(self.read())
        # Refusals that need no write come first: no main configuration, or one that never includes the
        # managed file, changes nothing (not even a created conf.d).
        config.candidate_main_config(self.nginx.main_conf, self.site_path, None)
        candidate = self._candidate_path()
        try:
            if text is not None:
                self.site_path.parent.mkdir(parents=True, exist_ok=True)
                _write_new(candidate, text, 0o644)
            self.test(candidate if text is not None else None)
            if text is None:
                self.site_path.unlink(missing_ok=True)
                log.change(prefix + "remove nginx site", str(self.site_path))
            else:
                os.replace(candidate, self.site_path)
                log.change(prefix + "install nginx site", f"{self.site_path} (tested with nginx -t)")
            crashpoints.reached("nginx:site-written")  # the file changed; the master still serves the old
        finally:
            candidate.unlink(missing_ok=True)
        self.reload(log, prefix)

    def reload(self, log: ChangeLog, prefix: str = "") -> None:
        """``nginx -s reload``, then wait until the master has started a new generation of workers."""
        master, before = self.generation()
        result = self.runner.run(self.nginx.argv("-s", "reload"), mutating=True, label="nginx -s reload")
        if not result.ok:
            raise CommandError(
                "NGINX_RELOAD_FAILED",
                f"nginx -s reload failed: {nginx_messages(result.output)}",
                "Read nginx's message; the file is in place but the running master still serves the old "
                "configuration.",
                details=command_details(result),
            )
        deadline = time.monotonic() + self.reload_timeout
        while time.monotonic() < deadline:
            now = workers(master) if alive(master) else frozenset()
            # Done when new workers run and every old one has stopped accepting: exited, or retitled
            # "worker process is shutting down" (it closes its listening sockets right then).
            if now - before and all(retiring(pid) for pid in before & now):
                log.change(prefix + "reload nginx", f"master {master}: new workers {sorted(now - before)}")
                crashpoints.reached("nginx:reloaded")  # new workers serve the file
                return
            time.sleep(0.02)
        raise TargetError(
            "NGINX_RELOAD_FAILED",
            f"The nginx master {master} started no new workers within {self.reload_timeout:.0f} s: it "
            "rejected the configuration at reload (a port in use, a file it may not read).",
            "Read nginx's error log; the old configuration is still being served.",
        )

    def prove_upstream(self, timeout: float = 3.0) -> Proof:
        """Octopus answers ``GET /api`` at the upstream itself: without it nginx can only say 502."""
        parts = urlsplit(self.upstream)
        conn_type = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
        conn = conn_type(parts.hostname or "", parts.port, timeout=timeout)
        try:
            conn.request("GET", "/api", headers={"Accept": "application/json"})
            seen = f"{conn.getresponse().status}"
            ok = seen == "200"
        except (OSError, http.client.HTTPException) as exc:
            seen, ok = f"{type(exc).__name__}: {exc}", False
        finally:
            conn.close()
        return Proof(f"Octopus answers at {self.upstream}/api", "200", seen, ok, "PORTAL_NOT_ANSWERING")

    def serves(self, state: NginxSiteState) -> str:
        return state.thumbprint if state.exists else ""

    def serves_at(self, state: NginxSiteState) -> int | None:
        return config.public_port(state.text) if state.exists and state.managed else None

    def explain(self, current: NginxSiteState, desired: NginxSiteState) -> dict[str, Any]:
        return {
            "method": "nginx-reload",
            "why": "the managed server block names the new files; `nginx -t`, then a graceful reload: old "
            "workers finish their connections, new ones serve the new certificate (no restart)",
        }

    def users(self, thumbprint: str) -> list[str]:
        """The managed server block, when it names ``thumbprint`` (each certificate has its own folder)."""
        return [str(self.site_path)] if thumbprint and self.serves(self.read()) == thumbprint.upper() else []

    # ---- 05: hardening the managed block ----------------------------------------------------
    def hardening_plan(self, state: NginxSiteState) -> HardeningPlan:
        """``ssl_protocols`` / ``ssl_ciphers`` / ``ssl_prefer_server_ciphers`` of the managed block against
        05's values (a block 03 wrote today already has them; an older or hand-loosened one may not)."""
        return plan_nginx(state.text, where=str(self.site_path))

    def hardened(self, state: NginxSiteState) -> NginxSiteState:
        return dataclasses.replace(state, text=harden_server_block(state.text))

    def state_from_record(self, record: dict[str, Any]) -> NginxSiteState:
        return NginxSiteState(
            str(record["path"]),
            bool(record["exists"]),
            bool(record["managed"]),
            str(record.get("text", "")),
            str(record.get("thumbprint", "")),
        )

    # ---- 02: can nginx load the certificate? -------------------------------------------------
    def prove_can_serve(self, certificate: StoredCertificate) -> list[Proof]:
        """``nginx -t`` on a scratch configuration that loads only this certificate and key."""
        files = certificate.files
        check = "nginx -t loads the certificate and key"
        if files is None:
            return [
                Proof(
                    check, "PEM files", f"store {certificate.store} has none", False, "NGINX_NEEDS_PEM_FILES"
                )
            ]
        scratch = Path(tempfile.mkdtemp(prefix="octorunbook-nginx-t-"))
        try:
            conf = scratch / "nginx.conf"
            conf.write_text(scratch_config(scratch, files.fullchain, files.privkey))
            result = self.runner.run(
                [
                    self.nginx.bin,
                    "-t",
                    "-p",
                    f"{scratch}/",
                    "-c",
                    str(conf),
                    "-g",
                    f"pid {nginx_path(scratch / 'nginx.pid', 'temporary folder')};",
                ],
                label="nginx -t (certificate)",
            )
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        # nginx's own words, not only its exit code: nginx_bin naming another program that exits 0
        # (/bin/true) must not pass as nginx having loaded the pair.
        loaded = result.ok and "test is successful" in result.output
        seen = "loaded" if loaded else nginx_messages(result.output)
        return [
            Proof(check, "configuration test is successful", seen, loaded, "NGINX_CANNOT_LOAD_CERTIFICATE")
        ]


def _write_new(path: Path, text: str, mode: int) -> None:
    """Write a file of ours beside nginx's: whatever is at the path (a symlink planted there, a file left
    by a killed run) is removed first and never followed."""
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), mode)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(path, mode)


def _presence(state: NginxSiteState) -> str:
    if not state.exists:
        return "absent"
    return "managed" if state.managed else "NOT managed by octorunbook"


def _served(text: str) -> str:
    """Thumbprint of the certificate a server block points at (empty when it cannot be read)."""
    from cryptography import x509

    from ...certificates import thumbprint_of

    path = config.summarize(text).certificate.strip("'\"")
    with contextlib.suppress(OctorunbookError, ValueError, IndexError):
        return thumbprint_of(x509.load_pem_x509_certificates(read_limited(path, what="certificate"))[0])
    return ""
