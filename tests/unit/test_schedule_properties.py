"""Properties of the billing schedule: every period billed exactly once, runs compose."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import pairwise

from hypothesis import given, settings
from hypothesis import strategies as st

from meterly.domain.periods import BillingTime, PlanInterval
from meterly.domain.schedule import SubscriptionTerms, closed_boundaries

TIMEZONES = ["UTC", "Asia/Tokyo", "Pacific/Auckland", "America/Los_Angeles", "Europe/Paris"]

starts = st.datetimes(
    min_value=datetime(2020, 1, 1),
    max_value=datetime(2030, 12, 31),
    timezones=st.just(UTC),
)


@st.composite
def subscription_terms(draw: st.DrawFn) -> SubscriptionTerms:
    interval = draw(st.sampled_from(list(PlanInterval)))
    return SubscriptionTerms(
        started_at=draw(starts),
        billing_time=draw(st.sampled_from(list(BillingTime))),
        interval=interval,
        timezone=draw(st.sampled_from(TIMEZONES)),
        plan_pay_in_advance=draw(st.booleans()),
        trial_period_days=draw(st.sampled_from([Decimal(0), Decimal("0.5"), Decimal(10)])),
        bill_charges_monthly=draw(st.booleans()),
    )


horizons = st.integers(min_value=0, max_value=800).map(lambda d: timedelta(days=d))


@settings(max_examples=150, deadline=None)
@given(subscription_terms(), horizons, horizons)
def test_billing_in_two_runs_equals_billing_in_one(
    terms: SubscriptionTerms, first: timedelta, second: timedelta
) -> None:
    as_of_1 = terms.started_at + first
    as_of_2 = as_of_1 + second
    run_1 = closed_boundaries(terms, after=None, as_of=as_of_1)
    after = run_1[-1].at if run_1 else None
    run_2 = closed_boundaries(terms, after=after, as_of=as_of_2)
    assert run_1 + run_2 == closed_boundaries(terms, after=None, as_of=as_of_2)
    # A third run with the same `after` bills nothing twice.
    last = (run_1 + run_2)[-1].at if run_1 + run_2 else None
    assert closed_boundaries(terms, after=last, as_of=as_of_2) == []


@settings(max_examples=150, deadline=None)
@given(subscription_terms(), horizons)
def test_fee_and_charges_spans_tile_from_the_start_without_gaps(
    terms: SubscriptionTerms, horizon: timedelta
) -> None:
    boundaries = closed_boundaries(terms, after=None, as_of=terms.started_at + horizon)
    ats = [b.at for b in boundaries]
    assert ats == sorted(set(ats))
    assert all(b.subscription_fee or b.charges_period for b in boundaries)
    charges = [b.charges_period for b in boundaries if b.charges_period is not None]
    for prev, nxt in pairwise(charges):
        assert nxt.start == prev.end_exclusive
    if charges:
        assert charges[0].start == terms.started_at
    fees = [b.subscription_fee for b in boundaries if b.subscription_fee is not None]
    assert sum(1 for f in fees if f.is_first_period) <= 1
    for prev_fee, next_fee in pairwise(fees):
        assert next_fee.full_period.start >= prev_fee.full_period.end_exclusive
    if terms.trial_ends_at is None:
        for prev_fee, next_fee in pairwise(fees):
            assert next_fee.billed.start == prev_fee.billed.end_exclusive
        if fees:
            assert fees[0].billed.start == terms.started_at
    for b in boundaries:
        if b.charges_period is not None:
            assert b.at == b.charges_period.end_exclusive
        if b.subscription_fee is not None and not terms.plan_pay_in_advance:
            assert b.at == b.subscription_fee.full_period.end_exclusive
