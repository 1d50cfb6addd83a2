"""The notebook face: ipywidgets forms and IPython display. The only module that imports them.

The form is pre-filled from the parameters cell and validates as the operator types, with the reason
next to the field (✔ fine, ⚠ will work but look, ✖ would fail). Nothing here ever waits for a click:
the cells below read what the form shows, so Run-All, papermill and nbval go straight through with the
committed defaults.

Three choices shape it:

* **The kernel remembers what was typed.** Run ▸ Run All Cells runs the form cell again, which would
  otherwise throw the operator's edits away; a new form starts from the previous one's values, except
  for a field whose parameter was changed in the parameters cell since (the last edit wins).
* **Looking at the target is read-only and lazy.** The form asks the target whether a store exists and
  which certificates it holds only for the sandbox (plain files) or when the operator asks for the list;
  it never creates the sandbox and never changes anything.
* **Widget callbacks never raise.** An exception in a callback would vanish into the browser console
  (JupyterLab shows callback output nowhere); every callback is guarded and puts the reason on the form.
"""

from __future__ import annotations

import functools
import html
import os
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import ipywidgets as w
from IPython.display import HTML, display

from . import RESULT_MIME
from .findings import OctorunbookError
from .params import KEY_TYPES, POSTURES, RETIRE_CHOICES, SOURCES, STORES, TARGETS, Parameters, hostname_ok
from .redaction import Secret, env_name_ok, password_secret, shown_env_name
from .render import Panel, Row
from .runbook import RUNBOOKS, Run
from .targets.base import StoredCertificate, Target

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
    "04-renew-certificate": (
        "target",
        "hostname",
        "certificate_source",
        "pfx_path",
        "pfx_password_env",
        "pem_cert_path",
        "pem_key_path",
        "thumbprint",
        "store",
        "https_port",
        "renew_before_days",
        "force_renew",
        "retire_old",
        "dry_run",
    ),
    "05-harden-tls": ("target", "hostname", "https_port", "posture", "apply", "dry_run"),
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
    "renew_before_days": "Renew with fewer days left than",
    "force_renew": "Replace now (rotate)",
    "retire_old": "Old certificate after proof",
    "posture": "Posture findings are",
    "apply": "Apply the plan (else plan only)",
}
PLACEHOLDERS = {
    "hostname": "octopus.example.com",
    "pfx_path": "C:\\certs\\octopus.pfx",
    "pem_cert_path": "octopus.crt",
    "pem_key_path": "octopus.key",
    "thumbprint": "pick one below, or paste it from MMC",
}
SOURCE_LABELS = {
    "self-signed": "New self-signed",
    "pfx": "PFX file",
    "pem": "PEM files",
    "store": "Already in the store",
    "acme": "ACME (Let's Encrypt)",
}
# Which fields each certificate source needs; the others are hidden (their values are kept).
SOURCE_FIELDS = {
    "self-signed": {"key_type"},
    "pfx": {"pfx_path", "pfx_password_env"},
    "pem": {"pem_cert_path", "pem_key_path"},
    "store": {"thumbprint"},
    "acme": {"key_type"},
}
SOURCE_ONLY: frozenset[str] = frozenset().union(*SOURCE_FIELDS.values())
OK, WARN, ERROR, INFO = "ok", "warning", "error", "info"
_COLORS = {OK: "#1a7f37", WARN: "#9a6700", ERROR: "#cf222e", INFO: "#0969da"}
_SYMBOLS = {OK: "✔", WARN: "⚠", ERROR: "✖", INFO: "ℹ"}
_DESCRIPTION = {"description_width": "170px"}

# The forms shown in this kernel, by runbook: Run All must not lose what the operator typed.
_SHOWN: dict[str, Form] = {}


def _message(severity: str, text: str = "") -> str:
    symbol = _SYMBOLS[severity]
    body = f" {html.escape(text)}" if text else ""
    return f"<span style='color:{_COLORS[severity]};line-height:1.2'>{symbol}{body}</span>"


class NotebookReporter:
    """Panels as HTML (with a text twin), progress in place, the result record as its own mimetype."""

    def __init__(self) -> None:
        self._progress: Any = None
        self._label = ""

    def show(self, item: Any) -> None:
        display({"text/html": item.html(), "text/plain": item.text()}, raw=True)

    def progress(self, label: str, elapsed: float, total: float, detail: str = "") -> None:
        """One line that updates in place (a display_id), so a long wait reads as progress, not as a hang."""
        pct = min(100, int(100 * elapsed / total)) if total else 100
        detail_html = f"<span style='color:#57606a'> · {html.escape(detail)}</span>" if detail else ""
        bundle = {
            "text/html": (
                "<div class='octorunbook-progress' style='display:flex;align-items:center;gap:10px;"
                "margin:4px 0;font-family:system-ui,sans-serif;color:#1f2328'>"
                f"<span>⏳ {html.escape(label)}</span>"
                "<span style='display:inline-block;width:220px;height:8px;background:#eaeef2;"
                f"border-radius:4px;overflow:hidden'><span style='display:block;height:8px;width:{pct}%;"
                "background:#0969da'></span></span>"
                f"<span style='font-variant-numeric:tabular-nums'>{elapsed:.0f} / {total:.0f} s</span>"
                f"{detail_html}</div>"
            ),
            "text/plain": f"… {label}: {elapsed:.0f}/{total:.0f} s" + (f" {detail}" if detail else ""),
        }
        if self._progress is None or label != self._label:
            self._label = label
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
        from .audit.chain import head_hint
        from .auditlog import store_record
        from .runner import record_notebook

        audit_dir = Path(record["parameters"]["audit_dir"]).expanduser()
        store_record(audit_dir, record_notebook(record))
        display(HTML(f"<p><code>{html.escape(head_hint(audit_dir))}</code></p>"))
    except Exception as exc:  # the record is still in this notebook; say why the copy failed
        display(HTML(f"<p>⚠ the audit copy could not be written: {html.escape(str(exc))}</p>"))


class TargetView:
    """Read-only, lazy look at the target for the form: stores, certificates, the last import.

    The sandbox is only looked at when it already exists (``open_target`` would create it, and a form
    must not change anything); a Windows target is opened once, on first need, since that runs commands.
    """

    def __init__(self, params: Parameters) -> None:
        self.params = params
        self._windows: Target | None = None
        self._windows_error = ""

    def open(self) -> tuple[Target | None, str]:
        """The target, or None and why not (said next to the field, never raised)."""
        from .commands import CommandRunner

        if self.params.target == "sandbox":
            from .targets.sandbox import Sandbox

            root = self.params.resolved_sandbox_dir()
            sandbox = Sandbox(root)
            if not sandbox.exists():
                return None, f"the sandbox {root} does not exist yet: running the cells below creates it"
            return sandbox.open_target(self.params.instance, CommandRunner()), ""
        if self._windows is None and not self._windows_error:
            try:
                from .targets import open_target

                self._windows = open_target(self.params, CommandRunner())
            except Exception as exc:  # not on Windows, not elevated, no Octopus: say so, do not fail
                self._windows_error = f"cannot look at this host: {_reason(exc)}"
        return self._windows, self._windows_error

    def store_exists(self, store: str) -> bool | None:
        target, _ = self.open()
        return None if target is None else target.store.store_exists(store)

    def certificates(self, store: str) -> list[StoredCertificate]:
        """Certificates in LocalMachine\\<store> that have a private key: the only ones a binding can use."""
        target, why = self.open()
        if target is None:
            raise LookupError(why)
        if not target.store.store_exists(store):
            raise LookupError(f"LocalMachine\\{store} does not exist on this host")
        return [c for c in target.store.list_certificates(store) if c.has_private_key]

    def certificate(self, thumbprint: str, store: str) -> StoredCertificate | None:
        target, why = self.open()
        if target is None:
            raise LookupError(why)
        if not target.store.store_exists(store):
            raise LookupError(f"LocalMachine\\{store} does not exist on this host")
        return target.store.get_certificate(thumbprint, store)

    def last_import(self) -> dict[str, Any] | None:
        target, _ = self.open()
        return None if target is None else target.recall("last-import")


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OctorunbookError):
        return f"{exc.code}: {exc.message}"
    return f"{type(exc).__name__}: {exc}"


def describe(cert: StoredCertificate) -> str:
    """One line per certificate, like the wizard's list: subject, names, expiry, thumbprint."""
    names = ", ".join(cert.dns_names) or "no DNS names"
    return f"{cert.subject} · {names} · expires {cert.not_after[:10]} · {cert.thumbprint}"


def _guarded(method: Callable[..., Any]) -> Callable[..., Any]:
    """A widget callback that cannot raise: a failure is shown on the form instead of being lost."""

    @functools.wraps(method)
    def wrapper(self: Form, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except Exception as exc:
            try:
                self.status.value = _message(ERROR, f"The form hit a problem: {_reason(exc)}")
            except Exception:  # pragma: no cover - nothing left to report with
                pass
            return None

    return wrapper


class Form:
    """An ipywidgets form over the runbook's parameters.

    ``previous`` is the form this one replaces (the form cell was run again): its values are kept for
    every field whose parameter did not change in between.
    """

    def __init__(self, runbook: str, params: Parameters, previous: Form | None = None) -> None:
        self.runbook = runbook
        self.initial = params
        self.view = TargetView(params)
        self.notes: dict[str, str] = {}
        self.widgets: dict[str, w.Widget] = {}
        self.messages: dict[str, w.HTML] = {}
        self.rows: dict[str, w.Box] = {}
        values = {name: getattr(params, name) for name in FIELDS[runbook]}
        if previous is not None and previous.runbook == runbook:
            kept = previous.values()
            for name in values:
                if getattr(params, name) == getattr(previous.initial, name):
                    values[name] = kept[name]
        elif runbook != "01-import-certificate":
            self._hostname_from_last_import(values)
        for name, value in values.items():
            self.widgets[name] = self._widget(name, value)
            self.messages[name] = w.HTML(layout=w.Layout(margin="0 0 0 8px", max_width="560px"))
            self.rows[name] = w.HBox([self.widgets[name], self.messages[name]])
        self.password = w.Password(
            description="PFX password",
            placeholder="read once when the PFX is opened, then cleared; never saved",
            style=_DESCRIPTION,
            layout=w.Layout(width="560px"),
        )
        self.password_row = w.HBox([self.password])
        self.picker = w.Dropdown(
            options=[],
            description="Pick from the store",
            style=_DESCRIPTION,
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
    def _widget(self, name: str, value: Any) -> w.Widget:
        label = LABELS.get(name, name)
        if name == "target":
            return w.ToggleButtons(options=TARGETS, value=value, description=label, style=_DESCRIPTION)
        if name == "certificate_source":
            options = [(SOURCE_LABELS[s], s) for s in SOURCES]
            return w.ToggleButtons(
                options=options,
                value=value,
                description=label,
                style=_DESCRIPTION,
                tooltips=[
                    "a new certificate for the hostname (rehearsal, internal use)",
                    "a .pfx/.p12 file from your CA, with its private key",
                    "a PEM certificate and its key file",
                    "a certificate already in LocalMachine\\My or WebHosting",
                    "issued (and renewed by 04) by an ACME CA such as Let's Encrypt",
                ],
            )
        if name == "store":
            return w.Dropdown(options=STORES, value=value, description=label, style=_DESCRIPTION)
        if name == "key_type":
            return w.Dropdown(options=KEY_TYPES, value=value, description=label, style=_DESCRIPTION)
        if name == "retire_old":
            return w.Dropdown(options=RETIRE_CHOICES, value=value, description=label, style=_DESCRIPTION)
        if name == "posture":
            return w.Dropdown(options=POSTURES, value=value, description=label, style=_DESCRIPTION)
        if isinstance(value, bool):
            return w.Checkbox(
                value=value,
                description=label,
                style=_DESCRIPTION,
                indent=True,
                layout=w.Layout(width="480px"),
            )
        if isinstance(value, int):
            return w.IntText(
                value=value, description=label, style=_DESCRIPTION, layout=w.Layout(width="300px")
            )
        placeholder = PLACEHOLDERS.get(name, "")
        if name == "thumbprint" and self.runbook != "01-import-certificate":
            placeholder = "empty: the certificate 01 imported last"
        return w.Text(
            value=value,
            description=label,
            placeholder=placeholder,
            style=_DESCRIPTION,
            continuous_update=True,
            layout=w.Layout(width="560px"),
        )

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
        """Show what the chosen certificate source needs, like the wizard's pages; keep the rest."""
        source = self.widgets["certificate_source"].value if "certificate_source" in self.widgets else None
        for name, row in self.rows.items():
            hidden = source is not None and name in SOURCE_ONLY and name not in SOURCE_FIELDS[source]
            row.layout.display = "none" if hidden else None
        env = str(self.widgets["pfx_password_env"].value) if "pfx_password_env" in self.widgets else ""
        needs_password = source == "pfx" and not os.environ.get(env)
        self.password_row.layout.display = None if needs_password else "none"
        if source == "store":
            self.picker_row.layout.display = None
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
            why = str(exc) if isinstance(exc, LookupError) else _reason(exc)
            self.picker_message.value = _message(INFO, f"no list: {why}; type the thumbprint above")
            return
        self.picker.disabled = not found
        current = str(self.widgets["thumbprint"].value).strip().upper()
        options = [("(choose a certificate)", "")] + [(describe(c), c.thumbprint) for c in found]
        self.picker.options = options
        self.picker.value = current if any(c.thumbprint == current for c in found) else ""
        self.picker_message.value = (
            _message(INFO, f"{len(found)} certificate(s) with a private key in LocalMachine\\{store}")
            if found
            else _message(WARN, f"LocalMachine\\{store} holds no certificate with a private key")
        )

    # ---- validation ------------------------------------------------------------------------
    def problems(self) -> dict[str, tuple[str, str]]:
        """Per field: (severity, reason). Reads the target (read-only) but changes nothing."""
        v = self.values()
        found: dict[str, tuple[str, str]] = {}
        source = v.get("certificate_source")
        hostname = str(v.get("hostname", ""))
        if "hostname" in v:
            if not hostname.strip():
                found["hostname"] = (ERROR, "required: the name browsers use for the portal")
            elif not hostname_ok(hostname):
                found["hostname"] = (
                    ERROR,
                    f"{hostname!r} is not a valid DNS name (letters, digits, hyphens, dots; no spaces)",
                )
        if "https_port" in v:
            port = v["https_port"]
            if port is None or not 1 <= int(port) <= 65535:
                found["https_port"] = (ERROR, f"{port} is not a port: use 1-65535 (443 unless it is taken)")
        if "hsts_max_age" in v and int(v["hsts_max_age"] or 0) < 0:
            found["hsts_max_age"] = (ERROR, "0 (off) or a number of seconds (start with 3600)")
        for name in ("pfx_path", "pem_cert_path", "pem_key_path"):
            if name not in v or name not in SOURCE_FIELDS.get(str(source), set()):
                continue
            text = str(v[name]).strip()
            path = Path(text).expanduser()
            if not text:
                found[name] = (ERROR, "required for this certificate source")
            elif not path.exists():
                found[name] = (ERROR, f"file not found: {path.resolve() if not path.is_absolute() else path}")
            elif not path.is_file():
                found[name] = (ERROR, "this is a folder, not a file")
        if "pfx_password_env" in v and source == "pfx":
            env = str(v["pfx_password_env"])
            if not env_name_ok(env):
                found["pfx_password_env"] = (
                    ERROR,
                    f"{len(env)} characters that are not a variable name (not shown): give the NAME of an "
                    "environment variable (e.g. OCTORUNBOOK_PFX_PASSWORD), never the password",
                )
            elif os.environ.get(env):
                found["pfx_password_env"] = (OK, f"{env} is set")
            elif self.password.value:
                found["pfx_password_env"] = (OK, f"{env} is not set: the password typed below is used once")
            else:
                found["pfx_password_env"] = (
                    ERROR,
                    f"environment variable {shown_env_name(env)} is not set: set it before starting JupyterLab, "
                    "or type the password below (it is never saved)",
                )
        store = str(v.get("store", ""))
        store_exists: bool | None = None
        if "store" in v:
            try:
                store_exists = self.view.store_exists(store)
            except Exception as exc:
                found["store"] = (WARN, f"could not look at the target: {_reason(exc)}")
            if store_exists is False:
                found["store"] = (
                    ERROR,
                    f"LocalMachine\\{store} does not exist on this host (WebHosting needs IIS): use My",
                )
        if "thumbprint" in v:
            self._check_thumbprint(str(v["thumbprint"]), source, store, store_exists, hostname, found)
        for name, note in self.notes.items():
            if name in v and name not in found:
                found[name] = (INFO, note)
        return found

    def _check_thumbprint(
        self,
        text: str,
        source: Any,
        store: str,
        store_exists: bool | None,
        hostname: str,
        found: dict[str, tuple[str, str]],
    ) -> None:
        from . import certificates

        if source is not None and source != "store":
            return
        if not text.strip():
            if source == "store":
                found["thumbprint"] = (ERROR, "required: pick a certificate below or paste its thumbprint")
                return
            try:
                last = self.view.last_import()
            except Exception:
                last = None
            found["thumbprint"] = (
                (INFO, f"empty: {last['thumbprint']}, which 01 imported at {last.get('at', '?')}")
                if last
                else (INFO, "empty: the certificate 01 imports (run 01 first)")
            )
            return
        try:
            thumbprint = certificates.normalize_thumbprint(text)
        except OctorunbookError as exc:
            found["thumbprint"] = (ERROR, exc.message)
            return
        if not store_exists:
            return
        cert = self.view.certificate(thumbprint, store)
        if cert is None:
            found["thumbprint"] = (ERROR, f"no such certificate in LocalMachine\\{store}")
        elif not cert.has_private_key:
            found["thumbprint"] = (ERROR, "in the store, but without its private key: re-import the PFX")
        elif hostname and not any(certificates.hostname_matches(n, hostname) for n in cert.dns_names):
            found["thumbprint"] = (
                WARN,
                f"{cert.subject}: its names ({', '.join(cert.dns_names) or 'none'}) do not include "
                f"{hostname}; browsers will warn",
            )
        else:
            found["thumbprint"] = (OK, f"{cert.subject}, expires {cert.not_after[:10]}")

    def validate(self) -> bool:
        """Check every field and put the reason next to it; True when nothing would stop the run."""
        found = self.problems()
        for name, message in self.messages.items():
            severity, reason = found.get(name, (OK, ""))
            message.value = _message(severity, reason)
        errors = sum(1 for severity, _ in found.values() if severity == ERROR)
        if errors:
            self.status.value = (
                f"<div style='color:{_COLORS[ERROR]};font-weight:600;margin-top:6px'>✖ {errors} field(s) "
                "marked ✖ would stop the run at “Open the target”: fix them, then Run ▸ Run All Cells.</div>"
            )
        else:
            self.status.value = (
                f"<div style='color:{_COLORS[OK]};font-weight:600;margin-top:6px'>✔ Ready: "
                "Run ▸ Run All Cells (the kernel keeps what you typed here).</div>"
            )
        return not errors

    # ---- display ---------------------------------------------------------------------------
    def widget(self) -> w.Widget:
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
        rows: list[w.Widget] = []
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


_CHOICE_CODES = frozenset(
    {
        "TARGET_INVALID",
        "STORE_INVALID",
        "CERTIFICATE_SOURCE_INVALID",
        "KEY_TYPE_INVALID",
        "PFX_ENCRYPTION_INVALID",
        "RETIRE_OLD_INVALID",
        "POSTURE_INVALID",
    }
)


def start(runbook: str, namespace: Mapping[str, Any]) -> Form:
    """Cell 2 of every runbook: the parameters (checked for secrets) shown as a form."""
    try:
        params = Parameters.from_mapping(namespace)
        # A value a choice field cannot show (store: Foo) stops here, with its code; the other problems
        # are shown next to their fields and stop the run when it begins.
        for finding in params.check():
            if finding.severity == "error" and finding.code in _CHOICE_CODES:
                raise OctorunbookError.from_finding(finding)
    except OctorunbookError as exc:
        # Still one result record for this notebook; the refused values are not repeated in it.
        Run(runbook, Parameters(), NotebookReporter()).fail(exc)
    form = Form(runbook, params, previous=_SHOWN.get(runbook))
    _SHOWN[runbook] = form
    form.show()
    return form


def begin(form: Form) -> Run:
    """Open the target with what the form shows; the run's record is emitted even if this fails."""
    reporter = NotebookReporter()
    try:
        params = form.parameters()
    except OctorunbookError as exc:
        Run(form.runbook, Parameters(), reporter).fail(exc)
    run = Run(form.runbook, params, reporter)
    with run.step():  # the inputs panel reads the target too: a failure there is still a coded record
        reporter.show(form.summary())
    run.open()
    return run


def continue_button(form: Form, record: dict[str, Any]) -> None:
    """01's last cell: verify (02) and bind (03) now with the same inputs — one click, not two notebooks.

    Each runs headless through papermill exactly as ``octorunbook run`` does, so each leaves its own
    complete audit record; their result panels appear here. Nothing runs until the button is clicked,
    so Run-All, papermill and nbval go straight past it.
    """
    if form.runbook != RUNBOOKS[0] or record.get("status") not in {"succeeded", "unchanged"}:
        return
    thumbprint = str((record.get("certificate") or {}).get("thumbprint", ""))
    button = w.Button(
        description="Continue: verify (02) and bind HTTPS (03) now",
        button_style="primary",
        icon="play",
        layout=w.Layout(width="auto"),
    )
    out = w.Output()

    def run_next(_button: Any) -> None:
        from .render import result_panel
        from .runner import run_procedure

        button.disabled = True
        params = replace(form.parameters(), thumbprint=thumbprint)
        try:
            # one procedure: the target lock is held from 02's start to 03's end (TARGET_BUSY otherwise)
            results = run_procedure(
                RUNBOOKS[1:],
                params,
                progress=lambda line: out.append_display_data(HTML(f"<p>{html.escape(line)}</p>")),
            )
            for result in results:
                if result.record is None:
                    out.append_display_data(
                        HTML(f"<p>✖ {result.runbook} left no record; see {result.path}</p>")
                    )
                    break
                out.append_display_data(HTML(result_panel(result.record).html()))
                out.append_display_data(
                    HTML(f"<p><small>audit record: <code>{result.path}</code></small></p>")
                )
        except Exception as exc:  # a callback must never raise into the void: say why on the page
            out.append_display_data(HTML(f"<p>✖ could not continue: {_reason(exc)}</p>"))
        finally:
            button.disabled = False

    button.on_click(run_next)
    display(
        w.VBox(
            [
                w.HTML(
                    "<p>Certificate <code>"
                    + thumbprint
                    + "</code> is in the store. Next: prove its key (02) and bind it to the portal (03).</p>"
                ),
                button,
                out,
            ]
        )
    )
