"""The result record's schema is one set of declarations, published as JSON Schema, and records fit it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from octorunbook.headless.inline import run_inline
from octorunbook.runbooks.record import json_schema, require_valid

SCHEMA = Path(__file__).resolve().parents[2] / "docs" / "result-record.schema.json"


def test_the_published_schema_is_the_one_generated_from_the_declarations() -> None:
    assert json.loads(SCHEMA.read_text()) == json_schema(), (
        "run: python -m octorunbook.runbooks.record > " + str(SCHEMA)
    )


def test_a_record_of_a_real_run_fits_the_schema(sandbox: Any, params_for: Any) -> None:
    record = run_inline("01-import-certificate", params_for(sandbox))
    require_valid(record)


def test_a_record_with_an_undeclared_section_is_refused() -> None:
    record = run_inline.__doc__  # any non-record value is refused too
    with pytest.raises(ValueError):
        require_valid(record)
    with pytest.raises(ValueError, match="surprise"):
        require_valid({"runbook": "01-import-certificate", "surprise": 1})


def test_the_runner_holds_what_its_kernels_emit_to_the_schema(
    sandbox: Any, params_for: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A kernel the runner started skips the check (it would import jsonschema for it); the runner makes
    it on the record it reads from the executed notebook, so the suite still holds every record to it."""
    from octorunbook.headless.runner import record_notebook, result_of
    from octorunbook.runbooks.run import CHECK_RECORDS_ENV

    record = run_inline("01-import-certificate", params_for(sandbox))
    assert result_of(record_notebook(record)) == record
    planted = record_notebook({"runbook": "01-import-certificate", "surprise": 1})
    monkeypatch.setenv(CHECK_RECORDS_ENV, "1")
    with pytest.raises(ValueError, match="surprise"):
        result_of(planted)
    monkeypatch.delenv(CHECK_RECORDS_ENV)
    assert result_of(planted) == {"runbook": "01-import-certificate", "surprise": 1}
