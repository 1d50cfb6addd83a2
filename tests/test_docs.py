"""The documentation site (mkdocs.yml, docs/): it builds with --strict, and its generated reference pages
are current — a parameter, a finding code or a command added without regenerating them fails here."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "docs" / "reference"


def test_reference_pages_are_current() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "make_docs.py"), "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, (
        f"regenerate with `python tools/make_docs.py` and commit:\n{result.stdout}{result.stderr}"
    )


def test_every_parameter_is_in_the_parameter_reference() -> None:
    from octorunbook.params.core import Parameters

    page = (REFERENCE / "parameters.md").read_text(encoding="utf-8")
    missing = [f.name for f in fields(Parameters) if f"## `{f.name}`" not in page]
    assert not missing


def test_every_tabled_code_is_in_the_code_reference() -> None:
    from octorunbook.certificates.codes import CODES
    from octorunbook.findings import REASONS

    page = (REFERENCE / "codes.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"^## `([A-Z0-9_]+)`", page, re.M))
    assert not (set(CODES) | set(REASONS)) - listed
    # and the codes the operator meets first, raised from code rather than from a table
    assert {
        "PARAMETER_UNKNOWN",
        "TARGET_BUSY",
        "INTERRUPTED_CHANGE",
        "STATE_UNTRUSTED",
        "ACME_RATE_LIMITED",
    } <= listed


# Codes that only say what happened (severity ``info``): there is nothing to do about them.
INFORMATIONAL_CODES = {
    "ACME_ARI_RECORDED",  # the CA's Retry-After is honoured: the window 04 recorded decides, no request
    "ACME_DRY_RUN",  # a plan against an ACME CA: the CA answered, nothing was ordered
    "RENEWAL_FORCED",  # force_renew: the certificate is replaced because the operator asked
    "RENEWAL_OVERRIDE",  # renew_before_days reached before the CA's window: the explicit setting wins
    "RENEWAL_RULE",  # the renewal rule in force and how many days before expiry it renews
}


def test_every_error_code_has_a_remedy() -> None:
    """An operator who meets a code looks it up: every error and warning says what to do about it."""
    page = (REFERENCE / "codes.md").read_text(encoding="utf-8")
    sections = dict(re.findall(r"^## `([A-Z0-9_]+)`(.*?)(?=^## |\Z)", page, re.M | re.S))
    without = sorted(code for code, text in sections.items() if "**Remedy**" not in text)
    assert without == sorted(INFORMATIONAL_CODES), "give each a remedy in findings.REMEDIES"


def test_every_command_is_in_the_cli_reference() -> None:
    from octorunbook.cli.main import COMMAND_MODULES

    page = (REFERENCE / "cli.md").read_text(encoding="utf-8")
    for name in ["run", "demo", "sandbox", *(m[0] for m in COMMAND_MODULES)]:
        assert f"## `octorunbook {name}`" in page, name


README_MAX_LINES = 150  # what octorunbook is, the two commands, the Windows install, links into the site


def _nav_pages(entries: object) -> set[str]:
    """Every page mkdocs.yml's nav lists, at any depth (``Title: page.md`` or a bare ``page.md``)."""
    if isinstance(entries, str):
        return {entries}
    if isinstance(entries, list):
        return set().union(*(_nav_pages(e) for e in entries)) if entries else set()
    if isinstance(entries, dict):
        return _nav_pages(list(entries.values()))
    return set()


def test_the_readme_is_short_starts_with_the_two_commands_and_links_only_into_the_site() -> None:
    import yaml

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    lines = readme.splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines; move detail into docs/"
    opening = "\n".join(lines[:20])
    assert "make demo" in opening and "make test" in opening, "the README starts with the two commands"
    nav = _nav_pages(yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))["nav"])
    links = set(re.findall(r"\]\((docs/[^)#\s]+\.md)(?:#[^)]*)?\)", readme))
    assert links, "the README links into the site"
    missing = sorted(link for link in links if not (ROOT / link).is_file())
    assert not missing, f"README links to pages that do not exist: {missing}"
    unlisted = sorted(link for link in links if link.removeprefix("docs/") not in nav)
    assert not unlisted, f"README links to pages missing from mkdocs.yml's nav: {unlisted}"


def test_the_site_builds_with_strict(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "site" / "reference" / "codes" / "index.html").is_file()
