"""One face for every notebook: the same four verbs on a module named after each runbook, the same
notebook shape, and each runbook handed — and reading — only its own parameters."""

from __future__ import annotations

import ast
import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import nbformat
import pytest
from nginxkit import HOSTNAME, needs_nginx

from octorunbook.headless.inline import run_inline
from octorunbook.params.core import Parameters
from octorunbook.params.runbooks import PARAMETERS
from octorunbook.runbooks.face import FACES
from octorunbook.runbooks.run import ALL_RUNBOOKS, TextReporter
from octorunbook.targets.sandbox import Sandbox

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
VERBS = ("read", "plan", "apply", "finish")


# ---- the face -------------------------------------------------------------------------------
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
    assert [c.source for c in code[1:7]] == [
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


def test_the_sets_are_smaller_than_the_whole_and_every_parameter_is_read_by_some_runbook() -> None:
    assert all(len(names) < len(Parameters.names()) for names in PARAMETERS.values())
    assert set().union(*PARAMETERS.values()) == set(Parameters.names())


def test_a_form_shows_only_parameters_its_runbook_reads() -> None:
    from octorunbook.ui.fields import FIELDS

    assert {
        runbook: [n for n in names if n not in PARAMETERS[runbook]] for runbook, names in FIELDS.items()
    } == {runbook: [] for runbook in FIELDS}


# ---- one YAML file, each notebook its own part --------------------------------------------------
def test_the_runner_hands_each_notebook_only_the_parameters_it_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import papermill

    from octorunbook.headless.runner import execute, load_params_file

    every = tmp_path / "params.yaml"
    every.write_text(
        f"audit_dir: {tmp_path / 'audit'}\nforce_ssl: true\nhsts_max_age: 600\napply: true\n"
        "renew_before_days: 20\nkey_type: ecdsa-p256\nthumbprint: ''\n"
    )
    params = load_params_file(every)
    handed: dict[str, dict[str, Any]] = {}

    def execute_notebook(source: str, output: str, **kwargs: Any) -> None:
        handed[Path(source).stem] = kwargs["parameters"]  # and nothing is run

    monkeypatch.setattr(papermill, "execute_notebook", execute_notebook)
    for runbook in ALL_RUNBOOKS:
        assert execute(runbook, params).status == "failed"  # no notebook was written: nothing ran
    assert {runbook: list(given) for runbook, given in handed.items()} == {
        runbook: list(names) for runbook, names in PARAMETERS.items()
    }
    assert (
        handed["03-add-https-binding"]["force_ssl"] is True and "apply" not in handed["03-add-https-binding"]
    )
    assert handed["05-harden-tls"]["apply"] is True and "force_ssl" not in handed["05-harden-tls"]
    assert handed["04-renew-certificate"]["renew_before_days"] == 20
    assert "key_type" not in handed["02-verify-certificate"]


# ---- each runbook reads only its own parameters -------------------------------------------------
class Recording(Parameters):
    """Parameters that remember which of their fields the code reads, and where.

    Operations on the whole set — checking it, writing it into the record, comparing, building it —
    read every field by design and are not counted: the question is what a runbook *uses*.
    """

    reads: ClassVar[dict[str, str] | None] = None
    _quiet: ClassVar[int] = 0

    def __getattribute__(self, name: str) -> Any:
        reads = Recording.reads
        if reads is not None and not Recording._quiet and name in _FIELDS and name not in reads:
            caller = sys._getframe(1).f_code
            reads[name] = f"{Path(caller.co_filename).name}:{caller.co_name}"
        return object.__getattribute__(self, name)


_FIELDS = frozenset(Parameters.names())


def _whole(method: Callable[..., Any]) -> Callable[..., Any]:
    def quietly(self: Any, *args: Any, **kwargs: Any) -> Any:
        Recording._quiet += 1
        try:
            return method(self, *args, **kwargs)
        finally:
            Recording._quiet -= 1

    return quietly


for _name in ("check", "to_record", "coerced", "__post_init__", "__eq__", "__repr__", "__hash__"):
    setattr(Recording, _name, _whole(getattr(Parameters, _name)))


@contextlib.contextmanager
def recording() -> Iterator[dict[str, str]]:
    Recording.reads = reads = {}
    try:
        yield reads
    finally:
        Recording.reads = None


def test_the_recorder_counts_what_is_used_not_the_whole_set_being_checked_or_recorded() -> None:
    params = Recording(hostname="octopus.example.com")
    with recording() as reads:
        params.check()
        params.to_record()
        assert params == Recording(hostname="octopus.example.com")
        assert reads == {}
        assert params.store == "My" and params.dns_names == ("octopus.example.com",)
    assert set(reads) == {"store", "hostname", "extra_dns_names"}


class Reads:
    """What every runbook read over the scenarios, with where each stray read happened."""

    def __init__(self) -> None:
        self.seen: dict[str, dict[str, str]] = {runbook: {} for runbook in ALL_RUNBOOKS}

    def run(self, runbook: str, params: Parameters, **changes: Any) -> dict[str, Any]:
        values = {**params.to_record(), **changes}
        values["pfx_password_env"] = params.pfx_password_env
        with recording() as reads:
            record = run_inline(runbook, Recording(**values), TextReporter(open(os.devnull, "w")))  # noqa: SIM115
        for name, where in reads.items():
            self.seen[runbook].setdefault(name, where)
        assert list(record["parameters"]) == list(PARAMETERS[runbook])  # the record: what it ran with
        return record

    def outside(self) -> dict[str, dict[str, str]]:
        return {
            runbook: {n: w for n, w in read.items() if n not in PARAMETERS[runbook]}
            for runbook, read in self.seen.items()
        }


def _status(record: dict[str, Any]) -> str:
    return str(record["status"])


def test_no_runbook_reads_a_parameter_outside_its_set(
    make_sandbox: Callable[..., Sandbox], params_for: Callable[..., Parameters]
) -> None:
    """Every runbook in the HTTP.sys sandbox, on its paths that change, plan, fail and roll back."""
    sandbox = make_sandbox()
    params = params_for(sandbox, hostname="localhost")
    reads = Reads()
    assert _status(reads.run("01-import-certificate", params, dry_run=True)) == "planned"
    assert _status(reads.run("01-import-certificate", params)) == "succeeded"
    assert _status(reads.run("02-verify-certificate", params)) == "succeeded"
    Sandbox(sandbox.root).init(fail="configure", start=False)
    assert _status(reads.run("03-add-https-binding", params, force_ssl=True)) == "failed"  # rolled back
    assert _status(reads.run("03-add-https-binding", params, force_ssl=True, hsts_max_age=600)) == "succeeded"
    assert _status(reads.run("05-harden-tls", params)) == "planned"
    assert _status(reads.run("05-harden-tls", params, apply=True)) in {"succeeded", "unchanged"}
    assert _status(reads.run("04-renew-certificate", params)) == "unchanged"
    Sandbox(sandbox.root).init(fail="swap", start=False)
    assert _status(reads.run("04-renew-certificate", params, force_renew=True)) == "failed"  # rolled back
    assert (
        _status(reads.run("04-renew-certificate", params, force_renew=True, retire_old="remove"))
        == "succeeded"
    )
    assert reads.outside() == {runbook: {} for runbook in ALL_RUNBOOKS}
    assert all(reads.seen[runbook] for runbook in ALL_RUNBOOKS)


@needs_nginx
def test_no_runbook_reads_a_parameter_outside_its_set_behind_nginx(
    make_sandbox: Callable[..., Sandbox], params_for: Callable[..., Parameters]
) -> None:
    """The same on the nginx front, where 04 re-plans 03's server block and 05 rewrites it."""
    sandbox = make_sandbox(front="nginx")
    params = params_for(sandbox, front="nginx", hostname=HOSTNAME)
    reads = Reads()
    assert _status(reads.run("01-import-certificate", params)) == "succeeded"
    assert _status(reads.run("02-verify-certificate", params)) == "succeeded"
    assert _status(reads.run("03-add-https-binding", params, force_ssl=True, hsts_max_age=600)) == "succeeded"
    assert _status(reads.run("05-harden-tls", params, apply=True)) in {"succeeded", "unchanged"}
    assert _status(reads.run("04-renew-certificate", params, force_renew=True)) == "succeeded"
    assert reads.outside() == {runbook: {} for runbook in ALL_RUNBOOKS}
