"""Properties of the subscription fee over drawn periods, spans and amounts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from meterly.domain.periods import BillingPeriod, BillingTime, PlanInterval, period_containing
from meterly.domain.subscription_fee import subscription_fee

TIMEZONES = ["UTC", "Asia/Tokyo", "Pacific/Auckland", "America/Los_Angeles", "America/Santiago"]

instants = st.datetimes(
    min_value=datetime(2000, 1, 1),
    max_value=datetime(2060, 12, 31),
    timezones=st.just(UTC),
)
amounts = st.integers(min_value=0, max_value=10**12)


@st.composite
def periods(draw: st.DrawFn) -> tuple[BillingPeriod, PlanInterval, BillingTime]:
    interval = draw(st.sampled_from(list(PlanInterval)))
    billing_time = draw(st.sampled_from(list(BillingTime)))
    p = period_containing(
        draw(instants),
        interval=interval,
        billing_time=billing_time,
        anchor=draw(instants),
        timezone=draw(st.sampled_from(TIMEZONES)),
    )
    return p, interval, billing_time


@settings(max_examples=300, deadline=None)
@given(periods(), amounts, st.booleans(), st.booleans())
def test_prorating_a_whole_period_gives_the_full_amount(
    drawn: tuple[BillingPeriod, PlanInterval, BillingTime],
    amount: int,
    pay_in_advance: bool,
    is_first: bool,
) -> None:
    p, interval, billing_time = drawn
    result = subscription_fee(
        plan_amount_cents=amount,
        interval=interval,
        period=p,
        billed_from=p.start,
        billed_to=p.end,
        timezone=p.timezone,
        pay_in_advance=pay_in_advance,
        billing_time=billing_time,
        is_first_period=is_first,
        trial_end=None,
        terminated=False,
        upgraded=False,
    )
    assert result.amount_cents == amount
    assert result.precise_amount_cents == Decimal(amount)
    assert result.days == result.full_period_days == p.days


@settings(max_examples=300, deadline=None)
@given(periods(), amounts, st.data(), st.booleans(), st.booleans(), st.booleans())
def test_prorated_fee_never_exceeds_the_full_amount_and_rounds_within_half_a_cent(
    drawn: tuple[BillingPeriod, PlanInterval, BillingTime],
    amount: int,
    data: st.DataObject,
    terminated: bool,
    upgraded: bool,
    with_trial: bool,
) -> None:
    p, interval, billing_time = drawn
    span_us = (p.end - p.start) // timedelta(microseconds=1)
    a = data.draw(st.integers(0, span_us - 1))
    b = data.draw(st.integers(a + 1, span_us))
    billed_from = p.start + timedelta(microseconds=a)
    billed_to = p.start + timedelta(microseconds=b)
    trial_end = None
    if with_trial:
        trial_end = p.start + timedelta(microseconds=data.draw(st.integers(0, 2 * span_us)))
    result = subscription_fee(
        plan_amount_cents=amount,
        interval=interval,
        period=p,
        billed_from=billed_from,
        billed_to=billed_to,
        timezone=p.timezone,
        pay_in_advance=False,
        billing_time=billing_time,
        is_first_period=False,
        trial_end=trial_end,
        terminated=terminated,
        upgraded=upgraded and terminated,
    )
    assert 0 <= result.amount_cents <= amount
    assert 0 <= result.days <= result.full_period_days
    assert abs(result.precise_amount_cents - result.amount_cents) <= Decimal("0.5")
    if not with_trial and not upgraded:
        assert result.days >= 1
