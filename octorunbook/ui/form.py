"""The form over a runbook's parameters: pre-filled, kept across Run All, validated as the operator types."""

from __future__ import annotations

import functools
import html
import os
from collections.abc import Callable
from dataclasses import replace
from types import ModuleType
from typing import Any

from IPython.display import display

from octorunbook.params.core import Parameters
from octorunbook.redaction import Secret, password_secret, shown_env_name
from octorunbook.render import Panel, Row
from octorunbook.ui.fields import LABELS, NGINX_ONLY, SOURCE_FIELDS, SOURCE_ONLY, fields_for, nginx_in_front
from octorunbook.ui.style import (
    COLORS,
    DESCRIPTION_STYLE,
    ERROR,
    INFO,
    OK,
    WARN,
    describe,
    message_html,
    reason_of,
)
from octorunbook.ui.target_view import TargetView
from octorunbook.ui.validation import field_problems
from octorunbook.ui.widgets import make_widget


def _kit(live: bool) -> ModuleType:
    """The widget classes: ipywidgets for a form someone looks at, else the inert ones."""
    from importlib import import_module

    return import_module("ipywidgets" if live else "octorunbook.ui.inert")


def _guarded(method: Callable[..., Any]) -> Callable[..., Any]:
    """A widget callback that cannot raise: a failure is shown on the form instead of being lost."""

    @functools.wraps(method)
    def wrapper(self: Form, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except Exception as exc:
            try:
                self.status.value = message_html(ERROR, f"The form hit a problem: {reason_of(exc)}")
            except Exception:  # pragma: no cover - nothing left to report with
                pass
            return None

    return wrapper


class Form:
    """An ipywidgets form over the runbook's parameters.

    ``previous`` is the form this one replaces (the form cell was run again): its values are kept for
    every field whose parameter did not change in between. With ``live=False`` (a kernel the runner
    started: nobody looks at the form) the same fields are filled, arranged and validated with the inert
    widgets of :mod:`octorunbook.ui.inert`, and ipywidgets is not imported.
    """

    def __init__(
        self,
        runbook: str,
        params: Parameters,
        previous: Form | None = None,
        *,
        operator: bool = False,
        live: bool = True,
    ) -> None:
        self.runbook = runbook
        self.operator = operator  # a Voilà page (ui.operator): the Run button starts the run, not Run All
        self.live = live
        w = _kit(live)
        self._kit = w
        self.initial = params
        self.view = TargetView(params)
        self.notes: dict[str, str] = {}
        self.widgets: dict[str, Any] = {}
        self.messages: dict[str, Any] = {}
        self.rows: dict[str, Any] = {}
        values = {name: getattr(params, name) for name in fields_for(runbook, params)}
        if previous is not None and previous.runbook == runbook:
            kept = previous.values()
            for name in values:
                if getattr(params, name) == getattr(previous.initial, name):
                    values[name] = kept[name]
        elif runbook != "01-import-certificate":
            self._hostname_from_last_import(values)
        for name, value in values.items():
            self.widgets[name] = make_widget(name, value, runbook, w)
            self.messages[name] = w.HTML(layout=w.Layout(margin="0 0 0 8px", max_width="560px"))
            self.rows[name] = w.HBox([self.widgets[name], self.messages[name]])
        self.password = w.Password(
            description="PFX password",
            placeholder="read once when the PFX is opened, then cleared; never saved",
            style=DESCRIPTION_STYLE,
            layout=w.Layout(width="560px"),
        )
        self.password_row = w.HBox([self.password])
        self.picker = w.Dropdown(
            options=[],
            description="Pick from the store",
            style=DESCRIPTION_STYLE,
            layout=w.Layout(width="760px"),
        )
        self.picker_message = w.HTML(layout=w.Layout(margin="0 0 0 8px"))
        self.picker_row = w.VBox([self.picker, self.picker_message])
        self._picker_store: str | None = None
        self.status = w.HTML()
        if previous is not None:
            # The typed password moves to the new form (it has not been used yet) and leaves the old one.
            self.password.value = previous.password.value
            previous.password.value = ""
            previous.close()
        for widget in self.widgets.values():
            widget.observe(self._changed, names="value")
        self.password.observe(self._changed, names="value")
        self.picker.observe(self._picked, names="value")
        self._changed()

    # ---- widgets ---------------------------------------------------------------------------
    def _hostname_from_last_import(self, values: dict[str, Any]) -> None:
        """02/03 with the default hostname and no thumbprint: use the name of the certificate 01 imported.

        Binding ``localhost`` to a certificate made for ``octopus.example.com`` would "work" and then
        make every browser warn; the hostname belongs with the certificate, so it follows it (and says so).
        """
        if values.get("thumbprint") or values.get("hostname") != Parameters.hostname:
            return
        try:
            last = self.view.last_import()
            if not last:
                return
            cert = self.view.certificate(str(last["thumbprint"]), str(last.get("store", values["store"])))
        except Exception:
            return
        names = [n for n in (cert.dns_names if cert else ()) if not n.startswith("*.")]
        if names and values["hostname"] not in names:
            values["hostname"] = names[0]
            self.notes["hostname"] = f"from the certificate 01 imported last ({', '.join(names)})"

    # ---- values ----------------------------------------------------------------------------
    def values(self) -> dict[str, Any]:
        return {name: widget.value for name, widget in self.widgets.items()}

    def parameters(self) -> Parameters:
        return replace(self.initial, **self.values()).coerced()

    def take_password(self) -> Secret | None:
        """Read the typed password once and clear the widget, so it is never saved with the notebook."""
        value = self.password.value
        self.password.value = ""
        return password_secret(value) if value else None

    def close(self) -> None:
        """Close every widget (a replaced form): its views disappear, its models leave the kernel."""
        for widget in [*self.widgets.values(), *self.messages.values(), *self.rows.values()]:
            widget.close()
        for widget in (self.password, self.password_row, self.picker, self.picker_message, self.picker_row):
            widget.close()
        self.status.close()

    # ---- callbacks -------------------------------------------------------------------------
    @_guarded
    def _changed(self, _change: Any = None) -> None:
        self._arrange()
        self.validate()

    @_guarded
    def _picked(self, change: Any) -> None:
        if change.get("new") and "thumbprint" in self.widgets:
            self.widgets["thumbprint"].value = change["new"]

    def _arrange(self) -> None:
        """Show what the chosen certificate source (and front) needs, like the wizard's pages; keep the rest."""
        source = self.widgets["certificate_source"].value if "certificate_source" in self.widgets else None
        nginx = nginx_in_front(self.values())
        for name, row in self.rows.items():
            hidden = source is not None and name in SOURCE_ONLY and name not in SOURCE_FIELDS[source]
            hidden = hidden or (name in NGINX_ONLY and not nginx)
            row.layout.display = "none" if hidden else None
        env = str(self.widgets["pfx_password_env"].value) if "pfx_password_env" in self.widgets else ""
        needs_password = source == "pfx" and not os.environ.get(env)
        self.password_row.layout.display = None if needs_password else "none"
        if source == "store":
            self.picker_row.layout.display = None
            if self.live:  # the list is for someone to pick from: a headless run reads no store for it
                self._load_picker()
        else:
            self.picker_row.layout.display = "none"

    def _load_picker(self) -> None:
        """List the store's certificates with a private key (lazily: only when "store" is chosen)."""
        store = str(self.widgets["store"].value)
        if self._picker_store == store:
            return
        self._picker_store = store
        try:
            found = self.view.certificates(store)
        except Exception as exc:
            self.picker.options = []
            self.picker.disabled = True
            why = str(exc) if isinstance(exc, LookupError) else reason_of(exc)
            self.picker_message.value = message_html(INFO, f"no list: {why}; type the thumbprint above")
            return
        self.picker.disabled = not found
        current = str(self.widgets["thumbprint"].value).strip().upper()
        options = [("(choose a certificate)", "")] + [(describe(c), c.thumbprint) for c in found]
        self.picker.options = options
        self.picker.value = current if any(c.thumbprint == current for c in found) else ""
        self.picker_message.value = (
            message_html(INFO, f"{len(found)} certificate(s) with a private key in LocalMachine\\{store}")
            if found
            else message_html(WARN, f"LocalMachine\\{store} holds no certificate with a private key")
        )

    # ---- validation ------------------------------------------------------------------------
    def problems(self) -> dict[str, tuple[str, str]]:
        """Per field: (severity, reason). Reads the target (read-only) but changes nothing."""
        return field_problems(self.values(), self.view, bool(self.password.value), self.notes)

    def validate(self) -> bool:
        """Check every field and put the reason next to it; True when nothing would stop the run."""
        found = self.problems()
        for name, message in self.messages.items():
            severity, reason = found.get(name, (OK, ""))
            message.value = message_html(severity, reason)
        errors = sum(1 for severity, _ in found.values() if severity == ERROR)
        if errors:
            self.status.value = (
                f"<div style='color:{COLORS[ERROR]};font-weight:600;margin-top:6px'>✖ {errors} field(s) "
                f"marked ✖ would stop the run at “Open the target”: fix them, then {self._start_hint()}.</div>"
            )
        else:
            self.status.value = (
                f"<div style='color:{COLORS[OK]};font-weight:600;margin-top:6px'>✔ Ready: "
                f"{self._start_hint(ready=True)}.</div>"
            )
        return not errors

    def _start_hint(self, ready: bool = False) -> str:
        """How a run is started where this form is shown: the page's buttons, or JupyterLab's Run menu."""
        if self.operator:
            return "press Plan to see what would change, or Run" if ready else "press Run"
        if ready:
            return "Run ▸ Run All Cells (the kernel keeps what you typed here)"
        return "Run ▸ Run All Cells"

    # ---- display ---------------------------------------------------------------------------
    def widget(self) -> Any:
        w = self._kit
        title = {
            "01-import-certificate": "Import the certificate",
            "02-verify-certificate": "Verify the certificate",
            "03-add-https-binding": "Add the HTTPS binding",
            "04-renew-certificate": "Renew or rotate the certificate",
            "05-harden-tls": "Harden TLS",
        }[self.runbook]
        header = w.HTML(
            "<div style='font-size:1.1em;font-weight:600;margin:2px 0 6px'>"
            f"{html.escape(title)} <span style='font-weight:400;color:#57606a'>· {self.runbook}</span></div>"
        )
        rows: list[Any] = []
        for name, row in self.rows.items():
            rows.append(row)
            if name == "thumbprint" and self.runbook == "01-import-certificate":
                rows.append(self.picker_row)
            if name == "pfx_password_env":
                rows.append(self.password_row)
        box = w.VBox(
            [header, *rows, self.status],
            layout=w.Layout(border="1px solid #d0d7de", padding="8px 12px", margin="4px 0", width="auto"),
        )
        box.add_class("octorunbook-form")
        return box

    def show(self) -> None:
        """The live form; its text twin is one line (the values used are in the "Inputs" panel)."""
        if not self.live:
            display(
                {"text/plain": f"[form {self.runbook}: a headless run; its inputs are in the panel below]"},
                raw=True,
            )
            return
        bundle = self.widget()._repr_mimebundle_()
        bundle["text/plain"] = (
            f"[form {self.runbook}: live widgets; the inputs this run used are in the panel below]"
        )
        display(bundle, raw=True)

    def summary(self) -> Panel:
        """The inputs this run used, as a static panel: readable in an executed notebook without widgets."""
        found = self.problems()
        rows = []
        for name, value in self.values().items():
            if self.rows[name].layout.display == "none":
                continue  # not used by the chosen certificate source
            severity, reason = found.get(name, (OK, ""))
            if name == "pfx_password_env":  # perhaps the password itself: shown only by its length
                value = shown_env_name(str(value))
            rows.append(
                Row(severity, LABELS.get(name, name), f"{value}" + (f" — {reason}" if reason else ""))
            )
        return Panel("Inputs for this run", INFO, rows)
