"""JSON helpers: the object in a command's noisy output; jsonschema imported without grammars we never use."""

from __future__ import annotations

import subprocess
import sys

from octorunbook.jsontext import find_json_object


def _python(code: str) -> str:
    """What a fresh interpreter prints running ``code`` (nothing imported ahead, unlike this process)."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_json_object_is_found_after_log_text_with_braces_of_its_own() -> None:
    text = 'Exception {in braces} at startup\n{"Instances": [{"Name": "OctopusServer"}]}\ntrailing'
    assert find_json_object(text, lambda o: "Instances" in o) == {"Instances": [{"Name": "OctopusServer"}]}


def test_jsonschema_imported_after_the_skip_validates_a_record_and_builds_no_iri_grammar() -> None:
    """The ``octorunbook`` command and its kernels skip rfc3987-syntax's grammars (0.9 s of CPU each):
    jsonschema still imports and validates (the published record schema here), with no lark loaded."""
    code = (
        "import sys\n"
        "from octorunbook.jsontext import skip_iri_grammars\n"
        "skip_iri_grammars()\n"
        "import jsonschema, nbformat\n"
        "from octorunbook.runbooks.record import json_schema\n"
        "v = jsonschema.Draft202012Validator(json_schema())\n"
        "assert list(v.iter_errors({})), 'an empty record must not fit'\n"
        "print('lark' in sys.modules, 'rfc3987_syntax' in sys.modules and sys.modules['rfc3987_syntax'] is None)\n"
    )
    assert _python(code).split() == ["False", "True"]


def test_a_process_that_imported_jsonschema_already_is_left_as_it_is() -> None:
    code = (
        "import sys, jsonschema\n"
        "from octorunbook.jsontext import skip_iri_grammars\n"
        "had = sys.modules.get('rfc3987_syntax', 'absent')\n"
        "skip_iri_grammars()\n"
        "print(sys.modules.get('rfc3987_syntax', 'absent') is had)\n"
    )
    assert _python(code).strip() == "True"


def test_the_suites_record_check_builds_no_iri_grammar_in_any_kernel() -> None:
    """``require_valid`` (OCTORUNBOOK_CHECK_RECORDS) runs in kernels JupyterLab, Voilà and nbval start,
    which octorunbook does not otherwise touch: it imports jsonschema without the grammars itself."""
    code = (
        "import sys\n"
        "from octorunbook.runbooks.record import require_valid\n"
        "try:\n"
        "    require_valid({'runbook': '01-import-certificate', 'surprise': 1})\n"
        "except ValueError as exc:\n"
        "    assert 'surprise' in str(exc)\n"
        "print('lark' in sys.modules, 'jsonschema' in sys.modules)\n"
    )
    assert _python(code).split() == ["False", "True"]


def test_the_command_and_its_kernels_import_nbformat_without_the_format_libraries() -> None:
    """``skip_format_libraries`` (the ``octorunbook`` command, its headless kernels): nbformat reads and
    validates a notebook, jsonschema validates the record schema, and no format-only library is loaded."""
    code = (
        "import sys\n"
        "from octorunbook.jsontext import FORMAT_ONLY_LIBRARIES, skip_format_libraries\n"
        "skip_format_libraries()\n"
        "import jsonschema, nbformat\n"
        "from nbformat.v4 import new_code_cell, new_notebook\n"
        "nb = nbformat.reads(nbformat.writes(new_notebook(cells=[new_code_cell('x = 1')])), as_version=4)\n"
        "nbformat.validate(nb)\n"
        "from octorunbook.runbooks.record import json_schema\n"
        "assert list(jsonschema.Draft202012Validator(json_schema()).iter_errors({}))\n"
        "loaded = [n for n in (*FORMAT_ONLY_LIBRARIES, 'arrow', 'lark') if sys.modules.get(n) is not None]\n"
        "print(loaded or 'none')\n"
    )
    assert _python(code).strip() == "none"
