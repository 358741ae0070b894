"""Lago's billing lifecycle rules in the domain (lago-semantics item 14): days counted on
local dates, plan changes that keep the anchor, trials from the first start, and the
unused days of a paid period at termination. Examples worked by hand, then properties.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from meterly.domain.periods import (
    BillingTime,
    PlanInterval,
    billed_days,
    local_date,
    local_midnight,
    subscription_period_containing,
)
from meterly.domain.schedule import SubscriptionTerms, closed_boundaries, termination_boundary
from meterly.domain.subscription_fee import subscription_fee

TIMEZONES = ["UTC", "America/Los_Angeles", "Asia/Tokyo", "Europe/Paris", "America/Santiago"]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc,arg-type]


def terms(
    started_at: datetime,
    *,
    anchor: datetime | None = None,
    trial_started_at: datetime | None = None,
    interval: PlanInterval = PlanInterval.MONTHLY,
    billing_time: BillingTime = BillingTime.ANNIVERSARY,
    tz: str = "UTC",
    in_advance: bool = True,
    trial_days: str = "0",
) -> SubscriptionTerms:
    return SubscriptionTerms(
        started_at=started_at,
        anchor=anchor,
        trial_started_at=trial_started_at,
        billing_time=billing_time,
        interval=interval,
        timezone=tz,
        plan_pay_in_advance=in_advance,
        trial_period_days=Decimal(trial_days),
    )


# --- day counting --------------------------------------------------------------------


def test_a_span_started_mid_day_counts_from_the_beginning_of_that_day() -> None:
    # Feb 8 23:00 .. Feb 9 01:00 (2 hours) touches Feb 8 and Feb 9: 2 days.
    assert billed_days(utc(2025, 2, 8, 23), utc(2025, 2, 9, 1), timezone="UTC") == 2


def test_a_termination_at_local_midnight_counts_that_day_in_the_customer_timezone() -> None:
    # Feb 21 00:00 in Los Angeles is 08:00 UTC: Feb 8..21 local = 14 days.
    start = local_midnight(date(2025, 2, 8), timezone="America/Los_Angeles")
    end = local_midnight(date(2025, 2, 21), timezone="America/Los_Angeles")
    assert billed_days(start, end, timezone="America/Los_Angeles") == 14


def test_arrears_termination_at_midnight_bills_14_of_28_days() -> None:
    t = terms(utc(2025, 2, 8), billing_time=BillingTime.CALENDAR, in_advance=False)
    ending = termination_boundary(t, utc(2025, 2, 21))
    assert ending.subscription_fee is not None
    fee = subscription_fee(
        plan_amount_cents=10000,
        interval=t.interval,
        period=ending.subscription_fee.full_period,
        billed_from=ending.subscription_fee.billed.start,
        billed_to=ending.subscription_fee.billed.end,
        timezone="UTC",
        pay_in_advance=False,
        billing_time=t.billing_time,
        is_first_period=True,
        terminated=True,
    )
    # Feb 8..21 = 14 of 28 days x 10000 = 5000.
    assert (fee.days, fee.full_period_days, fee.amount_cents) == (14, 28, 5000)


# --- plan changes keep the anchor -------------------------------------------------------


def test_upgraded_yearly_subscription_is_prorated_on_the_original_anchor() -> None:
    t = terms(
        utc(2023, 9, 28, 5),
        anchor=utc(2023, 6, 29, 12, 12),
        interval=PlanInterval.YEARLY,
    )
    (start,) = closed_boundaries(t, after=None, as_of=utc(2023, 9, 28, 5))
    fee_span = start.subscription_fee
    assert fee_span is not None
    assert fee_span.full_period.first_day == date(2023, 6, 29)
    assert fee_span.full_period.last_day == date(2024, 6, 28)
    fee = subscription_fee(
        plan_amount_cents=12000,
        interval=t.interval,
        period=fee_span.full_period,
        billed_from=fee_span.billed.start,
        billed_to=fee_span.billed.end,
        timezone="UTC",
        pay_in_advance=True,
        billing_time=t.billing_time,
        is_first_period=fee_span.is_first_period,
    )
    # Sep 28 2023..Jun 28 2024 = 275 days of 366: 275 x 12000/366 = 9016.39 -> 9016 (the
    # full-amount rule of a first anniversary period does not apply: it starts off-anchor).
    assert (fee.days, fee.full_period_days, fee.amount_cents) == (275, 366, 9016)
    # The next boundary is the anchor's anniversary.
    later = closed_boundaries(t, after=start.at, as_of=utc(2024, 7, 1))
    assert [b.at for b in later] == [utc(2024, 6, 29)]


def test_current_period_of_a_successor_is_clipped_to_its_start_on_the_anchored_period() -> None:
    period = subscription_period_containing(
        utc(2024, 3, 12, 13),
        interval=PlanInterval.MONTHLY,
        billing_time=BillingTime.ANNIVERSARY,
        started_at=utc(2024, 3, 12, 12, 12),
        timezone="UTC",
        anchor=utc(2024, 3, 5, 12, 12),
    )
    assert period.start == utc(2024, 3, 12, 12, 12)
    assert period.end_exclusive == utc(2024, 4, 5)


def test_trial_runs_from_the_first_start_of_the_external_id() -> None:
    t = terms(
        utc(2024, 1, 20),
        trial_started_at=utc(2024, 1, 1),
        billing_time=BillingTime.CALENDAR,
        trial_days="10",
    )
    assert t.trial_ends_at == utc(2024, 1, 11)


# --- unused days of a paid period ---------------------------------------------------------


def test_upgrade_unused_days_start_on_the_upgrade_day() -> None:
    t = terms(utc(2024, 3, 5, 12, 12))
    # Mar 12..Apr 4 = 24 days (Lago's multiple-upgrade spec).
    assert termination_boundary(t, utc(2024, 3, 12, 12, 12), upgraded=True).unused_days == 24
    # A plain termination gives the day back only from the next one: Mar 13..Apr 4 = 23.
    assert termination_boundary(t, utc(2024, 3, 12, 12, 12)).unused_days == 23


def test_termination_on_or_before_the_trials_last_day_gives_back_every_paid_day() -> None:
    t = terms(utc(2024, 1, 1), billing_time=BillingTime.CALENDAR, trial_days="5")
    # The fee was billed from the trial's end, Jan 6: Jan 6..31 = 26 days.
    assert termination_boundary(t, utc(2024, 1, 6, 10)).unused_days == 26
    # The day after: Jan 8..31 = 24 days, the ordinary rule.
    assert termination_boundary(t, utc(2024, 1, 7, 10)).unused_days == 24


# --- properties ---------------------------------------------------------------------------

instants = st.datetimes(
    min_value=datetime(2001, 1, 1), max_value=datetime(2059, 12, 31), timezones=st.just(UTC)
)
spans = st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=800))


@settings(max_examples=200, deadline=None)
@given(start=instants, length=spans, tz=st.sampled_from(TIMEZONES))
def test_the_start_time_of_day_never_changes_the_days(
    start: datetime, length: timedelta, tz: str
) -> None:
    end = start + length
    day_start = local_midnight(local_date(start, timezone=tz), timezone=tz)
    assert billed_days(start, end, timezone=tz) == billed_days(day_start, end, timezone=tz)


@settings(max_examples=200, deadline=None)
@given(start=instants, length=spans, cut=st.floats(0, 1), tz=st.sampled_from(TIMEZONES))
def test_splitting_a_span_counts_the_day_of_the_cut_twice(
    start: datetime, length: timedelta, cut: float, tz: str
) -> None:
    end = start + length
    middle = start + length * cut
    whole = billed_days(start, end, timezone=tz)
    assert billed_days(start, middle, timezone=tz) + billed_days(middle, end, timezone=tz) == (
        whole + 1
    )


@settings(max_examples=200, deadline=None)
@given(start=instants, days=st.integers(0, 400), tz=st.sampled_from(TIMEZONES))
def test_an_end_at_local_midnight_counts_that_day(start: datetime, days: int, tz: str) -> None:
    first = local_date(start, timezone=tz)
    midnight = local_midnight(first + timedelta(days=days), timezone=tz)
    if midnight < start:  # a start inside a DST gap day's first instant
        return
    # The days from the start day to the midnight's day, both included.
    assert billed_days(start, midnight, timezone=tz) == days + 1


@settings(max_examples=200, deadline=None)
@given(
    anchor=instants,
    after=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=700)),
    interval=st.sampled_from(list(PlanInterval)),
    tz=st.sampled_from(TIMEZONES),
)
def test_a_plan_change_never_moves_the_boundaries(
    anchor: datetime, after: timedelta, interval: PlanInterval, tz: str
) -> None:
    """The successor's period ends are exactly the original subscription's after the change."""
    change = anchor + after
    horizon = change + timedelta(days=800)
    original = terms(anchor, interval=interval, tz=tz, in_advance=False)
    successor = terms(change, anchor=anchor, interval=interval, tz=tz, in_advance=False)
    before = {b.at for b in closed_boundaries(original, after=change, as_of=horizon)}
    assert {b.at for b in closed_boundaries(successor, after=None, as_of=horizon)} == before


@settings(max_examples=200, deadline=None)
@given(
    start=instants,
    used=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=400)),
    interval=st.sampled_from(list(PlanInterval)),
    upgraded=st.booleans(),
    tz=st.sampled_from(TIMEZONES),
)
def test_used_and_unused_days_make_the_paid_period(
    start: datetime, used: timedelta, interval: PlanInterval, upgraded: bool, tz: str
) -> None:
    """Without a trial: days billed to the termination + unused days = the paid days (the
    upgrade day counted once, on the new plan)."""
    t = terms(start, interval=interval, tz=tz)
    ending = termination_boundary(t, start + used, upgraded=upgraded)
    paid = ending.paid_in_advance
    assert paid is not None
    if start + used > paid.billed.end:
        return  # terminated on the boundary itself: nothing left of that period
    used_days = billed_days(paid.billed.start, start + used, timezone=tz) - int(upgraded)
    assert used_days + ending.unused_days == paid.billed.days
