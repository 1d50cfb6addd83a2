"""One face for every notebook: the same four verbs on a module named after each runbook, and every
notebook in the same shape — parameters, form, open, read, plan, apply, finish."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import nbformat
import pytest

from octorunbook.params.core import Parameters
from octorunbook.params.runbooks import PARAMETERS
from octorunbook.runbooks.face import FACES
from octorunbook.runbooks.run import ALL_RUNBOOKS

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
VERBS = ("read", "plan", "apply", "finish")


def test_every_runbook_has_one_module_named_after_it_with_the_same_four_verbs() -> None:
    assert tuple(FACES) == ALL_RUNBOOKS == tuple(PARAMETERS)
    for runbook, face in FACES.items():
        assert face.__name__ == "octorunbook.runbooks." + runbook[3:].replace("-", "_")  # type: ignore[attr-defined]
        assert all(callable(getattr(face, verb)) for verb in VERBS), runbook


def _code(runbook: str) -> list[Any]:
    book = nbformat.read(str(NOTEBOOKS / f"{runbook}.ipynb"), as_version=4)
    for before, cell in zip(book.cells, book.cells[1:], strict=False):
        if cell.cell_type == "code" and "parameters" not in cell.metadata.get("tags", []):
            assert before.cell_type == "markdown", (
                f"{runbook}: a code cell without its markdown: {cell.source}"
            )
    return [c for c in book.cells if c.cell_type == "code"]


@pytest.mark.parametrize("runbook", ALL_RUNBOOKS)
def test_every_notebook_reads_alike_form_begin_read_plan_apply_finish(runbook: str) -> None:
    module = runbook[3:].replace("-", "_")
    code = _code(runbook)
    assert "parameters" in code[0].metadata.get("tags", [])
    assert all(not c.outputs and c.execution_count is None for c in code)
    form_cell = code[1].source
    hint = [line for line in form_cell.splitlines() if line.startswith("#")]
    # the JupyterLab hint is a comment in the form cell (Voilà hides code, so an operator never reads it)
    assert hint and "Run ▸ Run All Cells" in "\n".join(hint)
    body = "\n".join(line for line in form_cell.splitlines() if not line.startswith("#"))
    assert [body] + [c.source for c in code[2:7]] == [
        f'from octorunbook import ui\nfrom octorunbook.runbooks import {module}\n\nform = ui.start("{runbook}", globals())',
        "run = ui.begin(form)",
        f"current = {module}.read(run)",
        f"plan = {module}.plan(run, current)",
        f"{module}.apply(run, plan)",
        f"record = {module}.finish(run)",
    ]
    extra = [c.source for c in code[7:]]
    assert extra == (["ui.continue_button(form, record)"] if runbook == ALL_RUNBOOKS[0] else [])


@pytest.mark.parametrize("runbook", ALL_RUNBOOKS)
def test_each_parameters_cell_holds_exactly_what_its_runbook_reads(runbook: str) -> None:
    import papermill

    inferred = papermill.inspect_notebook(str(NOTEBOOKS / f"{runbook}.ipynb"))
    assert list(inferred) == list(PARAMETERS[runbook])
    assert all(p["help"] and p["inferred_type_name"] != "None" for p in inferred.values())
    defaults = {k: ast.literal_eval(v["default"]) for k, v in inferred.items()}
    assert Parameters(**defaults) == Parameters()  # the committed defaults: the sandbox, nothing real
    assert f"the {len(PARAMETERS[runbook])} that {runbook[:2]} reads" in _code(runbook)[0].source
