"""papermill's writes of an octorunbook notebook, guarded even when papermill is run directly.

papermill writes the output notebook — injected parameters and ``metadata.papermill.parameters``
included — *before* the kernel starts, so nothing in the notebook itself can stop a bad parameter or a
pasted password from reaching ``out.ipynb``. Two doors lead here:

* ``octorunbook run`` (and the form's Continue) write through :class:`octorunbook.headless.saves.RedactingHandler`,
  which calls :func:`guard_notebook` on every write, after :func:`octorunbook.headless.runner.preflight` has
  refused bad parameters before papermill was called at all;
* a direct ``papermill in.ipynb out.ipynb`` run: the package's ``papermill.io`` entry point is loaded by
  papermill while it registers its I/O handlers, and wraps papermill's local-file handler in
  :class:`GuardedLocalHandler`. For a notebook that imports octorunbook, the first write refuses bad
  parameters (exit 2 from the papermill command, before a kernel starts), and every write masks a
  ``pfx_password_env`` that is not a variable's name, secret-looking parameters and registered secrets.

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
from typing import Any

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
    from octorunbook.params.core import ParameterError, Parameters

    params = Parameters.from_mapping(passed_parameters(nb))
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


class GuardedLocalHandler:
    """papermill's local-file handler, guarding octorunbook notebooks (see the module docstring)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._checked: set[str] = set()

    def read(self, path: str) -> Any:
        return self._inner.read(path)

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
            try:
                check_passed_parameters(nb)
            except InputError as exc:
                if Path(sys.argv[0]).name.startswith("papermill"):
                    print(f"✖ {exc.code}: {exc.message}\n  remedy: {exc.remedy}", file=sys.stderr)
                    raise SystemExit(2) from None
                raise
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
