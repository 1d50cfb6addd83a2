"""``octorunbook notebooks --copy DIR`` and ``octorunbook lab [DIR]``: the runbooks in a folder the operator owns.

The wheel carries the runbooks (``headless.runner.notebooks_dir``); an operator works on copies. A copy is
made once and never overwritten: a copy that differs from the packaged one (edited, or from an older
release) is left as it is and named, with which of the two is newer, so nothing the operator changed is
lost and nothing old runs unnoticed. A ``params.yaml`` template (the parameters and their safe defaults:
the sandbox, no secrets — those are named by environment variables) is written beside them unless one
exists. ``lab`` then starts JupyterLab there on loopback; its login token goes to the server through its
environment (never a child's argv, never a URL printed) and is shown once on this terminal.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from octorunbook.files import MAX_RECORD_FILE, read_limited

# The servers run through this module: `python -m voila`/`jupyterlab` without jsonschema's IRI grammars.
SERVE = "octorunbook.cli.serve_module"

TEMPLATE_HEADER = (
    "# octorunbook parameters — the same file for `octorunbook run`, `renew`, `check`, `schedule` and the forms.\n"
    "# These defaults talk to the sandbox only. Secrets are never written here: parameters ending in _env\n"
    "# name the environment variable that holds one.\n"
)


def copy_runbooks(dest: Path) -> list[tuple[str, str]]:
    """Copy each packaged runbook into ``dest``: (name, what happened) — copied, unchanged, or kept."""
    from octorunbook.findings import InputError
    from octorunbook.headless.runner import notebooks_dir

    source = notebooks_dir()
    runbooks = sorted(source.glob("0*.ipynb"))
    if not runbooks:
        raise InputError(
            "NOTEBOOK_NOT_FOUND",
            f"No runbooks in {source}.",
            "Reinstall octorunbook, or set OCTORUNBOOK_NOTEBOOKS to a folder that holds them.",
        )
    if dest.is_symlink() or (dest.exists() and not dest.is_dir()):
        raise InputError(
            "COPY_DEST_NOT_A_FOLDER", f"{dest} is not a folder.", "Choose a folder to copy into."
        )
    dest.mkdir(parents=True, exist_ok=True, mode=0o750)
    done: list[tuple[str, str]] = []
    for runbook in runbooks:
        target = dest / runbook.name
        if target.is_symlink():
            done.append((runbook.name, "kept: it is a link here, not a file; nothing was written through it"))
            continue
        if not target.exists():
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o640)
            with os.fdopen(fd, "wb") as handle:
                handle.write(runbook.read_bytes())
            done.append((runbook.name, "copied"))
        elif read_limited(target, MAX_RECORD_FILE, what="runbook copy") == runbook.read_bytes():
            done.append((runbook.name, "unchanged"))
        else:
            newer = "your copy" if target.stat().st_mtime > runbook.stat().st_mtime else "the packaged one"
            done.append(
                (runbook.name, f"kept: your copy differs ({newer} is newer); the packaged one is {runbook}")
            )
    params = dest / "params.yaml"
    if not params.exists() and not params.is_symlink():
        fd = os.open(params, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o640)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(params_template())
        done.append(("params.yaml", "written (a template: the sandbox defaults)"))
    return done


def params_template() -> str:
    """Every parameter with its default, in the parameters cell's order."""
    import yaml

    from octorunbook.params.core import Parameters

    defaults = Parameters().to_record()
    return TEMPLATE_HEADER + yaml.safe_dump(defaults, sort_keys=False, default_flow_style=False)


def working_folder(given: str | None) -> Path:
    """The folder the operator works in: ``given``, else a dated one under the current folder."""
    return Path(given or f"octorunbook-{datetime.now(UTC):%Y%m%d}")


def show_copies(dest: Path, done: list[tuple[str, str]]) -> None:
    print(f"runbooks in {dest}:")
    for name, what in done:
        print(f"  {name}: {what}")


def notebooks_verb(args: argparse.Namespace) -> int:
    if not args.copy:
        from octorunbook.headless.runner import notebooks_dir

        print(notebooks_dir())
        return 0
    show_copies(Path(args.copy), copy_runbooks(Path(args.copy)))
    return 0


def loopback_port(port: int) -> None:
    """The server's port, judged before anything is copied (0 would let the server pick another)."""
    if not 1 <= port <= 65535:
        from octorunbook.findings import InputError

        raise InputError(
            "PORT_INVALID",
            f"--port must be a TCP port from 1 to 65535, got {port}.",
            "Give a free port on this machine, e.g. --port 8866. Nothing was copied.",
        )


def _lab(args: argparse.Namespace) -> int:
    loopback_port(args.port)
    dest = working_folder(args.dir)
    show_copies(dest, copy_runbooks(dest))
    token = secrets.token_urlsafe(24)
    argv = [
        sys.executable, "-m", SERVE, "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={args.port}", "--ServerApp.log_level=WARN",  # WARN: jupyter would print its token URL
        f"--ServerApp.root_dir={dest.resolve()}",
    ]  # fmt: skip
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        argv.append("--allow-root")  # JupyterLab refuses root unless told; say so rather than fail
        print("warning: running JupyterLab as root; prefer an ordinary account that may change the target.")
    if shutil.which("jupyter-lab") is None and not _has_jupyterlab():
        print("JupyterLab is not installed here: pip install jupyterlab", file=sys.stderr)
        return 2
    print(f"\nJupyterLab on http://127.0.0.1:{args.port}/lab — log in with this token (shown once): {token}")
    return serve(argv, {**os.environ, "JUPYTER_TOKEN": token}, dest, start=not args.no_start)


def serve(argv: list[str], env: dict[str, str], dest: Path, *, start: bool) -> int:
    """Run the server (``lab``'s JupyterLab, ``app``'s Voilà) in the working folder until Ctrl+C."""
    if _on_windows() and target_in(dest) == "windows":
        print(
            "target: windows — run this terminal as Administrator (the LocalMachine store and netsh need it)."
        )
    print("Ctrl+C stops it.")
    if not start:
        return 0
    try:
        return subprocess.call(argv, env=env, cwd=dest)
    except KeyboardInterrupt:
        return 0


def _on_windows() -> bool:
    return os.name == "nt"


def target_in(dest: Path) -> str:
    """The ``target`` the working folder's params.yaml names, or "" when it names none that can be read.

    Only for a hint, so read as data and never trusted: a bounded read of a regular file, YAML's safe
    loader, a mapping whose ``target`` is a string; anything else (missing, a link to a FIFO, a list,
    bytes that are no YAML) says nothing rather than fail the server's start.
    """
    import yaml

    from octorunbook.findings import OctorunbookError

    try:
        data = yaml.safe_load(read_limited(dest / "params.yaml", MAX_RECORD_FILE, what="params.yaml"))
    except (OSError, OctorunbookError, yaml.YAMLError, UnicodeDecodeError):
        return ""
    target = data.get("target") if isinstance(data, dict) else None
    return target.strip().lower() if isinstance(target, str) else ""


def _has_jupyterlab() -> bool:
    import importlib.util

    return importlib.util.find_spec("jupyterlab") is not None


def register(sub: Any) -> None:
    lab = sub.add_parser(
        "lab",
        help="copy the runbooks into a working folder and open JupyterLab there (loopback, token)",
        description="Copy the runbooks into DIR (default: octorunbook-YYYYMMDD under the current folder; never "
        "over an edited copy) with a params.yaml template, then start JupyterLab there on 127.0.0.1 with a "
        "login token that is shown once and never put in a URL or a command line.",
    )
    add_working_folder_arguments(lab, port=8888, server="JupyterLab")
    lab.set_defaults(func=_lab)


def add_working_folder_arguments(parser: Any, *, port: int, server: str) -> None:
    """DIR, --port and --no-start: the same for every verb that serves the runbooks (``lab``, ``app``)."""
    parser.add_argument("dir", nargs="?", help="the working folder (created if missing)")
    parser.add_argument("--port", type=int, default=port, help=f"the loopback port (default {port})")
    parser.add_argument("--no-start", action="store_true", help=f"copy and print, but do not start {server}")
