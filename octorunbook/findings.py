"""Findings and errors: every expected failure has a stable code, a message and a remedy.

Operators script against the codes, so a code never changes meaning once released.

Hierarchy::

    Exception
     └── OctorunbookError(code, message, remedy)   an expected outcome, never a traceback
          ├── InputError          bad parameters, unreadable files: nothing was changed
          ├── TargetError         the target host answered in a way we cannot go on from
          │    └── CommandError   an external command failed (argv recorded, redacted)
          └── VerificationError   the portal does not serve what it should

A ``Finding`` is the value an operator reads: ``code``, ``severity`` (``error`` blocks the step,
``warning`` is recorded and shown, ``info``), ``message`` in the operator's words and a ``remedy``.
An ``OctorunbookError`` carries one finding; steps collect findings and raise the first error.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Severity = Literal["error", "warning", "info"]
SEVERITIES: tuple[Severity, ...] = ("error", "warning", "info")
SYMBOLS: dict[str, str] = {"error": "✖", "warning": "⚠", "info": "✔"}


@dataclass(frozen=True)
class Finding:
    """One thing an operator should know: what was seen, why it matters, what to do."""

    code: str
    severity: Severity
    message: str
    remedy: str = ""
    reason: str = ""
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.code or not self.code.replace("_", "").isalnum() or self.code.upper() != self.code:
            raise ValueError(f"finding code must be UPPER_SNAKE, got {self.code!r}")
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}, got {self.severity!r}")

    @property
    def symbol(self) -> str:
        return SYMBOLS[self.severity]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if not data["details"]:
            del data["details"]
        if not data["reason"]:
            del data["reason"]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        return cls(
            code=str(data["code"]),
            severity=data.get("severity", "error"),
            message=str(data.get("message", "")),
            remedy=str(data.get("remedy", "")),
            reason=str(data.get("reason", "")),
            details=dict(data.get("details") or {}),
        )


def errors(findings: Iterable[Finding]) -> list[Finding]:
    return [f for f in findings if f.severity == "error"]


class OctorunbookError(Exception):
    """An expected failure: a stable code, a message, a remedy. Shown to operators, never as a traceback."""

    def __init__(
        self,
        code: str,
        message: str,
        remedy: str = "",
        *,
        reason: str = "",
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.finding = Finding(code, "error", message, remedy, reason, dict(details or {}))

    @property
    def code(self) -> str:
        return self.finding.code

    @property
    def message(self) -> str:
        return self.finding.message

    @property
    def remedy(self) -> str:
        return self.finding.remedy

    @classmethod
    def from_finding(cls, finding: Finding) -> OctorunbookError:
        return cls(
            finding.code, finding.message, finding.remedy, reason=finding.reason, details=finding.details
        )

    def __str__(self) -> str:
        text = f"{self.code}: {self.message}"
        if self.remedy:
            text += f" Remedy: {self.remedy}"
        return text


class InputError(OctorunbookError):
    """The operator's input cannot be used. Nothing was changed."""


class TargetError(OctorunbookError):
    """The target host is not in a state we can go on from."""


class CommandError(TargetError):
    """An external command failed; its redacted argv and exit code are in ``details``."""


class VerificationError(OctorunbookError):
    """The portal does not serve what the change should have made it serve."""
