"""Operator mode as an operator meets it: ``octorunbook app`` (Voilà), Debian's Chromium, the sandbox behind it.

The fixture starts the real ``octorunbook app`` on a free loopback port over a fresh working folder and
reads the token it prints once; Playwright drives Chromium (never a downloaded browser) through the
pages. Opening a page must change nothing — no sandbox, no certificate, no record — until Run is pressed;
each run leaves its executed notebook in the working folder's ``audit/`` as the audit record.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat
import pytest
from portkit import free_port

from octorunbook.audit.records import extract_result
from octorunbook.evidence.tls import tls_handshake
from tests.ui.browser import require_chromium, shared_chromium, stop_server

OCTORUNBOOK = Path(sys.executable).parent / "octorunbook"
HOSTNAME = "octopus.sandbox.test"
RESULT_TIMEOUT_S = 180
LAB_WORDS = ("Shift+Enter", "Run All", "Run menu")  # JupyterLab's instructions, never on an operator page

pytestmark = pytest.mark.browser


@dataclass
class App:
    url: str
    token: str
    root: Path
    home: Path
    log: Path

    def records(self, runbook: str) -> list[Path]:
        return sorted((self.root / "audit").glob(f"*{runbook}*.ipynb"))


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    """``octorunbook app WORK --port P`` as an operator starts it; always stopped (process group) afterwards."""
    require_chromium()
    pytest.importorskip("voila")
    home = tmp_path / "home"
    home.mkdir()
    root = tmp_path / "work"
    port = free_port()
    env = {
        **os.environ,
        "OCTORUNBOOK_HOME": str(home),
        "OCTORUNBOOK_WAIT_SECONDS": os.environ.get("OCTORUNBOOK_WAIT_SECONDS", "8"),
        "JUPYTER_CONFIG_DIR": str(tmp_path / "jupyter-config"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "jupyter-runtime"),
        "IPYTHONDIR": str(tmp_path / "ipython"),
    }
    for name in ("OCTORUNBOOK_PFX_PASSWORD", "OCTORUNBOOK_NOTEBOOKS", "OCTORUNBOOK_UI", "JUPYTER_TOKEN"):
        env.pop(name, None)
    log = tmp_path / "app.log"
    with open(log, "wb") as out:
        server = subprocess.Popen(
            [str(OCTORUNBOOK), "app", str(root), "--port", str(port)],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 90
        token = ""
        while True:
            if server.poll() is not None:
                pytest.fail(f"octorunbook app exited with {server.returncode}:\n{log.read_text()[-3000:]}")
            found = re.search(r"token \(shown once\): (\S+)", log.read_text())
            if found:
                token = found.group(1)
                with contextlib.suppress(OSError):
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=5)  # noqa: S310
                    break
            if time.monotonic() > deadline:
                pytest.fail(f"octorunbook app did not answer within 90 s:\n{log.read_text()[-3000:]}")
            time.sleep(0.3)
        yield App(f"http://127.0.0.1:{port}", token, root, home, log)
    finally:
        stop_server(server)
        from octorunbook.targets.sandbox import Sandbox

        if (home / "sandbox").exists():
            Sandbox(home / "sandbox").stop()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """Debian's Chromium through Playwright, started once for this module (tests.ui.browser)."""
    yield from shared_chromium()


@pytest.fixture
def page(app: App, chromium: Any) -> Iterator[Any]:
    """A fresh browser context (no cookies, no storage), logged in once with the token (the pages' own
    addresses then carry no token)."""
    context = chromium.new_context(viewport={"width": 1400, "height": 1000})
    try:
        opened = context.new_page()
        opened.set_default_timeout(90_000)
        opened.goto(f"{app.url}/login")
        opened.locator("#password_input").fill(app.token)
        opened.locator("#password_input").press("Enter")
        opened.wait_for_url(re.compile(r"^(?!.*/login).*$"))
        yield opened
    finally:
        context.close()


def _open(page: Any, app: App, runbook: str) -> Any:
    """Open ``runbook``'s page and wait until Voilà has run every cell (the last markdown is shown)."""
    page.goto(f"{app.url}/voila/render/{runbook}.ipynb")
    return _rendered(page)


def _rendered(page: Any) -> Any:
    form = page.locator(".octorunbook-form")
    form.wait_for(state="visible")
    page.locator(".octorunbook-operator button[title='Run']").wait_for()
    # Voilà renders the cells in order as it runs them: the last heading is there once all have run
    page.get_by_role("heading", name=re.compile(r"^(Next|Done)")).wait_for()
    page.wait_for_load_state("load")
    # The buttons come disabled and are enabled by the kernel once the browser's report of their view
    # reached it: the round trip that proves the page's kernel connection, shown on the status line.
    controls = page.locator(".octorunbook-operator")
    controls.locator(".octorunbook-status").get_by_text("connected").wait_for()
    for title in ("Plan (change nothing)", "Run"):
        assert controls.locator(f"button[title='{title}']").is_enabled()
    assert not page.locator(".octorunbook-waiting").is_visible()  # the static "connecting…" line hid itself
    return form


def _run(
    page: Any, runbook: str, button: str = "Run", outcome: str = "succeeded", *, double: bool = False
) -> Any:
    """Press ``button`` under the form (twice in a row: ``double``) and wait for the result panel saying
    ``outcome``.

    ``double`` clicks twice in one browser task, so both clicks reach the kernel whatever the load: a
    mouse double click on a busy machine can find the button already disabled by the first click's
    answer, and then only the browser ignored the second (the run count is the same; the kernel's
    "ignored" note, which the test also reads, is then never written)."""
    pressed = page.locator(f".octorunbook-operator button[title='{button}']")
    if double:
        pressed.evaluate("button => { button.click(); button.click(); }")
    else:
        pressed.click()
    panels = page.locator(".octorunbook-operator .octorunbook-panel")
    done = panels.filter(has_text=f"{runbook}{'' if outcome == 'succeeded' else ':'} {outcome}")
    failed = panels.filter(has_text=f"{runbook} FAILED")
    deadline = time.monotonic() + RESULT_TIMEOUT_S
    while time.monotonic() < deadline:
        if done.count():
            return done.first
        if failed.count():
            pytest.fail(f"{runbook} failed in the page:\n{failed.first.inner_text()}")
        said = page.locator(".octorunbook-operator").get_by_text(re.compile("^✖"))
        if said.count():
            pytest.fail(f"{runbook} could not run:\n{said.first.inner_text()}")
        page.wait_for_timeout(250)
    pytest.fail(
        f"no result panel for {runbook} within {RESULT_TIMEOUT_S} s; under the buttons:\n"
        f"{page.locator('.octorunbook-operator').inner_text()[-3000:]}"
    )


def _sandbox_changes(app: App) -> tuple[list[str], dict[str, Any]]:
    """What an import or a binding leaves in the sandbox: its store files and HTTP.sys bindings."""
    from octorunbook.targets.sandbox import Sandbox

    sandbox = Sandbox(app.home / "sandbox")
    stores = sorted(
        str(path.relative_to(sandbox.stores_dir))
        for path in (sandbox.stores_dir.rglob("*") if sandbox.stores_dir.exists() else [])
        if path.is_file()
    )
    bindings = json.loads(sandbox.httpsys_path.read_text()) if sandbox.httpsys_path.exists() else {}
    return stores, bindings


def _record(app: App, runbook: str) -> dict[str, Any]:
    paths = app.records(runbook)
    assert paths, f"no audit record for {runbook} in {app.root / 'audit'}"
    record = extract_result(nbformat.read(str(paths[-1]), as_version=4))
    assert record is not None
    return record


def _assert_no_lab_words(page: Any) -> None:
    """JupyterLab's instructions stay in JupyterLab: a page in operator mode has buttons, not menus."""
    body = page.locator("body").inner_text()
    for words in LAB_WORDS:
        assert words not in body, f"{words!r} on an operator page"


def _served_thumbprint(app: App) -> str:
    """The thumbprint the sandbox's HTTPS port serves for the portal's name (a real TLS handshake)."""
    from octorunbook.targets.sandbox import Sandbox

    port = Sandbox(app.home / "sandbox").status()["port_map"][443]
    return tls_handshake("127.0.0.1", port, HOSTNAME).thumbprint


def _hostname(form: Any) -> Any:
    return form.locator(".widget-text").filter(has_text="Portal hostname").locator("input")


def test_opening_a_page_changes_nothing_and_run_then_continue_does_the_procedure(app: App, page: Any) -> None:
    """01's page opens onto a waiting form; Run imports; Continue opens 02's page, whose Run proves the key."""
    form = _open(page, app, "01-import-certificate")
    page.wait_for_timeout(1000)  # a cell still running after the page is shown would change things now
    assert not (app.home / "sandbox").exists(), "opening 01 touched the sandbox"
    assert not app.records("01-import-certificate"), "opening 01 wrote a record"
    _assert_no_lab_words(page)
    assert "import_certificate" not in page.locator("body").inner_text()  # no code on the page

    _hostname(form).fill(HOSTNAME)
    form.get_by_text("Ready: press Plan").wait_for()
    _run(page, "01-import-certificate", double=True)  # an impatient operator: one run all the same
    assert len(app.records("01-import-certificate")) == 1, "a double click on Run ran 01 twice"
    assert "this click was ignored" in page.locator(".octorunbook-operator").inner_text()
    imported = _record(app, "01-import-certificate")
    assert imported["status"] == "succeeded" and HOSTNAME in imported["certificate"]["dns_names"]
    thumbprint = imported["certificate"]["thumbprint"]
    bindings_before = _sandbox_changes(app)[1]

    page.get_by_role("link", name="Continue ▸ 02 · Verify the certificate").click()
    page.wait_for_url(re.compile(r"/voila/render/02-verify-certificate\.ipynb"))
    form = _rendered(page)
    assert not app.records("02-verify-certificate"), "opening 02 wrote a record"
    assert _hostname(form).input_value() == HOSTNAME  # handed over by Continue
    assert (
        thumbprint
        in form.locator(".widget-text").filter(has_text="Thumbprint").locator("input").input_value()
    )
    _run(page, "02-verify-certificate")
    verified = _record(app, "02-verify-certificate")
    assert verified["status"] == "succeeded" and verified["certificate"]["thumbprint"] == thumbprint
    assert len(app.records("01-import-certificate")) == 1  # opening 02 ran nothing of 01 again

    page.get_by_role("link", name="Continue ▸ 03 · Add the HTTPS binding").click()
    page.wait_for_url(re.compile(r"/voila/render/03-add-https-binding\.ipynb"))
    form = _rendered(page)
    assert not app.records("03-add-https-binding"), "opening 03 wrote a record"
    assert _sandbox_changes(app)[1] == bindings_before, "opening 03 bound something"
    _assert_no_lab_words(page)
    _run(page, "03-add-https-binding")
    bound = _record(app, "03-add-https-binding")
    assert bound["status"] == "succeeded" and bound["tls"]["thumbprint"] == thumbprint
    assert _served_thumbprint(app) == thumbprint  # the sandbox serves it over HTTPS


def test_plan_changes_nothing_and_leaves_its_record_then_run_imports(app: App, page: Any) -> None:
    """Plan with the defaults: "planned only … nothing changed", no import, no binding, a plan record;
    Run afterwards on the same page imports."""
    _open(page, app, "01-import-certificate")
    _run(page, "01-import-certificate", button="Plan (change nothing)", outcome="planned only")
    controls = page.locator(".octorunbook-operator")
    assert "nothing changed" in controls.locator(".octorunbook-panel").first.inner_text()
    assert "▶ 01-import-certificate: planning …" in controls.inner_text()  # the click's answer, kept
    planned = _record(app, "01-import-certificate")
    assert planned["status"] == "planned" and planned["parameters"]["dry_run"] is True
    assert _sandbox_changes(app) == ([], {}), "Plan changed the sandbox"

    _run(page, "01-import-certificate")
    assert len(app.records("01-import-certificate")) == 2  # the plan's record and the run's
    imported = _record(app, "01-import-certificate")
    assert imported["status"] == "succeeded" and imported["parameters"]["dry_run"] is False
    stores, _bindings = _sandbox_changes(app)
    assert stores, "Run after Plan imported nothing"


@pytest.fixture
def bound(app: App, monkeypatch: pytest.MonkeyPatch) -> str:
    """01 → 03 run headless against the app's sandbox (as ``octorunbook run`` would), so that 04 and 05
    have a binding to work on; the thumbprint it serves."""
    from octorunbook.headless.runner import run_all
    from octorunbook.params.core import Parameters

    monkeypatch.setenv("OCTORUNBOOK_HOME", str(app.home))
    results = run_all(Parameters(hostname=HOSTNAME, audit_dir=str(app.root / "audit")))
    assert [r.status for r in results] == ["succeeded"] * 3, [(r.runbook, r.status) for r in results]
    return _served_thumbprint(app)


def _plan_on_its_page(app: App, page: Any, runbook: str) -> dict[str, Any]:
    """Open ``runbook``'s page (nothing runs), press Plan, and return its record: the sandbox is as before."""
    before = _sandbox_changes(app), _served_thumbprint(app)
    form = _open(page, app, runbook)
    assert not app.records(runbook), f"opening {runbook} wrote a record"
    _assert_no_lab_words(page)
    _hostname(form).fill(HOSTNAME)
    form.get_by_text("Ready: press Plan").wait_for()
    _run(page, runbook, button="Plan (change nothing)", outcome="planned only")
    assert len(app.records(runbook)) == 1
    record = _record(app, runbook)
    assert record["status"] == "planned" and record["parameters"]["dry_run"] is True
    assert (_sandbox_changes(app), _served_thumbprint(app)) == before, (
        f"Plan on {runbook} changed the sandbox"
    )
    return record


def test_plan_on_the_renewal_page_renews_nothing(app: App, bound: str, page: Any) -> None:
    """04's page after the procedure: Plan says what the renewal would do, and the same certificate is served."""
    record = _plan_on_its_page(app, page, "04-renew-certificate")
    assert "RENEWAL_RULE" in [f["code"] for f in record["findings"]]  # when it would renew, said
    assert _served_thumbprint(app) == bound


def test_plan_on_the_hardening_page_shows_the_posture_and_changes_nothing(
    app: App, bound: str, page: Any
) -> None:
    """05's page after the procedure: Plan scans what the portal accepts and shows it; nothing is applied."""
    record = _plan_on_its_page(app, page, "05-harden-tls")
    assert record["posture"]["rows"], "05's plan scanned nothing"
    posture = page.locator(".octorunbook-operator .octorunbook-panel").filter(has_text="TLS posture of")
    assert posture.count() == 1 and HOSTNAME in posture.inner_text()
    assert "HARDENING_NOT_APPLIED" in [f["code"] for f in record["findings"]]


@pytest.mark.canary
def test_password_typed_into_the_page_never_reaches_disk_or_the_page(app: App, page: Any) -> None:
    """A PFX whose password is typed into the page (no variable set): imported, and the password is
    nowhere — not in the records, not in the working folder, not in the page after the run."""
    import trustme
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.serialization import pkcs12

    canary = "page-canary-" + secrets.token_hex(10)
    issued = trustme.CA().issue_cert(HOSTNAME)
    key = serialization.load_pem_private_key(issued.private_key_pem.bytes(), None)
    cert = x509.load_pem_x509_certificate(issued.cert_chain_pems[0].bytes())
    form = _open(page, app, "01-import-certificate")
    pfx = app.root / "portal.pfx"
    pfx.write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"p",
            key,  # type: ignore[arg-type]
            cert,
            None,
            serialization.BestAvailableEncryption(canary.encode()),
        )
    )
    _hostname(form).fill(HOSTNAME)
    form.locator(".widget-toggle-button").filter(has_text="PFX file").click()
    form.locator(".widget-text").filter(has_text="PFX file").locator("input").fill(str(pfx))
    form.locator("input[type='password']").fill(canary)
    form.get_by_text("Ready: press Plan").wait_for()
    _run(page, "01-import-certificate")
    imported = _record(app, "01-import-certificate")
    assert imported["certificate"]["thumbprint"] == cert.fingerprint(hashes.SHA1()).hex().upper()
    assert canary not in page.content()
    assert form.locator("input[type='password']").input_value() == ""
    hits = [
        str(path)
        for folder in (app.root, app.home, app.log.parent)
        for path in folder.rglob("*")
        if path.is_file() and path != pfx and canary.encode() in path.read_bytes()
    ]
    assert hits == []
