"""Re-price the periods a plan billed under a candidate plan, with the billing read-ahead.

The periods are the finalized invoices' billed periods (`invoice_subscriptions`) of the
plan's subscriptions whose service starts in the window. They are taken a batch at a time,
ordered by charges window; inside a batch the subscriptions sharing a window (and its
period length and recurring start) are aggregated together under the candidate's usage
requests in one scan of their events (`billing_usage.aggregate_batch`, what the billing
run's `read_batch` uses), then priced with the charge models (`metering.price_bucket`).
Memory holds one batch's subscriptions and aggregates, and a running total per customer.

What is re-priced, on both sides: the subscription fee and the in-arrears usage charges
with their spending minimums. Pay-in-advance charges, fixed charges, add-ons and the
minimum commitment are neither counted nor re-priced (see docs/backtest.md).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, and_, case, func, or_, select
from sqlalchemy.orm import Session

from meterly.domain.aggregation import AggregationResult
from meterly.domain.money import SUBSCRIPTION_FEE_ROUNDING, currency, round_cents
from meterly.domain.periods import BillingPeriod, charges_period_containing
from meterly.domain.pricing import prorata, spending_minimum_true_up
from meterly.services.accounts import timezone_of
from meterly.services.backtest.candidate import CandidateCoupon, CandidatePlan, CurrentPlan
from meterly.services.billing import BATCH_SIZE, PrefetchedUsage
from meterly.services.metering import chain_start, charge_requests, price_bucket, usage_cache
from meterly.store import billing_usage
from meterly.store.tables import Fee, Invoice, InvoiceSubscription, Organization, Subscription
from meterly.store.uow import Database
from meterly.store.usage_queries import UsageRequest

# The invoicing reasons of a billed period (pay-in-advance and progressive invoices bill
# the same usage again in their own way and are left out).
_PERIOD_REASONS = ("subscription_periodic", "subscription_starting", "subscription_terminating")


@dataclass(frozen=True, slots=True)
class BilledPeriod:
    invoice_id: str
    subscription_id: str
    charges_from: datetime | None
    charges_to: datetime | None


@dataclass(slots=True)
class Revenue:
    """One customer's revenue over the window, as billed and under the candidate."""

    customer_id: str
    external_customer_id: str
    name: str | None
    subscriptions: set[str] = field(default_factory=set)
    periods: int = 0
    current_cents: int = 0
    candidate_cents: int = 0

    @property
    def difference_cents(self) -> int:
        return self.candidate_cents - self.current_cents


@dataclass(slots=True)
class _CouponState:
    periods: int = 0
    spent_cents: int = 0


@dataclass(slots=True)
class _Batch:
    periods: list[BilledPeriod]
    subs: dict[str, Subscription]
    windows: dict[tuple[str, str], tuple[BillingPeriod, int]]  # (invoice, sub) -> window, days
    usage: dict[tuple[str, str], PrefetchedUsage]
    organization: Organization | None


def reprice(
    database: Database,
    *,
    organization_id: str,
    current: CurrentPlan,
    candidate: CandidatePlan,
    coupons: Sequence[CandidateCoupon],
    window_from: datetime,
    window_to: datetime,
    on_batch: Callable[[int, int], None] | None = None,
) -> list[Revenue]:
    """Revenue per customer of the plan's billed periods starting in [from, to)."""
    with database.unit_of_work() as session:
        periods = billed_periods(
            session,
            organization_id=organization_id,
            plan_id=current.id,
            window_from=window_from,
            window_to=window_to,
        )
        session.rollback()  # read only
    revenue: dict[str, Revenue] = {}
    coupon_state: dict[tuple[str, int], _CouponState] = defaultdict(_CouponState)
    done = 0
    for start in range(0, len(periods), BATCH_SIZE):
        chunk = periods[start : start + BATCH_SIZE]
        with database.unit_of_work() as session:
            batch = _read_batch(session, organization_id, chunk, candidate)
            fees = _billed_fees(session, chunk)
            for period in chunk:
                _price_period(
                    period, batch, fees, current, candidate, coupons, coupon_state, revenue
                )
            session.rollback()  # read only: nothing of a backtest is stored
        done += len(chunk)
        if on_batch is not None:
            on_batch(done, len(periods))
    return list(revenue.values())


def billed_periods(
    session: Session,
    *,
    organization_id: str,
    plan_id: str,
    window_from: datetime,
    window_to: datetime,
) -> list[BilledPeriod]:
    """Finalized billed periods of the plan's subscriptions whose service starts in the
    window, in charges-window order (subscriptions sharing a window come together)."""
    start = func.coalesce(
        InvoiceSubscription.charges_from_datetime, InvoiceSubscription.from_datetime
    )
    rows = session.execute(
        select(
            InvoiceSubscription.invoice_id,
            InvoiceSubscription.subscription_id,
            InvoiceSubscription.charges_from_datetime,
            InvoiceSubscription.charges_to_datetime,
        )
        .join(Invoice, Invoice.id == InvoiceSubscription.invoice_id)
        .join(Subscription, Subscription.id == InvoiceSubscription.subscription_id)
        .where(
            Invoice.organization_id == organization_id,
            Invoice.status == "finalized",
            Subscription.plan_id == plan_id,
            InvoiceSubscription.invoicing_reason.in_(_PERIOD_REASONS),
            start >= window_from,
            start < window_to,
        )
        .order_by(
            InvoiceSubscription.charges_from_datetime,
            InvoiceSubscription.charges_to_datetime,
            InvoiceSubscription.subscription_id,
            InvoiceSubscription.invoice_id,
        )
    )
    return [BilledPeriod(*row) for row in rows]


def _read_batch(
    session: Session, organization_id: str, chunk: list[BilledPeriod], candidate: CandidatePlan
) -> _Batch:
    """The batch's subscriptions, their windows, and the candidate's usage read ahead:
    one grouped aggregation per (window, period length, recurring start)."""
    ids = {p.subscription_id for p in chunk}
    subs = {s.id: s for s in session.scalars(select(Subscription).where(Subscription.id.in_(ids)))}
    # Held while the batch is read: the session's identity map keeps only what is referenced,
    # and every customer's timezone falls back on the organization's.
    organization = session.get(Organization, organization_id)
    batch = _Batch(chunk, subs, {}, {}, organization)
    groups: dict[tuple[Any, ...], tuple[list[UsageRequest], list[tuple[str, str, str]]]] = {}
    starts: dict[str, datetime | None] = {}
    zones: dict[str, str] = {}
    for period in chunk:
        sub = subs[period.subscription_id]
        if period.charges_from is None or period.charges_to is None:
            continue
        if sub.id not in zones:
            zones[sub.id] = timezone_of(session, sub)
            starts[sub.id] = chain_start(session, sub)
        tz = zones[sub.id]
        window = BillingPeriod(period.charges_from, period.charges_to, tz)
        full = charges_period_containing(
            window.start,
            interval=sub.plan.interval,
            billing_time=sub.billing_time,
            anchor=sub.subscription_at,
            timezone=tz,
            bill_charges_monthly=bool(sub.plan.bill_charges_monthly),
        )
        key = (period.invoice_id, sub.id)
        batch.windows[key] = (window, full.days)
        # The candidate's requests depend on nothing else than the group's key.
        group = (window.start, window.end, tz, full.days, starts[sub.id])
        if group not in groups:
            groups[group] = (
                [
                    request
                    for charge in candidate.charges
                    for _, request in charge_requests(
                        charge, window=window, recurring_from=group[4], full_period_days=full.days
                    )
                ],
                [],
            )
        groups[group][1].append((period.invoice_id, sub.id, sub.external_id))
    connection = session.connection()
    for requests, members in groups.values():
        for member, results in _aggregate(connection, organization_id, requests, members):
            batch.usage[member] = PrefetchedUsage(requests, results)
    return batch


def _aggregate(
    connection: Connection,
    organization_id: str,
    requests: list[UsageRequest],
    members: list[tuple[str, str, str]],
) -> list[tuple[tuple[str, str], list[AggregationResult]]]:
    if not requests:
        return [((invoice, sub), []) for invoice, sub, _ in members]
    if billing_usage.supported(requests):
        found = billing_usage.aggregate_batch(
            connection,
            organization_id=organization_id,
            external_subscription_ids=[external for _, _, external in members],
            requests=requests,
        )
        return [((invoice, sub), found[external]) for invoice, sub, external in members]
    # Prorated unique counts read their add/remove rows subscription by subscription, as
    # the billing run does for them.
    out = []
    for invoice, sub, external in members:
        plain, _ = usage_cache.aggregate(
            connection,
            None,
            organization_id=organization_id,
            external_subscription_id=external,
            plain=requests,
            grouped=[],
        )
        out.append(((invoice, sub), list(plain)))
    return out


@dataclass(frozen=True, slots=True)
class _BilledFee:
    fee_type: str
    amount_cents: int
    precise_coupons_amount_cents: Decimal
    amount_details: dict[str, Any] | None


def _billed_fees(
    session: Session, chunk: list[BilledPeriod]
) -> dict[tuple[str, str], list[_BilledFee]]:
    """The fees each period billed that a backtest re-prices (see the module's note)."""
    invoices = {p.invoice_id for p in chunk}
    is_subscription = Fee.fee_type == "subscription"
    rows = session.execute(
        select(
            Fee.invoice_id,
            Fee.subscription_id,
            Fee.fee_type,
            Fee.amount_cents,
            Fee.precise_coupons_amount_cents,
            # Only the subscription fee's arithmetic is read again.
            case((is_subscription, Fee.amount_details), else_=None),
        ).where(
            Fee.invoice_id.in_(invoices),
            Fee.deleted_at.is_(None),
            or_(
                is_subscription,
                and_(
                    Fee.fee_type == "charge",
                    Fee.pay_in_advance.is_(False),
                    Fee.event_transaction_id.is_(None),
                ),
            ),
        )
    )
    fees: dict[tuple[str, str], list[_BilledFee]] = defaultdict(list)
    for invoice_id, sub_id, fee_type, amount, coupons, details in rows:
        if invoice_id is not None and sub_id is not None:
            fees[(invoice_id, sub_id)].append(_BilledFee(fee_type, amount, coupons, details))
    return fees


def _price_period(
    period: BilledPeriod,
    batch: _Batch,
    fees: dict[tuple[str, str], list[_BilledFee]],
    current: CurrentPlan,
    candidate: CandidatePlan,
    coupons: Sequence[CandidateCoupon],
    coupon_state: dict[tuple[str, int], _CouponState],
    revenue: dict[str, Revenue],
) -> None:
    sub = batch.subs[period.subscription_id]
    key = (period.invoice_id, sub.id)
    billed = fees.get(key, [])
    current_fees = sum(f.amount_cents for f in billed)
    current_coupons = round_cents(sum((f.precise_coupons_amount_cents for f in billed), Decimal(0)))
    candidate_fees = sum(
        _subscription_fee(f, candidate.amount_cents) for f in billed if f.fee_type == "subscription"
    )
    if key in batch.windows:
        window, full_days = batch.windows[key]
        candidate_fees += _charges_amount(
            candidate, current, batch.usage.get(key), window, full_days
        )
    discount = _discount(sub.id, candidate_fees, coupons, coupon_state)
    row = revenue.get(sub.customer_id)
    if row is None:
        row = revenue[sub.customer_id] = Revenue(
            sub.customer_id, sub.customer.external_id, sub.customer.name
        )
    row.subscriptions.add(sub.id)
    row.periods += 1
    row.current_cents += current_fees - current_coupons
    row.candidate_cents += candidate_fees - discount


def _subscription_fee(fee: _BilledFee, candidate_amount_cents: int) -> int:
    """The candidate's subscription fee for the span the stored fee billed.

    The stored fee kept its arithmetic (`days` of `full_period_days` of the plan amount,
    `domain.subscription_fee`): a fee equal to the plan amount billed the whole period
    (in-advance anniversary periods are never prorated), otherwise the candidate amount is
    prorated over the same days and rounded the same way.
    """
    details = fee.amount_details or {}
    plan_amount = details.get("plan_amount_cents")
    days, full_days = details.get("days"), details.get("full_period_days")
    if plan_amount and fee.amount_cents == plan_amount:
        return candidate_amount_cents
    if not days or not full_days:
        return 0
    precise = Decimal(int(days)) * Decimal(candidate_amount_cents) / Decimal(int(full_days))
    return int(precise.to_integral_value(rounding=SUBSCRIPTION_FEE_ROUNDING))


def _charges_amount(
    candidate: CandidatePlan,
    current: CurrentPlan,
    usage: PrefetchedUsage | None,
    window: BillingPeriod,
    full_days: int,
) -> int:
    """Every candidate charge priced on the window's aggregates, with its spending minimum
    prorated like the billing run's (`billing.fees`)."""
    if usage is None:
        return 0
    cur = currency(current.currency)
    results = iter(usage.results)
    total = 0
    for charge in candidate.charges:
        charge_total = 0
        # The buckets in `charge_requests`' order: each filter, then the default bucket.
        for charge_filter in [*charge.filters, None]:
            _, fee = price_bucket(charge, charge_filter, next(results), cur)
            charge_total += fee.amount_cents
        if charge.min_amount_cents:
            charge_total += spending_minimum_true_up(
                fees_amount_cents=charge_total,
                min_amount_cents=charge.min_amount_cents,
                prorata=prorata(days_used=window.days, days_in_period=full_days),
            )
        total += charge_total
    return total


def _discount(
    sub_id: str,
    fees_cents: int,
    coupons: Sequence[CandidateCoupon],
    state: dict[tuple[str, int], _CouponState],
) -> int:
    """The candidate coupons' discount on one period, applied in order on what is left."""
    left = fees_cents
    for index, coupon in enumerate(coupons):
        used = state[(sub_id, index)]
        if left <= 0:
            break
        if coupon.frequency == "recurring" and used.periods >= (coupon.frequency_duration or 0):
            continue
        if coupon.coupon_type == "percentage":
            if coupon.frequency == "once" and used.periods >= 1:
                continue
            off = min(left, round_cents(Decimal(left) * coupon.percentage_rate / Decimal(100)))
        elif coupon.frequency == "once":
            off = min(left, coupon.amount_cents - used.spent_cents)
        else:
            off = min(left, coupon.amount_cents)
        if off <= 0:
            continue
        used.periods += 1
        used.spent_cents += off
        left -= off
    return fees_cents - left
