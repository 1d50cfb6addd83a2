"""The one face every runbook shows its notebook: ``read`` → ``plan`` → ``apply`` → ``finish``.

An operator who has read one notebook can read all five: after the form (``ui.start``) and the opened
run (``ui.begin``), every notebook makes the same four calls on the module named after it —

* ``read(run)``          what the target has now (or, for 01, the certificate to import); changes nothing;
* ``plan(run, current)`` what would change, with the exact commands; changes nothing the portal serves
  (04 stores the replacement beside the served certificate here, and says so);
* ``apply(run, plan)``   change, prove, or roll back (02 proves only; 05 changes only with ``apply``);
* ``finish(run)``        emit the result record, the one ending of every run.

The modules are thin: the work stays in ``steps``, ``store_steps``, ``bind``, ``renew`` and ``harden``.
This registry is how the in-process runner (``headless.inline``) and the tests drive any runbook
exactly as its notebook does; mypy holds each module to :class:`RunbookFace`.
"""

from __future__ import annotations

from typing import Any, Protocol

from octorunbook.runbooks import (
    add_https_binding,
    harden_tls,
    import_certificate,
    renew_certificate,
    verify_certificate,
)
from octorunbook.runbooks.run import Run


class RunbookFace(Protocol):
    """The four verbs; what ``read`` returns is what ``plan`` takes, and ``plan``'s is ``apply``'s."""

    def read(self, run: Run) -> Any: ...

    def plan(self, run: Run, current: Any) -> Any: ...

    def apply(self, run: Run, plan: Any) -> Any: ...

    def finish(self, run: Run) -> dict[str, Any]: ...


FACES: dict[str, RunbookFace] = {
    "01-import-certificate": import_certificate,
    "02-verify-certificate": verify_certificate,
    "03-add-https-binding": add_https_binding,
    "04-renew-certificate": renew_certificate,
    "05-harden-tls": harden_tls,
}


def face_of(runbook: str) -> RunbookFace:
    """The module a runbook's notebook calls; KeyError for a name that is no runbook."""
    return FACES[runbook]


__all__ = ["FACES", "RunbookFace", "face_of"]
