"""One runbook execution: it opens the target, holds the lock, collects evidence and writes the record.

The same object drives a notebook in JupyterLab, a papermill run and a test. What the operator sees
goes through a :class:`Reporter` (HTML in a notebook, text in a terminal); the result record — the
contract other tools read — is emitted exactly once, on success *and* on failure (before the failure is
raised), as a display output of mimetype :data:`RESULT_MIME`.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import sys
import traceback
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, NoReturn, Protocol

from octorunbook import __version__
from octorunbook.certificates import CODES as CERTIFICATE_REASONS
from octorunbook.commands import CommandRunner
from octorunbook.findings import REASONS, Finding, InputError, OctorunbookError, TargetError, remedy_for
from octorunbook.params.core import Parameters
from octorunbook.params.runbooks import subset
from octorunbook.redaction import SECRETS, Secret, secret_from_env
from octorunbook.render import Panel, Row, result_panel
from octorunbook.runbooks.record import RunExtras, RunState
from octorunbook.runbooks.restore_parts import (
    recover_interrupted as _parts_restorer,  # registers the "parts" restorer
)
from octorunbook.runbooks.undo import recover_interrupted
from octorunbook.targets.base import Target
from octorunbook.targets.lock import TargetLock, operator_name
from octorunbook.targets.state import StateHome

RESTORERS = (_parts_restorer,)  # imported for its registration: the one restorer, every checkpoint
RUNBOOKS = ("01-import-certificate", "02-verify-certificate", "03-add-https-binding")  # the procedure
DAY_TWO = ("04-renew-certificate", "05-harden-tls")  # run on their own, e.g. on a schedule
ALL_RUNBOOKS = RUNBOOKS + DAY_TWO
# A dry-run procedure tells 02 and 03 which certificate 01 would import (it is not in the store yet).
PLANNED_IMPORT_ENV = "OCTORUNBOOK_PLANNED_IMPORT"
# Set while the runner's papermill kernels run: the runner stores the executed notebook itself (no
# interactive record), and such a kernel is never in operator mode.
RUNNER_ENV = "OCTORUNBOOK_RECORDED_BY_RUNNER"
CHECK_RECORDS_ENV = "OCTORUNBOOK_CHECK_RECORDS"


def reason_for(code: str) -> str:
    """Why a finding's code matters: the runbook codes' reasons, then the certificate codes' own."""
    return REASONS.get(code) or CERTIFICATE_REASONS.get(code, "")


class Reporter(Protocol):
    """Where a run shows itself: panels and progress to a person, the record to the notebook."""

    def show(self, item: Any) -> None: ...

    def progress(self, label: str, elapsed: float, total: float, detail: str = "") -> None: ...

    def emit_result(self, record: dict[str, Any], panel: Panel) -> None: ...


class TextReporter:
    """Prints text panels; used by the CLI and tests. Keeps the last record for callers."""

    def __init__(self, stream: Any = None) -> None:
        self.stream = stream or sys.stdout
        self.records: list[dict[str, Any]] = []

    def show(self, item: Any) -> None:
        print(item.text() if hasattr(item, "text") else str(item), file=self.stream)

    def progress(self, label: str, elapsed: float, total: float, detail: str = "") -> None:
        print(f"  … {label}: {elapsed:4.1f}/{total:.0f} s {detail}", file=self.stream)

    def emit_result(self, record: dict[str, Any], panel: Panel) -> None:
        self.records.append(record)
        print(panel.text(), file=self.stream)


class RunbookFailed(OctorunbookError):
    """Raised at the end of a failed run, after the record was emitted. Shown without a traceback."""

    def _render_traceback_(self) -> list[str]:  # IPython shows this instead of a Python traceback
        lines = [f"✖ {self.code}: {self.message}"]
        if self.remedy:
            lines.append(f"  Remedy: {self.remedy}")
        lines.append("  The result record above has the details; nothing more runs in this notebook.")
        return lines


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


_operator = operator_name


class Run:
    """Collects everything the record needs; ``fail`` and ``finish`` emit it exactly once."""

    def __init__(self, runbook: str, params: Parameters, reporter: Reporter) -> None:
        if runbook not in ALL_RUNBOOKS:
            raise ValueError(f"unknown runbook {runbook!r}")
        self.runbook = runbook
        self.params = params
        self.reporter = reporter
        self.started_at = utc_now()
        self.operator = _operator()
        self.runner = CommandRunner()
        self.target: Target | None = None
        self.lock: TargetLock | None = None
        self.findings: list[Finding] = []
        self.changes: list[dict[str, Any]] = []
        self.verification: list[dict[str, Any]] = []
        self.certificate: dict[str, Any] | None = None
        self.state: RunState = {}
        self.octopus_version = ""
        self.secrets_note: dict[str, Any] = {"private_key_files": []}
        self.extra: RunExtras = {}
        self.status: str | None = None
        self.emitted = False
        # Asks the operator for the PFX password when its variable is unset: the form's password field
        # in a notebook (``ui.begin``), nobody headless, where the variable must be set.
        self.password_prompt: Callable[[], Secret | None] | None = None

    # ---- lifecycle -------------------------------------------------------------------------
    def open(self) -> Target:
        """Check the parameters, open the target, take the lock. Nothing is changed here."""
        with self.step():
            problems = self.params.check()
            self.findings += [p for p in problems if p.severity != "error"]
            errors = [p for p in problems if p.severity == "error"]
            if errors:
                self.findings += errors[1:]
                raise InputError.from_finding(errors[0])
            from octorunbook.targets import lock_keys, open_target, state_dir_for

            secret_from_env(self.params.pfx_password_env)  # known from now on: masked, never inherited

            StateHome.check_existing(state_dir_for(self.params))  # STATE_DIR_UNSAFE before anything runs
            self.target = open_target(self.params, self.runner)
            self._preflight(self.target)
            keys = lock_keys(self.target.instance, self.params.https_port)
            self.lock = TargetLock(self.target.state(), keys, self.runbook)
            self.lock.acquire()
            if self.lock.stale_note:
                self.note(
                    Finding(
                        "STALE_LOCK_REMOVED",
                        "warning",
                        self.lock.stale_note,
                        "Look at the plan: a killed run may have left the target half-changed.",
                    )
                )
            self.reporter.show(
                Panel(
                    f"{self.runbook} on {self.target.kind} host {self.target.host}",
                    "info",
                    [
                        Row("info", "instance", self.target.instance),
                        Row("info", "operator", self.operator),
                        Row(
                            "info", "dry run", "yes: nothing will be changed" if self.params.dry_run else "no"
                        ),
                    ],
                )
            )
            recover_interrupted(self)  # an unfinished checkpoint, before anything new is planned
        assert self.target is not None
        return self.target

    def _preflight(self, target: Target) -> None:
        """Before any change: elevation and the Windows build (which picks the PFX encryption), as findings."""
        info = target.host_info()
        if target.kind != "windows":
            return
        if info.windows_build is not None:
            aes = info.windows_build >= 17763
            self.note(
                Finding(
                    "WINDOWS_BUILD",
                    "info",
                    f"Windows build {info.windows_build}: PFX files are handed over "
                    + (
                        "AES-256 encrypted (Server 2019 and later)."
                        if aes
                        else "3DES encrypted (Server 2016 and older)."
                    ),
                    "Set pfx_encryption to override.",
                )
            )
        if not info.elevated and not self.params.dry_run:
            raise TargetError(
                "NOT_ELEVATED",
                "This session is not elevated: importing into LocalMachine and binding HTTP.sys need Administrator.",
                "Start JupyterLab (or the terminal running papermill) with 'Run as administrator' and run again.",
            )

    def planned_import(self, thumbprint: str) -> dict[str, Any] | None:
        """In a dry-run procedure, the record of the certificate 01 would import — if it is ``thumbprint``."""
        if not self.params.dry_run:
            return None
        try:
            data = json.loads(os.environ.get(PLANNED_IMPORT_ENV, "") or "null")
        except ValueError:
            return None
        if (
            isinstance(data, dict)
            and str(data.get("thumbprint", "")).upper() == thumbprint.upper()
            and str(data.get("store", "")).lower() == self.params.store.lower()
        ):
            return data
        return None

    def require_target(self) -> Target:
        if self.target is None:
            raise RuntimeError("run.open() must be called first")
        return self.target

    @contextlib.contextmanager
    def step(self) -> Iterator[None]:
        """Turn any failure into a failed record: an expected error keeps its code, a bug becomes INTERNAL_ERROR."""
        try:
            yield
        except RunbookFailed:
            raise
        except OctorunbookError as exc:
            self.fail(exc)
        except KeyboardInterrupt:
            self.fail(
                OctorunbookError(
                    "INTERRUPTED",
                    "The run was interrupted by the operator.",
                    "Look at the record's changes: a change under way was rolled back before stopping.",
                )
            )
        except Exception as exc:  # a bug: still a record, still no secret
            detail = SECRETS.redact("".join(traceback.format_exception_only(type(exc), exc)).strip())
            self.fail(
                OctorunbookError(
                    "INTERNAL_ERROR",
                    f"octorunbook hit an unexpected error: {detail}",
                    "Report this with the executed notebook; the record shows what had been done.",
                    reason=SECRETS.redact(traceback.format_exc()[-3000:]),
                )
            )

    def note(self, finding: Finding) -> None:
        self.findings.append(finding)

    def change(self, action: str, detail: str, **extra: Any) -> None:
        self.changes.append({"action": action, "detail": detail, "at": utc_now(), **extra})

    def fail(self, error: OctorunbookError) -> NoReturn:
        self.findings.append(error.finding)
        self.status = "failed"
        self._emit()
        raise RunbookFailed(error.code, error.message, error.remedy) from None

    def finish(self, status: str | None = None) -> dict[str, Any]:
        if self.emitted:
            return self.record()
        if self.params.dry_run and status in (None, "succeeded", "unchanged"):
            status = (
                "planned"  # a dry run only ever plans (and proves what it can read), whatever the step says
            )
        if status is None:
            mutated = any(r.mutating for r in self.runner.records)
            status = "succeeded" if mutated or self.changes else "unchanged"
        self.status = status
        return self._emit()

    def _emit(self) -> dict[str, Any]:
        record = self.record()
        # The test suite holds every record to the published schema: here, or — in a kernel the runner
        # started — in the runner, which reads the record from the executed notebook with jsonschema
        # already imported (0.1 s less per kernel).
        if os.environ.get(CHECK_RECORDS_ENV) and not os.environ.get(RUNNER_ENV):
            from octorunbook.runbooks.record import require_valid

            require_valid(record)
        if self.lock is not None:
            self.lock.release()
        if not self.emitted:
            self.emitted = True
            self.reporter.emit_result(record, result_panel(record))
        return record

    # ---- the record ------------------------------------------------------------------------
    def environment(self) -> dict[str, Any]:
        info = None
        if self.target is not None:
            with contextlib.suppress(OctorunbookError):
                info = self.target.host_info().to_record()
        return {
            "python": platform.python_version(),
            "os": platform.platform(),
            "windows_build": (info or {}).get("windows_build"),
            "target_host": info,
        }

    def record(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "runbook": self.runbook,
            "status": self.status or "failed",
            "target": self.params.target,
            "host": self.target.host if self.target else "",
            "instance": self.params.instance,
            "operator": self.operator,
            "started_at": self.started_at,
            "finished_at": utc_now(),
            "octorunbook_version": __version__,
            "environment": self.environment(),
            "octopus_version": self.octopus_version,
            # what this runbook ran with: a parameter it does not read was not handed to it either
            "parameters": subset(self.runbook, self.params.to_record()),
            "certificate": self.certificate,
            "changes": self.changes,
            "state": self.state,
            "verification": self.verification,
            "findings": [
                {
                    **f.to_dict(),
                    "reason": f.reason or reason_for(f.code),
                    "remedy": f.remedy or remedy_for(f.code),
                }
                for f in self.findings
            ],
            "commands": [r.to_dict() for r in self.runner.records],
            "secrets": self.secrets_note,
            **self.extra,
        }
        return SECRETS.redact_obj(record)  # type: ignore[no-any-return]
