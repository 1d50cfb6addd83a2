"""Rules that scale with a certificate's own lifetime (issue 26: the 2026 certificate regime).

Public certificates shrink from 398 days to 200 (2026-03-15), 100 (2027) and 47 days (2029); Let's
Encrypt issues 45-day and 6-day (``shortlived``, 160 hours) certificates. A fixed "30 days / 7 days"
rule is wrong at both ends: a 6-day certificate is CRITICAL from birth and a 397-day one is quiet until
a week before the end. So, by default, every rule here is a fraction of ``notAfter - notBefore``:

=========================  ==========================================================================
``octorunbook check``      WARNING with ⅓ of the lifetime left, CRITICAL with ⅙ left
                           (``--warn-days`` / ``--critical-days`` given: those absolute days instead)
renewal without ARI (04)   renew with ⅓ left; ½ when the lifetime is under 10 days
                           (``renew_before_days`` above 0: that many days instead)
``octorunbook schedule``   twice a day for a lifetime under 10 days, daily otherwise
=========================  ==========================================================================

Pure functions: no I/O, so each rule is tested directly with lifetimes of 6, 45, 90 and 397 days.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

DAY = 86400
WARN_FRACTION = 1 / 3
CRITICAL_FRACTION = 1 / 6
RENEW_FRACTION = 1 / 3
SHORT_RENEW_FRACTION = 1 / 2
SHORT_LIVED_DAYS = 10  # under this, renew with half left and run the schedule at least twice a day
LIFETIME, ABSOLUTE = "lifetime", "absolute"


def lifetime_days(not_before: datetime | None, not_after: datetime | None) -> float | None:
    """``notAfter - notBefore`` in days (None when either is unknown or the span is not positive)."""
    if not_before is None or not_after is None:
        return None
    days = (not_after - not_before).total_seconds() / DAY
    return days if days > 0 else None


@dataclass(frozen=True)
class Thresholds:
    """When ``check`` warns and when it is critical, in days left, and which rule gave each."""

    warn_days: float
    critical_days: float
    warn_rule: str
    critical_rule: str
    lifetime_days: float | None = None

    @property
    def rule(self) -> str:
        """``lifetime``, ``absolute``, or ``mixed`` (one given explicitly, the other by lifetime)."""
        return self.warn_rule if self.warn_rule == self.critical_rule else "mixed"

    def to_record(self) -> dict[str, object]:
        return {
            "rule": self.rule,
            "warn_days": days_text(self.warn_days),
            "critical_days": days_text(self.critical_days),
            "warn_rule": self.warn_rule,
            "critical_rule": self.critical_rule,
            "lifetime_days": None if self.lifetime_days is None else days_text(self.lifetime_days),
            "fractions": {"warn": "1/3", "critical": "1/6"},
        }


def days_text(days: float) -> float | int:
    """A day count as perfdata and records show it: whole days as ints, else one decimal."""
    rounded = round(days, 1)
    return int(rounded) if rounded == int(rounded) else rounded


FALLBACK_WARN_DAYS, FALLBACK_CRITICAL_DAYS = 30, 7  # when the lifetime cannot be known


def thresholds(
    lifetime: float | None, warn_days: float | None = None, critical_days: float | None = None
) -> Thresholds:
    """⅓ and ⅙ of ``lifetime`` left, unless given explicitly (absolute days); critical never above warn.

    Without a known lifetime (no certificate read) the released 30/7 days stand in, marked absolute."""
    if lifetime is None:
        warn = float(FALLBACK_WARN_DAYS if warn_days is None else warn_days)
        critical = float(FALLBACK_CRITICAL_DAYS if critical_days is None else critical_days)
        return Thresholds(warn, min(critical, warn), ABSOLUTE, ABSOLUTE)
    warn_rule = ABSOLUTE if warn_days is not None else LIFETIME
    critical_rule = ABSOLUTE if critical_days is not None else LIFETIME
    warn = float(warn_days) if warn_days is not None else lifetime * WARN_FRACTION
    critical = float(critical_days) if critical_days is not None else lifetime * CRITICAL_FRACTION
    return Thresholds(warn, min(critical, warn), warn_rule, critical_rule, lifetime)


def renew_before(lifetime: float | None, renew_before_days: int) -> tuple[float, str]:
    """Days left at which 04 renews (without ARI), and the rule: ``renew_before_days`` above 0 is
    absolute; 0 (the default) is ⅓ of the lifetime, ½ under 10 days. Unknown lifetime: 30 days."""
    if renew_before_days > 0:
        return float(renew_before_days), ABSOLUTE
    if lifetime is None:
        return float(FALLBACK_WARN_DAYS), ABSOLUTE
    fraction = SHORT_RENEW_FRACTION if lifetime < SHORT_LIVED_DAYS else RENEW_FRACTION
    return lifetime * fraction, LIFETIME


def runs_per_day(lifetime: float | None) -> int:
    """How often the scheduled renewal runs: twice a day under 10 days of lifetime, else daily."""
    return 2 if lifetime is not None and lifetime < SHORT_LIVED_DAYS else 1
