"""Issue 24: the form reads its parameters cell with the one parser — a typo'd name stops it, coded.

``ui.start(runbook, globals())`` used to pick the known names out of the namespace and ignore the rest,
so ``dryrun = True`` in the parameters cell left ``dry_run`` at False. Now every plain value the cell
sets must be a parameter; the runbook's own objects, modules and IPython's names are not parameters.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from octorunbook import ui as forms
from octorunbook.params.core import Parameters
from octorunbook.runbooks.run import RunbookFailed
from octorunbook.ui.cells import parameters_cell


@pytest.fixture(autouse=True)
def _fresh_forms() -> Iterator[None]:
    forms.forget_forms()
    yield
    forms.forget_forms()


def namespace(tmp_path: Path, **cell: Any) -> dict[str, Any]:
    """A notebook kernel's globals after the parameters cell (and the runbook's import cell)."""
    params = Parameters(sandbox_dir=str(tmp_path / "no-sandbox"), audit_dir=str(tmp_path / "audit"))
    return {
        **params.to_record(),
        **cell,
        "ui": forms,
        "In": ["", "x = 1"],
        "Out": {},
        "_": None,
        "_i1": "x = 1",
        "get_ipython": lambda: None,
        "__name__": "__main__",
    }


def test_a_typo_d_name_in_the_parameters_cell_stops_the_form_with_a_did_you_mean(tmp_path: Path) -> None:
    with pytest.raises(RunbookFailed) as caught:
        forms.start("01-import-certificate", namespace(tmp_path, dryrun=True))
    assert caught.value.code == "PARAMETER_UNKNOWN"
    assert "did you mean 'dry_run'?" in caught.value.message
    assert not (tmp_path / "no-sandbox").exists()


def test_the_runbooks_own_names_and_ipythons_are_not_parameters(tmp_path: Path) -> None:
    given = namespace(tmp_path, dry_run=True)
    given.update(record={"status": "failed"}, run=object(), current=None, plan=None, form=None)
    assert set(parameters_cell(given)) == set(Parameters.names())
    form = forms.start("01-import-certificate", given)
    assert form.parameters().dry_run is True
