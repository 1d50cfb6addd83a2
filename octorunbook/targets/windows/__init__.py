"""The Windows target: the Octopus server this process runs on.

* the LocalMachine certificate store (``localmachine.LocalMachineStore``), through PowerShell scripts
  shipped in ``scripts/`` (``OCTORUNBOOK_POWERSHELL``, default ``powershell.exe``);
* the Octopus instance, through ``Octopus.Server.exe`` (``server_exe``, else discovered);
* HTTP.sys bindings, through ``netsh http`` (``OCTORUNBOOK_NETSH``, default ``netsh.exe``);
* the state folder (``%ProgramData%\\octorunbook``), created SYSTEM + Administrators only or refused,
  through :func:`windows_state_guard`.

Tests put stand-in executables behind those three names; nothing here knows the difference.
"""

from __future__ import annotations

import dataclasses
import os
import platform
from pathlib import Path
from typing import TYPE_CHECKING

from ...commands import CommandRunner, netsh_exe, reg_exe, windows_system_folder
from ..base import HostInfo, Target
from ..httpsys import HttpSys, console_encoding
from ..localmachine import httpsys_parts
from ..octopus import OctopusServer
from ..octopus.urlacl import UrlAcls
from ..state import FolderGuard
from .acme_listener import HttpListenerResponder
from .host import find_server_exe, probe_host, require_elevated
from .state_acl import WindowsFolderGuard
from .store import WindowsCertificateStore

if TYPE_CHECKING:
    from ..localmachine import PfxSetting

__all__ = [
    "WindowsCertificateStore",
    "WindowsFolderGuard",
    "default_state_dir",
    "find_server_exe",
    "open_windows_target",
    "probe_host",
    "require_elevated",
    "windows_state_guard",
]


def sc_exe() -> str:
    """``sc.exe``: reads the logon account of the Octopus service (``sc qc``)."""
    import ntpath

    return os.environ.get("OCTORUNBOOK_SC") or ntpath.join(windows_system_folder(), "sc.exe")


def default_state_dir() -> Path:
    """``%ProgramData%\\octorunbook``: machine-wide, like the certificate store it remembers things about."""
    program_data = os.environ.get("ProgramData") or os.environ.get("PROGRAMDATA")
    if program_data:
        return Path(program_data) / "octorunbook"
    home = os.environ.get("OCTORUNBOOK_HOME")
    if home:
        return Path(home) / "windows"
    return Path.home() / ".octorunbook" / "windows"


def windows_state_guard(runner: CommandRunner) -> FolderGuard:
    """How a Windows state home is made private: pass it to ``StateHome.open(root, target_id, guard)``.

    ``%ProgramData%`` lets ordinary users create folders, so a state folder found there proves nothing
    until its owner and DACL are read; the guard creates a missing one with its final ACL and refuses
    one that another account created or can write to (``STATE_DIR_UNSAFE``).
    """
    return WindowsFolderGuard(runner)


class _CachedProbe:
    """Probe the host once per target: elevation and build do not change during a run."""

    def __init__(self, runner: CommandRunner) -> None:
        self._runner = runner
        self._info: HostInfo | None = None

    def __call__(self) -> HostInfo:
        if self._info is None:
            self._info = probe_host(self._runner)
        return self._info


def open_windows_target(
    *,
    instance: str,
    server_exe: str,
    runner: CommandRunner,
    state_dir: Path | None = None,
    store: str = "My",
    pfx_encryption: PfxSetting | None = None,
) -> Target:
    """The Windows host this process runs on, with Octopus instance ``instance``; its store part is
    ``LocalMachine\\<store>`` (``pfx_encryption`` for what 01 imports into it).

    Finds Octopus.Server.exe now (``SERVER_EXE_NOT_FOUND`` stops here); everything else runs when asked.
    """
    exe = find_server_exe(server_exe, runner)
    computer_name = os.environ.get("COMPUTERNAME") or platform.node() or "localhost"
    driver = WindowsCertificateStore(runner)
    octopus = OctopusServer(exe, instance, runner)
    httpsys = HttpSys(netsh_exe(), runner, encoding=console_encoding(), reg=reg_exe())
    url_acls = UrlAcls(netsh_exe(), sc_exe(), runner, encoding=console_encoding())
    probe = _CachedProbe(runner)
    return Target(
        kind="windows",
        host=computer_name,
        instance=instance,
        runner=runner,
        state_dir=state_dir or default_state_dir(),
        parts=dataclasses.replace(
            httpsys_parts(driver, httpsys, octopus, probe, store, pfx_encryption, url_acls),
            responder=HttpListenerResponder(runner),
        ),
        state_guard=windows_state_guard(runner),
        connect_host="127.0.0.1",
        host_probe=probe,
    )
