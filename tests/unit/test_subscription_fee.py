"""The subscription fee: Lago's day proration (lago-semantics item 11)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from meterly.domain.errors import ValidationFailed
from meterly.domain.periods import BillingPeriod, BillingTime, PlanInterval, period_containing
from meterly.domain.subscription_fee import (
    SubscriptionFeeAmount,
    day_price_cents,
    is_upgrade,
    subscription_fee,
    yearly_amount_cents,
)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc,arg-type]


def full(
    instant: datetime,
    interval: str = "monthly",
    billing_time: str = "calendar",
    *,
    anchor: datetime | None = None,
    tz: str = "UTC",
) -> BillingPeriod:
    return period_containing(
        instant, interval=interval, billing_time=billing_time, anchor=anchor or instant, timezone=tz
    )


def fee(
    period: BillingPeriod,
    *,
    amount: int = 1000,
    billed_from: datetime | None = None,
    billed_to: datetime | None = None,
    interval: str = "monthly",
    pay_in_advance: bool = False,
    billing_time: str = "calendar",
    is_first_period: bool = False,
    trial_end: datetime | None = None,
    terminated: bool = False,
    upgraded: bool = False,
) -> SubscriptionFeeAmount:
    return subscription_fee(
        plan_amount_cents=amount,
        interval=interval,
        period=period,
        billed_from=billed_from or period.start,
        billed_to=billed_to or period.end,
        timezone=period.timezone,
        pay_in_advance=pay_in_advance,
        billing_time=billing_time,
        is_first_period=is_first_period,
        trial_end=trial_end,
        terminated=terminated,
        upgraded=upgraded,
    )


def test_full_period_bills_the_full_amount() -> None:
    result = fee(full(utc(2024, 1, 10)), amount=1000)
    assert result == SubscriptionFeeAmount(1000, Decimal(1000), 31, 31)


def test_mid_month_calendar_start_on_the_15th_of_a_31_day_month_bills_17_days() -> None:
    january = full(utc(2024, 1, 15))
    result = fee(january, amount=1000, billed_from=utc(2024, 1, 15, 9, 30), is_first_period=True)
    assert (result.days, result.full_period_days) == (17, 31)
    # Lago: 17 × 1000.fdiv(31) = 548.3870967741935 → 548.
    assert result.amount_cents == 548
    assert result.precise_amount_cents.quantize(Decimal("0.000001")) == Decimal("548.387097")


def test_start_at_local_midnight_counts_the_start_day() -> None:
    result = fee(full(utc(2024, 1, 15)), amount=3100, billed_from=utc(2024, 1, 15))
    assert result.days == 17
    assert result.amount_cents == 1700


def test_mid_period_calendar_start_in_february_of_a_leap_year() -> None:
    result = fee(full(utc(2024, 2, 20)), amount=2900, billed_from=utc(2024, 2, 20, 8))
    assert (result.days, result.full_period_days, result.amount_cents) == (10, 29, 1000)


def test_termination_day_is_billed() -> None:
    march = full(utc(2024, 3, 1))
    result = fee(march, amount=3100, billed_to=utc(2024, 3, 20, 14), terminated=True)
    assert result.days == 20  # 1st..20th inclusive
    assert result.amount_cents == 2000


def test_upgrade_day_is_billed_to_the_new_plan_not_the_old_one() -> None:
    march = full(utc(2024, 3, 1))
    old = fee(march, amount=3100, billed_to=utc(2024, 3, 20, 14), terminated=True, upgraded=True)
    assert old.days == 19  # 1st..19th
    assert old.amount_cents == 1900
    new = fee(march, amount=6200, billed_from=utc(2024, 3, 20, 14), is_first_period=True)
    assert new.days == 12  # 20th..31st
    assert new.amount_cents == 2400
    assert old.days + new.days == 31


def test_upgrade_on_the_first_day_bills_nothing_to_the_old_plan() -> None:
    march = full(utc(2024, 3, 1))
    old = fee(march, amount=3100, billed_to=utc(2024, 3, 1, 10), terminated=True, upgraded=True)
    assert (old.days, old.amount_cents) == (0, 0)


def test_pay_in_advance_anniversary_first_period_bills_the_full_amount() -> None:
    started = utc(2024, 1, 15, 10)
    first = full(started, billing_time="anniversary", anchor=started)
    result = fee(
        first,
        amount=1000,
        billed_from=started,
        pay_in_advance=True,
        billing_time="anniversary",
        is_first_period=True,
    )
    assert result.amount_cents == 1000
    assert result.days == result.full_period_days == 31


def test_pay_in_advance_calendar_first_period_is_prorated() -> None:
    result = fee(
        full(utc(2024, 1, 15)),
        amount=1000,
        billed_from=utc(2024, 1, 15, 10),
        pay_in_advance=True,
        is_first_period=True,
    )
    assert result.amount_cents == 548


def test_arrears_anniversary_first_period_started_after_midnight_is_still_full_days() -> None:
    started = utc(2024, 1, 15, 10)
    first = full(started, billing_time="anniversary", anchor=started)
    result = fee(first, amount=1000, billed_from=started, billing_time="anniversary")
    assert (result.days, result.amount_cents) == (31, 1000)


def test_trial_ending_mid_period_bills_only_the_days_after_the_trial() -> None:
    january = full(utc(2024, 1, 1))
    result = fee(january, amount=3100, is_first_period=True, trial_end=utc(2024, 1, 11))
    assert result.days == 21  # 11th..31st
    assert result.amount_cents == 2100


def test_trial_of_decimal_days_bills_the_day_it_ends() -> None:
    january = full(utc(2024, 1, 1))
    trial_end = utc(2024, 1, 1) + timedelta(days=10.5)  # 11 Jan 12:00
    result = fee(january, amount=3100, is_first_period=True, trial_end=trial_end)
    assert result.days == 21
    assert result.amount_cents == 2100


def test_trial_longer_than_the_period_bills_nothing() -> None:
    january = full(utc(2024, 1, 1))
    result = fee(january, amount=3100, is_first_period=True, trial_end=utc(2024, 2, 10))
    assert result == SubscriptionFeeAmount(0, Decimal(0), 0, 31)


def test_trial_longer_than_a_period_prorates_the_period_it_ends_in() -> None:
    february = full(utc(2024, 2, 1))
    result = fee(february, amount=2900, trial_end=utc(2024, 2, 10))
    assert result.days == 20  # 10th..29th
    assert result.amount_cents == 2000


def test_trial_that_ended_before_the_period_changes_nothing() -> None:
    result = fee(full(utc(2024, 3, 1)), amount=3100, trial_end=utc(2024, 2, 10))
    assert result.amount_cents == 3100


def test_trial_prorates_even_a_pay_in_advance_anniversary_first_period() -> None:
    started = utc(2024, 1, 1)
    first = full(started, billing_time="anniversary", anchor=started)
    result = fee(
        first,
        amount=3100,
        pay_in_advance=True,
        billing_time="anniversary",
        is_first_period=True,
        trial_end=utc(2024, 1, 11),
    )
    assert result.amount_cents == 2100


def test_weekly_plan_prorated_three_days() -> None:
    week = full(utc(2024, 3, 14), "weekly")  # Mon 11 .. Sun 17
    result = fee(week, amount=700, interval="weekly", billed_from=utc(2024, 3, 15, 12))
    assert (result.days, result.full_period_days, result.amount_cents) == (3, 7, 300)


def test_yearly_plan_in_a_leap_year_divides_by_366() -> None:
    year = full(utc(2024, 6, 1), "yearly")
    result = fee(year, amount=36600, interval="yearly", billed_from=utc(2024, 9, 23))
    assert (result.days, result.full_period_days, result.amount_cents) == (100, 366, 10000)


def test_quarterly_plan_prorated_over_the_quarter_days() -> None:
    quarter = full(utc(2024, 5, 1), "quarterly")  # Apr–Jun: 91 days
    result = fee(quarter, amount=9100, interval="quarterly", billed_from=utc(2024, 6, 1))
    assert (result.days, result.full_period_days, result.amount_cents) == (30, 91, 3000)


def test_proration_counts_days_in_the_customer_timezone() -> None:
    # 14 Jan 20:00 UTC is 15 Jan 05:00 in Tokyo: Tokyo bills 15..31 = 17 days.
    january = full(utc(2024, 1, 20), tz="Asia/Tokyo")
    result = fee(january, amount=1000, billed_from=utc(2024, 1, 14, 20))
    assert result.days == 17
    assert result.amount_cents == 548


def test_proration_west_of_utc_uses_the_local_date() -> None:
    # 16 Jan 05:00 UTC is still 15 Jan 21:00 in Los Angeles: 17 days, not 16.
    january = full(utc(2024, 1, 20), tz="America/Los_Angeles")
    result = fee(january, amount=1000, billed_from=utc(2024, 1, 16, 5))
    assert result.days == 17


def test_dst_month_prorates_by_calendar_days() -> None:
    march = full(utc(2024, 3, 15), tz="America/Los_Angeles")
    result = fee(march, amount=3100, billed_from=march.start + timedelta(days=10))
    assert (result.days, result.full_period_days, result.amount_cents) == (21, 31, 2100)


def test_half_cent_rounds_away_from_zero() -> None:
    april = full(utc(2024, 4, 1))  # 30 days
    result = fee(april, amount=15, billed_from=utc(2024, 4, 30))
    assert result.precise_amount_cents == Decimal("0.5")
    assert result.amount_cents == 1


def test_zero_amount_plan_bills_zero() -> None:
    assert fee(full(utc(2024, 1, 1)), amount=0, billed_from=utc(2024, 1, 20)).amount_cents == 0


def test_precise_amount_keeps_the_unrounded_decimal() -> None:
    result = fee(full(utc(2024, 1, 1)), amount=100, billed_from=utc(2024, 1, 15))
    assert result.precise_amount_cents == Decimal(1700) / Decimal(31)


@pytest.mark.parametrize(
    ("interval", "factor"),
    [("weekly", 52), ("monthly", 12), ("quarterly", 4), ("semiannual", 2), ("yearly", 1)],
)
def test_yearly_amount_multiplies_by_periods_per_year(interval: str, factor: int) -> None:
    assert yearly_amount_cents(1000, interval) == 1000 * factor


def test_upgrade_when_new_yearly_amount_is_higher_or_equal() -> None:
    monthly = yearly_amount_cents(1000, PlanInterval.MONTHLY)  # 12000
    assert is_upgrade(old_yearly_amount_cents=monthly, new_yearly_amount_cents=12000)
    assert is_upgrade(old_yearly_amount_cents=monthly, new_yearly_amount_cents=12001)
    assert not is_upgrade(old_yearly_amount_cents=monthly, new_yearly_amount_cents=11999)


def test_weekly_to_monthly_comparison_uses_yearly_amounts() -> None:
    weekly = yearly_amount_cents(250, "weekly")  # 13000 a year
    monthly = yearly_amount_cents(1000, "monthly")  # 12000 a year
    assert not is_upgrade(old_yearly_amount_cents=weekly, new_yearly_amount_cents=monthly)


def test_day_price_is_amount_over_full_period_days() -> None:
    assert day_price_cents(plan_amount_cents=3100, full_period_days=31) == Decimal(100)


def test_naive_billed_from_is_rejected() -> None:
    with pytest.raises(ValidationFailed):
        fee(full(utc(2024, 1, 1)), billed_from=datetime(2024, 1, 15))


def test_negative_amount_is_rejected() -> None:
    with pytest.raises(ValidationFailed):
        fee(full(utc(2024, 1, 1)), amount=-1)


def test_float_amount_is_rejected() -> None:
    with pytest.raises(ValidationFailed):
        fee(full(utc(2024, 1, 1)), amount=10.0)  # type: ignore[arg-type]


def test_reversed_billed_range_is_rejected() -> None:
    with pytest.raises(ValidationFailed):
        fee(full(utc(2024, 1, 1)), billed_from=utc(2024, 1, 20), billed_to=utc(2024, 1, 10))


def test_billing_time_enum_and_strings_are_equivalent() -> None:
    period = full(utc(2024, 1, 1))
    a = fee(period, billing_time=BillingTime.CALENDAR, billed_from=utc(2024, 1, 9))
    b = fee(period, billing_time="calendar", billed_from=utc(2024, 1, 9))
    assert a == b
