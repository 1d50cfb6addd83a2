"""The hardening plan as a value: exact changes, exact commands, what it needs and what it may break.

Public beyond this folder: a TLS front that owns its settings (nginx's) answers runbook 05 with these
values through :class:`HardenableFront`, so the front and the planners here share one plan type.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

__all__ = ["HardenableFront", "HardeningPlan", "RegistryChange", "RegistryValue", "Strategy", "Value"]

Strategy = Literal["per-binding", "schannel", "nginx"]
Value = int | str | None


@dataclass(frozen=True)
class RegistryValue:
    """One registry value: ``value`` None means the value is not set (the Windows default applies)."""

    path: str
    name: str
    kind: str  # DWord | String ("" when absent)
    value: Value

    def to_record(self) -> dict[str, Any]:
        return {"path": self.path, "name": self.name, "type": self.kind, "value": self.value}


@dataclass(frozen=True)
class RegistryChange:
    """Current → desired for one value (``path`` a registry key, or an nginx server block for nginx)."""

    path: str
    name: str
    kind: str
    before: Value
    after: Value

    def to_record(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "name": self.name,
            "type": self.kind,
            "before": self.before,
            "after": self.after,
        }

    def text(self) -> str:
        def show(value: Value) -> str:
            return "(not set)" if value is None else str(value)

        return f"{self.path} {self.name}: {show(self.before)} → {show(self.after)}"


@dataclass(frozen=True)
class HardeningPlan:
    strategy: Strategy
    changes: tuple[RegistryChange, ...]
    commands: tuple[tuple[str, ...], ...]
    rollback_commands: tuple[tuple[str, ...], ...]
    reboot_required: bool
    notes: tuple[str, ...]
    may_break: tuple[str, ...]

    @property
    def unchanged(self) -> bool:
        return not self.changes and not self.commands

    def to_record(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "changes": [c.to_record() for c in self.changes],
            "commands": [list(c) for c in self.commands],
            "rollback_commands": [list(c) for c in self.rollback_commands],
            "reboot_required": self.reboot_required,
            "notes": list(self.notes),
            "may_break": list(self.may_break),
        }

    def text(self) -> str:
        lines = [f"TLS hardening plan ({self.strategy})"]
        if self.unchanged:
            lines.append("  nothing to change")
        lines += [f"  change  {c.text()}" for c in self.changes]
        lines += [f"  run     {' '.join(c)}" for c in self.commands]
        lines += [f"  undo    {' '.join(c)}" for c in self.rollback_commands]
        if self.reboot_required:
            lines.append("  ⚠ a reboot is needed before the change takes effect")
        lines += [f"  note    {n}" for n in self.notes]
        lines += [f"  may break  {m}" for m in self.may_break]
        return "\n".join(lines)


@runtime_checkable
class HardenableFront(Protocol):
    """A TLS front whose settings live in text it owns (nginx's managed server block): runbook 05 asks it
    for the plan and the hardened state, and applies that state with the front's own ``apply`` (tested,
    reloaded) and ``restore``. HTTP.sys is hardened per binding or through SCHANNEL and does not
    implement this."""

    def hardening_plan(self, state: Any) -> HardeningPlan: ...

    def hardened(self, state: Any) -> Any: ...
