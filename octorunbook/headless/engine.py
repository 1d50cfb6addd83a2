"""The papermill engine ``octorunbook run`` uses: papermill's own (nbclient), with cheaper saves.

papermill saves the running notebook when each cell starts and ends by serialising it with
``nbformat.writes`` — schema validation, then pure-Python indented JSON — and handing the text to the
I/O handler, which must parse it again to redact it. That round trip cost more than the redaction
itself, and the save at a cell's start is counted in the cell's own duration. In this engine, which is
papermill's ``nbclient`` engine otherwise, a save of an ``octorunbook-redact://`` path hands the
notebook itself to :meth:`.saves.RedactingHandler.write_notebook`, which redacts it into a copy and
writes that. Every save is still redacted; the record is validated when it is stored.

papermill's other writes (before the kernel starts, on an error, at the end) still come as text through
the same handler. Imported only when a run starts: importing papermill costs a second.

A kernel started ahead (``km``: see ``headless.warm_kernel``) is used when it still fits.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from papermill.clientwrap import PapermillNotebookClient
from papermill.engines import NBClientEngine, NotebookExecutionManager, papermill_engines
from papermill.log import logger
from papermill.translators import PythonTranslator, papermill_translators
from papermill.utils import merge_kwargs, remove_args

from octorunbook.headless.kernel_channels import PrivateKernelManager
from octorunbook.headless.saves import SCHEME, register_handler
from octorunbook.headless.warm_kernel import KERNEL_ARGUMENTS as KERNEL_ARGUMENTS
from octorunbook.headless.warm_kernel import WarmKernel as WarmKernel

ENGINE_NAME = "octorunbook"


class _RedactedSaves(NotebookExecutionManager):  # type: ignore[misc]
    """papermill's manager, with the saves handed over as the notebook, and none for a markdown cell.

    papermill saves when every cell starts and ends, markdown cells included: half of a runbook's saves
    (each a redaction walk and two renamed files) told only that a heading had been "run". A markdown cell
    changes nothing but its own timing metadata, which the next save (the next code cell's start, or the
    notebook's end) writes anyway; every code cell is still saved when it starts and when it ends.
    """

    on_first_cell: Callable[[], None] | None = None
    _markdown = False  # set while papermill starts or completes a cell that does not run

    def _markdown_unsaved(self, step: Callable[..., None], cell: Any, *args: Any, **kwargs: Any) -> None:
        self._markdown = cell.get("cell_type") != "code"
        try:
            step(cell, *args, **kwargs)
        finally:
            self._markdown = False

    def cell_start(self, cell: Any, cell_index: int | None = None, **kwargs: Any) -> None:
        self._markdown_unsaved(super().cell_start, cell, cell_index, **kwargs)

    def cell_complete(self, cell: Any, cell_index: int | None = None, **kwargs: Any) -> None:
        self._markdown_unsaved(super().cell_complete, cell, cell_index, **kwargs)
        if self.on_first_cell is not None:  # after the cell's clock stopped: not counted as its work
            callback, self.on_first_cell = self.on_first_cell, None
            callback()

    def save(self, **kwargs: Any) -> None:
        if kwargs.get("nb"):  # papermill's callbacks may hand over a replaced notebook object
            self.nb = kwargs["nb"]
        if self._markdown:  # nothing ran: the next save writes this cell's timing
            return
        if self.output_path and str(self.output_path).startswith(SCHEME):
            register_handler().write_notebook(self.nb, str(self.output_path))
            self.last_save_time = self.now()
        else:
            super().save(**kwargs)


class RedactingEngine(NBClientEngine):  # type: ignore[misc]
    """papermill's nbclient engine with :class:`_RedactedSaves` as the execution manager, ``km`` (a warm
    kernel's manager, shut down at the end like papermill's own) and ``on_first_cell`` (called once the
    notebook's first cell has run: the kernel is up)."""

    @classmethod
    def execute_notebook(
        cls,
        nb: Any,
        kernel_name: str,
        output_path: str | None = None,
        progress_bar: bool = True,
        log_output: bool = False,
        autosave_cell_every: int = 30,
        on_first_cell: Callable[[], None] | None = None,
        **kwargs: Any,
    ) -> Any:
        nb_man = _RedactedSaves(
            nb,
            output_path=output_path,
            progress_bar=progress_bar,
            log_output=log_output,
            autosave_cell_every=autosave_cell_every,
        )
        nb_man.on_first_cell = on_first_cell
        nb_man.notebook_start()
        try:
            cls.execute_managed_notebook(nb_man, kernel_name, log_output=log_output, **kwargs)
        finally:
            nb_man.cleanup_pbar()
            nb_man.notebook_complete()
        return nb_man.nb

    @classmethod
    def execute_managed_notebook(
        cls,
        nb_man: Any,
        kernel_name: str,
        log_output: bool = False,
        stdout_file: Any = None,
        stderr_file: Any = None,
        start_timeout: int = 60,
        execution_timeout: int | None = None,
        km: Any = None,
        **kwargs: Any,
    ) -> Any:
        """papermill's own, but a client given a kernel (``km``) shuts it down at the end, as it would one
        it had started itself."""
        kwargs = remove_args(["input_path"], **kwargs)
        safe_kwargs = remove_args(["timeout", "startup_timeout"], **kwargs)
        final_kwargs = merge_kwargs(
            safe_kwargs,
            timeout=execution_timeout if execution_timeout else kwargs.get("timeout"),
            startup_timeout=start_timeout,
            kernel_name=kernel_name,
            log=logger,
            log_output=log_output,
            stdout_file=stdout_file,
            stderr_file=stderr_file,
            # Once its notebook is over (every output in, every save done), a kernel octorunbook started
            # is stopped at once. A polite shutdown_request would wait for nothing of ours (no exit
            # handler runs in the kernel) and often hangs: ipykernel 7.x's control thread publishes a
            # last "idle" while its main thread closes the IOPub thread, and waits for a flush that
            # never comes (ipython/ipykernel#1518) until jupyter_client's SIGTERM 2.5 s later — after
            # half of a procedure's notebooks here. The kernel's process group goes, as it would then.
            shutdown_kernel="immediate",
            # a kernel nbclient starts itself (none was started ahead, or it no longer fitted) listens where
            # a warm one does: unix sockets in a private folder on POSIX, no port to lose (kernel_channels)
            kernel_manager_class=PrivateKernelManager,
        )
        client = PapermillNotebookClient(nb_man, km=km, **final_kwargs)
        return client.execute(cleanup_kc=True)


class PlainPythonTranslator(PythonTranslator):  # type: ignore[misc]
    """papermill's Python translator, without its pass through Black.

    papermill formats the injected parameters cell with Black whenever Black happens to be importable
    (ansible-lint brings it into a venv, a developer's machine has it). An audit record's injected cell
    then read differently from one machine to the next for the same parameters, and each run imported
    Black for it (≈ 0.1 s of CPU). Each parameter is one ``name = value`` line either way.
    """

    @classmethod
    def codify(cls, parameters: dict[str, Any], comment: str = "Parameters") -> str:
        return str(super(PythonTranslator, cls).codify(parameters, comment))


def register_engine() -> str:
    """Register the engine (and the plain translator) with papermill (idempotent); returns the engine's
    name for ``engine_name``."""
    papermill_engines.register(ENGINE_NAME, RedactingEngine)
    papermill_translators.register("python", PlainPythonTranslator)
    return ENGINE_NAME
