"""A headless run's kernel dies with the process that started it — and takes the command it runs along.

jupyter_client starts every kernel in a session of its own (so that an interrupt reaches the kernel's
whole process group), and the command a runbook runs (``Octopus.Server``, ``netsh``, PowerShell) sits in
that group too. So ``kill -9`` of ``octorunbook run``/``renew``'s process group does not reach them.
ipykernel notices a dead parent by polling ``getppid`` once a second and then ``os._exit``-s the kernel
alone: a second in which 04 can finish its swap and proof after its record already counts as
``interrupted``, and the command in flight lives on, changing the target while the next run restores it.

``octorunbook`` loads this module as an IPython extension into the kernels it starts itself
(``audit.engine.KERNEL_ARGUMENTS``; a kernel JupyterLab starts is left alone). A daemon thread polls the
parent every :data:`POLL_SECONDS`; once the parent is gone it sends ``SIGKILL`` to the kernel's own
process group — the kernel and whatever it runs stop together, as they would have in the parent's
group. ipykernel's own poller is then not started (:func:`retire_ipykernels_poller`): it would race
this watch, and when it won, the kernel went alone. The journal the change wrote before its first
command stays, and the next run restores it.

Why not ``prctl(PR_SET_PDEATHSIG)``: it is Linux-only; it fires when the *thread* that started the
kernel ends, not the process (warm kernels are started from jupyter_core's runner thread: a future
change that starts one from a short-lived thread would kill a kernel in the middle of a change); and it
kills the kernel alone, leaving the command in flight. The cost here is a wake-up every 50 ms.
On Windows ipykernel already waits on the parent's process handle and exits at once; the command in
flight is not stopped there (no process groups to signal).
"""

from __future__ import annotations

import contextlib
import os
import signal
import stat
import threading
import time
from typing import Any

POLL_SECONDS = 0.05
PARENT_ENV = "JPY_PARENT_PID"  # set by jupyter_client's launcher for a kernel it starts (POSIX: a pid)
# the private folder of a headless kernel's channels (kernel_channels): its connection file and sockets
PRIVATE_FOLDER_PREFIX = "octorunbook-kernel-"
CONNECTION_FILE_NAME = "kernel.json"
SOCKET_PREFIX = "ipc"  # jupyter_client numbers the five sockets ipc-1 … ipc-5 in a new folder
PRIVATE_FOLDER_FILES = (CONNECTION_FILE_NAME, *(f"{SOCKET_PREFIX}-{n}" for n in range(1, 6)))


def _parent_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, another user's
        return True
    return True


def _forget_private_channels() -> None:
    """Remove this kernel's private channel folder (its connection file, with the session key, and its
    sockets) before it dies with its parent, which cannot remove it any more. Only the folder the kernel
    was started with (``-f``, from the run that started it), only when it is ours as kernel_channels made
    it (a directory, not a link, named so, owned by this user, 0700), and only the names that folder holds."""
    connection = _connection_file
    if not connection:
        return
    folder = os.path.dirname(os.path.abspath(connection))
    if not os.path.basename(folder).startswith(PRIVATE_FOLDER_PREFIX):
        return
    try:  # the folder itself, never through a link, checked and emptied through one descriptor
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except OSError:
        return
    try:
        st = os.fstat(fd)
        if st.st_uid != os.getuid() or stat.S_IMODE(st.st_mode) & 0o077:
            return
        for name in PRIVATE_FOLDER_FILES:
            with contextlib.suppress(OSError):
                os.unlink(name, dir_fd=fd)
    finally:
        os.close(fd)
    with contextlib.suppress(OSError):
        os.rmdir(folder)  # only if empty: anything else in it stays


def _die() -> None:
    """SIGKILL to the kernel's process group when it leads one (jupyter_client's kernels do), else itself."""
    with contextlib.suppress(Exception):
        _forget_private_channels()
    if os.getpgrp() == os.getpid():
        os.killpg(os.getpgrp(), signal.SIGKILL)
    os.kill(os.getpid(), signal.SIGKILL)


def _watch(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(POLL_SECONDS)
    _die()


def parent_to_watch() -> int | None:
    """The parent to outlive by no more than a poll: the launcher's pid when it is still our parent.

    None when there is nothing sound to watch: started by init, or through a wrapper (the parent is not
    the launcher; ipykernel's own poller then watches for init, as it always did). A launcher that died
    before this runs is reported as parent 0: the kernel goes at once.
    """
    ppid = os.getppid()
    try:
        launcher = int(os.environ.get(PARENT_ENV, "0"))
    except ValueError:
        launcher = 0
    if launcher > 1 and launcher != ppid and not _parent_alive(launcher):
        return 0
    if ppid <= 1 or (launcher > 1 and launcher != ppid):
        return None
    return ppid


def start() -> threading.Thread | None:
    """Start the watch (idempotent per process); returns its thread, or None where there is none."""
    global _thread
    if os.name == "nt" or not hasattr(os, "killpg"):
        return None
    if _thread is not None:
        return _thread
    parent = parent_to_watch()
    if parent == 0:
        _die()
    if parent is None:
        return None
    _thread = threading.Thread(target=_watch, args=(parent,), name="octorunbook-parent-watch", daemon=True)
    _thread.start()
    return _thread


_thread: threading.Thread | None = None
_connection_file = ""  # the kernel's own -f, recorded when the extension loads


def load_ipython_extension(ipython: Any) -> None:
    """``--IPKernelApp.extra_extensions=octorunbook.headless.kernel_watch``: watch from the kernel's start
    (and, in this kernel octorunbook started, import jsonschema without the grammars it does not use)."""
    from octorunbook.jsontext import skip_iri_grammars

    global _connection_file
    skip_iri_grammars()
    with contextlib.suppress(Exception):
        from ipykernel.kernelapp import IPKernelApp

        if IPKernelApp.initialized():
            app = IPKernelApp.instance()
            _connection_file = str(getattr(app, "abs_connection_file", "") or app.connection_file or "")
    with contextlib.suppress(OSError):
        if start() is not None:
            retire_ipykernels_poller()


def retire_ipykernels_poller() -> bool:
    """Keep ipykernel's own Unix parent poller from starting once this watch runs; True if it was kept.

    It checks the same parent once a second and then ``os._exit``-s the kernel alone. Both notice the same
    death; when ipykernel's wins (its second happens to end first, or this watch's thread waits for the GIL
    on a busy machine) the command in flight outlives the killed run — seen once in a loaded ``make
    test``. The app creates its poller before the extensions load and starts it after, so it is dropped
    here, before it starts. A poller already running (another ipykernel's order) is left as it is.
    """
    try:
        from ipykernel.kernelapp import IPKernelApp
        from ipykernel.parentpoller import ParentPollerUnix
    except ImportError:  # pragma: no cover - the kernel is ipykernel
        return False
    if not IPKernelApp.initialized():
        return False
    app = IPKernelApp.instance()
    poller = getattr(app, "poller", None)
    if isinstance(poller, ParentPollerUnix) and not poller.is_alive():
        app.poller = None
        return True
    return False


__all__ = ["POLL_SECONDS", "load_ipython_extension", "parent_to_watch", "retire_ipykernels_poller", "start"]
