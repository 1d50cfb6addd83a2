"""Facts about the Windows host, and where Octopus.Server.exe is.

``probe_host`` answers the preflight questions that decide how the runbook acts: is this session
elevated (``NOT_ELEVATED`` otherwise), and which Windows build is it (AES-256 PFX encryption only from
build 17763, Windows Server 2019, on; older builds need TripleDES-SHA1).

Two facts stop the run before any other script is tried (``host-info.ps1`` reads them without .NET
calls): a session in Constrained Language Mode (WDAC / AppLocker), where every other script would fail
before printing anything (``POWERSHELL_CONSTRAINED``), and a .NET Framework older than 4.6, which lacks
``GetRSAPrivateKey`` and friends (``DOTNET_TOO_OLD``).

``find_server_exe`` follows OctopusDSC: the ``server_exe`` parameter if given, else the registry value
``HKLM\\Software\\Octopus\\OctopusServer\\InstallLocation``, else the default install path.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from octorunbook.targets.windows.powershell import run_script, script_details, script_failure

from ...commands import CommandResult, CommandRunner
from ...findings import TargetError
from ..base import HostInfo

SERVER_EXE_REMEDY = (
    "Set the server_exe parameter to the full path of Octopus.Server.exe (by default "
    "C:\\Program Files\\Octopus Deploy\\Octopus\\Octopus.Server.exe), or run the runbook on the Octopus server."
)


def _as_int(value: Any) -> int | None:
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None


# The .NET Framework 4 "Release" value of 4.6 (393295 on Windows 10, 393297 elsewhere).
DOTNET_46_RELEASE = 393295


def check_powershell_host(data: Mapping[str, Any], result: CommandResult) -> None:
    """Preflight: ``POWERSHELL_CONSTRAINED`` or ``DOTNET_TOO_OLD`` before any other script runs."""
    mode = str(data.get("language_mode") or "")
    if mode and mode != "FullLanguage":
        raise TargetError(
            "POWERSHELL_CONSTRAINED",
            f"Windows PowerShell runs in {mode} mode here (WDAC or AppLocker policy): the scripts cannot open "
            "the certificate store or call .NET, so nothing can be imported, checked or bound.",
            "Run the runbook from a session the policy allows Full Language in (e.g. an administrator "
            "exempted by the WDAC/AppLocker policy), or have the security team allow the octorunbook scripts "
            "(sign them and trust the signer). Nothing was changed.",
            details=script_details(result, data),
        )
    release = _as_int(data.get("dotnet_release"))
    if release is not None and release < DOTNET_46_RELEASE:
        raise TargetError(
            "DOTNET_TOO_OLD",
            f".NET Framework release {release} is older than 4.6 (release {DOTNET_46_RELEASE}): the "
            "certificate key APIs the scripts use do not exist.",
            "Install .NET Framework 4.8 (Octopus Server itself needs 4.7.2 or later), then run again. "
            "Nothing was changed.",
            details=script_details(result, data),
        )


def probe_host(runner: CommandRunner) -> HostInfo:
    """Elevation, Windows build and computer name, from ``host-info.ps1``."""
    data, result = run_script(runner, "host-info.ps1", label="probe the Windows host")
    if data["status"] == "ok":
        check_powershell_host(data, result)
    if data["status"] != "ok" or not isinstance(data.get("elevated"), bool):
        raise script_failure(data, result, "host-info.ps1", "HOST_PROBE_FAILED")
    # [Environment]::OSVersion is subject to compatibility shims (a process without a Windows 10
    # manifest is told 6.2.9200); the registry's CurrentBuildNumber is not. Take the larger.
    builds = [b for b in (_as_int(data.get("windows_build")), _as_int(data.get("registry_build"))) if b]
    caption = str(data.get("os_caption") or "Windows").strip()
    version = str(data.get("os_version") or "").strip()
    ps = str(data.get("ps_version") or "").strip()
    os_text = caption + (f" {version}" if version else "") + (f" (PowerShell {ps})" if ps else "")
    return HostInfo(
        os=os_text,
        windows_build=max(builds) if builds else None,
        elevated=bool(data["elevated"]),
        computer_name=str(data.get("computer_name") or ""),
    )


def require_elevated(info: HostInfo) -> None:
    """Preflight: every change the runbook makes needs an elevated session."""
    if not info.elevated:
        raise TargetError(
            "NOT_ELEVATED",
            "This session is not elevated: importing into LocalMachine and binding HTTP.sys need Administrator.",
            "Start JupyterLab (or the terminal running papermill) with 'Run as administrator' and run again.",
        )


def find_server_exe(server_exe: str, runner: CommandRunner) -> str:
    """The Octopus.Server.exe to drive: ``server_exe`` if given (it must exist), else discovered."""
    if server_exe and server_exe.strip():
        path = server_exe.strip().strip('"')
        if not os.path.isfile(path):
            raise TargetError(
                "SERVER_EXE_NOT_FOUND",
                f"server_exe points at {path!r}, which does not exist.",
                SERVER_EXE_REMEDY,
            )
        return path
    data, result = run_script(runner, "find-server-exe.ps1", label="find Octopus.Server.exe")
    if data["status"] != "ok":
        raise script_failure(data, result, "find-server-exe.ps1", "SERVER_EXE_NOT_FOUND")
    path = str(data.get("path") or "")
    if data.get("exists") is True and path:
        return path
    tried = [str(c) for c in (data.get("candidates") or []) if c]
    raise TargetError(
        "SERVER_EXE_NOT_FOUND",
        "Octopus.Server.exe was not found"
        + (f" (looked in: {', '.join(tried)})" if tried else "")
        + ". Is Octopus Server installed on this machine?",
        SERVER_EXE_REMEDY,
        details=script_details(result, data),
    )
