"""The calls the notebooks' cells make: ``start`` (the form), ``begin`` (open the target), ``continue_button``."""

from __future__ import annotations

import html
import os
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from IPython.display import HTML, display

from octorunbook.findings import OctorunbookError
from octorunbook.params.core import Parameters
from octorunbook.params.loading import parse_parameters
from octorunbook.runbooks.run import RUNBOOKS, RUNNER_ENV, Run
from octorunbook.ui.form import Form
from octorunbook.ui.operator import OperatorControls, hold_cells_below, operator_mode, with_address
from octorunbook.ui.reporter import NotebookReporter
from octorunbook.ui.style import reason_of

# The forms shown in this kernel, by runbook: Run All must not lose what the operator typed.
_SHOWN: dict[str, Form] = {}

_CHOICE_CODES = frozenset(
    {
        "TARGET_INVALID",
        "STORE_INVALID",
        "CERTIFICATE_SOURCE_INVALID",
        "KEY_TYPE_INVALID",
        "PFX_ENCRYPTION_INVALID",
        "RETIRE_OLD_INVALID",
        "POSTURE_INVALID",
    }
)


def forget_forms() -> None:
    """Forget the forms this kernel has shown, so the next :func:`start` begins from the parameters cell
    alone, as in a fresh kernel (the tests begin every case this way)."""
    _SHOWN.clear()


# What a runbook's own cells and IPython put into the namespace besides the parameters cell.
_NOT_PARAMETERS = frozenset({"current", "form", "plan", "record", "run", "ui", "In", "Out", "exit", "quit"})


def parameters_cell(namespace: Mapping[str, Any]) -> dict[str, Any]:
    """What the parameters cell (or papermill's injected cell) set: every parameter in ``namespace``, and
    every other plain value it names (``dryrun = True``) so that the one parser refuses it — a typo in
    the cell must not quietly leave ``dry_run`` at its default. Modules, functions, the runbook's own
    objects and IPython's ``_``-names are not parameters."""
    known = set(Parameters.names())
    return {
        name: value
        for name, value in namespace.items()
        if name in known
        or (
            not name.startswith("_")
            and name not in _NOT_PARAMETERS
            and (value is None or isinstance(value, (str, bool, int, float)))
        )
    }


def start(runbook: str, namespace: Mapping[str, Any]) -> Form:
    """The cell after the parameters in every runbook: the parameters (checked for secrets) as a form.

    In operator mode (a Voilà page, ``ui.operator``) the form also has Plan and Run buttons, the cells
    below it run as empty cells, and the page's address may carry the inputs Continue handed over."""
    operator = operator_mode()
    if operator:  # Voilà runs every cell on opening: the cells below wait for the Run button
        hold_cells_below()
    try:
        given = parameters_cell(namespace)
        if operator:  # Continue's link: the inputs of the page before, when the parser accepts them
            given = with_address(runbook, given)
        params = parse_parameters(given)
        # A value a choice field cannot show (store: Foo) stops here, with its code; the other problems
        # are shown next to their fields and stop the run when it begins.
        for finding in params.check():
            if finding.severity == "error" and finding.code in _CHOICE_CODES:
                raise OctorunbookError.from_finding(finding)
    except OctorunbookError as exc:
        # Still one result record for this notebook; the refused values are not repeated in it.
        Run(runbook, Parameters(), NotebookReporter()).fail(exc)
    # A kernel the runner started (papermill: ``octorunbook run``/``renew``, Continue): nobody looks at
    # the form, so it is built from inert widgets (ui.inert); its inputs panel is the same.
    live = operator or not os.environ.get(RUNNER_ENV)
    form = Form(runbook, params, previous=_SHOWN.get(runbook), operator=operator, live=live)
    _SHOWN[runbook] = form
    form.show()
    if operator:
        OperatorControls(form).show()
    return form


def begin(form: Form) -> Run:
    """Open the target with what the form shows; the run's record is emitted even if this fails."""
    reporter = NotebookReporter()
    try:
        params = form.parameters()
    except OctorunbookError as exc:
        Run(form.runbook, Parameters(), reporter).fail(exc)
    run = Run(form.runbook, params, reporter)
    run.password_prompt = form.take_password  # a PFX whose variable is unset: the typed password, once
    with run.step():  # the inputs panel reads the target too: a failure there is still a coded record
        reporter.show(form.summary())
    run.open()
    return run


def continue_button(form: Form, record: dict[str, Any]) -> None:
    """01's last cell: verify (02) and bind (03) now with the same inputs — one click, not two notebooks.

    Each runs headless through papermill exactly as ``octorunbook run`` does, so each leaves its own
    complete audit record; their result panels appear here. Each is handed what it reads of 01's
    inputs; what only 03 reads (keep HTTP, the redirect, HSTS, posture) is not an input of 01, so it
    keeps its default — the panel says so. Nothing runs until the button is clicked, so Run-All,
    papermill and nbval go straight past it.
    """
    if form.runbook != RUNBOOKS[0] or record.get("status") not in {"succeeded", "unchanged"}:
        return
    if not form.live:  # a headless run: nobody to click it (``octorunbook run`` goes on to 02 and 03 itself)
        return
    import ipywidgets as w

    thumbprint = str((record.get("certificate") or {}).get("thumbprint", ""))
    button = w.Button(
        description="Continue: verify (02) and bind HTTPS (03) now",
        button_style="primary",
        icon="play",
        layout=w.Layout(width="auto"),
    )
    out = w.Output()

    def run_next(_button: Any) -> None:
        from octorunbook.headless.runner import run_procedure
        from octorunbook.render import result_panel

        button.disabled = True
        params = replace(form.parameters(), thumbprint=thumbprint)
        try:
            # one procedure: the target lock is held from 02's start to 03's end (TARGET_BUSY otherwise)
            results = run_procedure(
                RUNBOOKS[1:],
                params,
                progress=lambda line: out.append_display_data(HTML(f"<p>{html.escape(line)}</p>")),
            )
            for result in results:
                if result.record is None:
                    out.append_display_data(
                        HTML(f"<p>✖ {result.runbook} left no record; see {result.path}</p>")
                    )
                    break
                out.append_display_data(HTML(result_panel(result.record).html()))
                out.append_display_data(
                    HTML(f"<p><small>audit record: <code>{result.path}</code></small></p>")
                )
        except Exception as exc:  # a callback must never raise into the void: say why on the page
            out.append_display_data(HTML(f"<p>✖ could not continue: {reason_of(exc)}</p>"))
        finally:
            button.disabled = False

    button.on_click(run_next)
    display(
        w.VBox(
            [
                w.HTML(
                    "<p>Certificate <code>"
                    + thumbprint
                    + "</code> is in the store. Next: prove its key (02) and bind it to the portal (03).</p>"
                    + "<p><small>03 keeps HTTP, adds no redirect and no HSTS header (its defaults): to choose "
                    + "those, open 03 instead.</small></p>"
                ),
                button,
                out,
            ]
        )
    )
