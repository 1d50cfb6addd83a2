"""The notebook face: ipywidgets forms and IPython display. The only module that imports them.

The form is pre-filled from the parameters cell and validates as the operator types, with the reason
next to the field. Nothing here ever waits for a click: the cells below read what the form shows, so
Run-All, papermill and nbval go straight through with the committed defaults.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import ipywidgets as w
from IPython.display import HTML, display

from .findings import OctorunbookError
from .params import KEY_TYPES, SOURCES, STORES, TARGETS, Parameters, hostname_ok
from .redaction import Secret
from .render import Panel
from .runbook import RESULT_MIME, Run, RunbookFailed

FIELDS: dict[str, tuple[str, ...]] = {
    "01-import-certificate": (
        "target",
        "hostname",
        "certificate_source",
        "pfx_path",
        "pfx_password_env",
        "pem_cert_path",
        "pem_key_path",
        "thumbprint",
        "store",
        "key_type",
        "dry_run",
    ),
    "02-verify-certificate": ("target", "hostname", "thumbprint", "store"),
    "03-add-https-binding": (
        "target",
        "hostname",
        "thumbprint",
        "store",
        "https_port",
        "keep_http",
        "force_ssl",
        "hsts_max_age",
        "dry_run",
    ),
}
LABELS = {
    "target": "Target",
    "hostname": "Portal hostname",
    "certificate_source": "Certificate",
    "pfx_path": "PFX file",
    "pfx_password_env": "Password variable",
    "pem_cert_path": "PEM certificate",
    "pem_key_path": "PEM private key",
    "thumbprint": "Thumbprint",
    "store": "Store (LocalMachine)",
    "key_type": "Key type",
    "dry_run": "Dry run (plan only)",
    "https_port": "HTTPS port",
    "keep_http": "Keep HTTP",
    "force_ssl": "Redirect HTTP→HTTPS",
    "hsts_max_age": "HSTS max-age (s, 0=off)",
}


class NotebookReporter:
    """Panels as HTML (with a text twin), progress in place, the result record as its own mimetype."""

    def __init__(self) -> None:
        self._progress: Any = None

    def show(self, item: Any) -> None:
        display({"text/html": item.html(), "text/plain": item.text()}, raw=True)

    def progress(self, label: str, elapsed: float, total: float, detail: str = "") -> None:
        pct = min(100, int(100 * elapsed / total)) if total else 100
        html = (
            f"<div>⏳ {label}: {elapsed:.0f}/{total:.0f} s <progress value='{pct}' max='100'></progress>"
            f" <small>{detail}</small></div>"
        )
        bundle = {"text/html": html, "text/plain": f"… {label}: {elapsed:.0f}/{total:.0f} s"}
        if self._progress is None:
            self._progress = display(bundle, raw=True, display_id=True)
        else:
            self._progress.update(bundle, raw=True)

    def emit_result(self, record: dict[str, Any], panel: Panel) -> None:
        display({RESULT_MIME: record, "text/html": panel.html(), "text/plain": panel.text()}, raw=True)
        _write_interactive_record(record)


def _write_interactive_record(record: dict[str, Any]) -> None:
    """Outside ``octorunbook run`` (which stores the whole executed notebook), keep a record notebook."""
    if os.environ.get("OCTORUNBOOK_RECORDED_BY_RUNNER"):
        return
    try:
        from .auditlog import store_record
        from .runner import record_notebook

        store_record(Path(record["parameters"]["audit_dir"]).expanduser(), record_notebook(record))
    except Exception as exc:  # the record is still in this notebook; say why the copy failed
        display(HTML(f"<p>⚠ the audit copy could not be written: {exc}</p>"))


class Form:
    """An ipywidgets form over the runbook's parameters."""

    def __init__(self, runbook: str, params: Parameters) -> None:
        self.runbook = runbook
        self.initial = params
        self.widgets: dict[str, w.Widget] = {}
        self.messages: dict[str, w.HTML] = {}
        self.password = w.Password(
            description="PFX password",
            placeholder="only if the variable is not set",
            style={"description_width": "160px"},
        )
        for name in FIELDS[runbook]:
            self.widgets[name] = self._widget(name, getattr(params, name))
            self.messages[name] = w.HTML()
            self.widgets[name].observe(lambda _change: self.validate(), names="value")
        self.password.observe(lambda _change: self.validate(), names="value")
        self.status = w.HTML()
        self.validate()

    def _widget(self, name: str, value: Any) -> w.Widget:
        style = {"description_width": "160px"}
        label = LABELS.get(name, name)
        if name == "target":
            return w.ToggleButtons(options=TARGETS, value=value, description=label, style=style)
        if name == "certificate_source":
            return w.ToggleButtons(options=SOURCES, value=value, description=label, style=style)
        if name == "store":
            return w.Dropdown(options=STORES, value=value, description=label, style=style)
        if name == "key_type":
            return w.Dropdown(options=KEY_TYPES, value=value, description=label, style=style)
        if isinstance(value, bool):
            return w.Checkbox(value=value, description=label, style=style, indent=False)
        if isinstance(value, int):
            return w.IntText(value=value, description=label, style=style)
        return w.Text(
            value=value,
            description=label,
            style=style,
            continuous_update=True,
            layout=w.Layout(width="520px"),
        )

    def values(self) -> dict[str, Any]:
        return {name: widget.value for name, widget in self.widgets.items()}

    def parameters(self) -> Parameters:
        return replace(self.initial, **self.values()).coerced()

    def take_password(self) -> Secret | None:
        """Read the typed password once and clear the widget, so it is never saved with the notebook."""
        value = self.password.value
        self.password.value = ""
        return Secret(value) if value else None

    def validate(self) -> bool:
        """Check every field; put the reason next to it. Touches nothing on the target."""
        v = self.values()
        problems: dict[str, str] = {}
        if "hostname" in v and not hostname_ok(str(v["hostname"])):
            problems["hostname"] = "not a valid DNS name (letters, digits, hyphens, dots)"
        if "https_port" in v and not 1 <= int(v["https_port"] or 0) <= 65535:
            problems["https_port"] = "must be between 1 and 65535"
        if "hsts_max_age" in v and int(v["hsts_max_age"] or 0) < 0:
            problems["hsts_max_age"] = "0 (off) or seconds"
        source = v.get("certificate_source")
        for name in ("pfx_path", "pem_cert_path", "pem_key_path"):
            wanted = (name == "pfx_path" and source == "pfx") or (name.startswith("pem") and source == "pem")
            if name in v and wanted and not Path(str(v[name])).expanduser().is_file():
                problems[name] = "file not found" if v[name] else "required for this certificate source"
        if "pfx_password_env" in v and source == "pfx" and not os.environ.get(str(v["pfx_password_env"])):
            if not self.password.value:
                problems["pfx_password_env"] = (
                    f"environment variable {v['pfx_password_env']} is not set: set it, or "
                    "type the password below (it is never saved)"
                )
        if "thumbprint" in v and source == "store" and not str(v["thumbprint"]).strip():
            problems["thumbprint"] = "required: the certificate's thumbprint"
        if v.get("store") == "WebHosting" and v.get("target") == "sandbox":
            try:
                from .targets.sandbox import Sandbox

                root = self.initial.resolved_sandbox_dir()
                if Sandbox(root).exists() and not (root / "stores" / "WebHosting").is_dir():
                    problems["store"] = "WebHosting does not exist on this host (no IIS): use My"
            except OSError:
                pass
        for name, message in self.messages.items():
            message.value = (
                f"<span style='color:#cf222e'>✖ {problems[name]}</span>"
                if name in problems
                else "<span style='color:#1a7f37'>✔</span>"
            )
        self.status.value = (
            "<b style='color:#cf222e'>Fix the fields marked ✖ before running the cells below.</b>"
            if problems
            else "<b style='color:#1a7f37'>✔ Ready: run the cells below.</b>"
        )
        return not problems

    def show(self) -> None:
        rows = [w.HBox([self.widgets[n], self.messages[n]]) for n in self.widgets]
        if "pfx_password_env" in self.widgets:
            rows.append(self.password)
        display(w.VBox([w.HTML(f"<h3>{self.runbook}</h3>"), *rows, self.status]))


def start(runbook: str, namespace: Mapping[str, Any]) -> Form:
    """Cell 2 of every runbook: the parameters (checked for secrets) shown as a form."""
    try:
        params = Parameters.from_mapping(namespace)
    except OctorunbookError as exc:
        raise RunbookFailed(exc.code, exc.message, exc.remedy) from None
    form = Form(runbook, params)
    form.show()
    return form


def begin(form: Form) -> Run:
    """Open the target with what the form shows; the run's record is emitted even if this fails."""
    run = Run(form.runbook, form.parameters(), NotebookReporter())
    run.open()
    return run
