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
