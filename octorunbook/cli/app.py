"""``octorunbook app [DIR]``: the runbooks as pages without code, for an operator (Voilà, operator mode).

The same runbooks as ``octorunbook lab``, copied the same way into a folder the operator owns
(``cli.lab.copy_runbooks``: never over an edited copy), served by Voilà: each page shows the form, and
nothing changes until the operator presses Plan or Run (``ui.operator``); each click runs the runbook
through papermill like ``octorunbook run``, so its executed notebook in ``audit_dir`` is the audit record.

Voilà listens on 127.0.0.1 only, behind a login token that reaches it through its environment (never a
child's argv) and is shown once on this terminal, never inside a URL printed. ``OCTORUNBOOK_UI=operator``
tells the page kernels they serve an operator (Voilà's own ``SERVER_SOFTWARE`` says so as well).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import secrets
import sys
from typing import Any

from octorunbook.cli.lab import (
    SERVE,
    add_working_folder_arguments,
    copy_runbooks,
    loopback_port,
    serve,
    show_copies,
    working_folder,
)

FIRST_PAGE = "01-import-certificate.ipynb"


def voila_argv(root: str, port: int) -> list[str]:
    """Voilà over ``root`` on loopback; the token comes from ``JUPYTER_TOKEN`` (``auto_token``: required)."""
    return [
        sys.executable, "-m", SERVE, "voila", root, "--no-browser",
        "--Voila.ip=127.0.0.1", f"--Voila.port={port}", "--Voila.port_retries=0",
        "--Voila.auto_token=True",  # a token is required; PasswordIdentityProvider reads JUPYTER_TOKEN
        # the login page must not let the token set a password that outlives this server (jupyter config)
        "--PasswordIdentityProvider.allow_password_change=False",
        "--Voila.log_level=WARN",  # INFO would print its URL
        "--VoilaConfiguration.show_tracebacks=False",  # a failure is said by the panels, not a traceback
    ]  # fmt: skip


def _app(args: argparse.Namespace) -> int:
    loopback_port(args.port)
    dest = working_folder(args.dir)
    show_copies(dest, copy_runbooks(dest))
    if importlib.util.find_spec("voila") is None:
        print("Voilà is not installed here: pip install voila (octorunbook depends on it)", file=sys.stderr)
        return 2
    token = secrets.token_urlsafe(24)
    base = f"http://127.0.0.1:{args.port}"
    print(f"\nThe runbooks as pages on {base}/ — log in with this token (shown once): {token}")
    print(f"Start with 01: {base}/voila/render/{FIRST_PAGE}")
    print("Opening a page changes nothing: each runbook waits for its Plan or Run button.")
    env = {**os.environ, "JUPYTER_TOKEN": token, "OCTORUNBOOK_UI": "operator"}
    return serve(voila_argv(str(dest.resolve()), args.port), env, dest, start=not args.no_start)


def register(sub: Any) -> None:
    app = sub.add_parser(
        "app",
        help="the runbooks as pages without code for an operator (Voilà on loopback, token)",
        description="Copy the runbooks into DIR (default: octorunbook-YYYYMMDD under the current folder; never "
        "over an edited copy) with a params.yaml template, then serve them through Voilà on 127.0.0.1 with a "
        "login token shown once: each page is the runbook's form with Plan and Run buttons; opening a page "
        "changes nothing, and every run leaves its executed notebook in audit_dir as the audit record.",
    )
    add_working_folder_arguments(app, port=8866, server="Voilà")
    app.set_defaults(func=_app)
