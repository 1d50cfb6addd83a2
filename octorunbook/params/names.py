"""Unknown parameter names: refused at every door, with the nearest known name as a did-you-mean.

A typo must never quietly mean "use the default": ``dryrun: true`` for ``dry_run`` would run for real.
:meth:`octorunbook.params.core.Parameters.from_mapping` calls :func:`refuse_unknown` when it is strict,
and every door is strict (the YAML file of ``run``/``renew``/``check``/``schedule``, papermill's
``-f``/``-y``/``-b``/``-p``/``-r``, the form's parameters cell). Only names are shown, never values.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from octorunbook.findings import InputError

UNKNOWN_CODE = "PARAMETER_UNKNOWN"


class UnknownParameter(InputError):
    """A parameter name no runbook reads: exit 2 on the command line (``check``: 3, UNKNOWN)."""

    usage = True


def _shown(name: str) -> str:
    return repr(name if len(name) <= 64 else name[:61] + "...")


def unknown_error(given: Iterable[str], known: Iterable[str]) -> UnknownParameter | None:
    """The error for the names in ``given`` that are not in ``known`` (None when there are none)."""
    choices = sorted(set(known))
    unknown = sorted({name for name in given if name not in set(choices)})
    if not unknown:
        return None
    parts = []
    hints = []
    for name in unknown:
        close = difflib.get_close_matches(name.lower(), choices, n=1, cutoff=0.6)
        parts.append(_shown(name) + (f" (did you mean {close[0]!r}?)" if close else ""))
        if close:
            hints.append(f"{name[:64]} → {close[0]}")
    message = f"Unknown parameter{'s' if len(unknown) > 1 else ''}: {', '.join(parts)}; nothing was run."
    remedy = (
        f"Rename {'; '.join(hints)}. " if hints else ""
    ) + "Use only the runbooks' parameter names (`papermill --help-notebook` lists them; the README's "
    "'Running headless' section explains each)."
    return UnknownParameter(UNKNOWN_CODE, message, remedy)


def refuse_unknown(given: Iterable[str], known: Iterable[str]) -> None:
    """Raise :func:`unknown_error` for ``given``, if any name is not ``known``."""
    error = unknown_error(given, known)
    if error is not None:
        raise error
