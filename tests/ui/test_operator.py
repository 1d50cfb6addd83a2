"""Operator mode without a browser: how a kernel knows it serves a Voilà page, and that opening one changes nothing."""

from __future__ import annotations

import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qs

import nbformat
import pytest
from IPython.display import HTML

from octorunbook.cli.app import voila_argv
from octorunbook.headless.runner import RunResult
from octorunbook.params.core import Parameters
from octorunbook.runbooks.run import ALL_RUNBOOKS
from octorunbook.ui.form import Form
from octorunbook.ui.operator import (
    OperatorControls,
    continue_query,
    operator_mode,
    query_parameters,
    with_address,
)

ROOT = Path(__file__).resolve().parents[2]


def test_a_voila_kernel_is_in_operator_mode_and_a_runners_kernel_never_is() -> None:
    assert operator_mode({"SERVER_SOFTWARE": "voila/0.5.13"})
    assert operator_mode({"OCTORUNBOOK_UI": "operator"})
    assert not operator_mode({})
    assert not operator_mode({"SERVER_SOFTWARE": "Apache/2.4"})
    # the run a button starts inherits the page kernel's environment: its notebook must run every cell
    assert not operator_mode(
        {
            "SERVER_SOFTWARE": "voila/0.5.13",
            "OCTORUNBOOK_UI": "operator",
            "OCTORUNBOOK_RECORDED_BY_RUNNER": "1",
        }
    )


def test_the_address_carries_only_the_parameters_the_page_reads() -> None:
    environ = {"QUERY_STRING": "token=abc&hostname=octopus.corp&hsts_max_age=3600&bogus=1"}
    # 02 reads the hostname but not HSTS; the login token is no parameter of any page
    assert query_parameters("02-verify-certificate", environ) == {"hostname": "octopus.corp"}
    assert query_parameters("03-add-https-binding", environ) == {
        "hostname": "octopus.corp",
        "hsts_max_age": "3600",
    }


def test_an_address_the_parser_refuses_is_said_and_left_out(monkeypatch: pytest.MonkeyPatch) -> None:
    shown: list[str] = []
    monkeypatch.setattr("octorunbook.ui.operator.display", lambda item: shown.append(item.data))
    given = {"hostname": "localhost"}
    assert with_address("03-add-https-binding", given, {"QUERY_STRING": "https_port=443x"}) == given
    assert len(shown) == 1 and "https_port" in shown[0]  # the refusal, on the page
    taken = with_address("03-add-https-binding", given, {"QUERY_STRING": "https_port=8443&hostname=a.b"})
    assert taken == {"hostname": "a.b", "https_port": "8443"}


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("hostnme=octopus.corp", "PARAMETER_UNKNOWN"),  # a typo would leave the default in place unsaid
        ("pfx_password_env=Summer2026%21Pass", "PASSWORD_ENV_INVALID"),  # a password pasted as the name
        ("audit_dir=%2Fwork%2Faudit%0Ainjected", "PATH_INVALID"),
        ("audit_dir=%2Fwork%2Faudit%0D", "PATH_INVALID"),
    ],
)
def test_a_crafted_address_is_refused_with_its_code_and_left_out(
    monkeypatch: pytest.MonkeyPatch, query: str, code: str
) -> None:
    shown: list[str] = []
    monkeypatch.setattr("octorunbook.ui.operator.display", lambda item: shown.append(item.data))
    given = {"hostname": "localhost"}
    assert with_address("02-verify-certificate", given, {"QUERY_STRING": f"token=abc&{query}"}) == given
    assert len(shown) == 1 and code in shown[0], shown
    assert "Summer2026" not in shown[0] and "injected" not in shown[0]


def test_the_login_token_in_the_address_is_no_parameter() -> None:
    taken = with_address("02-verify-certificate", {}, {"QUERY_STRING": "token=abc&hostname=a.b"})
    assert taken == {"hostname": "a.b"}


def test_continue_hands_over_what_differs_and_never_a_pasted_password() -> None:
    params = Parameters(hostname="octopus.corp", pfx_password_env="hunter2-is-no-variable-name")
    record = {"certificate": {"thumbprint": "AB" * 20}, "parameters": {"audit_dir": "/work/audit"}}
    carried = parse_qs(continue_query("02-verify-certificate", params, record))
    assert carried["hostname"] == ["octopus.corp"] and carried["thumbprint"] == ["AB" * 20]
    assert carried["audit_dir"] == ["/work/audit"]
    assert "target" not in carried  # the default: not repeated in the address
    assert "hunter2" not in continue_query("02-verify-certificate", params, record)


@pytest.mark.slow
def test_the_buttons_wait_disabled_until_a_browser_reports_their_view(tmp_path: Path) -> None:
    """Disabled under "connecting…" until the browser's report of a displayed view reaches the kernel
    (ipywidgets' ``_view_count``); the kernel's answer enables them."""
    form = Form("01-import-certificate", Parameters(sandbox_dir=str(tmp_path / "no-sandbox")))
    controls = OperatorControls(form)
    assert controls.plan.disabled and controls.run.disabled
    assert "connecting" in controls.status.value
    assert controls.run._view_count == 0  # tracked: the browser reports the views it displays
    controls.run._view_count = 1  # what the browser's update message does
    assert not controls.plan.disabled and not controls.run.disabled
    assert "connected" in controls.status.value
    assert not (tmp_path / "no-sandbox").exists()


def test_a_click_on_a_form_with_a_refused_field_says_so_and_leaves_the_buttons_usable(tmp_path: Path) -> None:
    form = Form("01-import-certificate", Parameters(sandbox_dir=str(tmp_path / "no-sandbox")))
    controls = OperatorControls(form)
    controls.run._view_count = 1
    form.widgets["hostname"].value = "octopus portal"
    controls.run.click()
    assert "Fix the fields" in str(controls.out.outputs)
    assert not controls.plan.disabled and not controls.run.disabled
    assert not (tmp_path / "no-sandbox").exists()


def test_a_click_empties_the_output_in_the_kernels_own_state(tmp_path: Path) -> None:
    """The kernel's ``outputs`` is what the page ends with: a click must empty it there, not through the
    browser (whose emptied copy, sent back behind the running click, would wipe the run's panel)."""
    form = Form("01-import-certificate", Parameters(sandbox_dir=str(tmp_path / "no-sandbox")))
    controls = OperatorControls(form)
    controls.out.append_display_data(HTML("the previous run's panel"))
    form.widgets["hostname"].value = "octopus portal"
    controls.plan.click()
    assert "the previous run's panel" not in str(controls.out.outputs)
    assert "Fix the fields" in str(controls.out.outputs)


class _SlowRuns:
    """``execute`` as the buttons call it, holding each run until released: what a real run's seconds are."""

    def __init__(self) -> None:
        self.started: list[tuple[str, bool]] = []
        self.release = threading.Event()

    def __call__(self, runbook: str, params: Parameters, **_: object) -> RunResult:
        self.started.append((runbook, params.dry_run))
        self.release.wait(10)
        return RunResult(runbook, "failed", None, None)


def _connected_controls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[OperatorControls, _SlowRuns]:
    runs = _SlowRuns()
    monkeypatch.setattr("octorunbook.headless.runner.execute", runs)
    controls = OperatorControls(
        Form("01-import-certificate", Parameters(sandbox_dir=str(tmp_path / "no-sandbox")))
    )
    controls.run._view_count = 1
    return controls, runs


def test_a_double_click_on_run_starts_exactly_one_run_and_says_the_second_was_ignored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The kernel handles clicks one at a time: the second, queued behind the first, must not start a second
    run once the first ends (04 would rotate twice, 05 apply twice) — nor must a Plan pressed meanwhile."""
    controls, runs = _connected_controls(tmp_path, monkeypatch)
    controls.run.click()
    controls.run.click()
    controls.plan.click()
    runs.release.set()
    assert controls.worker is not None
    controls.worker.join(10)
    assert runs.started == [("01-import-certificate", False)]
    assert str(controls.out.outputs).count("already running — this click was ignored") == 2
    assert not controls.running.is_set() and not controls.run.disabled  # the next click runs again


def test_a_click_sent_before_the_previous_run_ended_is_ignored_even_when_it_arrives_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run shorter than the gap between two clicks of one burst: the second reaches a kernel that is idle
    again, and is known by the time the browser sent it (its own clock against its own clock)."""
    controls, runs = _connected_controls(tmp_path, monkeypatch)
    threading.Timer(0.5, runs.release.set).start()  # the first run takes half a second, the others none
    first = datetime(2026, 12, 6, 2, 0, 0, tzinfo=UTC)
    sent = iter([first, first + timedelta(milliseconds=300), first + timedelta(seconds=30)])
    monkeypatch.setattr("octorunbook.ui.operator._click_sent", lambda: next(sent))
    said = []
    for _ in range(3):
        controls.run.click()
        assert controls.worker is not None
        controls.worker.join(10)
        said.append(str(controls.out.outputs))
    assert runs.started == [("01-import-certificate", False)] * 2  # the first and the one 30 s later
    assert "already running when this click was sent — this click was ignored" in said[1]
    assert "ignored" not in said[2]


LAB_WORDS = ("Shift+Enter", "Run All", "Run menu")  # JupyterLab's instructions: never on an operator page


def _page_text(book: nbformat.NotebookNode) -> str:
    """What a Voilà page shows as text: the markdown, every output, every widget's strings — not the code."""
    shown = [cell.source for cell in book.cells if cell.cell_type == "markdown"]
    for cell in book.cells:
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            shown += [str(data.get(kind, "")) for kind in ("text/html", "text/markdown", "text/plain")]
            shown.append(str(output.get("text", "")))
    widgets = book.metadata.get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {})
    for model in widgets.get("state", {}).values():
        shown += [value for value in model["state"].values() if isinstance(value, str)]
    return "\n".join(shown)


@pytest.mark.parametrize("runbook", ALL_RUNBOOKS)
def test_a_page_opened_in_voila_shows_the_form_and_runs_nothing_below_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, runbook: str
) -> None:
    """Every cell of a runbook run as Voilà runs them on opening (its kernel environment): the form is shown,
    the cells that read, plan and change run as empty cells, the sandbox is not even created, no record —
    and nothing on the page tells the operator to use JupyterLab's menus or keys."""
    from nbclient import NotebookClient

    home = tmp_path / "home"
    monkeypatch.setenv("OCTORUNBOOK_HOME", str(home))
    monkeypatch.setenv("SERVER_SOFTWARE", "voila/0.5.13")
    monkeypatch.setenv("QUERY_STRING", "hostname=octopus.sandbox.test")
    monkeypatch.delenv("OCTORUNBOOK_RECORDED_BY_RUNNER", raising=False)
    book = nbformat.read(ROOT / "notebooks" / f"{runbook}.ipynb", as_version=4)
    NotebookClient(book, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    code = [cell for cell in book.cells if cell.cell_type == "code"]
    form_at = next(i for i, cell in enumerate(code) if "ui.start(" in cell.source)
    shown = code[form_at].outputs
    assert [o for o in shown if "application/vnd.jupyter.widget-view+json" in o.get("data", {})], shown
    assert all(cell.outputs == [] for cell in code[form_at + 1 :]), [c.outputs for c in code[form_at + 1 :]]
    assert not (home / "sandbox").exists()
    assert not (tmp_path / "audit").exists()
    widgets = book.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    assert any(
        s["state"].get("value") == "octopus.sandbox.test" for s in widgets.values()
    )  # from the address
    text = _page_text(book)
    assert [words for words in LAB_WORDS if words in text] == [], runbook


def test_octorunbook_app_binds_loopback_and_keeps_the_token_out_of_its_command_line(tmp_path: Path) -> None:
    argv = voila_argv(str(tmp_path), 8866)
    assert "--Voila.ip=127.0.0.1" in argv and "--Voila.auto_token=True" in argv
    assert not [a for a in argv if "token=" in a.lower() and "auto_token" not in a.lower()]
    done = subprocess.run(
        [sys.executable, "-m", "octorunbook.cli.main", "app", str(tmp_path / "work"), "--no-start"],
        capture_output=True,
        text=True,
        check=True,
        cwd=tmp_path,
    )
    assert "01-import-certificate.ipynb: copied" in done.stdout
    assert "http://127.0.0.1:8866/voila/render/01-import-certificate.ipynb" in done.stdout
    assert (tmp_path / "work" / "params.yaml").is_file()
    printed = done.stdout.split("shown once): ")[1].split()[0]
    assert printed not in done.stdout.replace(f"shown once): {printed}", "")  # in no address
