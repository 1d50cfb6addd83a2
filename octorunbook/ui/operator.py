"""Operator mode: a runbook as a page without code (Voilà, ``octorunbook app``) that changes nothing on opening.

Voilà runs every cell of a notebook when its page opens. The cells below a runbook's form change the
target, so in operator mode opening a page must not run them: the form cell shows the form with a Plan
and a Run button and turns every later cell of this kernel into an empty one (an IPython input
transformer, so the notebook is the same file JupyterLab, papermill and nbval run unchanged). Only a
click runs the runbook, and it runs it the way ``octorunbook run`` does — papermill, in a kernel of its
own, every save redacted — so the executed notebook in ``audit_dir`` is the audit record of that click,
the same artefact a headless run leaves. Its result panel is shown under the buttons; after a run that
succeeded, Continue opens the next runbook's page with the inputs it reads.

How the kernel knows: Voilà 0.5 starts each page's kernel with ``SERVER_SOFTWARE=voila/<version>`` in
its environment (``voila/handler.py``) — under ``octorunbook app`` and under the Voilà preview inside
JupyterLab alike; ``octorunbook app`` also sets ``OCTORUNBOOK_UI=operator``. A runbook's own kernel,
started by the runner (``OCTORUNBOOK_RECORDED_BY_RUNNER``), inherits both and is never in operator mode.
"""

from __future__ import annotations

import contextlib
import html
import os
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote, urlencode

from IPython import get_ipython
from IPython.display import HTML, display

from octorunbook.findings import InputError, OctorunbookError
from octorunbook.params.core import Parameters
from octorunbook.params.loading import parse_parameters
from octorunbook.params.runbooks import parameters_of
from octorunbook.runbooks.run import RUNBOOKS, RUNNER_ENV
from octorunbook.ui.form import Form
from octorunbook.ui.style import COLORS, ERROR, reason_of

if TYPE_CHECKING:
    import ipywidgets

OPERATOR_ENV = "OCTORUNBOOK_UI"  # "operator": set by `octorunbook app` for Voilà and its kernels
VOILA_TOKEN = "token"  # Voilà's login token in a page's address: the server's, no parameter

# The guided procedure: after a run that succeeded, Continue opens the next page.
NEXT = {RUNBOOKS[0]: RUNBOOKS[1], RUNBOOKS[1]: RUNBOOKS[2]}
TITLES = {
    "01-import-certificate": "01 · Import the certificate",
    "02-verify-certificate": "02 · Verify the certificate",
    "03-add-https-binding": "03 · Add the HTTPS binding",
    "04-renew-certificate": "04 · Renew or rotate the certificate",
    "05-harden-tls": "05 · Harden TLS",
}


def operator_mode(environ: Mapping[str, str] = os.environ) -> bool:
    """True in a Voilà page's kernel; never in a kernel the runner started (a run's own notebook)."""
    if environ.get(RUNNER_ENV):
        return False
    return environ.get(OPERATOR_ENV) == "operator" or environ.get("SERVER_SOFTWARE", "").startswith("voila/")


def _empty(lines: list[str]) -> list[str]:
    return []


def hold_cells_below() -> None:
    """Every cell this kernel runs from now on runs as an empty cell: opening the page changes nothing."""
    shell = get_ipython()
    if shell is not None and _empty not in shell.input_transformers_cleanup:
        shell.input_transformers_cleanup.append(_empty)


def query_parameters(runbook: str, environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The parameters of ``runbook`` the page's address carries (Continue's link): read like any door's,
    through the one parser, so a bad value is refused with its code. Another page's parameters and the login
    token are left alone here; a name no runbook knows is refused by :func:`with_address`."""
    query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    wanted = set(parameters_of(runbook))
    return {name: values[-1] for name, values in query.items() if name in wanted}


def with_address(
    runbook: str, given: dict[str, Any], environ: Mapping[str, str] = os.environ
) -> dict[str, Any]:
    """The parameters cell's values with the address's on top, if the one parser accepts them together.

    A name no runbook knows (``PARAMETER_UNKNOWN``: a typo would leave the default unsaid) and a value the
    parser's checks refuse (a line break in a path, a password pasted as a variable name) are refused too.
    An address whose values are refused is said on the page and left out — the form then shows the
    runbook's own values — so opening a page with a bad address changes nothing either (not even a record).
    """
    carried = query_parameters(runbook, environ)
    query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    unknown = {n: v[-1] for n, v in query.items() if n not in Parameters.names() and n != VOILA_TOKEN}
    if not carried and not unknown:
        return given
    try:
        _refuse_new_problems(given, parse_parameters({**given, **carried, **unknown}))
    except OctorunbookError as exc:
        display(
            HTML(
                f"<p style='color:{COLORS[ERROR]}'>✖ The page's address was not used — {html.escape(exc.code)}: "
                f"{html.escape(exc.message)} The form shows the runbook's own values.</p>"
            )
        )
        return given
    return {**given, **carried}


def _refuse_new_problems(given: dict[str, Any], taken: Parameters) -> None:
    """The parser's value checks (a line break in a path, a password pasted as a variable name) for what
    the address added: an error the page's own values do not have is the address's, and refused."""
    own = {f.code for f in Parameters.from_mapping(given).check() if f.severity == "error"}
    for finding in taken.check():
        if finding.severity == "error" and finding.code not in own:
            raise InputError(finding.code, finding.message, finding.remedy)


def continue_query(runbook: str, params: Parameters, record: Mapping[str, Any]) -> str:
    """The next page's inputs: what it reads of this run's, where they differ from the defaults. The
    record's view of the parameters is used, so a password pasted into a ``*_env`` field never reaches
    an address (it is shown by its length, which the next form refuses)."""
    shown = {**params.to_record(), "audit_dir": str(record.get("parameters", {}).get("audit_dir", ""))}
    thumbprint = str((record.get("certificate") or {}).get("thumbprint", ""))
    if thumbprint:
        shown["thumbprint"] = thumbprint
    carried = {
        name: str(shown[name])
        for name in parameters_of(runbook)
        if name in shown and shown[name] != getattr(Parameters, name) and shown[name] != ""
    }
    return urlencode(carried, quote_via=quote)


@contextlib.contextmanager
def _run_environment(runbook: str, form: Form) -> Iterator[None]:
    """For one click: run the notebook this page shows, and hand a typed PFX password to the run's kernel.

    Voilà starts the page's kernel in the notebook's folder, so the runbook run is that file (the
    operator's copy), not the packaged one. A typed password travels only in the run's environment,
    under the variable ``pfx_password_env`` names, and is gone from it (and from the form) afterwards.
    """
    secret = form.take_password()  # PFX_PASSWORD_TOO_SHORT stops here, before the environment is touched
    name = str(form.values().get("pfx_password_env", ""))
    # the run's kernel needs neither the server's login token nor the page's address
    before = {
        "JUPYTER_TOKEN": os.environ.pop("JUPYTER_TOKEN", None),
        "QUERY_STRING": os.environ.pop("QUERY_STRING", None),
        "OCTORUNBOOK_NOTEBOOKS": os.environ.get("OCTORUNBOOK_NOTEBOOKS"),
    }
    if (Path.cwd() / f"{runbook}.ipynb").is_file():
        os.environ["OCTORUNBOOK_NOTEBOOKS"] = str(Path.cwd())
    if secret and name and not os.environ.get(name):
        before[name] = None
        os.environ[name] = secret.reveal()
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class OperatorControls:
    """Plan and Run under the form; a status line; the run's progress, result panel and Continue under them.

    The buttons are honest about the page's kernel connection. Voilà shows the page before the browser's
    widget manager has restored the widgets over the kernel's websocket, and a button only works once
    that connection carries messages both ways. So both buttons start disabled under "connecting…", and
    their ``_view_count`` is tracked (ipywidgets' own mechanism: the browser reports each view it
    displays): that report reaching the kernel proves browser → kernel, and the kernel's answer —
    enabling the buttons, "ready" on the status line — reaching the browser proves kernel → browser.
    A click is answered at once, from the kernel: both buttons disable and the status line says
    "planning…" or "running…" until the run ends. A click while a run is in progress changes nothing.
    """

    def __init__(self, form: Form) -> None:
        import ipywidgets as w  # a page's kernel only: a headless run never imports it

        self.form = form
        self.plan = w.Button(
            description="Plan (change nothing)",
            icon="search",
            layout=w.Layout(width="auto"),
            disabled=True,
        )
        self.run = w.Button(
            description="Run",
            button_style="primary",
            icon="play",
            layout=w.Layout(width="auto"),
            disabled=True,
        )
        self.status = w.HTML(CONNECTING)
        self.status.add_class("octorunbook-status")
        self.out = w.Output()
        self.connected = False
        self.running = threading.Event()  # set from the click that starts a run until that run has ended
        self.worker: threading.Thread | None = None
        self._previous: tuple[datetime, float] | None = None  # the last run's click: sent at, seconds taken
        for button in (self.plan, self.run):
            button._view_count = 0  # the browser reports each view it displays: the first report proves it
            button.observe(self._seen, names="_view_count")
        self.plan.on_click(lambda _button: self.start(dry_run=True))
        self.run.on_click(lambda _button: self.start(dry_run=False))

    def widget(self) -> ipywidgets.Widget:
        import ipywidgets as w

        box = w.VBox([w.HBox([self.plan, self.run]), self.status, self.out], layout=w.Layout(margin="4px 0"))
        box.add_class("octorunbook-operator")
        return box

    def show(self) -> None:
        """The controls, after a line the page shows at once (plain HTML, no widget): until the browser
        has the widgets from the kernel there are no buttons at all, and the line says why; it hides
        itself once the controls are on the page (CSS ``:has``), whose own status line takes over."""
        display(HTML(WAITING))
        bundle = self.widget()._repr_mimebundle_()
        bundle["text/plain"] = f"[operator controls {self.form.runbook}: Plan and Run]"
        display(bundle, raw=True)

    def _seen(self, change: Mapping[str, Any]) -> None:
        """A view of a button was displayed in a browser and said so: the connection is up both ways
        once this answer (buttons enabled) is shown there."""
        if self.connected or not change.get("new"):
            return
        self.connected = True
        self._idle(READY)

    def _idle(self, text: str) -> None:
        self.status.value = text
        self.plan.disabled = self.run.disabled = False

    def _say(self, text: str) -> None:
        self.out.append_display_data(HTML(text))

    def start(self, dry_run: bool) -> None:
        """One click: the runbook through papermill with what the form shows (a plan: ``dry_run``), on a
        worker thread, so the kernel stays free to hear — and ignore — any click behind this one.

        Voilà's kernel handles the page's messages one at a time. Were the run made inside this callback,
        a second click (a double click, or an impatient one before the buttons disabled in the browser)
        would wait in the kernel's queue and start a second full run once the first ended: 04 would rotate
        twice, 05 apply twice. On a thread, that click arrives while :attr:`running` is set and is only
        said. A click of the same burst that reaches the kernel after a short run has already ended is
        recognised by the time the browser sent it (see :meth:`_late`). A widget callback must never raise
        (the reason would vanish): every failure is said on the page.
        """
        sent, received = _click_sent(), time.monotonic()
        if self.running.is_set() or self._late(sent):
            when = "" if self.running.is_set() else " when this click was sent"
            self._say(
                f"<p class='octorunbook-ignored'><small>⏸ already running{when} — {IGNORED}</small></p>"
            )
            return
        runbook = self.form.runbook
        self.connected = True  # a click came through: the connection is up
        self.plan.disabled = self.run.disabled = True
        doing = "planning" if dry_run else "running"
        self.status.value = _status(f"▶ {doing} {runbook} … (the buttons wake up when it ends)")
        # Not ``out.clear_output()``: that clears through the browser (an output message captured by the
        # Output widget there), which then sends its emptied outputs back — and that message, queued
        # behind this very click, would be applied after the run and wipe out its progress and panel.
        self.out.outputs = ()
        if not self.form.validate():
            self._say(
                f"<p style='color:{COLORS[ERROR]}'>✖ Fix the fields marked ✖ first; nothing was run.</p>"
            )
            self._idle(READY)
            return
        self.running.set()
        self.worker = threading.Thread(
            target=self._run, args=(dry_run, sent, received), name=f"octorunbook-{runbook}", daemon=True
        )
        self.worker.start()

    def _late(self, sent: datetime | None) -> bool:
        """True for a click the browser sent before the previous run had ended. Only the browser's own
        clock is compared — the previous click's time of sending plus how long the kernel took from that
        click to the run's end — so a browser clock set differently from the server's does not matter.
        No grace is added: a click made after the browser saw the run end was sent later than that by
        the way there and back, and runs."""
        if sent is None or self._previous is None:
            return False
        before, took = self._previous
        return sent < before + timedelta(seconds=took)

    def _run(self, dry_run: bool, sent: datetime | None, received: float) -> None:
        from octorunbook.evidence.posture import PostureReport, posture_panel
        from octorunbook.headless.runner import execute
        from octorunbook.render import result_panel

        runbook = self.form.runbook
        doing = "planning" if dry_run else "running"
        try:
            params = self.form.parameters()
            if dry_run:
                params = replace(params, dry_run=True)
            self._say(f"<p>▶ {html.escape(runbook)}: {doing} …</p>")
            with _run_environment(runbook, self.form):
                result = execute(
                    runbook,
                    params,
                    progress=lambda line: self._say(f"<p><small>{html.escape(line)}</small></p>"),
                )
            if result.record is None:
                self._say(
                    f"<p>✖ {html.escape(runbook)} left no record; see {html.escape(str(result.path))}</p>"
                )
                return
            self._say(result_panel(result.record).html())
            posture = PostureReport.from_record(result.record.get("posture"))
            if posture is not None:  # 05 (and 03's scan): what the portal accepts, as the notebook shows it
                self._say(posture_panel(posture).html())
            self._say(
                "<p><small>audit record (the executed notebook): "
                f"<code>{html.escape(str(result.path))}</code></small></p>"
            )
            following = NEXT.get(runbook)
            if following and result.status in {"succeeded", "unchanged"}:
                self._say(_continue_link(following, continue_query(following, params, result.record)))
        except OctorunbookError as exc:
            self._say(
                f"<p style='color:{COLORS[ERROR]}'>✖ {html.escape(exc.code)}: {html.escape(exc.message)}"
                f"<br>remedy: {html.escape(exc.remedy)}</p>"
            )
        except Exception as exc:
            self._say(f"<p style='color:{COLORS[ERROR]}'>✖ could not run: {html.escape(reason_of(exc))}</p>")
        finally:
            if sent is not None:
                self._previous = (sent, time.monotonic() - received)
            self._idle(_status(f"✔ {'planned' if dry_run else 'ran'} {runbook}: the result is below."))
            self.running.clear()


def _click_sent() -> datetime | None:
    """When the browser sent the click being handled: the ``date`` of its message's header (the
    browser's clock), or None where there is none (a click made in Python, an older front end)."""
    shell = get_ipython()
    kernel = getattr(shell, "kernel", None)
    try:
        date = kernel.get_parent()["header"]["date"] if kernel is not None else None
        if isinstance(date, str):
            date = datetime.fromisoformat(date.replace("Z", "+00:00"))
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
    if not isinstance(date, datetime):
        return None
    return date if date.tzinfo else date.replace(tzinfo=UTC)


def _status(text: str) -> str:
    return f"<small>{html.escape(text)}</small>"


CONNECTING = _status("⏳ connecting… the buttons wake up once this page's kernel answers.")
WAITING = (
    "<style>.jp-OutputArea:has(.octorunbook-operator) .octorunbook-waiting{display:none}</style>"
    "<p class='octorunbook-waiting'><small>⏳ connecting… the Plan and Run buttons appear once this "
    "page's kernel answers.</small></p>"
)
IGNORED = "this click was ignored: one click, one run."
READY = _status("✔ connected: press Plan to see what would change, or Run.")


def _continue_link(runbook: str, query: str) -> str:
    """A link, not a kernel action: the next page is its own Voilà page (relative to this one), opened in
    this tab (``_self``: JupyterLab's renderer sends a link without a target to a new tab)."""
    href = f"{quote(runbook)}.ipynb" + (f"?{query}" if query else "")
    return (
        f"<p><a class='octorunbook-continue' href='{html.escape(href, quote=True)}' target='_self' "
        "style='display:inline-block;"
        "padding:6px 14px;border-radius:4px;background:#0969da;color:#fff;text-decoration:none;font-weight:600'>"
        f"Continue ▸ {html.escape(TITLES[runbook])}</a></p>"
    )
