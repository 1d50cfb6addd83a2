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
    "ACME_DRY_RUN",  # a plan against an ACME CA: the CA answered, nothing was ordered
    "RENEWAL_FORCED",  # force_renew: the certificate is replaced because the operator asked
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
