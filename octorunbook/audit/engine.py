"""The papermill engine ``octorunbook run`` uses: papermill's own (nbclient), with cheaper saves.

papermill saves the running notebook when each cell starts and ends by serialising it with
``nbformat.writes`` — schema validation, then pure-Python indented JSON — and handing the text to the
I/O handler, which must parse it again to redact it. That round trip cost more than the redaction
itself, and the save at a cell's start is counted in the cell's own duration. This engine differs from
papermill's ``nbclient`` engine in one method: a save of an ``octorunbook-redact://`` path hands the
notebook itself to :meth:`.saves.RedactingHandler.write_notebook`, which redacts it into a copy and
writes that. Every save is still redacted; the record is validated when it is stored.

papermill's other writes (before the kernel starts, on an error, at the end) still come as text through
the same handler. Imported only when a run starts: importing papermill costs a second.
"""

from __future__ import annotations

from typing import Any

from papermill.engines import NBClientEngine, NotebookExecutionManager, papermill_engines

from .saves import SCHEME, register_handler

ENGINE_NAME = "octorunbook"


class _RedactedSaves(NotebookExecutionManager):  # type: ignore[misc]
    def save(self, **kwargs: Any) -> None:
        if kwargs.get("nb"):  # papermill's callbacks may hand over a replaced notebook object
            self.nb = kwargs["nb"]
        if self.output_path and str(self.output_path).startswith(SCHEME):
            register_handler().write_notebook(self.nb, str(self.output_path))
            self.last_save_time = self.now()
        else:
            super().save(**kwargs)


class RedactingEngine(NBClientEngine):  # type: ignore[misc]
    """``Engine.execute_notebook`` of papermill, with :class:`_RedactedSaves` as the execution manager."""

    @classmethod
    def execute_notebook(
        cls,
        nb: Any,
        kernel_name: str,
        output_path: str | None = None,
        progress_bar: bool = True,
        log_output: bool = False,
        autosave_cell_every: int = 30,
        **kwargs: Any,
    ) -> Any:
        nb_man = _RedactedSaves(
            nb,
            output_path=output_path,
            progress_bar=progress_bar,
            log_output=log_output,
            autosave_cell_every=autosave_cell_every,
        )
        nb_man.notebook_start()
        try:
            cls.execute_managed_notebook(nb_man, kernel_name, log_output=log_output, **kwargs)
        finally:
            nb_man.cleanup_pbar()
            nb_man.notebook_complete()
        return nb_man.nb


def register_engine() -> str:
    """Register the engine with papermill (idempotent); returns its name for ``engine_name``."""
    papermill_engines.register(ENGINE_NAME, RedactingEngine)
    return ENGINE_NAME
