"""Every shipped ``.ps1`` parses with a real PowerShell grammar and keeps to Windows PowerShell 5.1.

No PowerShell runs here, so two checks stand in for it before a script reaches a server:

* ``tree-sitter-powershell`` (a real grammar, from the package index) parses each script; any ERROR or
  MISSING node fails the test with the line it is on;
* a small rule set of our own catches what the grammar accepts but 5.1 does not: the pipeline chain
  operators ``&&`` / ``||`` and the PowerShell 6/7-only cmdlets and parameters.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest
import tree_sitter
import tree_sitter_powershell
import yaml

pytestmark = pytest.mark.windows

ROOT = Path(__file__).resolve().parents[3]
SCRIPTS = sorted((ROOT / "octorunbook" / "targets" / "windows" / "scripts").glob("*.ps1"))
PARSER = tree_sitter.Parser(tree_sitter.Language(tree_sitter_powershell.language()))

# Cmdlets that do not exist in Windows PowerShell 5.1.
PS7_COMMANDS = {"get-error", "test-json", "join-string", "get-uptime", "remove-alias", "clear-recyclebin"}
# (cmdlet, parameter) pairs added in PowerShell 6 or 7; "*" = any cmdlet.
PS7_PARAMETERS = {
    ("convertto-json", "-asarray"),
    ("convertto-json", "-enumsasstrings"),
    ("convertfrom-json", "-ashashtable"),
    ("convertfrom-json", "-depth"),
    ("convertfrom-json", "-noenumerate"),
    ("foreach-object", "-parallel"),
    ("foreach-object", "-throttlelimit"),
    ("convertfrom-securestring", "-asplaintext"),
    ("get-content", "-asbytestream"),
    ("set-content", "-asbytestream"),
    ("invoke-webrequest", "-skipcertificatecheck"),
    ("invoke-restmethod", "-skipcertificatecheck"),
    ("invoke-restmethod", "-responseheadersvariable"),
    ("*", "-erroraction:break"),
}


def _walk(node: tree_sitter.Node) -> Iterator[tree_sitter.Node]:
    yield node
    for child in node.children:
        yield from _walk(child)


def grammar_errors(source: bytes) -> list[str]:
    """``line N: <text>`` for every ERROR or MISSING node the grammar reports."""
    tree = PARSER.parse(source)
    return [
        f"line {n.start_point[0] + 1}: {'missing ' + n.type if n.is_missing else (n.text or b'').decode()[:60]!r}"
        for n in _walk(tree.root_node)
        if n.is_error or n.is_missing
    ]


def ps51_violations(source: bytes) -> list[str]:
    """What the grammar accepts but Windows PowerShell 5.1 refuses or does not have."""
    tree = PARSER.parse(source)
    found: list[str] = []
    for node in _walk(tree.root_node):
        line = node.start_point[0] + 1
        if node.type == "pipeline_chain_tail":
            found.append(f"line {line}: pipeline chain operator (&& / ||) is PowerShell 7")
        if node.type != "command":
            continue
        name_node = node.child_by_field_name("command_name")
        name = (name_node.text or b"").decode().lower() if name_node is not None else ""
        if name in PS7_COMMANDS:
            found.append(f"line {line}: {name} does not exist in Windows PowerShell 5.1")
        elements = node.child_by_field_name("command_elements")
        for element in _walk(elements) if elements is not None else ():
            if element.type != "command_parameter":
                continue
            parameter = (element.text or b"").decode().lower()
            if (name, parameter) in PS7_PARAMETERS or ("*", parameter) in PS7_PARAMETERS:
                found.append(f"line {line}: {name} {parameter} is PowerShell 6/7 only")
    text = source.decode("utf-8-sig")
    for number, raw in enumerate(text.splitlines(), 1):
        code = raw.split("#", 1)[0]
        if re.search(r"\$PSStyle\b|\[System\.Management\.Automation\.PSStyle\]", code):
            found.append(f"line {number}: $PSStyle is PowerShell 7.2")
    return found


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_every_script_parses_with_the_powershell_grammar(script: Path) -> None:
    assert grammar_errors(script.read_bytes()) == []


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_every_script_keeps_to_windows_powershell_51(script: Path) -> None:
    assert ps51_violations(script.read_bytes()) == []


def test_scripts_are_found() -> None:
    assert {p.name for p in SCRIPTS} >= {"_common.ps1", "import-pfx.ps1", "host-info.ps1", "store-exists.ps1"}


@pytest.mark.parametrize(
    "source",
    [
        b"$a = $b ?? 3",
        b"$a ??= 3",
        b"$n = $a?.Length",
        b"$x = $flag ? 1 : 2",
        b"if ($x) { 'unclosed'",
    ],
)
def test_grammar_check_reports_ps7_syntax_and_broken_scripts(source: bytes) -> None:
    assert grammar_errors(source)


@pytest.mark.parametrize(
    "source",
    [
        b"ConvertTo-Json -InputObject $r -AsArray",
        b"$t = $json | ConvertFrom-Json -AsHashtable",
        b"1..3 | ForEach-Object -Parallel { $_ }",
        b"Get-Error",
        b"Test-Path $a && Write-Output ok",
        b"Test-Path $a || exit 1",
        b"$bytes = Get-Content -Path $p -AsByteStream",
        b"$plain = ConvertFrom-SecureString -SecureString $s -AsPlainText",
    ],
)
def test_ps51_rules_catch_what_the_grammar_accepts(source: bytes) -> None:
    assert grammar_errors(source) == []  # the grammar alone would let these through
    assert ps51_violations(source)


def test_ps51_rules_let_51_code_through() -> None:
    source = b"$json = ConvertTo-Json -InputObject $r -Depth 5 -Compress\nforeach ($c in $json.ToCharArray()) { $c }"
    assert ps51_violations(source) == [] and grammar_errors(source) == []


def test_grammar_packages_are_in_the_test_extra_and_in_environment_yml() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    extra = {
        re.split(r"[<>=~!\[]", d, maxsplit=1)[0].lower(): d
        for d in project["project"]["optional-dependencies"]["test"]
    }
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    for package in ("tree-sitter", "tree-sitter-powershell"):
        assert package in extra
        assert extra[package] in pip, f"environment.yml pins {package} differently from pyproject.toml"
