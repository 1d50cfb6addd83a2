"""The kernel a headless run starts ahead of the notebook that is to use it (jupyter_client only).

A procedure starts the next notebook's kernel once the current notebook's first cell has run, and every
headless run (``octorunbook run``, ``renew``) starts its first notebook's kernel before it imports
papermill: the 0.7–0.9 s a kernel takes to start then passes while the run's own imports (about a second:
papermill, nbclient, nbformat) or the current notebook work, on the other core. Still one kernel, and one
executed notebook, per runbook; a warm kernel is used only if it was started exactly as papermill would
start it now (kernel, folder, environment), else it is shut down and papermill starts its own. Where the
kernel spec is ipykernel's own launcher, the warm kernel is that kernel without its debugger
(:mod:`.ipykernel_headless`). On POSIX its channels are unix sockets in a folder of its own
(:mod:`.kernel_channels`), as are those of a kernel papermill starts itself. This module imports no
papermill, so that the first kernel starts before papermill is imported.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

# the kernel dies with the run that started it, and takes the command it runs along (see kernel_watch)
KERNEL_ARGUMENTS = (
    "--HistoryManager.enabled=False",
    "--IPKernelApp.log_level=CRITICAL",
    "--IPKernelApp.extra_extensions=octorunbook.headless.kernel_watch",
)


class WarmKernel:
    """A kernel started ahead of the notebook that is to use it, with the start it would have had."""

    def __init__(self, kernel_name: str, cwd: str, env: Mapping[str, str]) -> None:
        from jupyter_core.utils import run_sync

        from .ipykernel_headless import headless_argv
        from .kernel_channels import PrivateKernelManager

        self.started_as = (kernel_name, cwd, dict(env))
        self.manager = PrivateKernelManager(kernel_name=kernel_name)
        spec = self.manager.kernel_spec  # this manager's own copy, read from the kernel spec
        argv = headless_argv(list(spec.argv)) if spec is not None else None
        if spec is not None and argv is not None:  # ipykernel's launcher: that kernel without its debugger
            spec.argv = argv
        arguments = [*KERNEL_ARGUMENTS, "--HistoryManager.hist_file=:memory:"]  # as nbclient adds it
        run_sync(self.manager.start_kernel)(extra_arguments=arguments, cwd=cwd, env=dict(env))

    def take(self, kernel_name: str, cwd: str, env: Mapping[str, str]) -> Any | None:
        """The kernel manager, if the kernel is alive and was started as papermill would start it now."""
        from jupyter_core.utils import run_sync

        if self.started_as == (kernel_name, cwd, dict(env)) and run_sync(self.manager.is_alive)():
            return self.manager
        self.discard()
        return None

    def discard(self) -> None:
        """Shut the kernel down; one that will not go quietly must not fail the procedure."""
        from jupyter_core.utils import run_sync

        with contextlib.suppress(Exception):
            run_sync(self.manager.shutdown_kernel)(now=True)


__all__ = ["KERNEL_ARGUMENTS", "WarmKernel"]
