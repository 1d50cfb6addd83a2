"""Where the kernel of a headless run listens: unix sockets in a folder of its own, not loopback ports.

jupyter_client chooses a kernel's five TCP ports by binding port 0 and closing it again; the kernel binds
them a moment later (under load, a second or more). A port any other process binds in between (a
portal, nginx, another kernel) kills the kernel before its first answer: ``ZMQError: Address already in
use``, and the runbook fails with "Kernel died before replying to kernel_info" — seen in the test suite,
and possible on any busy machine. On POSIX, :class:`PrivateKernelManager` gives each kernel unix sockets
in a folder made for that kernel alone (``mkdtemp``: new, mode 0700, ours), so there is no port to lose and
no channel another local user can reach; its connection file (which holds the session's signing key) is
written there too, instead of as ``/tmp/tmpXXXXXXXX.json``, and the folder is removed with the kernel —
by the kernel itself when the run that started it was killed (:mod:`.kernel_watch`).
On Windows, or where the folder's path is too long for a unix socket, the kernel keeps TCP on loopback.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from typing import Any

from jupyter_client.manager import AsyncKernelManager

from .kernel_watch import CONNECTION_FILE_NAME, PRIVATE_FOLDER_FILES, PRIVATE_FOLDER_PREFIX, SOCKET_PREFIX

# sockaddr_un.sun_path: 108 bytes on Linux, 104 on macOS and the BSDs, with the terminating NUL
_SUN_PATH_MAX = 107 if sys.platform.startswith("linux") else 103


class PrivateKernelManager(AsyncKernelManager):  # type: ignore[misc]
    """jupyter_client's kernel manager, with the kernel's channels in a private folder (POSIX)."""

    private_folder: str | None = None

    async def _async_pre_start_kernel(self, **kw: Any) -> Any:
        if self.private_folder is None and not self.connection_file:
            self.private_folder = use_private_channels(self)
        return await super()._async_pre_start_kernel(**kw)

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        await super()._async_cleanup_resources(restart=restart)
        if not restart and self.private_folder is not None:
            folder, self.private_folder = self.private_folder, None
            shutil.rmtree(folder, ignore_errors=True)  # made by mkdtemp for this kernel alone
            self.connection_file = ""  # a later start gets a folder of its own

    # AsyncKernelManager binds its public names to KernelManager's coroutines, not to an override:
    # nbclient calls cleanup_resources() itself on a kernel that died (no shutdown_kernel first)
    pre_start_kernel = _async_pre_start_kernel
    cleanup_resources = _async_cleanup_resources


def use_private_channels(manager: Any) -> str | None:
    """Point ``manager`` (before its kernel starts) at unix sockets and a connection file in a new
    private folder; returns the folder, or None where the kernel keeps TCP on loopback."""
    if os.name != "posix":
        return None
    folder = tempfile.mkdtemp(prefix=PRIVATE_FOLDER_PREFIX)
    prefix = os.path.join(folder, SOCKET_PREFIX)
    if (
        max(
            len(os.fsencode(os.path.join(folder, n)))
            for n in PRIVATE_FOLDER_FILES
            if n != CONNECTION_FILE_NAME
        )
        > _SUN_PATH_MAX
    ):
        with contextlib.suppress(OSError):
            os.rmdir(folder)
        return None
    manager.connection_file = os.path.join(folder, CONNECTION_FILE_NAME)
    manager.cache_ports = False  # jupyter_client's cache of TCP ports: none to cache
    manager.transport = "ipc"
    manager.ip = prefix
    return folder


__all__ = ["PrivateKernelManager", "use_private_channels"]
