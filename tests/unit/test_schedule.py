"""The billing schedule: which boundaries closed, and what each one bills."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from meterly.domain.errors import ValidationFailed
from meterly.domain.periods import BillingPeriod, BillingTime, PlanInterval
from meterly.domain.schedule import (
    BillingBoundary,
    BoundaryReason,
    FeeSpan,
    SubscriptionTerms,
    closed_boundaries,
    termination_boundary,
)
from meterly.domain.subscription_fee import subscription_fee


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc,arg-type]


def terms(
    started_at: datetime,
    *,
    interval: PlanInterval = PlanInterval.MONTHLY,
    billing_time: BillingTime = BillingTime.CALENDAR,
    tz: str = "UTC",
    in_advance: bool = False,
    trial_days: str = "0",
    charges_monthly: bool = False,
    terminated_at: datetime | None = None,
) -> SubscriptionTerms:
    return SubscriptionTerms(
        started_at=started_at,
        billing_time=billing_time,
        interval=interval,
        timezone=tz,
        plan_pay_in_advance=in_advance,
        trial_period_days=Decimal(trial_days),
        bill_charges_monthly=charges_monthly,
        terminated_at=terminated_at,
    )


def span(p: BillingPeriod | None) -> tuple[str, str] | None:
    """A period as (first instant, inclusive end) ISO strings in UTC."""
    if p is None:
        return None
    return p.start.isoformat(), p.end.isoformat()


def fee_cents(t: SubscriptionTerms, s: FeeSpan, amount: int, **kw: bool) -> int:
    return subscription_fee(
        plan_amount_cents=amount,
        interval=t.interval,
        period=s.full_period,
        billed_from=s.billed.start,
        billed_to=s.billed.end,
        timezone=t.timezone,
        pay_in_advance=t.plan_pay_in_advance,
        billing_time=t.billing_time,
        is_first_period=s.is_first_period,
        trial_end=t.trial_ends_at,
        terminated=kw.get("terminated", False),
        upgraded=kw.get("upgraded", False),
    ).amount_cents


def ats(boundaries: list[BillingBoundary]) -> list[str]:
    return [b.at.date().isoformat() for b in boundaries]


# --- arrears -----------------------------------------------------------------------


def test_arrears_monthly_calendar_bills_first_partial_period_at_month_end() -> None:
    t = terms(utc(2024, 1, 15, 10))
    [b] = closed_boundaries(t, after=None, as_of=utc(2024, 2, 1))
    assert b.at == utc(2024, 2, 1)
    assert b.reasons == (BoundaryReason.PERIOD_END,)
    assert b.subscription_fee is not None
    assert b.subscription_fee.is_first_period
    assert b.subscription_fee.billed.start == utc(2024, 1, 15, 10)
    assert b.subscription_fee.full_period.start == utc(2024, 1, 1)
    assert span(b.charges_period) == (
        "2024-01-15T10:00:00+00:00",
        "2024-01-31T23:59:59.999999+00:00",
    )
    assert fee_cents(t, b.subscription_fee, 1000) == 548


def test_nothing_closes_before_the_first_boundary() -> None:
    t = terms(utc(2024, 1, 15, 10))
    assert closed_boundaries(t, after=None, as_of=utc(2024, 1, 31, 23, 59, 59)) == []
    assert closed_boundaries(t, after=None, as_of=utc(2024, 1, 1)) == []


def test_catches_up_several_periods_after_downtime() -> None:
    t = terms(utc(2024, 1, 1))
    boundaries = closed_boundaries(t, after=None, as_of=utc(2024, 5, 10))
    assert ats(boundaries) == ["2024-02-01", "2024-03-01", "2024-04-01", "2024-05-01"]
    assert [fee_cents(t, b.subscription_fee, 1000) for b in boundaries if b.subscription_fee] == [
        1000
    ] * 4
    assert [b.subscription_fee.is_first_period for b in boundaries if b.subscription_fee] == [
        True,
        False,
        False,
        False,
    ]


def test_returns_nothing_twice_when_after_is_the_last_boundary() -> None:
    t = terms(utc(2024, 1, 1))
    first_run = closed_boundaries(t, after=None, as_of=utc(2024, 5, 10))
    assert closed_boundaries(t, after=first_run[-1].at, as_of=utc(2024, 5, 10)) == []
    assert closed_boundaries(t, after=first_run[-1].at, as_of=utc(2024, 5, 31)) == []


def test_resumes_after_the_last_billed_boundary() -> None:
    t = terms(utc(2024, 1, 1))
    boundaries = closed_boundaries(t, after=utc(2024, 3, 1), as_of=utc(2024, 5, 10))
    assert ats(boundaries) == ["2024-04-01", "2024-05-01"]
    all_at_once = closed_boundaries(t, after=None, as_of=utc(2024, 5, 10))
    assert boundaries == all_at_once[2:]


def test_boundary_at_exactly_as_of_is_closed() -> None:
    t = terms(utc(2024, 1, 1))
    assert ats(closed_boundaries(t, after=None, as_of=utc(2024, 2, 1))) == ["2024-02-01"]


def test_weekly_anniversary_catch_up() -> None:
    t = terms(
        utc(2024, 3, 13, 9), interval=PlanInterval.WEEKLY, billing_time=BillingTime.ANNIVERSARY
    )
    boundaries = closed_boundaries(t, after=None, as_of=utc(2024, 4, 4))
    assert ats(boundaries) == ["2024-03-20", "2024-03-27", "2024-04-03"]


def test_boundary_is_the_customer_local_midnight() -> None:
    t = terms(utc(2024, 1, 1), tz="Asia/Tokyo")
    [b] = closed_boundaries(t, after=None, as_of=utc(2024, 2, 1))
    assert b.at == utc(2024, 1, 31, 15)  # 1 February 00:00 in Tokyo


def test_boundary_west_of_utc_closes_after_utc_midnight() -> None:
    t = terms(utc(2024, 1, 10), tz="America/Los_Angeles")
    assert closed_boundaries(t, after=None, as_of=utc(2024, 2, 1, 7)) == []
    [b] = closed_boundaries(t, after=None, as_of=utc(2024, 2, 1, 8))
    assert b.at == utc(2024, 2, 1, 8)


# --- pay in advance ----------------------------------------------------------------


def test_pay_in_advance_bills_the_first_period_at_the_subscription_start() -> None:
    t = terms(utc(2024, 1, 15, 10), in_advance=True)
    [b] = closed_boundaries(t, after=None, as_of=utc(2024, 1, 15, 10))
    assert b.at == utc(2024, 1, 15, 10)
    assert b.reasons == (BoundaryReason.SUBSCRIPTION_START,)
    assert b.charges_period is None
    assert b.subscription_fee is not None
    assert fee_cents(t, b.subscription_fee, 1000) == 548


def test_pay_in_advance_period_end_bills_next_fee_and_past_charges() -> None:
    t = terms(utc(2024, 1, 15, 10), in_advance=True)
    start, feb = closed_boundaries(t, after=None, as_of=utc(2024, 2, 1))
    assert feb.at == utc(2024, 2, 1)
    assert feb.subscription_fee is not None
    assert feb.subscription_fee.billed.start == utc(2024, 2, 1)
    assert not feb.subscription_fee.is_first_period
    assert span(feb.charges_period) == span(
        start.subscription_fee.billed if start.subscription_fee else None
    )


def test_pay_in_advance_anniversary_first_period_is_billed_in_full_at_start() -> None:
    t = terms(utc(2024, 1, 15, 10), billing_time=BillingTime.ANNIVERSARY, in_advance=True)
    [b] = closed_boundaries(t, after=None, as_of=utc(2024, 1, 20))
    assert b.subscription_fee is not None
    assert fee_cents(t, b.subscription_fee, 1000) == 1000


def test_pay_in_advance_start_on_a_boundary_is_one_boundary() -> None:
    t = terms(utc(2024, 1, 1), in_advance=True)
    boundaries = closed_boundaries(t, after=None, as_of=utc(2024, 2, 1))
    assert ats(boundaries) == ["2024-01-01", "2024-02-01"]
    assert boundaries[0].charges_period is None
    assert boundaries[0].reasons == (BoundaryReason.SUBSCRIPTION_START,)


# --- trials ------------------------------------------------------------------------


def test_pay_in_advance_with_trial_bills_the_fee_when_the_trial_ends() -> None:
    t = terms(utc(2024, 1, 1), in_advance=True, trial_days="10")
    boundaries = closed_boundaries(t, after=None, as_of=utc(2024, 2, 1))
    assert ats(boundaries) == ["2024-01-11", "2024-02-01"]
    trial_end = boundaries[0]
    assert trial_end.at == utc(2024, 1, 11)
    assert trial_end.reasons == (BoundaryReason.TRIAL_END,)
    assert trial_end.charges_period is None
    assert trial_end.subscription_fee is not None
    assert fee_cents(t, trial_end.subscription_fee, 3100) == 2100
    # Usage charges are not affected by the trial: January is billed from the 1st.
    assert boundaries[1].charges_period is not None
    assert boundaries[1].charges_period.start == utc(2024, 1, 1)


def test_pay_in_advance_trial_longer_than_a_period_skips_the_trial_periods_fee() -> None:
    t = terms(utc(2024, 1, 1), in_advance=True, trial_days="40")
    boundaries = closed_boundaries(t, after=None, as_of=utc(2024, 3, 1))
    assert ats(boundaries) == ["2024-02-01", "2024-02-10", "2024-03-01"]
    feb1, trial_end, mar1 = boundaries
    assert feb1.subscription_fee is None  # January is entirely in the trial
    assert feb1.charges_period is not None
    assert trial_end.subscription_fee is not None
    assert fee_cents(t, trial_end.subscription_fee, 2900) == 2000  # 10th..29th
    assert mar1.subscription_fee is not None
    assert fee_cents(t, mar1.subscription_fee, 2900) == 2900


def test_arrears_trial_prorates_the_first_period_fee() -> None:
    t = terms(utc(2024, 1, 1), trial_days="10.5")
    assert t.trial_ends_at == utc(2024, 1, 11, 12)
    [b] = closed_boundaries(t, after=None, as_of=utc(2024, 2, 1))
    assert b.subscription_fee is not None
    assert fee_cents(t, b.subscription_fee, 3100) == 2100


def test_arrears_trial_longer_than_a_period_bills_zero_then_prorates() -> None:
    t = terms(utc(2024, 1, 1), trial_days="40")
    jan, feb = closed_boundaries(t, after=None, as_of=utc(2024, 3, 1))
    assert jan.subscription_fee is not None and feb.subscription_fee is not None
    assert fee_cents(t, jan.subscription_fee, 2900) == 0
    assert fee_cents(t, feb.subscription_fee, 2900) == 2000


# --- yearly plan, monthly charges ---------------------------------------------------


def test_yearly_plan_with_monthly_charges_bills_charges_every_month() -> None:
    t = terms(utc(2024, 1, 1), interval=PlanInterval.YEARLY, charges_monthly=True)
    boundaries = closed_boundaries(t, after=None, as_of=utc(2025, 1, 1))
    assert len(boundaries) == 12
    assert all(b.charges_period is not None for b in boundaries)
    assert [b.subscription_fee is not None for b in boundaries] == [False] * 11 + [True]
    last = boundaries[-1]
    assert last.charges_period is not None and last.subscription_fee is not None
    assert last.charges_period.first_day.isoformat() == "2024-12-01"
    assert last.subscription_fee.full_period.days == 366


def test_yearly_in_advance_plan_with_monthly_charges() -> None:
    t = terms(utc(2024, 3, 10), interval=PlanInterval.YEARLY, in_advance=True, charges_monthly=True)
    boundaries = closed_boundaries(t, after=None, as_of=utc(2024, 6, 1))
    assert ats(boundaries) == ["2024-03-10", "2024-04-01", "2024-05-01", "2024-06-01"]
    assert boundaries[0].subscription_fee is not None
    assert all(b.subscription_fee is None for b in boundaries[1:])
    assert boundaries[1].charges_period is not None
    assert boundaries[1].charges_period.start == utc(2024, 3, 10)


def test_semiannual_anniversary_plan_with_monthly_charges() -> None:
    t = terms(
        utc(2024, 1, 31),
        interval=PlanInterval.SEMIANNUAL,
        billing_time=BillingTime.ANNIVERSARY,
        charges_monthly=True,
    )
    boundaries = closed_boundaries(t, after=None, as_of=utc(2024, 8, 1))
    assert ats(boundaries) == [
        "2024-02-29", "2024-03-31", "2024-04-30", "2024-05-31", "2024-06-30", "2024-07-31",
    ]  # fmt: skip
    assert [b.subscription_fee is not None for b in boundaries] == [False] * 5 + [True]


def test_yearly_plan_without_monthly_charges_bills_charges_yearly() -> None:
    t = terms(utc(2024, 1, 1), interval=PlanInterval.YEARLY)
    [b] = closed_boundaries(t, after=None, as_of=utc(2025, 1, 1))
    assert b.charges_period is not None and b.charges_period.days == 366


# --- termination -------------------------------------------------------------------


def test_regular_boundaries_stop_before_termination() -> None:
    t = terms(utc(2024, 1, 1), terminated_at=utc(2024, 3, 20, 14))
    assert ats(closed_boundaries(t, after=None, as_of=utc(2024, 6, 1))) == [
        "2024-02-01",
        "2024-03-01",
    ]


def test_termination_in_arrears_bills_up_to_the_termination_day_inclusive() -> None:
    t = terms(utc(2024, 1, 1))
    final = termination_boundary(t, utc(2024, 3, 20, 14))
    assert final.at == utc(2024, 3, 20, 14)
    assert final.subscription_fee is not None
    assert final.subscription_fee.billed.start == utc(2024, 3, 1)
    assert final.subscription_fee.billed.end == utc(2024, 3, 20, 14)
    assert span(final.charges_period) == ("2024-03-01T00:00:00+00:00", "2024-03-20T14:00:00+00:00")
    assert fee_cents(t, final.subscription_fee, 3100, terminated=True) == 2000
    assert final.paid_in_advance is None
    assert final.unused_days == 0


def test_termination_on_upgrade_leaves_the_upgrade_day_to_the_new_plan() -> None:
    t = terms(utc(2024, 1, 1))
    final = termination_boundary(t, utc(2024, 3, 20, 14), upgraded=True)
    assert final.subscription_fee is not None
    assert fee_cents(t, final.subscription_fee, 3100, terminated=True, upgraded=True) == 1900


def test_termination_in_the_first_partial_period_counts_days_from_the_start_day() -> None:
    t = terms(utc(2024, 1, 15, 10))
    final = termination_boundary(t, utc(2024, 1, 20, 9))
    assert final.subscription_fee is not None
    assert final.subscription_fee.is_first_period
    assert final.charges_period.start == utc(2024, 1, 15, 10)
    # Days count from the beginning of the start day (lago-semantics item 14): a
    # termination earlier in the day than the start time still bills the 15th..20th,
    # 6 days x 3100/31 = 600 (not ceil(4 d 23 h) = 5 days on the instants).
    assert fee_cents(t, final.subscription_fee, 3100, terminated=True) == 600
    later = termination_boundary(t, utc(2024, 1, 20, 11))
    assert later.subscription_fee is not None
    assert fee_cents(t, later.subscription_fee, 3100, terminated=True) == 600  # 15th..20th


def test_termination_in_advance_charges_nothing_more_and_reports_unused_days() -> None:
    t = terms(utc(2024, 1, 1), in_advance=True)
    final = termination_boundary(t, utc(2024, 3, 20, 14))
    assert final.subscription_fee is None
    assert final.paid_in_advance is not None
    assert final.paid_in_advance.billed.start == utc(2024, 3, 1)
    assert final.unused_days == 11  # 21st..31st
    assert final.charges_period.end == utc(2024, 3, 20, 14)


def test_termination_in_advance_on_upgrade_credits_the_termination_day_too() -> None:
    t = terms(utc(2024, 1, 1), in_advance=True)
    assert termination_boundary(t, utc(2024, 3, 20, 14), upgraded=True).unused_days == 12


def test_termination_in_advance_during_a_trial_covering_the_period_credits_nothing() -> None:
    t = terms(utc(2024, 1, 1), in_advance=True, trial_days="40")
    final = termination_boundary(t, utc(2024, 1, 20))
    assert final.paid_in_advance is None
    assert final.unused_days == 0


def test_termination_exactly_on_a_boundary_closes_the_period_ending_there() -> None:
    t = terms(utc(2024, 1, 1), terminated_at=utc(2024, 3, 1))
    assert ats(closed_boundaries(t, after=None, as_of=utc(2024, 6, 1))) == ["2024-02-01"]
    final = termination_boundary(t, utc(2024, 3, 1))
    assert final.subscription_fee is not None
    assert final.subscription_fee.billed.start == utc(2024, 2, 1)
    assert fee_cents(t, final.subscription_fee, 2900, terminated=True) == 2900


def test_termination_in_a_timezone_counts_the_local_termination_day() -> None:
    t = terms(utc(2024, 1, 1), tz="America/Los_Angeles")
    # 21 March 03:00 UTC is still 20 March 20:00 in Los Angeles.
    final = termination_boundary(t, utc(2024, 3, 21, 3))
    assert final.subscription_fee is not None
    assert fee_cents(t, final.subscription_fee, 3100, terminated=True) == 2000


# --- validation --------------------------------------------------------------------


def test_naive_started_at_is_rejected() -> None:
    with pytest.raises(ValidationFailed):
        terms(datetime(2024, 1, 1))


def test_naive_as_of_is_rejected() -> None:
    with pytest.raises(ValidationFailed):
        closed_boundaries(terms(utc(2024, 1, 1)), after=None, as_of=datetime(2024, 2, 1))


def test_float_trial_period_is_rejected() -> None:
    with pytest.raises(ValidationFailed):
        SubscriptionTerms(
            started_at=utc(2024, 1, 1),
            billing_time=BillingTime.CALENDAR,
            interval=PlanInterval.MONTHLY,
            timezone="UTC",
            plan_pay_in_advance=False,
            trial_period_days=1.5,  # type: ignore[arg-type]
        )


def test_termination_before_start_is_rejected() -> None:
    with pytest.raises(ValidationFailed):
        termination_boundary(terms(utc(2024, 1, 1)), utc(2023, 12, 31))


def test_as_of_before_start_gives_nothing() -> None:
    assert (
        closed_boundaries(
            terms(utc(2024, 1, 1), in_advance=True), after=None, as_of=utc(2023, 1, 1)
        )
        == []
    )


def test_string_interval_and_billing_time_are_accepted() -> None:
    t = SubscriptionTerms(
        started_at=utc(2024, 1, 1),
        billing_time="anniversary",  # type: ignore[arg-type]
        interval="weekly",  # type: ignore[arg-type]
        timezone="UTC",
        plan_pay_in_advance=False,
    )
    assert t.interval is PlanInterval.WEEKLY
    assert t.billing_time is BillingTime.ANNIVERSARY
    assert closed_boundaries(t, after=None, as_of=utc(2024, 1, 8))[0].at == utc(2024, 1, 8)


def test_one_day_trial_ends_exactly_one_day_later() -> None:
    assert terms(utc(2024, 1, 1, 10), trial_days="1").trial_ends_at == utc(2024, 1, 2, 10)
    assert terms(utc(2024, 1, 1)).trial_ends_at is None
    assert terms(utc(2024, 1, 1), trial_days="0.25").trial_ends_at == utc(2024, 1, 1) + timedelta(
        hours=6
    )
