"""A dry run of the whole procedure through `octorunbook run`: 01, 02 and 03 each plan, nothing changes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from octorunbook.audit.records import extract_result
from octorunbook.cli.main import main
from octorunbook.targets.base import memory_name
from octorunbook.targets.sandbox import Sandbox
from tests.runbooks.test_bind import snapshot


def records(audit: Path) -> dict[str, dict[str, Any]]:
    import nbformat

    found: dict[str, dict[str, Any]] = {}
    for path in sorted(audit.glob("*.ipynb")):
        record = extract_result(nbformat.read(str(path), as_version=4))
        assert record is not None, path
        found[record["runbook"]] = record
    return found


def test_dry_run_procedure_plans_all_three_runbooks_and_changes_nothing(
    sandbox: Sandbox, tmp_path: Path, capsys: Any
) -> None:
    audit = tmp_path / "audit"
    params = tmp_path / "params.yaml"
    params.write_text(
        yaml.safe_dump(
            {"sandbox_dir": str(sandbox.root), "audit_dir": str(audit), "dry_run": True, "force_ssl": True}
        )
    )
    before = snapshot(sandbox)
    last_import = sandbox.root / "state" / memory_name("last-import", "OctopusServer")

    assert main(["run", str(params)]) == 0

    out = capsys.readouterr().out
    by_runbook = records(audit)
    assert [r["status"] for r in by_runbook.values()] == ["planned"] * 3, out
    imported, verified, bound = by_runbook.values()
    thumbprint = imported["certificate"]["thumbprint"]
    # 02 plans the proof of the certificate 01 would import (not CERT_NOT_FOUND)
    assert verified["certificate"]["thumbprint"] == thumbprint
    assert "CERT_NOT_FOUND" not in [f["code"] for f in verified["findings"]]
    assert "DRY_RUN" in [f["code"] for f in verified["findings"]]
    # 03 shows current → desired and the exact commands it would run
    binding_row = next(r for r in bound["plan"] if r["setting"].startswith("HTTP.sys binding"))
    assert binding_row["current"] == "none" and binding_row["desired"].startswith(thumbprint)
    commands = bound["plan_commands"]
    assert any("ssl-certificate" in c and thumbprint in c for c in commands), commands
    assert any(" configure " in c and "--webForceSSL True" in c for c in commands), commands
    notebook_03 = next(audit.glob("*_03-add-https-binding_*.ipynb")).read_text()
    assert commands[1] in notebook_03  # the plan panel in the executed notebook shows the exact command
    # nothing changed: store, bindings, configuration, and no command that changes anything ran
    assert snapshot(sandbox) == before
    assert not last_import.exists()
    for record in by_runbook.values():
        assert [c for c in record["commands"] if c["mutating"]] == [], record["runbook"]
    assert json.loads(sandbox.httpsys_path.read_text()) == {}


def test_dry_run_of_02_alone_with_an_unknown_thumbprint_still_says_cert_not_found(
    sandbox: Sandbox, params_for: Any
) -> None:
    from octorunbook.headless.inline import run_inline

    record = run_inline("02-verify-certificate", params_for(sandbox, dry_run=True, thumbprint="AB" * 20))
    assert record["status"] == "failed"
    assert record["findings"][-1]["code"] == "CERT_NOT_FOUND"
