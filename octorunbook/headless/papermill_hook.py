"""papermill's writes of an octorunbook notebook, guarded even when papermill is run directly.

papermill writes the output notebook — injected parameters and ``metadata.papermill.parameters``
included — *before* the kernel starts, so nothing in the notebook itself can stop a bad parameter or a
pasted password from reaching ``out.ipynb``. Two doors lead here:

* ``octorunbook run`` (and the form's Continue) write through :class:`octorunbook.headless.saves.RedactingHandler`,
  which calls :func:`guard_notebook` on every write, after :func:`octorunbook.headless.runner.preflight` has
  refused bad parameters before papermill was called at all;
* a direct ``papermill in.ipynb out.ipynb`` run: the package's ``papermill.io`` entry point is loaded by
  papermill while it registers its I/O handlers, and wraps papermill's local-file handler in
  :class:`GuardedLocalHandler`. For a notebook that imports octorunbook, every parameter source on
  papermill's command line (``-f`` files before papermill reads them, ``-y``/``-b`` texts, ``-p``/``-r``
  names) goes through the one parser (:mod:`octorunbook.params.loading`: no unknown name, no key twice, no
  alias, a small regular file), and the first write refuses bad parameters (exit 2 from the papermill
  command, nothing written, before a kernel starts); every write masks a ``pfx_password_env`` that is not
  a variable's name, secret-looking parameters and registered secrets.

Either door writing into an audit folder's ``.in-progress/`` writes the way ``octorunbook run`` does
(:func:`octorunbook.audit.claims.save_running_notebook`): 0640/0600 from the first byte, never through
a link, and with a claim, so that the next run chains the notebook if this papermill is killed — and
sets aside, never signs, one that nobody claimed.

Not covered: papermill run from an environment where octorunbook is not installed (no entry point),
and other papermill I/O schemes (``s3://`` …), which are written as papermill writes them; the runbook
itself still refuses the bad value when it starts, and its own audit record masks it.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, NoReturn

from octorunbook.audit.redact import guard_notebook as guard_notebook
from octorunbook.audit.redact import passed_parameters as passed_parameters
from octorunbook.findings import InputError
from octorunbook.headless.saves import SCHEME as SCHEME
from octorunbook.redaction import secret_from_env, shown_env_name


def is_octorunbook_notebook(nb: Any) -> bool:
    return any(
        c.get("cell_type") == "code" and "octorunbook" in "".join(c.get("source", ""))
        for c in nb.get("cells", [])
    )


def check_passed_parameters(nb: Any) -> None:
    """Raise the first parameter error papermill was given (a ``ParameterError``), touching nothing."""
    from octorunbook.params.core import ParameterError
    from octorunbook.params.loading import parse_parameters

    params = parse_parameters(passed_parameters(nb))  # the one parser: an unknown name is refused
    for problem in params.check():
        if problem.severity == "error":
            raise ParameterError(problem.code, problem.message, problem.remedy)
    require_target_fit(params)
    require_password(params)


def require_target_fit(params: Any) -> None:
    """The target's half of the parameter check (a sandbox made for the other front), before a kernel."""
    from octorunbook.findings import InputError
    from octorunbook.params.core import ParameterError
    from octorunbook.targets import require_fit

    try:
        require_fit(params)
    except InputError as exc:
        raise ParameterError(exc.code, exc.message, exc.remedy) from None


def require_password(params: Any) -> None:
    """A PFX needs its password: the variable named by ``pfx_password_env`` must be set (headless)."""
    from octorunbook.params.core import ParameterError

    if params.certificate_source == "pfx" and secret_from_env(params.pfx_password_env) is None:
        raise ParameterError(
            "PFX_PASSWORD_MISSING",
            f"The environment variable {shown_env_name(params.pfx_password_env)} (named by pfx_password_env) is not set.",
            f"Set {shown_env_name(params.pfx_password_env)} to the PFX password before the run; never put the password "
            "itself in the parameters.",
        )


def papermill_command_line() -> dict[str, Any] | None:
    """papermill's options as its own command line parsed them, or None when this is not the papermill CLI."""
    if not Path(sys.argv[0]).name.startswith("papermill"):
        return None
    try:
        from papermill.cli import papermill as command

        context = command.make_context("papermill", list(sys.argv[1:]), resilient_parsing=True)
    except Exception:  # noqa: BLE001 - not papermill's CLI as we know it: the first write still checks
        return None
    return dict(context.params)


def check_command_line(options: dict[str, Any]) -> None:
    """Every parameter source papermill's command line names, read by the one parser before papermill
    reads it: each ``-f`` file (regular, ≤ 64 KiB, no aliases, no key twice, text keys), each ``-y`` and
    ``-b`` text (the same YAML rules), and every name, ``-p`` and ``-r`` included (no unknown name).
    A ``ParameterError`` names the first problem; nothing is read into papermill, nothing written."""
    import base64
    import binascii

    from octorunbook.params.core import ParameterError, Parameters, refuse_secrets
    from octorunbook.params.loading import PAPERMILL_NAMES, parse_yaml, read_parameter_file
    from octorunbook.params.names import refuse_unknown

    names: list[str] = []
    for encoded in options.get("parameters_base64") or ():
        try:
            text = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise ParameterError(
                "PARAMETERS_UNREADABLE",
                "a -b/--parameters_base64 value is not base64.",
                "Encode the YAML with base64.",
            ) from None
        names += list(parse_yaml(text, source="-b/--parameters_base64"))
    for path in options.get("parameters_file") or ():
        names += list(read_parameter_file(path))
    for text in options.get("parameters_yaml") or ():
        names += list(parse_yaml(text, source="-y/--parameters_yaml"))
    names += [
        name for name, _value in [*(options.get("parameters") or ()), *(options.get("parameters_raw") or ())]
    ]
    refuse_secrets(dict.fromkeys(names))  # a secret-looking name is the first thing to say
    refuse_unknown([n for n in names if n not in PAPERMILL_NAMES], Parameters.names())


def refuse_and_exit(exc: InputError) -> NoReturn:
    """On papermill's command line, a refused parameter ends papermill: exit 2, the code on stderr."""
    if Path(sys.argv[0]).name.startswith("papermill"):
        print(f"✖ {exc.code}: {exc.message}\n  remedy: {exc.remedy}", file=sys.stderr)
        raise SystemExit(2) from None
    raise exc


class GuardedLocalHandler:
    """papermill's local-file handler, guarding octorunbook notebooks (see the module docstring)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._checked: set[str] = set()
        self._command_line_checked = False

    def read(self, path: str) -> Any:
        options = papermill_command_line()
        if options is not None and path in (options.get("parameters_file") or ()):
            self._check_command_line(options)  # papermill is about to read a -f file: ours first
        return self._inner.read(path)

    def _check_command_line(self, options: dict[str, Any] | None) -> None:
        """The command line's parameter sources, once, when the notebook papermill runs is a runbook."""
        if self._command_line_checked or options is None:
            return
        self._command_line_checked = True
        if not self._runs_a_runbook(str(options.get("notebook_path") or "")):
            return
        try:
            check_command_line(options)
        except InputError as exc:
            refuse_and_exit(exc)

    def _runs_a_runbook(self, notebook: str) -> bool:
        import json

        from octorunbook.files import MAX_RECORD_FILE, read_limited

        if not notebook or notebook == "-" or "://" in notebook:
            return False
        try:
            return is_octorunbook_notebook(
                json.loads(read_limited(notebook, MAX_RECORD_FILE, what="notebook"))
            )
        except (InputError, ValueError):
            return False  # papermill reports a notebook it cannot read its own way

    def listdir(self, path: str) -> Any:
        return self._inner.listdir(path)

    def pretty_path(self, path: str) -> Any:
        return self._inner.pretty_path(path)

    def cwd(self, path: str) -> Any:
        return self._inner.cwd(path)

    def write(self, buf: str, path: str) -> Any:
        import nbformat

        from octorunbook.audit.claims import is_running_notebook, save_running_notebook
        from octorunbook.audit.redact import redact_notebook

        nb = nbformat.reads(buf, as_version=4)  # type: ignore[no-untyped-call,unused-ignore]
        if not is_octorunbook_notebook(nb):
            return self._inner.write(buf, path)
        key = str(Path(path).resolve())
        if key not in self._checked:
            self._checked.add(key)
            self._check_command_line(papermill_command_line())  # -y/-b/-p/-r when there was no -f
            try:
                check_passed_parameters(nb)
            except InputError as exc:
                refuse_and_exit(exc)
        clean = redact_notebook(guard_notebook(nb))
        text = nbformat.writes(clean)  # type: ignore[no-untyped-call,unused-ignore]
        target = Path(path)
        if is_running_notebook(target):  # into an audit folder's .in-progress: claimed, 0640/0600
            save_running_notebook(target, text.encode("utf-8"))
            return None
        return self._inner.write(text, path)


def _install() -> None:
    """Wrap papermill's local handler; called when papermill loads this module as an I/O plugin."""
    iorw = sys.modules.get("papermill.iorw")
    registry = getattr(iorw, "papermill_io", None)
    handlers = getattr(registry, "_handlers", None)
    if not isinstance(handlers, list):
        return
    handlers[:] = [
        (
            scheme,
            GuardedLocalHandler(h) if scheme == "local" and not isinstance(h, GuardedLocalHandler) else h,
        )
        for scheme, h in handlers
    ]


class _EntryPoint:
    """What the ``papermill.io`` entry point names: the redacting handler of ``audit.saves``."""

    def _handler(self) -> Any:
        from octorunbook.headless.saves import RedactingHandler

        return RedactingHandler()

    def read(self, path: str) -> str:
        return str(self._handler().read(path))

    def listdir(self, path: str) -> list[str]:
        return list(self._handler().listdir(path))

    def write(self, buf: str, path: str) -> None:
        self._handler().write(buf, path)

    def pretty_path(self, path: str) -> str:
        return str(self._handler().pretty_path(path))


def __getattr__(name: str) -> Any:
    """``HANDLER`` is looked up by papermill each time it loads its plugins: wrap its local handler then
    (even when this module was imported earlier, before papermill's registry existed)."""
    if name == "HANDLER":
        _install()
        return _EntryPoint()
    raise AttributeError(name)
