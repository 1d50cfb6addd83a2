"""Checking the form's values as the operator types: per field, a severity and the reason.

Only what the form can say better than ``Parameters.check()`` (a file that is not there, a store that
does not exist on this host, a thumbprint the store does not hold); the run checks everything again.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from octorunbook import certificates
from octorunbook.findings import OctorunbookError
from octorunbook.params.core import hostname_ok
from octorunbook.redaction import env_name_ok, shown_env_name
from octorunbook.ui.fields import SOURCE_FIELDS
from octorunbook.ui.style import ERROR, INFO, OK, WARN, reason_of
from octorunbook.ui.target_view import TargetView


def field_problems(
    v: dict[str, Any], view: TargetView, password_typed: bool, notes: dict[str, str]
) -> dict[str, tuple[str, str]]:
    """Per field: (severity, reason). Reads the target (read-only) but changes nothing."""
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
        elif password_typed:
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
            store_exists = view.store_exists(store)
        except Exception as exc:
            found["store"] = (WARN, f"could not look at the target: {reason_of(exc)}")
        if store_exists is False:
            found["store"] = (
                ERROR,
                f"LocalMachine\\{store} does not exist on this host (WebHosting needs IIS): use My",
            )
    if "thumbprint" in v:
        _check_thumbprint(view, str(v["thumbprint"]), source, store, store_exists, hostname, found)
    for name, note in notes.items():
        if name in v and name not in found:
            found[name] = (INFO, note)
    return found


def _check_thumbprint(
    view: TargetView,
    text: str,
    source: Any,
    store: str,
    store_exists: bool | None,
    hostname: str,
    found: dict[str, tuple[str, str]],
) -> None:
    if source is not None and source != "store":
        return
    if not text.strip():
        if source == "store":
            found["thumbprint"] = (ERROR, "required: pick a certificate below or paste its thumbprint")
            return
        try:
            last = view.last_import()
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
    cert = view.certificate(thumbprint, store)
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
