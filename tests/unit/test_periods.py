"""Billing periods: calendar and anniversary, every interval, customer timezones."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from meterly.domain.errors import ValidationFailed
from meterly.domain.periods import (
    BillingPeriod,
    BillingTime,
    PlanInterval,
    billed_days,
    charges_period_containing,
    first_period,
    local_date,
    next_boundary,
    period_containing,
    subscription_period_containing,
)

CAL = BillingTime.CALENDAR
ANN = BillingTime.ANNIVERSARY
US = timedelta(microseconds=1)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc,arg-type]


def local(tz: str, *args: int) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(tz))  # type: ignore[misc,arg-type]


def period(
    instant: datetime,
    interval: PlanInterval,
    billing_time: BillingTime = CAL,
    *,
    anchor: datetime | None = None,
    tz: str = "UTC",
) -> BillingPeriod:
    return period_containing(
        instant,
        interval=interval,
        billing_time=billing_time,
        anchor=anchor or utc(2020, 1, 1),
        timezone=tz,
    )


def days_of(p: BillingPeriod) -> tuple[str, str]:
    """The period's first and last local dates, as ISO strings."""
    return p.first_day.isoformat(), p.last_day.isoformat()


# --- calendar ----------------------------------------------------------------------


def test_monthly_calendar_period_is_the_calendar_month() -> None:
    p = period(utc(2024, 3, 15, 12), PlanInterval.MONTHLY)
    assert p.start == utc(2024, 3, 1)
    assert p.end == utc(2024, 3, 31, 23, 59, 59, 999999)
    assert p.end_exclusive == utc(2024, 4, 1)
    assert p.days == 31


def test_monthly_calendar_february_in_leap_and_common_years() -> None:
    assert period(utc(2024, 2, 10), PlanInterval.MONTHLY).days == 29
    assert period(utc(2023, 2, 10), PlanInterval.MONTHLY).days == 28


def test_weekly_calendar_period_runs_monday_to_sunday() -> None:
    p = period(utc(2024, 3, 14), PlanInterval.WEEKLY)  # a Thursday
    assert days_of(p) == ("2024-03-11", "2024-03-17")
    assert p.start.weekday() == 0
    assert p.days == 7


def test_weekly_calendar_sunday_belongs_to_the_week_that_started_monday() -> None:
    p = period(utc(2024, 3, 17, 23, 59), PlanInterval.WEEKLY)
    assert days_of(p) == ("2024-03-11", "2024-03-17")


def test_weekly_calendar_week_spanning_year_end() -> None:
    p = period(utc(2025, 1, 1), PlanInterval.WEEKLY)
    assert days_of(p) == ("2024-12-30", "2025-01-05")


@pytest.mark.parametrize(
    ("month", "expected"),
    [
        (1, ("2024-01-01", "2024-03-31")),
        (5, ("2024-04-01", "2024-06-30")),
        (9, ("2024-07-01", "2024-09-30")),
        (12, ("2024-10-01", "2024-12-31")),
    ],
)
def test_quarterly_calendar_quarters_start_jan_apr_jul_oct(
    month: int, expected: tuple[str, str]
) -> None:
    assert days_of(period(utc(2024, month, 20), PlanInterval.QUARTERLY)) == expected


def test_quarterly_calendar_first_quarter_days_in_leap_year() -> None:
    assert period(utc(2024, 2, 1), PlanInterval.QUARTERLY).days == 91
    assert period(utc(2023, 2, 1), PlanInterval.QUARTERLY).days == 90


@pytest.mark.parametrize(
    ("month", "expected", "days"),
    [(3, ("2024-01-01", "2024-06-30"), 182), (11, ("2024-07-01", "2024-12-31"), 184)],
)
def test_semiannual_calendar_semesters_start_jan_and_jul(
    month: int, expected: tuple[str, str], days: int
) -> None:
    p = period(utc(2024, month, 2), PlanInterval.SEMIANNUAL)
    assert days_of(p) == expected
    assert p.days == days


def test_yearly_calendar_period_is_the_calendar_year() -> None:
    p = period(utc(2024, 7, 4), PlanInterval.YEARLY)
    assert days_of(p) == ("2024-01-01", "2024-12-31")
    assert p.days == 366
    assert period(utc(2023, 7, 4), PlanInterval.YEARLY).days == 365


# --- anniversary -------------------------------------------------------------------


def test_monthly_anniversary_starts_on_the_subscription_day() -> None:
    anchor = utc(2024, 1, 15, 10, 30)
    p = period(utc(2024, 3, 20), PlanInterval.MONTHLY, ANN, anchor=anchor)
    assert days_of(p) == ("2024-03-15", "2024-04-14")
    assert p.start == utc(2024, 3, 15)  # local midnight, not the anchor's time of day


def test_monthly_anniversary_before_the_anniversary_day_is_in_previous_period() -> None:
    anchor = utc(2024, 1, 15)
    p = period(utc(2024, 3, 10), PlanInterval.MONTHLY, ANN, anchor=anchor)
    assert days_of(p) == ("2024-02-15", "2024-03-14")
    assert p.days == 29


def test_anniversary_on_31st_through_february_in_a_leap_year_and_back() -> None:
    anchor = utc(2024, 1, 31)
    starts = []
    instant = anchor
    for _ in range(5):
        p = period(instant, PlanInterval.MONTHLY, ANN, anchor=anchor)
        starts.append(p.first_day.isoformat())
        instant = p.end_exclusive
    assert starts == ["2024-01-31", "2024-02-29", "2024-03-31", "2024-04-30", "2024-05-31"]


def test_anniversary_on_31st_through_february_in_a_common_year_and_back() -> None:
    anchor = utc(2023, 1, 31)
    jan = period(anchor, PlanInterval.MONTHLY, ANN, anchor=anchor)
    assert days_of(jan) == ("2023-01-31", "2023-02-27")
    feb = period(jan.end_exclusive, PlanInterval.MONTHLY, ANN, anchor=anchor)
    assert days_of(feb) == ("2023-02-28", "2023-03-30")
    mar = period(feb.end_exclusive, PlanInterval.MONTHLY, ANN, anchor=anchor)
    assert days_of(mar) == ("2023-03-31", "2023-04-29")


def test_anniversary_on_30th_falls_on_february_last_day_then_returns_to_30th() -> None:
    anchor = utc(2023, 11, 30)
    p = period(utc(2024, 3, 1), PlanInterval.MONTHLY, ANN, anchor=anchor)
    assert days_of(p) == ("2024-02-29", "2024-03-29")


def test_yearly_anniversary_feb_29_anchor_falls_on_feb_28_in_common_years() -> None:
    anchor = utc(2024, 2, 29)
    first = period(anchor, PlanInterval.YEARLY, ANN, anchor=anchor)
    assert days_of(first) == ("2024-02-29", "2025-02-27")
    assert first.days == 365
    second = period(first.end_exclusive, PlanInterval.YEARLY, ANN, anchor=anchor)
    assert days_of(second) == ("2025-02-28", "2026-02-27")
    fourth = period(utc(2027, 12, 1), PlanInterval.YEARLY, ANN, anchor=anchor)
    assert days_of(fourth) == ("2027-02-28", "2028-02-28")
    leap_again = period(utc(2028, 3, 1), PlanInterval.YEARLY, ANN, anchor=anchor)
    assert leap_again.first_day.isoformat() == "2028-02-29"


def test_weekly_anniversary_keeps_the_subscription_weekday() -> None:
    anchor = utc(2024, 3, 13)  # a Wednesday
    p = period(utc(2024, 3, 25), PlanInterval.WEEKLY, ANN, anchor=anchor)
    assert days_of(p) == ("2024-03-20", "2024-03-26")


def test_quarterly_anniversary_every_three_months_from_the_start() -> None:
    anchor = utc(2024, 2, 10)
    p = period(utc(2024, 6, 1), PlanInterval.QUARTERLY, ANN, anchor=anchor)
    assert days_of(p) == ("2024-05-10", "2024-08-09")


def test_quarterly_anniversary_on_31st_clamps_in_short_months() -> None:
    anchor = utc(2023, 8, 31)
    p = period(utc(2023, 12, 1), PlanInterval.QUARTERLY, ANN, anchor=anchor)
    assert days_of(p) == ("2023-11-30", "2024-02-28")
    nxt = period(p.end_exclusive, PlanInterval.QUARTERLY, ANN, anchor=anchor)
    assert days_of(nxt) == ("2024-02-29", "2024-05-30")


def test_semiannual_anniversary_every_six_months() -> None:
    anchor = utc(2024, 3, 5)
    p = period(utc(2025, 1, 1), PlanInterval.SEMIANNUAL, ANN, anchor=anchor)
    assert days_of(p) == ("2024-09-05", "2025-03-04")


def test_yearly_anniversary_starts_on_the_subscription_date() -> None:
    anchor = utc(2022, 6, 15)
    p = period(utc(2024, 1, 1), PlanInterval.YEARLY, ANN, anchor=anchor)
    assert days_of(p) == ("2023-06-15", "2024-06-14")
    assert p.days == 366


# --- timezones ---------------------------------------------------------------------


def test_tokyo_customer_instant_on_a_different_date_in_utc() -> None:
    instant = utc(2024, 3, 31, 16, 0)  # 1 April 01:00 in Tokyo
    p = period(instant, PlanInterval.MONTHLY, tz="Asia/Tokyo")
    assert days_of(p) == ("2024-04-01", "2024-04-30")
    assert p.start == utc(2024, 3, 31, 15, 0)  # local midnight, UTC+9
    assert p.end_exclusive == utc(2024, 4, 30, 15, 0)
    assert period(instant, PlanInterval.MONTHLY).first_day.isoformat() == "2024-03-01"


def test_auckland_customer_period_in_new_zealand_daylight_time() -> None:
    instant = utc(2024, 12, 31, 12, 0)  # 1 January 01:00 NZDT (UTC+13)
    p = period(instant, PlanInterval.YEARLY, tz="Pacific/Auckland")
    assert days_of(p) == ("2025-01-01", "2025-12-31")
    assert p.start == utc(2024, 12, 31, 11, 0)


def test_los_angeles_customer_instant_still_in_previous_month_locally() -> None:
    instant = utc(2024, 4, 1, 5, 0)  # 31 March 22:00 PDT
    p = period(instant, PlanInterval.MONTHLY, tz="America/Los_Angeles")
    assert days_of(p) == ("2024-03-01", "2024-03-31")
    assert p.end == utc(2024, 4, 1, 6, 59, 59, 999999)  # local 23:59:59.999999 PDT


def test_dst_month_still_counts_calendar_days() -> None:
    # March 2024 in Los Angeles has 31 days but 743 hours (spring forward on the 10th).
    p = period(utc(2024, 3, 15), PlanInterval.MONTHLY, tz="America/Los_Angeles")
    assert p.start == utc(2024, 3, 1, 8)  # PST
    assert p.end_exclusive == utc(2024, 4, 1, 7)  # PDT
    assert (p.end_exclusive - p.start) == timedelta(days=31) - timedelta(hours=1)
    assert p.days == 31


def test_dst_fall_back_month_counts_calendar_days() -> None:
    p = period(utc(2024, 10, 15), PlanInterval.MONTHLY, tz="Europe/Paris")
    assert p.end_exclusive - p.start == timedelta(days=31, hours=1)
    assert p.days == 31


def test_midnight_that_does_not_exist_starts_at_the_dst_transition() -> None:
    # Santiago jumped from 00:00 to 01:00 on 2024-09-08.
    p = period(
        utc(2024, 9, 8, 12),
        PlanInterval.WEEKLY,
        ANN,
        anchor=utc(2024, 9, 1, 12),
        tz="America/Santiago",
    )
    assert p.first_day.isoformat() == "2024-09-08"
    assert p.start == utc(2024, 9, 8, 4)  # the transition instant, local 01:00 -03
    assert p.days == 7


def test_anniversary_anchor_uses_the_customer_local_date() -> None:
    anchor = utc(2024, 1, 14, 20)  # 15 January 05:00 in Tokyo
    p = period(utc(2024, 2, 20), PlanInterval.MONTHLY, ANN, anchor=anchor, tz="Asia/Tokyo")
    assert days_of(p) == ("2024-02-15", "2024-03-14")


# --- helpers -----------------------------------------------------------------------


def test_contains_includes_both_ends() -> None:
    p = period(utc(2024, 3, 15), PlanInterval.MONTHLY)
    assert p.contains(p.start)
    assert p.contains(p.end)
    assert not p.contains(p.end_exclusive)
    assert not p.contains(p.start - US)


def test_next_boundary_is_the_next_local_midnight_period_start() -> None:
    b = next_boundary(
        utc(2024, 3, 15), interval="monthly", billing_time="calendar", anchor=utc(2024, 1, 1),
        timezone="Asia/Tokyo",
    )  # fmt: skip
    assert b == utc(2024, 3, 31, 15)


def test_next_boundary_on_a_boundary_is_the_following_one() -> None:
    b = next_boundary(
        utc(2024, 4, 1), interval="monthly", billing_time="calendar", anchor=utc(2024, 1, 1),
        timezone="UTC",
    )  # fmt: skip
    assert b == utc(2024, 5, 1)


def test_mid_period_calendar_start_first_period_runs_from_start_to_month_end() -> None:
    started = utc(2024, 1, 15, 9, 30)
    p = first_period(
        interval="monthly", billing_time="calendar", started_at=started, timezone="UTC"
    )
    assert p.start == started
    assert p.end == utc(2024, 1, 31, 23, 59, 59, 999999)
    assert p.days == 17


def test_subscription_period_after_the_first_is_a_full_period() -> None:
    started = utc(2024, 1, 15, 9, 30)
    p = subscription_period_containing(
        utc(2024, 2, 10), interval="monthly", billing_time="calendar", started_at=started,
        timezone="UTC",
    )  # fmt: skip
    assert p.start == utc(2024, 2, 1)


def test_subscription_period_before_the_start_is_rejected() -> None:
    with pytest.raises(ValidationFailed):
        subscription_period_containing(
            utc(2023, 12, 1), interval="monthly", billing_time="calendar",
            started_at=utc(2024, 1, 15), timezone="UTC",
        )  # fmt: skip


def test_yearly_plan_with_monthly_charges_has_monthly_charges_periods() -> None:
    p = charges_period_containing(
        utc(2024, 5, 20), interval="yearly", billing_time="calendar", anchor=utc(2024, 1, 1),
        timezone="UTC", bill_charges_monthly=True,
    )  # fmt: skip
    assert days_of(p) == ("2024-05-01", "2024-05-31")


def test_semiannual_anniversary_plan_with_monthly_charges_uses_anniversary_months() -> None:
    p = charges_period_containing(
        utc(2024, 5, 20), interval="semiannual", billing_time="anniversary",
        anchor=utc(2024, 1, 31), timezone="UTC", bill_charges_monthly=True,
    )  # fmt: skip
    assert days_of(p) == ("2024-04-30", "2024-05-30")


def test_bill_charges_monthly_is_ignored_for_monthly_and_quarterly_plans() -> None:
    p = charges_period_containing(
        utc(2024, 5, 20), interval="quarterly", billing_time="calendar", anchor=utc(2024, 1, 1),
        timezone="UTC", bill_charges_monthly=True,
    )  # fmt: skip
    assert days_of(p) == ("2024-04-01", "2024-06-30")


def test_yearly_plan_without_monthly_charges_has_yearly_charges_periods() -> None:
    p = charges_period_containing(
        utc(2024, 5, 20), interval="yearly", billing_time="calendar", anchor=utc(2024, 1, 1),
        timezone="UTC", bill_charges_monthly=False,
    )  # fmt: skip
    assert p.days == 366


# --- billed days -------------------------------------------------------------------


def test_billed_days_counts_partial_days_as_whole() -> None:
    assert (
        billed_days(utc(2024, 1, 15, 10), utc(2024, 1, 31, 23, 59, 59, 999999), timezone="UTC")
        == 17
    )
    assert billed_days(utc(2024, 1, 1), utc(2024, 1, 1, 0, 0, 1), timezone="UTC") == 1


def test_billed_days_an_end_at_local_midnight_still_counts_that_day() -> None:
    # Lago adds one second to the end: Jan 1, Jan 2 and Jan 3 (from its 00:00) = 3 days.
    assert billed_days(utc(2024, 1, 1), utc(2024, 1, 3), timezone="UTC") == 3


def test_billed_days_count_from_the_beginning_of_the_start_day() -> None:
    # Started on the 15th at 10:00, ended on the 20th at 09:00: the 15th..20th = 6 days
    # (not ceil(4 d 23 h) = 5 on the instants).
    assert billed_days(utc(2024, 1, 15, 10), utc(2024, 1, 20, 9), timezone="UTC") == 6


def test_billed_days_counts_the_termination_day() -> None:
    assert billed_days(utc(2024, 3, 1), utc(2024, 3, 20, 14), timezone="UTC") == 20


def test_billed_days_use_the_customer_wall_clock_across_dst() -> None:
    tz = "America/Los_Angeles"
    start = local(tz, 2024, 3, 9)
    end = local(tz, 2024, 3, 11)  # 47 real hours; ends at the local midnight of the 11th
    assert end.astimezone(UTC) - start.astimezone(UTC) == timedelta(hours=47)
    # The 9th, the 10th (23 hours long) and the 11th, whose midnight counts it: 3 days.
    assert billed_days(start, end, timezone=tz) == 3


def test_billed_days_in_a_timezone_east_of_utc() -> None:
    # 15 Jan 23:00 UTC is 16 Jan 08:00 in Tokyo: Tokyo bills 16..31 = 16 days.
    from_ = utc(2024, 1, 15, 23)
    to = local("Asia/Tokyo", 2024, 1, 31, 23, 59, 59, 999999)
    assert billed_days(from_, to, timezone="Asia/Tokyo") == 16
    # In UTC the same instants are Jan 15 23:00 .. Jan 31 14:59: the 15th..31st = 17 days.
    assert billed_days(from_, to, timezone="UTC") == 17
    assert local_date(from_, timezone="Asia/Tokyo").isoformat() == "2024-01-16"


def test_billed_days_rejects_a_reversed_range() -> None:
    with pytest.raises(ValidationFailed):
        billed_days(utc(2024, 1, 2), utc(2024, 1, 1), timezone="UTC")


# --- validation --------------------------------------------------------------------


def test_naive_instant_is_rejected() -> None:
    with pytest.raises(ValidationFailed):
        period(datetime(2024, 1, 1), PlanInterval.MONTHLY)


def test_naive_anchor_is_rejected() -> None:
    with pytest.raises(ValidationFailed):
        period(utc(2024, 1, 1), PlanInterval.MONTHLY, ANN, anchor=datetime(2024, 1, 1))


def test_naive_billed_days_bound_is_rejected() -> None:
    with pytest.raises(ValidationFailed):
        billed_days(datetime(2024, 1, 1), utc(2024, 1, 2), timezone="UTC")


def test_unknown_timezone_is_a_validation_error() -> None:
    with pytest.raises(ValidationFailed) as err:
        period(utc(2024, 1, 1), PlanInterval.MONTHLY, tz="Mars/Olympus_Mons")
    assert err.value.details == {"timezone": ["invalid_timezone"]}


def test_unknown_interval_is_a_validation_error() -> None:
    with pytest.raises(ValidationFailed):
        period_containing(
            utc(2024, 1, 1), interval="daily", billing_time="calendar", anchor=utc(2024, 1, 1),
            timezone="UTC",
        )  # fmt: skip


def test_billing_period_rejects_end_before_start() -> None:
    with pytest.raises(ValidationFailed):
        BillingPeriod(start=utc(2024, 1, 2), end=utc(2024, 1, 1))


def test_billing_period_is_frozen() -> None:
    p = period(utc(2024, 1, 1), PlanInterval.MONTHLY)
    with pytest.raises(AttributeError):
        p.start = utc(2024, 2, 1)  # type: ignore[misc]


def test_billed_days_inside_a_repeated_dst_hour_is_one_day_not_an_error() -> None:
    tz = ZoneInfo("America/Los_Angeles")
    from_ = datetime(2024, 11, 3, 1, 45, tzinfo=tz)  # first 01:45 (PDT)
    to = datetime(2024, 11, 3, 1, 15, fold=1, tzinfo=tz)  # second 01:15 (PST), 30 min later
    assert to.astimezone(UTC) > from_.astimezone(UTC)
    # Wall clock backwards, same local date (Nov 3): that one day.
    assert billed_days(from_, to, timezone="America/Los_Angeles") == 1
