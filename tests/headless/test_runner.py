"""The three notebooks, headless: `octorunbook run` on a YAML file and plain papermill calls, real TLS."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest

from octorunbook.audit.records import extract_result
from octorunbook.evidence.tls import tls_handshake
from octorunbook.params.core import Parameters
from octorunbook.params.runbooks import PARAMETERS
from octorunbook.runbooks.run import ALL_RUNBOOKS

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
BIN = Path(sys.executable).parent


def _yaml(path: Path, **values: Any) -> Path:
    path.write_text("".join(f"{k}: {json.dumps(v)}\n" for k, v in values.items()))
    return path


# Among the 20 slowest (--durations, issue 28), by design: 01 → 02 → 03 end to end through the CLI: three
# notebooks, their kernels and a chained audit trail.
def test_octorunbook_run_yaml_runs_all_three_and_serves_the_imported_thumbprint(
    sandbox: Any, tmp_path: Path
) -> None:
    params = _yaml(
        tmp_path / "params.yaml",
        sandbox_dir=str(sandbox.root),
        audit_dir=str(tmp_path / "audit"),
        hostname="localhost",
        hsts_max_age=600,
    )
    done = subprocess.run(
        [str(BIN / "octorunbook"), "run", str(params)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    records = sorted((tmp_path / "audit").glob("*.ipynb"))
    assert [p.name.split("_")[1] for p in records] == [
        "01-import-certificate",
        "02-verify-certificate",
        "03-add-https-binding",
    ]
    results = [extract_result(nbformat.read(str(p), as_version=4)) for p in records]
    assert [r["status"] for r in results if r] == ["succeeded", "succeeded", "succeeded"]
    imported = results[0]["certificate"]["thumbprint"]  # type: ignore[index]
    assert results[2]["tls"]["thumbprint"] == imported  # type: ignore[index]
    served = tls_handshake("127.0.0.1", sandbox.status()["port_map"][443], "localhost")
    assert served.thumbprint == imported
    for path in records:
        nb = nbformat.read(str(path), as_version=4)
        outputs = [
            o
            for c in nb.cells
            for o in c.get("outputs", [])
            if "application/vnd.octorunbook.result+json" in o.get("data", {})
        ]
        assert len(outputs) == 1
        assert "octorunbook-summary" in nb.cells[0].metadata.get("tags", [])
        assert path.with_suffix(".html").is_file()
        # nobody looks at a headless run's form: no widget is built or kept, the inputs panel says it all
        text = path.read_text(encoding="utf-8")
        assert "application/vnd.jupyter.widget-view+json" not in text and "Inputs for this run" in text
        assert "a headless run; its inputs are in the panel below" in text
    verify = subprocess.run(
        [str(BIN / "octorunbook"), "audit", "verify", str(tmp_path / "audit")], capture_output=True, text=True
    )
    assert verify.returncode == 0, verify.stdout


# Among the 20 slowest (--durations, issue 28), by design: three separate papermill processes, each with its
# own kernel, is what it proves.
def test_three_separate_papermill_calls_with_one_yaml_file(sandbox: Any, tmp_path: Path) -> None:
    params = _yaml(tmp_path / "params.yaml", sandbox_dir=str(sandbox.root), audit_dir=str(tmp_path / "audit"))
    outputs = []
    for name in ("01-import-certificate", "02-verify-certificate", "03-add-https-binding"):
        out = tmp_path / f"{name}.out.ipynb"
        done = subprocess.run(
            [
                str(BIN / "papermill"),
                str(NOTEBOOKS / f"{name}.ipynb"),
                str(out),
                "-f",
                str(params),
                "--cwd",
                str(tmp_path),
            ],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        outputs.append(extract_result(nbformat.read(str(out), as_version=4)))
    assert [o["status"] for o in outputs if o] == ["succeeded", "succeeded", "succeeded"]
    assert outputs[1]["findings"][0]["code"] == "THUMBPRINT_FROM_LAST_IMPORT"  # type: ignore[index]
    assert outputs[2]["certificate"]["thumbprint"] == outputs[0]["certificate"]["thumbprint"]  # type: ignore[index]
    # the kernel-side record copies went to audit_dir too, in a verifiable chain
    assert len(list((tmp_path / "audit").glob("*.ipynb"))) == 3


# Among the 20 slowest (--durations, issue 28), by design: a real papermill run of 02 that must stop in its
# kernel, not before.
def test_verify_without_thumbprint_or_previous_import_stops_with_thumbprint_required(
    sandbox: Any, tmp_path: Path
) -> None:
    out = tmp_path / "02.ipynb"
    done = subprocess.run(
        [
            str(BIN / "papermill"),
            str(NOTEBOOKS / "02-verify-certificate.ipynb"),
            str(out),
            "-p",
            "sandbox_dir",
            str(sandbox.root),
            "-p",
            "audit_dir",
            str(tmp_path / "audit"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode != 0
    record = extract_result(nbformat.read(str(out), as_version=4))
    assert record and record["status"] == "failed"
    assert record["findings"][-1]["code"] == "THUMBPRINT_REQUIRED"
    assert "Traceback" not in json.dumps(nbformat.read(str(out), as_version=4).cells[-1].get("outputs", []))


def test_secret_looking_parameter_is_refused_before_anything_runs(tmp_path: Path) -> None:
    params = _yaml(tmp_path / "params.yaml", pfx_password="hunter2-canary")
    done = subprocess.run([str(BIN / "octorunbook"), "run", str(params)], capture_output=True, text=True)
    assert done.returncode == 2
    assert "PARAMETER_LOOKS_SECRET" in done.stderr and "hunter2-canary" not in done.stderr + done.stdout
    assert not (tmp_path / "audit").exists()


def test_bad_parameter_values_are_coded_errors_not_tracebacks(sandbox: Any, params_for: Any) -> None:
    from octorunbook.headless.inline import run_inline

    record = run_inline("03-add-https-binding", params_for(sandbox, hostname="not a host", https_port=70000))
    assert record["status"] == "failed"
    codes = {f["code"] for f in record["findings"]}
    assert {"HOSTNAME_INVALID", "PORT_INVALID"} <= codes
    assert record["commands"] == []


@pytest.mark.parametrize("name", ["01-import-certificate", "02-verify-certificate", "03-add-https-binding"])
def test_notebook_is_committed_without_outputs_and_explains_every_parameter(name: str) -> None:
    nb = nbformat.read(str(NOTEBOOKS / f"{name}.ipynb"), as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code)
    params = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1
    import papermill

    inferred = papermill.inspect_notebook(str(NOTEBOOKS / f"{name}.ipynb"))
    assert set(inferred) == set(
        PARAMETERS[name]
    )  # only what this runbook reads (tests/params/test_runbooks.py)
    assert all(p["help"] and p["inferred_type_name"] != "None" for p in inferred.values())
    defaults = {k: __import__("ast").literal_eval(v["default"]) for k, v in inferred.items()}
    assert Parameters(**defaults) == Parameters()
    assert defaults["target"] == "sandbox"


def test_environment_yml_agrees_with_pyproject() -> None:
    import tomllib

    import yaml

    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    python = [d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python=")]
    assert python == ["python=3.11"] and "pip" in env["dependencies"]
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert pip[0] in ('-e ".[test]"', "-e .[test]")
    assert "test" in project["project"]["optional-dependencies"]
    assert project["project"]["requires-python"] == ">=3.11"
    names = {d.split(">")[0].split("=")[0].split("[")[0].lower() for d in project["project"]["dependencies"]}
    assert {"jupyterlab", "ipywidgets", "cryptography", "papermill", "nbval"} <= names
    tests = {d.split(">")[0].lower() for d in project["project"]["optional-dependencies"]["test"]}
    assert {"pytest", "trustme"} <= tests


def test_core_never_imports_ipywidgets_or_ipython() -> None:
    code = (
        "import sys, octorunbook.cli.main, octorunbook.runbooks.steps, octorunbook.headless.runner, octorunbook.audit, "
        "octorunbook.certificates; bad = [m for m in sys.modules if m.split('.')[0] in ('ipywidgets', 'IPython')];"
        " print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout


@pytest.mark.parametrize(
    ("name", "value", "code"),
    [
        ("store", "Foo", "STORE_INVALID"),
        ("https_port", "not-a-port", "PARAMETER_INVALID"),
        ("api_token", "canary-xyz", "PARAMETER_LOOKS_SECRET"),
    ],
)
def test_bad_parameter_in_a_direct_papermill_run_exits_2_before_a_kernel_starts(
    tmp_path: Path, name: str, value: str, code: str
) -> None:
    """papermill writes out.ipynb before the kernel starts; the package's papermill.io entry point
    refuses the parameter on that first write: exit 2, the code on stderr, nothing written."""
    out = tmp_path / "01.ipynb"
    done = subprocess.run(
        [
            str(BIN / "papermill"),
            str(NOTEBOOKS / "01-import-certificate.ipynb"),
            str(out),
            "-r",
            name,
            value,
            "-p",
            "audit_dir",
            str(tmp_path / "audit"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2, done.stderr
    assert f"✖ {code}" in done.stderr and "Traceback" not in done.stderr
    assert "canary-xyz" not in done.stdout + done.stderr
    assert "Executing notebook with kernel" not in done.stderr  # no kernel was started
    assert not out.exists() and not (tmp_path / "audit").exists()


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
