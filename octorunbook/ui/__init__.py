"""The notebook face (forms, the reporter): the only code that imports ipywidgets or IPython.

The form is pre-filled from the parameters cell and validates as the operator types, with the reason
next to the field (✔ fine, ⚠ will work but look, ✖ would fail). In a notebook nothing here waits for a
click: the cells below read what the form shows, so Run-All, papermill and nbval go straight through with
the committed defaults. On a Voilà page (``octorunbook app``, operator mode) it is the other way round:
Voilà runs every cell on opening, so the cells below the form do nothing and the form's Run button runs
the runbook (``operator``).

Three choices shape it:

* **The kernel remembers what was typed.** Run ▸ Run All Cells runs the form cell again, which would
  otherwise throw the operator's edits away; a new form starts from the previous one's values, except
  for a field whose parameter was changed in the parameters cell since (the last edit wins).
* **Looking at the target is read-only and lazy.** The form asks the target whether a store exists and
  which certificates it holds only for the sandbox (plain files) or when the operator asks for the list;
  it never creates the sandbox and never changes anything.
* **Widget callbacks never raise.** An exception in a callback would vanish into the browser console
  (JupyterLab shows callback output nowhere); every callback is guarded and puts the reason on the form.

One module per part, each importing only those above it::

    fields       which parameters each runbook shows, their labels, when nginx's fields show
    style        severities, colours, symbols, one-line reasons
    reporter     NotebookReporter: panels, progress, the result record
    target_view  the read-only, lazy look at the target
    widgets      one widget per parameter
    validation   per-field severity and reason
    form         Form
    operator     operator mode: is this a Voilà page, Plan/Run buttons, Continue to the next page
    cells        start, begin, continue_button (what the notebook cells call)
"""

from __future__ import annotations

from octorunbook.ui.cells import begin, continue_button, forget_forms, start
from octorunbook.ui.fields import FIELDS, LABELS, PLACEHOLDERS, SOURCE_FIELDS, SOURCE_LABELS, SOURCE_ONLY
from octorunbook.ui.form import Form
from octorunbook.ui.reporter import NotebookReporter
from octorunbook.ui.style import ERROR, INFO, OK, WARN, describe
from octorunbook.ui.target_view import TargetView

__all__ = [
    "ERROR",
    "FIELDS",
    "INFO",
    "LABELS",
    "OK",
    "PLACEHOLDERS",
    "SOURCE_FIELDS",
    "SOURCE_LABELS",
    "SOURCE_ONLY",
    "WARN",
    "Form",
    "NotebookReporter",
    "TargetView",
    "begin",
    "continue_button",
    "describe",
    "forget_forms",
    "start",
]
