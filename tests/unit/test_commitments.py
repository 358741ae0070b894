"""The minimum commitment: the plan period a true-up closes and the shortfall it bills
(lago-semantics item 14). Every figure is worked by hand in the comments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from meterly.domain.commitments import (
    ServiceFee,
    commitment_period,
    lies_in,
    minimum_commitment_true_up,
)
from meterly.domain.periods import BillingPeriod, BillingTime, PlanInterval
from meterly.domain.schedule import FeeSpan, SubscriptionTerms, fee_span_containing

END_OF_DAY = timedelta(hours=23, minutes=59, seconds=59, microseconds=999999)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc,arg-type]


def terms(
    started_at: datetime,
    *,
    in_advance: bool,
    billing_time: BillingTime = BillingTime.CALENDAR,
    interval: PlanInterval = PlanInterval.MONTHLY,
) -> SubscriptionTerms:
    return SubscriptionTerms(
        started_at=started_at,
        billing_time=billing_time,
        interval=interval,
        timezone="UTC",
        plan_pay_in_advance=in_advance,
    )


def month(year: int, number: int, *, start_day: int = 1) -> FeeSpan:
    """A calendar month's span, billed from `start_day`."""
    first = utc(year, number, 1)
    nxt = utc(year + number // 12, number % 12 + 1, 1)
    full = BillingPeriod(start=first, end=nxt - timedelta(microseconds=1))
    return FeeSpan(
        full_period=full,
        billed=full.clipped(start=utc(year, number, start_day)),
        is_first_period=start_day != 1,
    )


def test_in_arrears_the_billed_period_is_the_one_trued_up() -> None:
    span = fee_span_containing(terms(utc(2024, 3, 1), in_advance=False), utc(2024, 4, 10))
    assert commitment_period(terms(utc(2024, 3, 1), in_advance=False), billed_span=span) == span


def test_a_charges_only_boundary_closes_no_commitment() -> None:
    # The monthly charges of a yearly plan: no subscription fee billed, nothing trued up.
    assert commitment_period(terms(utc(2024, 3, 1), in_advance=False), billed_span=None) is None


def test_in_advance_the_period_before_the_billed_one_is_trued_up() -> None:
    subscription = terms(utc(2024, 3, 10), in_advance=True)
    april = fee_span_containing(subscription, utc(2024, 4, 1))
    closed = commitment_period(subscription, billed_span=april)
    assert closed is not None
    # March, billed from the 10th: 22 of its 31 days.
    assert closed.full_period.start == utc(2024, 3, 1)
    assert closed.billed.start == utc(2024, 3, 10)
    assert (closed.billed.days, closed.full_period.days) == (22, 31)


def test_in_advance_the_first_invoice_closes_nothing() -> None:
    subscription = terms(utc(2024, 3, 10), in_advance=True)
    first = fee_span_containing(subscription, utc(2024, 3, 10))
    assert commitment_period(subscription, billed_span=first) is None


def test_termination_closes_the_open_period_up_to_the_termination_instant() -> None:
    for in_advance in (False, True):
        subscription = terms(utc(2024, 3, 1), in_advance=in_advance)
        closed = commitment_period(
            subscription, billed_span=None, terminated_at=utc(2024, 4, 15, 12)
        )
        assert closed is not None
        # April 1st..15th (the termination day counts): 15 of 30 days.
        assert closed.full_period.start == utc(2024, 4, 1)
        assert (closed.billed.start, closed.billed.end) == (utc(2024, 4, 1), utc(2024, 4, 15, 12))
        assert (closed.billed.days, closed.full_period.days) == (15, 30)


def test_true_up_counts_only_the_fees_whose_service_lies_in_the_period() -> None:
    march = month(2024, 3, start_day=10)
    fees = [
        # March 10th..31st subscription fee, 10_000 x 22/31 = 7_096.77 -> 7_097.
        ServiceFee(7_097, utc(2024, 3, 10), utc(2024, 3, 31) + END_OF_DAY),
        # An in-advance fee at its event's instant.
        ServiceFee(1_000, utc(2024, 3, 12, 8), utc(2024, 3, 12, 8)),
        # A recurring charge billed again for April: April's service, not March's.
        ServiceFee(1_000, utc(2024, 4, 1), utc(2024, 4, 30) + END_OF_DAY),
    ]
    true_up = minimum_commitment_true_up(commitment_amount_cents=1_000_000, period=march, fees=fees)
    # 1_000_000 x 22/31 = 709_677.42 -> 709_677; fees in March 7_097 + 1_000 = 8_097;
    # 709_677 - 8_097 = 701_580.
    assert true_up.fees_amount_cents == 8_097
    assert true_up.amount_cents == 701_580


def test_no_true_up_when_the_fees_reach_the_commitment() -> None:
    april = month(2024, 4)
    fees = [ServiceFee(12_000, utc(2024, 4, 1), utc(2024, 4, 30) + END_OF_DAY)]
    # 12_000 >= 10_000: nothing to add.
    true_up = minimum_commitment_true_up(commitment_amount_cents=10_000, period=april, fees=fees)
    assert true_up.amount_cents == 0


# --- properties -------------------------------------------------------------------------

APRIL = month(2024, 4)
instants = st.datetimes(
    min_value=datetime(2024, 2, 1), max_value=datetime(2024, 6, 30), timezones=st.just(UTC)
)


@st.composite
def service_fees(draw: st.DrawFn) -> ServiceFee:
    start = draw(instants)
    length = draw(st.integers(min_value=0, max_value=40 * 86_400))
    return ServiceFee(
        amount_cents=draw(st.integers(min_value=0, max_value=2_000_000)),
        service_from=start,
        service_to=start + timedelta(seconds=length),
    )


@settings(max_examples=200)
@given(
    commitment=st.integers(min_value=0, max_value=5_000_000),
    fees=st.lists(service_fees(), max_size=8),
)
def test_true_up_fills_exactly_the_shortfall_of_the_fees_in_the_period(
    commitment: int, fees: list[ServiceFee]
) -> None:
    true_up = minimum_commitment_true_up(
        commitment_amount_cents=commitment, period=APRIL, fees=fees
    )
    inside = sum(f.amount_cents for f in fees if lies_in(f, APRIL.full_period))
    # April is billed whole: the target is the commitment itself.
    assert true_up.fees_amount_cents == inside
    assert true_up.amount_cents == max(commitment - inside, 0)


@settings(max_examples=200)
@given(
    commitment=st.integers(min_value=0, max_value=5_000_000),
    fees=st.lists(service_fees(), max_size=8),
    outside=service_fees(),
)
def test_a_fee_of_another_period_never_changes_the_true_up(
    commitment: int, fees: list[ServiceFee], outside: ServiceFee
) -> None:
    before = minimum_commitment_true_up(commitment_amount_cents=commitment, period=APRIL, fees=fees)
    after = minimum_commitment_true_up(
        commitment_amount_cents=commitment, period=APRIL, fees=[*fees, outside]
    )
    if lies_in(outside, APRIL.full_period):
        assert after.amount_cents == max(before.amount_cents - outside.amount_cents, 0)
    else:
        assert after == before


def test_a_termination_on_the_boundary_closes_the_whole_period() -> None:
    # A downgrade applied at June 1st 00:00 ends May whole: 31 of 31 days, not 32.
    subscription = terms(utc(2024, 3, 1), in_advance=False)
    closed = commitment_period(subscription, billed_span=None, terminated_at=utc(2024, 6, 1))
    assert closed is not None
    assert closed.billed == closed.full_period
    assert (closed.billed.days, closed.full_period.days) == (31, 31)
