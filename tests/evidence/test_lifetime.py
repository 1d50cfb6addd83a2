"""Thresholds that scale with the certificate's own lifetime (issue 26): 6-, 45-, 90- and 397-day
certificates, for ``check``, for 04's renewal without ARI and for the schedule's cadence."""

from __future__ import annotations

import datetime as dt

import pytest

from octorunbook.evidence.check import CRITICAL, OK, WARNING, ServedCertificate, judge
from octorunbook.evidence.lifetime import renew_before, runs_per_day, thresholds

NOW = dt.datetime(2026, 12, 5, 12, tzinfo=dt.UTC)
SIX_DAYS = 160 / 24  # Let's Encrypt's shortlived profile: 160 hours


def served(lifetime: float, left: float) -> ServedCertificate:
    end = NOW + dt.timedelta(days=left)
    return ServedCertificate(
        "AB" * 20, "CN=x", ("portal.example.com",), (), end - dt.timedelta(days=lifetime), end, "TLSv1.3"
    )


def verdict(lifetime: float, left: float, **limits: int) -> int:
    result = judge(served(lifetime, left), "portal.example.com", endpoint="e", now=NOW, **limits)
    return result.status


@pytest.mark.parametrize(
    ("lifetime", "warn", "critical"),
    [(SIX_DAYS, 2.2, 1.1), (45, 15, 7.5), (90, 30, 15), (397, 132.3, 66.2)],
)
def test_check_warns_with_a_third_left_and_is_critical_with_a_sixth(
    lifetime: float, warn: float, critical: float
) -> None:
    limits = thresholds(lifetime)
    assert (round(limits.warn_days, 1), round(limits.critical_days, 1)) == (warn, critical)
    assert limits.rule == "lifetime"
    assert verdict(lifetime, lifetime - 0.01) == OK  # a new certificate is never CRITICAL from birth
    assert verdict(lifetime, warn + 0.1) == OK
    assert verdict(lifetime, warn - 0.1) == WARNING
    assert verdict(lifetime, critical - 0.1) == CRITICAL


def test_a_397_day_certificate_warns_at_about_132_days_not_30() -> None:
    assert verdict(397, 131) == WARNING
    assert verdict(397, 131, warn_days=30, critical_days=7) == OK  # explicit: absolute, as released


def test_a_six_day_certificate_is_not_critical_under_the_released_absolute_defaults_by_default() -> None:
    assert verdict(SIX_DAYS, 5) == OK
    assert verdict(SIX_DAYS, 5, warn_days=30, critical_days=7) == CRITICAL


def test_the_record_and_perfdata_say_which_rule_applied() -> None:
    by_lifetime = judge(served(90, 20), "portal.example.com", endpoint="e", now=NOW)
    assert by_lifetime.to_record()["thresholds"]["rule"] == "lifetime"
    assert by_lifetime.line().endswith("| days=20;30;15 lifetime_days=90")
    assert "1/3 of its 90-day lifetime" in by_lifetime.line()
    absolute = judge(
        served(90, 20), "portal.example.com", endpoint="e", now=NOW, warn_days=30, critical_days=7
    )
    assert absolute.to_record()["thresholds"]["rule"] == "absolute"
    assert absolute.line().endswith("| days=20;30;7")
    mixed = judge(served(90, 20), "portal.example.com", endpoint="e", now=NOW, warn_days=10)
    assert mixed.to_record()["thresholds"]["rule"] == "mixed"
    assert (mixed.warn_days, mixed.critical_days) == (10, 10)  # critical never above warning


@pytest.mark.parametrize(
    ("lifetime", "days", "rule"),
    [
        (SIX_DAYS, SIX_DAYS / 2, "lifetime"),
        (45, 15, "lifetime"),
        (90, 30, "lifetime"),
        (397, 397 / 3, "lifetime"),
    ],
)
def test_renewal_without_ari_is_due_with_a_third_left_half_under_ten_days(
    lifetime: float, days: float, rule: str
) -> None:
    assert renew_before(lifetime, 0) == pytest.approx((days, rule))
    assert renew_before(lifetime, 30) == (30, "absolute")  # a file that sets 30 keeps renewing at 30
    assert renew_before(None, 0) == (30, "absolute")  # lifetime unknown: the released 30 days


@pytest.mark.parametrize(
    ("lifetime", "runs"), [(SIX_DAYS, 2), (9.9, 2), (10, 1), (45, 1), (397, 1), (None, 1)]
)
def test_the_schedule_runs_at_least_twice_a_day_under_ten_days(lifetime: float | None, runs: int) -> None:
    assert runs_per_day(lifetime) == runs
