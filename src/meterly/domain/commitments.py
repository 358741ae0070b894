"""A plan's minimum commitment: which plan period a true-up closes, and what it adds.

Lago's rule (lago-semantics item 14): the commitment, prorated to the subscription's days
in the commitment period, is compared with **every** subscription, charge and
pay-in-advance charge fee whose service period lies in that period, wherever it was
invoiced (in-advance fee invoices, the monthly charge invoices of a yearly plan, the
subscription fee paid in advance). The true-up is the shortfall, never negative.

Which period a boundary closes:

* in arrears, the plan period whose subscription fee is billed now (the one that just
  ended); a charges-only boundary (the monthly charges of a yearly plan) closes none;
* in advance, the plan period *before* the one whose fee is billed now: the invoice issued
  at the start of period N+1 trues up the closed period N, prorated by N's days (the
  subscription's first invoice closes nothing);
* at termination, the open period, up to the termination instant.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from meterly.domain.periods import BillingPeriod, require_aware
from meterly.domain.pricing import commitment_true_up, prorata
from meterly.domain.schedule import FeeSpan, SubscriptionTerms, fee_span_containing

_ONE_MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class ServiceFee:
    """A fee's amount and the span of service it pays for (`service_from`..`service_to`,
    both inclusive): a period for subscription and charge fees, the event's instant for
    a pay-in-advance fee, the next period for a recurring charge billed again in advance."""

    amount_cents: int
    service_from: datetime
    service_to: datetime


@dataclass(frozen=True, slots=True)
class CommitmentTrueUp:
    """The true-up of one commitment period, and the figures it was worked from."""

    period: FeeSpan
    prorata: Decimal
    fees_amount_cents: int
    amount_cents: int


def commitment_period(
    terms: SubscriptionTerms,
    *,
    billed_span: FeeSpan | None,
    terminated_at: datetime | None = None,
) -> FeeSpan | None:
    """The plan period whose commitment is trued up now, or None (see the module's rules).

    `billed_span`: the subscription fee's span on this invoice (a boundary's
    `subscription_fee`). `terminated_at`: given for the termination invoice only.
    """
    if terminated_at is not None:
        terminated_at = require_aware(terminated_at, "terminated_at")
        last_alive = max(terms.started_at, terminated_at - _ONE_MICROSECOND)
        span = fee_span_containing(terms, last_alive)
        # A termination on the boundary (a downgrade applied there) ends the period whole.
        end = min(terminated_at, span.full_period.end)
        billed = BillingPeriod(
            start=span.billed.start,
            end=max(span.billed.start, end),
            timezone=span.billed.timezone,
        )
        return FeeSpan(
            full_period=span.full_period, billed=billed, is_first_period=span.is_first_period
        )
    if billed_span is None:
        return None
    if not terms.plan_pay_in_advance:
        return billed_span
    if billed_span.is_first_period or billed_span.full_period.start <= terms.started_at:
        return None
    return fee_span_containing(terms, billed_span.full_period.start - _ONE_MICROSECOND)


def lies_in(fee: ServiceFee, period: BillingPeriod) -> bool:
    """The fee's whole service span is inside the period."""
    return period.start <= fee.service_from and fee.service_to <= period.end


def minimum_commitment_true_up(
    *, commitment_amount_cents: int, period: FeeSpan, fees: Iterable[ServiceFee]
) -> CommitmentTrueUp:
    """commitment × billed days / days of the full period (rounded half up), minus the
    fees whose service lies in the period; 0 when they reach it."""
    ratio = prorata(days_used=period.billed.days, days_in_period=period.full_period.days)
    in_period = sum(f.amount_cents for f in fees if lies_in(f, period.full_period))
    amount = commitment_true_up(
        fees_amount_cents=in_period, commitment_amount_cents=commitment_amount_cents, prorata=ratio
    )
    return CommitmentTrueUp(
        period=period, prorata=ratio, fees_amount_cents=in_period, amount_cents=amount
    )
