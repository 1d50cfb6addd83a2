"""Headless runs: the notebooks through papermill, every save redacted, each kept as an audit record.

One parameter file drives every runbook; it is checked whole (:func:`preflight`), and each notebook is
handed the part of it that runbook reads (``params.runbooks``), so its injected parameters are the
list its own parameters cell declares.

papermill writes the output notebook at start, after every cell and on failure (reference §1.5);
every one of those writes goes through :class:`RedactingHandler` (``audit/saves.py``; the saves at each
cell come through the engine in ``audit/engine.py``), so no intermediate file ever holds a secret, and
each write also refreshes the summary cell at the top of the notebook. A procedure stores each record
while the next notebook runs, and returns once every record is chained (:func:`run_procedure`).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from octorunbook import RESULT_MIME
from octorunbook.audit.records import extract_result
from octorunbook.findings import InputError, TargetError
from octorunbook.headless.saves import SCHEME as SCHEME
from octorunbook.headless.saves import SUMMARY_TAG as SUMMARY_TAG
from octorunbook.headless.saves import RedactingHandler as RedactingHandler
from octorunbook.headless.saves import register_handler as register_handler
from octorunbook.headless.saves import with_summary as with_summary
from octorunbook.params.core import ParameterError, Parameters
from octorunbook.params.loading import load_params_file as load_params_file  # the one parser (every door)
from octorunbook.params.runbooks import subset
from octorunbook.runbooks.run import CHECK_RECORDS_ENV, PLANNED_IMPORT_ENV, RUNBOOKS, RUNNER_ENV

if TYPE_CHECKING:
    from octorunbook.audit.quarantine import SetAside
    from octorunbook.headless.warm_kernel import WarmKernel


def notebooks_dir() -> Path:
    """Where the runbooks are: ``OCTORUNBOOK_NOTEBOOKS`` when set, else the copies the package carries
    (``octorunbook/notebooks`` — in the wheel, and in a checkout a link to the repository's ``notebooks/``),
    found through ``importlib.resources`` so an installed wheel never looks for a repository."""
    env = os.environ.get("OCTORUNBOOK_NOTEBOOKS")
    if env:
        return Path(env)
    from importlib.resources import files

    return Path(str(files("octorunbook") / "notebooks"))


def record_notebook(record: dict[str, Any]) -> Any:
    """A record notebook for an interactive run: the summary plus the result record output."""
    import nbformat

    from octorunbook.render import result_panel

    panel = result_panel(record)
    nb = nbformat.v4.new_notebook()
    code = nbformat.v4.new_code_cell("# result record written by octorunbook for an interactive run")
    code.outputs = [
        nbformat.v4.new_output(
            "display_data", data={RESULT_MIME: record, "text/html": panel.html(), "text/plain": panel.text()}
        )
    ]
    nb.cells = [code]
    nb.metadata["octorunbook"] = {"kind": "interactive-record"}
    return with_summary(nb)


def preflight(params: Parameters) -> Path:
    """Every check that needs no target, before papermill writes anything: the parameters (type and
    range), the PFX password's variable (set, long enough — and registered, so every save masks it),
    and an audit folder that can really be written. Raises :class:`ParameterError`; returns the folder.
    """
    from octorunbook.audit.store import probe_audit_dir
    from octorunbook.headless.papermill_hook import require_password, require_target_fit

    for problem in params.check():
        if problem.severity == "error":
            raise ParameterError(problem.code, problem.message, problem.remedy)
    require_target_fit(params)
    try:
        require_password(params)
    except InputError as exc:
        raise ParameterError(exc.code, exc.message, exc.remedy) from None
    audit_dir = Path(params.audit_dir).expanduser().resolve()
    try:
        probe_audit_dir(audit_dir)  # records land in it and in its .in-progress
    except OSError as exc:
        raise ParameterError(
            "AUDIT_DIR_UNWRITABLE",
            f"Cannot write audit records to {audit_dir}: {exc.strerror or exc}.",
            "Set audit_dir to a folder you can write to.",
        ) from None
    return audit_dir


@dataclass(frozen=True)
class RunResult:
    runbook: str
    status: str
    record: dict[str, Any] | None
    path: Path | None


@dataclass(frozen=True)
class _Executed:
    """A notebook papermill has finished with, not yet stored: its output under ``.in-progress``."""

    runbook: str
    audit_dir: Path
    output: Path
    notebook: Any
    record: dict[str, Any] | None
    claim: str = ""
    set_aside: tuple[SetAside, ...] = ()

    @property
    def status(self) -> str:
        return str(self.record.get("status")) if self.record else "failed"

    def store(self) -> RunResult:
        """Chain the record (and its HTML) into the audit folder, then drop the in-progress copy.

        The copy (and its claim) is removed only once the record is chained: a process killed before that
        leaves it to be chained as ``interrupted`` by the next run. The record's manifest line names the
        claim it settles and what the run set aside when it began.
        """
        from octorunbook.audit.claims import forget_running_notebook
        from octorunbook.audit.store import store_record

        path = store_record(self.audit_dir, self.notebook, claim=self.claim, set_aside=self.set_aside)
        forget_running_notebook(self.output)
        return RunResult(self.runbook, self.status, self.record, path)


def _run_notebook(
    runbook: str,
    params: Parameters,
    *,
    progress: Callable[[str], None] | None = None,
    kernel_name: str | None = None,
    kernels: _Kernels | None = None,
    last: bool = True,
) -> _Executed | RunResult:
    """papermill over one notebook, every save redacted; a RunResult only when nothing was saved.

    With ``kernels`` (a procedure), the notebook runs in the kernel started ahead for it if that still
    fits, and unless it is the ``last``, starts the next notebook's kernel once its first cell has run.
    """
    import nbformat
    import papermill as pm

    from octorunbook.audit.claims import read_own_notebook
    from octorunbook.audit.store import open_audit_dir
    from octorunbook.headless.engine import KERNEL_ARGUMENTS, register_engine

    handler = register_handler()
    handler.progress = progress
    source = notebooks_dir() / f"{runbook}.ipynb"
    if not source.is_file():
        raise InputError("NOTEBOOK_NOT_FOUND", f"{source} does not exist.", "Set OCTORUNBOOK_NOTEBOOKS.")
    audit_dir = preflight(params)
    opened = open_audit_dir(audit_dir)  # signing and claim keys usable, killed runs chained first
    for item in opened.set_aside:
        finding = item.finding(audit_dir)
        if progress:
            progress(f"⚠ {finding.code}: {finding.message}\n  remedy: {finding.remedy}")
    output = opened.scratch / f"{runbook}-{os.getpid()}.ipynb"
    os.environ[RUNNER_ENV] = "1"
    if progress:
        progress(f"▶ {runbook}")
    try:
        pm.execute_notebook(
            str(source),
            SCHEME + str(output),
            engine_name=register_engine(),
            # one file describes the portal; each notebook is handed only what it reads (params.runbooks)
            parameters=subset(runbook, {**params.to_record(), "audit_dir": str(audit_dir)}),
            kernel_name=kernel_name or "python3",
            progress_bar=False,
            log_output=False,
            cwd=os.getcwd(),
            extra_arguments=list(KERNEL_ARGUMENTS),
            store_widget_state=False,
            km=kernels.take() if kernels else None,
            on_first_cell=None if kernels is None or last else kernels.start_next,
        )
    except pm.PapermillExecutionError:
        pass  # the record inside the notebook says what failed
    except Exception as exc:  # no kernel, a dead kernel, a timeout: still a failed run, recorded if it began
        if progress:
            progress(f"✖ {runbook}: the notebook could not run: {type(exc).__name__}: {exc}")
        if not output.is_file():
            raise TargetError(  # this machine's kernel failed, not the operator's input: exit 1
                "KERNEL_FAILED",
                f"{runbook} could not be run: {type(exc).__name__}: {exc}",
                "Check that the venv's Jupyter kernel works: .venv/bin/python -m ipykernel --version.",
            ) from None
    finally:
        os.environ.pop(RUNNER_ENV, None)
    if not output.is_file():
        return RunResult(runbook, "failed", None, None)
    data, claim = read_own_notebook(output)  # exactly what this run saved last, or STATE_UNTRUSTED
    nb = nbformat.reads(data.decode("utf-8"), as_version=4)  # the one schema validation of the run's saves
    return _Executed(runbook, audit_dir, output, nb, result_of(nb), claim, opened.set_aside)


def result_of(nb: Any) -> dict[str, Any] | None:
    """The executed notebook's result record. With ``OCTORUNBOOK_CHECK_RECORDS`` set (the test suite) it is
    held to the published schema here: a kernel the runner started leaves that check to the runner, whose
    process has jsonschema imported already (nbformat's validation), rather than import it for each kernel."""
    record = extract_result(nb)
    if record is not None and os.environ.get(CHECK_RECORDS_ENV):
        from octorunbook.runbooks.record import require_valid

        require_valid(record)
    return record


def _symbol(status: str) -> str:
    return "✔" if status != "failed" else "✖"


def execute(
    runbook: str,
    params: Parameters,
    *,
    progress: Callable[[str], None] | None = None,
    kernel_name: str | None = None,
) -> RunResult:
    """Run one notebook headless; the executed notebook becomes an audit record, success or failure."""
    preflight(params)  # a bad parameter stops here, before a kernel starts
    kernels = _Kernels.first(kernel_name)
    try:
        done = _run_notebook(
            runbook, params, progress=progress, kernel_name=kernel_name, kernels=kernels, last=True
        )
    finally:
        kernels.close()
        os.environ.pop(RUNNER_ENV, None)
    if isinstance(done, RunResult):  # the notebook left no output: failed, without a record
        _notify(params, [done])
        return done
    result = done.store()
    if progress:
        progress(f"{_symbol(result.status)} {runbook}: {result.status} → {result.path}")
    _notify(params, [result])
    return result


def _notify(params: Parameters, results: Sequence[RunResult]) -> None:
    """One message per failed (rolled-back) run, to the Apprise URLs ``notify_env`` names."""
    from octorunbook.ops.notify import notify_run

    for result in results:
        notify_run(params, result.runbook, result.status, result.record, result.path)


def run_all(
    params: Parameters, *, progress: Callable[[str], None] | None = None, kernel_name: str | None = None
) -> list[RunResult]:
    """01 → 02 → 03 as one procedure: see :func:`run_procedure`."""
    return run_procedure(RUNBOOKS, params, progress=progress, kernel_name=kernel_name)


class _Kernels:
    """The next notebook's kernel, started while the current one runs (see ``audit.engine.WarmKernel``)."""

    def __init__(self, kernel_name: str | None) -> None:
        self.kernel_name = kernel_name or "python3"
        self.next: WarmKernel | None = None

    @classmethod
    def first(cls, kernel_name: str | None) -> _Kernels:
        """The first notebook's kernel, started before papermill is imported: it boots on the other core
        while the run imports papermill, nbclient and nbformat (about a second each). Started with the
        environment ``_run_notebook`` gives papermill's kernel (``RUNNER_ENV`` set), so that it fits."""
        os.environ[RUNNER_ENV] = "1"
        kernels = cls(kernel_name)
        kernels.start_next()
        return kernels

    def start_next(self) -> None:
        from octorunbook.headless.warm_kernel import WarmKernel

        try:
            self.next = WarmKernel(self.kernel_name, os.getcwd(), os.environ)
        except Exception:  # papermill starts the kernel itself then, as it always did
            self.next = None

    def take(self) -> Any | None:
        """The warm kernel's manager, if it fits the notebook about to start (else it is shut down)."""
        warm, self.next = self.next, None
        return warm.take(self.kernel_name, os.getcwd(), os.environ) if warm else None

    def close(self) -> None:
        if self.next is not None:
            self.next.discard()
            self.next = None


class _Records:
    """Stores a procedure's records on one worker thread, in the order the notebooks ended.

    Rendering a record's HTML is the slow part of storing it, and nothing the next notebook does depends
    on it (the next notebook needs only the result record, read from the executed notebook). So each
    record is stored while the next notebook runs, and the worker starts by importing nbconvert while the
    first kernel starts. :meth:`wait` returns when every record is chained, HTML beside it. A storing
    error is raised there, or before the next notebook starts if it is already known (the notebook after
    the one that failed to store may have run meanwhile); the notebook it could not store stays in
    ``.in-progress/``, where the next run chains it as ``interrupted``.
    """

    def __init__(self) -> None:
        from concurrent.futures import ThreadPoolExecutor

        import papermill  # noqa: F401  # imported here first: the worker's imports then share little with it

        from octorunbook.audit.store import warm_renderer
        from octorunbook.headless import engine  # noqa: F401

        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="octorunbook-records")
        self._pool.submit(warm_renderer)
        self._pending: list[Future[RunResult]] = []

    def add(self, done: _Executed) -> None:
        self._pending.append(self._pool.submit(done.store))

    def raise_known_failure(self) -> None:
        for future in self._pending:
            if future.done() and future.exception() is not None:
                future.result()

    def wait(self) -> list[RunResult]:
        self._pool.shutdown(wait=True)
        return [future.result() for future in self._pending]


def run_procedure(
    runbooks: Sequence[str],
    params: Parameters,
    *,
    progress: Callable[[str], None] | None = None,
    kernel_name: str | None = None,
) -> list[RunResult]:
    """Run ``runbooks`` in order under ONE hold of the target lock; stop at the first failure.

    The lock is taken before the first notebook starts, so a second procedure on the same target gets
    ``TARGET_BUSY`` before it changes anything, and released after the last one ends and every record is
    chained (each is stored while the next notebook runs: see :class:`_Records`). Each notebook runs in
    its own kernel, started while the notebook before it runs (:class:`_Kernels`), and each kernel
    joins the held lock with the procedure's token (see ``targets.lock``). The thumbprint 01
    imported — or, in a dry run, would import — is passed forward to 02 and 03.
    """
    from octorunbook.targets import procedure_lock

    # a bad parameter (exit 2), an unset password variable or an unwritable audit folder stops here,
    # before the lock file (whose path has the instance in it) is touched
    preflight(params)
    lock = procedure_lock(params, runbooks[0] if runbooks else "")
    lock.acquire(procedure=True, first=runbooks[0] if runbooks else "")
    if lock.stale_note and progress:
        progress(f"⚠ {lock.stale_note}")
    joined = lock.child_environment()
    kernels: _Kernels | None = None
    records: _Records | None = None
    ended: list[RunResult | None] = []  # None: stored by the worker, in order
    try:
        os.environ.update(joined)
        kernels = _Kernels.first(kernel_name)  # the first kernel boots while _Records imports papermill
        records = _Records()
        for index, runbook in enumerate(runbooks):
            records.raise_known_failure()
            last = index == len(runbooks) - 1
            done = _run_notebook(
                runbook, params, progress=progress, kernel_name=kernel_name, kernels=kernels, last=last
            )
            if isinstance(done, RunResult):
                ended.append(done)
                break
            records.add(done)
            ended.append(None)
            if progress:
                progress(f"{_symbol(done.status)} {runbook}: {done.status}")
            if done.status == "failed":
                break
            cert = (done.record or {}).get("certificate") or {}
            if runbook == RUNBOOKS[0] and cert.get("thumbprint") and not params.thumbprint:
                params = replace(params, thumbprint=str(cert["thumbprint"]))
            if runbook == RUNBOOKS[0] and done.status == "planned" and cert.get("thumbprint"):
                # a dry run: 02 and 03 plan for the certificate 01 would import (it is not in the store)
                os.environ[PLANNED_IMPORT_ENV] = json.dumps(cert)
    finally:
        if kernels is not None:
            kernels.close()
        for name in [*joined, PLANNED_IMPORT_ENV, RUNNER_ENV]:
            os.environ.pop(name, None)
        try:
            stored = iter(records.wait() if records is not None else [])
        finally:
            lock.release()
    results = [result or next(stored) for result in ended]
    if progress:
        for result in results:
            if result.path is not None:
                progress(f"  record {result.runbook} → {result.path}")
    _notify(params, results)
    return results


def _main() -> int:  # pragma: no cover - debugging aid
    results = run_all(load_params_file(sys.argv[1]), progress=print)
    print(json.dumps([r.status for r in results]))
    return 0
