"""The whole procedure as an operator does it: real JupyterLab, real Chromium, the sandbox behind it.

A pytest fixture starts JupyterLab on loopback with a token, over a temporary copy of ``notebooks/``;
Playwright drives Debian's Chromium (never a downloaded browser). Every fill, click and key press an
operator would make goes through :class:`Operator`, which counts it: the count is the number the README
states, and ``docs/screenshots/actions.txt`` lists each action.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
import pytest
from portkit import free_port as _free_port

from octorunbook.audit.records import extract_result
from octorunbook.evidence.tls import tls_handshake
from tests.ui.browser import require_chromium, shared_chromium, stop_server

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
# The README's gallery is refreshed with `make screenshots` (OCTORUNBOOK_UPDATE_SCREENSHOTS=1); a plain
# test run saves its screenshots and action lists under the temp dir, so it never dirties the checkout.
SCREENSHOTS = (
    ROOT / "docs" / "screenshots"
    if os.environ.get("OCTORUNBOOK_UPDATE_SCREENSHOTS")
    else Path(tempfile.gettempdir()) / "octorunbook-screenshots"
)
JUPYTER = Path(sys.executable).parent / "jupyter"
HOSTNAME = "octopus.sandbox.test"
MAX_ACTIONS = (
    8  # the guided path: open 01, show its form, type the hostname, Run All, Continue (see actions.txt)
)
STEP_BY_STEP_ACTIONS = 13  # opening and running 02 and 03 separately as well
RESULT_TIMEOUT_MS = 120_000

pytestmark = pytest.mark.browser


@dataclass
class Lab:
    url: str
    token: str
    root: Path
    home: Path
    log: Path

    def api(self, method: str, path: str) -> Any:
        request = urllib.request.Request(
            f"{self.url}{path}", method=method, headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - loopback only
            body = answer.read()
        return json.loads(body) if body else None


def _settings(directory: Path) -> None:
    """No news, no update check, no first-run toasts: nothing may cover the notebook."""
    notification = directory / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings"
    notification.parent.mkdir(parents=True, exist_ok=True)
    notification.write_text(json.dumps({"fetchNews": "false", "checkForUpdates": False}))


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[Lab]:
    """JupyterLab on 127.0.0.1:<free port> with a token; always killed (process group) afterwards."""
    require_chromium()
    root = tmp_path / "notebooks"
    shutil.copytree(NOTEBOOKS, root, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "audit"))
    home = tmp_path / "home"
    home.mkdir()
    _settings(tmp_path / "lab-settings")
    token = secrets.token_hex(24)
    port = _free_port()
    env = {
        **os.environ,
        "OCTORUNBOOK_HOME": str(home),
        "OCTORUNBOOK_WAIT_SECONDS": os.environ.get("OCTORUNBOOK_WAIT_SECONDS", "8"),
        "JUPYTER_CONFIG_DIR": str(tmp_path / "jupyter-config"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "jupyter-runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "lab-settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "lab-workspaces"),
        "IPYTHONDIR": str(tmp_path / "ipython"),  # the kernel's history lands here, inside the canary's reach
    }
    env.pop("OCTORUNBOOK_PFX_PASSWORD", None)
    log = tmp_path / "jupyterlab.log"
    argv = [
        str(JUPYTER),
        "lab",
        "--no-browser",
        f"--IdentityProvider.token={token}",  # the current name of --ServerApp.token
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--ServerApp.root_dir={root}",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        f"--LabApp.user_settings_dir={tmp_path / 'lab-settings'}",
        f"--LabApp.workspaces_dir={tmp_path / 'lab-workspaces'}",
        "--ServerApp.terminals_enabled=False",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        argv.append("--allow-root")  # CI runs as root
    with open(log, "wb") as out:
        server = subprocess.Popen(
            argv, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    found = Lab(f"http://127.0.0.1:{port}", token, root, home, log)
    try:
        deadline = time.monotonic() + 90
        while True:
            if server.poll() is not None:
                pytest.fail(f"JupyterLab exited with {server.returncode}:\n{log.read_text()[-3000:]}")
            with contextlib.suppress(OSError):
                found.api("GET", "/api/status")
                break
            if time.monotonic() > deadline:
                pytest.fail(f"JupyterLab did not answer within 90 s:\n{log.read_text()[-3000:]}")
            time.sleep(0.3)
        yield found
    finally:
        with contextlib.suppress(Exception):  # kernels first: they live in their own sessions
            for kernel in found.api("GET", "/api/kernels") or []:
                found.api("DELETE", f"/api/kernels/{kernel['id']}")
        stop_server(server)
        from octorunbook.targets.sandbox import Sandbox

        Sandbox(home / "sandbox").stop()


@dataclass
class Operator:
    """The person at the keyboard: every fill, click and key press is counted and described."""

    page: Any
    actions: list[str] = field(default_factory=list)

    def click(self, locator: Any, why: str, *, double: bool = False) -> None:
        locator.wait_for(state="visible")
        locator.dblclick() if double else locator.click()
        self.actions.append(f"{'double-click' if double else 'click'}: {why}")

    def fill(self, locator: Any, text: str, why: str) -> None:
        locator.fill(text)
        self.actions.append(f"type: {why} ({text})")

    def press(self, key: str, why: str) -> None:
        self.page.keyboard.press(key)
        self.actions.append(f"key {key}: {why}")

    def run_all(self, notebook: str) -> None:
        _kernel_ready(self.page)
        self.click(self.page.get_by_role("menuitem", name="Run", exact=True), f"menu Run ({notebook})")
        item = self.page.locator(".lm-Menu-item:not(.lm-mod-disabled) .lm-Menu-itemLabel")
        self.click(item.filter(has_text="Run All Cells").first, f"Run All Cells ({notebook})")


def _notebook(page: Any) -> Any:
    return page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")


def _no_dialog(page: Any) -> None:
    """A JupyterLab dialog would take the next click: stop with its own words instead of a timeout."""
    dialog = page.locator(".jp-Dialog")
    if dialog.count():
        pytest.fail(f"a JupyterLab dialog is open: {' '.join(dialog.first.inner_text().split())}")


def _kernel_ready(page: Any) -> None:
    """Wait, as the operator does, until the open notebook's toolbar shows its kernel idle.

    A cell run before the notebook's session has a kernel is not run: JupyterLab clears it (the
    keystroke looks lost) or, when it cannot choose the kernel itself, opens its "Select Kernel"
    dialog, which then takes every later click. On a loaded machine the session is created seconds
    after the notebook is shown, so no run is started before the kernel is there.
    """
    panel = _notebook(page)
    name = panel.locator(".jp-Toolbar-kernelName").filter(has_text="Python 3")
    idle = panel.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']")
    deadline = time.monotonic() + 90
    while not (name.count() and idle.count()):
        _no_dialog(page)
        assert time.monotonic() < deadline, "the notebook's kernel did not start within 90 s"
        page.wait_for_timeout(250)
    _no_dialog(page)


def _wait_for_result(page: Any, runbook: str) -> Any:
    """The result panel of ``runbook``; a failed run stops the test with the panel's own words."""
    panels = _notebook(page).locator(".octorunbook-panel")
    done = panels.filter(has_text=f"{runbook} succeeded")
    failed = panels.filter(has_text=f"{runbook} FAILED")
    deadline = time.monotonic() + RESULT_TIMEOUT_MS / 1000
    while time.monotonic() < deadline:
        if done.count():
            return done.first
        if failed.count():
            pytest.fail(f"{runbook} failed in the browser:\n{failed.first.inner_text()}")
        errors = _notebook(page).locator(".jp-RenderedText[data-mime-type='application/vnd.jupyter.stderr']")
        if errors.count() and "Traceback" in errors.first.inner_text():
            pytest.fail(f"{runbook} raised:\n{errors.first.inner_text()[-2000:]}")
        page.wait_for_timeout(250)
    shot = Path(tempfile.gettempdir()) / f"octorunbook-browser-{runbook}.png"
    page.screenshot(path=str(shot), full_page=True)
    tail = _notebook(page).inner_text()[-3000:]
    pytest.fail(
        f"no result panel for {runbook} within {RESULT_TIMEOUT_MS // 1000} s ({shot}); the notebook ends:\n{tail}"
    )


def _record(page: Any, lab: Lab, runbook: str) -> dict[str, Any]:
    """The audit record the kernel wrote for ``runbook`` (the notebook itself need not be saved).

    The kernel writes it just after showing the result panel, so wait for the file (or the reason).
    """
    deadline = time.monotonic() + 60
    while not (paths := sorted((lab.root / "audit").glob(f"*{runbook}*.ipynb"))):
        failed = _notebook(page).get_by_text("the audit copy could not be written")
        if failed.count():
            pytest.fail(failed.first.inner_text())
        assert time.monotonic() < deadline, f"no audit record for {runbook} in {lab.root / 'audit'}"
        page.wait_for_timeout(250)
    record = extract_result(nbformat.read(str(paths[-1]), as_version=4))
    assert record is not None
    return record


def _shot(locator: Any, name: str) -> None:
    """A screenshot of what ``locator`` finds. JupyterLab may render a cell's outputs again while the cell
    still runs (a display updated in place, such as the progress line): a panel found a moment ago can be
    detached before the shot ("Element is not attached to the DOM", seen under load), so the locator is
    resolved again."""
    from playwright.sync_api import Error

    for attempt in range(20):
        try:
            locator.scroll_into_view_if_needed()
            locator.screenshot(path=str(SCREENSHOTS / name))
            return
        except Error as exc:
            if "not attached" not in str(exc) or attempt == 19:
                raise
            locator.page.wait_for_timeout(250)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """Debian's Chromium through Playwright (never a downloaded browser), started once for this module."""
    yield from shared_chromium()


@pytest.fixture
def page(lab: Lab, chromium: Any) -> Iterator[Any]:
    """A fresh browser context (no cookies, no storage) on the JupyterLab above."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    try:
        opened = context.new_page()
        opened.set_default_timeout(60_000)
        opened.goto(f"{lab.url}/lab?token={lab.token}")  # the operator opens JupyterLab
        yield opened
    finally:
        context.close()


def _fill_01(operator: Operator, page: Any) -> None:
    listing = page.locator(".jp-DirListing-item").filter(has_text="01-import-certificate.ipynb")
    operator.click(listing, "open 01-import-certificate.ipynb in the file browser", double=True)
    form = _show_form(operator, page)
    hostname = form.locator(".widget-text").filter(has_text="Portal hostname").locator("input")
    operator.fill(hostname, HOSTNAME, "the portal hostname")
    # "New self-signed" is the pre-selected certificate choice: no click needed
    form.get_by_text("Ready: Run").wait_for()
    _shot(form, "form.png")


def _show_form(operator: Operator, page: Any) -> Any:
    """Click into 01's form cell and run it, once its kernel is there (see :func:`_kernel_ready`)."""
    form_cell = _notebook(page).locator(".jp-CodeCell").filter(has_text='ui.start("01-import')
    form = _notebook(page).locator(".octorunbook-form")
    _kernel_ready(page)
    operator.click(form_cell.locator(".jp-InputArea-editor"), "into the form cell")
    operator.press("Shift+Enter", "run the form cell")
    form.wait_for(state="visible", timeout=90_000)
    return form


def _write_actions(name: str, title: str, actions: list[str]) -> list[str]:
    lines = [f"{i:2}. {a}" for i, a in enumerate(actions, 1)]
    (SCREENSHOTS / name).write_text(f"{len(actions)} operator actions {title}:\n" + "\n".join(lines) + "\n")
    return lines


# Among the 20 slowest (--durations, issue 28), by design: JupyterLab and Chromium driving the whole guided
# procedure.
def test_guided_procedure_takes_at_most_eight_actions(lab: Lab, page: Any) -> None:
    """01 with the form, then its Continue button runs 02 and 03: the whole procedure in one tool."""
    operator = Operator(page)
    _fill_01(operator, page)
    operator.run_all("01")
    _wait_for_result(page, "01-import-certificate")
    card = _notebook(page).locator(".octorunbook-panel").filter(has_text="DNS names (SAN)").first
    _shot(card, "certificate-card.png")
    imported = _record(page, lab, "01-import-certificate")
    assert imported["status"] == "succeeded" and HOSTNAME in imported["certificate"]["dns_names"]
    thumbprint = imported["certificate"]["thumbprint"]
    operator.click(
        _notebook(page).get_by_role("button", name="Continue: verify (02) and bind HTTPS (03) now"),
        "Continue: verify (02) and bind HTTPS (03)",
    )
    bound = _wait_for_result(page, "03-add-https-binding")
    _shot(bound, "success.png")
    verified = _record(page, lab, "02-verify-certificate")
    record = _record(page, lab, "03-add-https-binding")
    assert verified["status"] == "succeeded" and record["status"] == "succeeded"
    assert record["parameters"]["hostname"] == HOSTNAME
    assert record["tls"]["thumbprint"] == thumbprint
    from octorunbook.targets.sandbox import Sandbox

    port = Sandbox(lab.home / "sandbox").status()["port_map"][443]
    assert tls_handshake("127.0.0.1", port, HOSTNAME).thumbprint == thumbprint
    lines = _write_actions(
        "actions.txt", "for the whole procedure (01 + Continue) in JupyterLab", operator.actions
    )
    assert len(operator.actions) <= MAX_ACTIONS, "\n".join(lines)


# Among the 20 slowest (--durations, issue 28), by design: JupyterLab and Chromium driving every notebook as
# an operator would.
def test_step_by_step_runs_each_notebook_in_jupyterlab(lab: Lab, page: Any) -> None:
    """The same procedure, each notebook opened and run on its own (the panels an operator reads)."""
    operator = Operator(page)
    _fill_01(operator, page)
    operator.run_all("01")
    _wait_for_result(page, "01-import-certificate")
    thumbprint = _record(page, lab, "01-import-certificate")["certificate"]["thumbprint"]

    next_link = _notebook(page).locator(".jp-RenderedMarkdown a").filter(has_text="02 · Verify")
    operator.click(next_link, "open 02 from 01's Next link")
    _notebook(page).locator(".jp-CodeCell").filter(has_text='ui.start("02-verify').wait_for()
    operator.run_all("02")
    _wait_for_result(page, "02-verify-certificate")
    verified = _record(page, lab, "02-verify-certificate")
    assert verified["status"] == "succeeded" and verified["certificate"]["thumbprint"] == thumbprint

    next_link = _notebook(page).locator(".jp-RenderedMarkdown a").filter(has_text="03 · Add")
    operator.click(next_link, "open 03 from 02's Next link")
    _notebook(page).locator(".jp-CodeCell").filter(has_text='ui.start("03-add').wait_for()
    operator.run_all("03")
    _wait_for_result(page, "03-add-https-binding")
    _shot(_notebook(page).locator(".octorunbook-plan").first, "plan.png")
    record = _record(page, lab, "03-add-https-binding")
    assert record["status"] == "succeeded"
    assert record["parameters"]["hostname"] == HOSTNAME  # followed the certificate 01 imported
    assert record["tls"]["thumbprint"] == thumbprint
    lines = _write_actions(
        "actions-step-by-step.txt", "opening and running 01, 02 and 03 one by one", operator.actions
    )
    assert len(operator.actions) <= STEP_BY_STEP_ACTIONS, "\n".join(lines)


@pytest.mark.canary
def test_password_typed_into_the_form_never_reaches_disk(lab: Lab, page: Any, tmp_path: Path) -> None:
    """The canary again, through the JupyterLab form: PFX source, password typed (no variable set)."""
    import trustme
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs12

    canary = "form-canary-" + secrets.token_hex(10)
    issued = trustme.CA().issue_cert(HOSTNAME)
    key = serialization.load_pem_private_key(issued.private_key_pem.bytes(), None)
    cert = x509.load_pem_x509_certificate(issued.cert_chain_pems[0].bytes())
    pfx = lab.root / "portal.pfx"
    pfx.write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"p",
            key,  # type: ignore[arg-type]
            cert,
            None,
            serialization.BestAvailableEncryption(canary.encode()),
        )
    )
    operator = Operator(page)
    listing = page.locator(".jp-DirListing-item").filter(has_text="01-import-certificate.ipynb")
    operator.click(listing, "open 01", double=True)
    form = _show_form(operator, page)
    operator.fill(
        form.locator(".widget-text").filter(has_text="Portal hostname").locator("input"), HOSTNAME, "host"
    )
    operator.click(form.locator(".widget-toggle-button").filter(has_text="PFX file"), "certificate: PFX file")
    operator.fill(
        form.locator(".widget-text").filter(has_text="PFX file").locator("input"), str(pfx), "PFX path"
    )
    operator.fill(form.locator("input[type='password']"), canary, "PFX password")
    form.get_by_text("Ready: Run").wait_for()
    operator.run_all("01")
    _wait_for_result(page, "01-import-certificate")
    imported = _record(page, lab, "01-import-certificate")
    assert (
        imported["status"] == "succeeded"
        and imported["certificate"]["thumbprint"]
        == cert.fingerprint(__import__("cryptography.hazmat.primitives.hashes", fromlist=["SHA1"]).SHA1())
        .hex()
        .upper()
    )
    operator.press("Control+s", "save the notebook")
    page.wait_for_timeout(1500)
    hits = []
    for root in (lab.root, lab.home, lab.log.parent):
        for path in root.rglob("*"):
            if path.is_file() and path != pfx and canary.encode() in path.read_bytes():
                hits.append(str(path))
    assert hits == []
