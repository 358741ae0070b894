"""Pay-in-advance charges: a fee for each event as it arrives, and its estimate beforehand.

The fee of an event is the price of the period's usage with it minus the price without
it; sum and unique-count metrics bill only what rises above the period's high-water mark.
The pricing itself is the domain's (`pricing.price_in_advance`): a recurring metric opens
the period with what its earlier periods left, a prorated charge weighs each event by the
remaining days of the period, a dynamic charge bills each event its own price. Events are
priced in timestamp order; each fee is keyed by its event, so processing the same event
twice (a retried run, two workers) creates one fee.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from meterly.domain.aggregation import numeric_value, running_totals
from meterly.domain.errors import NotFound, ValidationFailed
from meterly.domain.filters import ChargeFilterSpec, match_filter
from meterly.domain.money import Currency, currency
from meterly.domain.periods import BillingPeriod
from meterly.domain.pricing import (
    AdvanceEvent,
    FeeAmounts,
    finalize_fee,
    parse_properties,
    price_in_advance,
)
from meterly.domain.proration import proration_weight
from meterly.domain.usage import AggregationType, BillableMetric, UsageEvent
from meterly.services.accounts import active
from meterly.services.billing.issuing import issue_advance_invoice, tax_standalone_fee
from meterly.services.catalog import billable_metrics
from meterly.services.common import Clock, FrozenClock, new_id
from meterly.services.metering import charges_window, ingest
from meterly.services.notifications import enqueue
from meterly.store.repositories import events as event_store
from meterly.store.tables import Charge, ChargeFilter, Fee, Subscription

_HIGH_WATER = (AggregationType.SUM, AggregationType.UNIQUE_COUNT)
# Before every event: a recurring metric's earlier periods have no lower time bound.
_BEGINNING_OF_TIME = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class AdvanceFee:
    """The fee one event costs on one pay-in-advance charge (bucket)."""

    charge: Charge
    charge_filter: ChargeFilter | None
    event: UsageEvent
    units: Decimal
    fee: FeeAmounts


def _usage_event(row: Mapping[str, Any]) -> UsageEvent:
    return UsageEvent(
        transaction_id=row["transaction_id"],
        code=row["code"],
        timestamp=row["timestamp"],
        properties=row["properties"] or {},
        precise_total_amount_cents=row["precise_total_amount_cents"],
    )


def advance_charges(sub: Subscription, code: str | None = None) -> list[Charge]:
    return [
        c
        for c in sub.plan.charges
        if c.pay_in_advance and (code is None or c.billable_metric.code == code)
    ]


def price_events(
    charge: Charge,
    events: Sequence[UsageEvent],
    cur: Currency,
    *,
    window: BillingPeriod,
    period_days: int,
    prior: Sequence[UsageEvent] = (),
) -> list[AdvanceFee]:
    """The fee of every event of the period (`window`) on one charge, in timestamp order.

    `prior`: the subscription's events before the window (a recurring metric's earlier
    periods); `period_days`: days of the full charges period (the proration denominator).
    """
    metric = billable_metrics.to_domain(charge.billable_metric)
    filters = list(charge.filters)
    specs = [ChargeFilterSpec(values={k: tuple(v) for k, v in f.values.items()}) for f in filters]

    def by_bucket(chosen: Sequence[UsageEvent]) -> dict[int | None, list[UsageEvent]]:
        buckets: dict[int | None, list[UsageEvent]] = {}
        for event in chosen:
            index = match_filter(event.properties, specs, metric_filters=metric.filters)
            buckets.setdefault(index, []).append(event)
        return buckets

    carried = by_bucket(prior if _carries_over(metric) else ())
    span = (window.start, window.end)

    def weight(moment: datetime) -> Decimal | None:
        if not charge.prorated:
            return None
        return proration_weight(
            moment, window=span, timezone=window.timezone, period_days=period_days
        )

    fees: list[AdvanceFee] = []
    for index, bucket in by_bucket(events).items():
        charge_filter = filters[index] if index is not None else None
        properties = parse_properties(
            charge.charge_model, charge_filter.properties if charge_filter else charge.properties
        )
        earlier = carried.get(index, [])
        if metric.aggregation_type in _HIGH_WATER:
            totals = running_totals(metric, [*earlier, *bucket])
            opening = totals[len(earlier) - 1] if earlier else Decimal(0)
            totals = totals[len(earlier) :]
        else:
            totals, opening = [Decimal(n) for n in range(1, len(bucket) + 1)], Decimal(0)
        values = _event_values(metric.aggregation_type, metric.field_name, bucket)
        priced = price_in_advance(
            properties,
            [
                AdvanceEvent(
                    total=total,
                    value=value,
                    precise_total_amount_cents=event.precise_total_amount_cents or Decimal(0),
                    weight=weight(event.timestamp),
                )
                for event, total, value in zip(bucket, totals, values, strict=True)
            ],
            prorated=charge.prorated,
            opening_total=opening,
            opening_weight=weight(window.start) or Decimal(1),
            currency=cur,
        )
        for event, charged in zip(bucket, priced, strict=True):
            fee = finalize_fee(amount=charged.amount, units=charged.units, currency=cur)
            fees.append(AdvanceFee(charge, charge_filter, event, charged.units, fee))
    return fees


def _carries_over(metric: BillableMetric) -> bool:
    """A recurring sum or unique count starts each period where the previous ones left it."""
    return metric.recurring and metric.aggregation_type in _HIGH_WATER


def _event_values(
    kind: AggregationType, field_name: str | None, events: Sequence[UsageEvent]
) -> tuple[Decimal, ...]:

    if kind is not AggregationType.SUM or not field_name:
        return tuple(Decimal(1) for _ in events)
    return tuple(numeric_value(e.properties.get(field_name)) or Decimal(0) for e in events)


def _events_between(
    session: Session, sub: Subscription, charge: Charge, start: datetime, end: datetime
) -> list[UsageEvent]:
    rows = event_store.events_in_window(
        session.connection(),
        organization_id=sub.organization_id,
        external_subscription_id=sub.external_id,
        codes=[charge.billable_metric.code],
        window_from=start,
        window_to=end,
    )
    return [_usage_event(dict(r)) for r in rows]


def _period_events(
    session: Session, sub: Subscription, charge: Charge, *, at: datetime
) -> tuple[BillingPeriod, int, list[UsageEvent]]:
    """The charges period containing `at`, its full days and its events."""
    window, days = charges_window(session, sub, at=at)
    return window, days, _events_between(session, sub, charge, window.start, window.end)


def _prior_events(
    session: Session, sub: Subscription, charge: Charge, window: BillingPeriod
) -> list[UsageEvent]:
    """For a recurring metric, every event of the subscription before the window (no
    lower bound: events timestamped before the subscription started count too)."""
    if not _carries_over(billable_metrics.to_domain(charge.billable_metric)):
        return []
    before = window.start - timedelta(microseconds=1)
    return _events_between(session, sub, charge, _BEGINNING_OF_TIME, before)


def process_subscription(session: Session, *, sub: Subscription, clock: Clock) -> list[Fee]:
    """Create the fees (and invoices, when invoiceable) of events not billed yet."""
    created: list[Fee] = []
    cur = currency(sub.plan.amount_currency)
    now = clock.now()
    # The open period and the one before it: a worker that was down past a boundary
    # still bills the events of the period that just closed.
    instants = [now]
    current, _days = charges_window(session, sub, at=now)
    if current.start > (sub.started_at or sub.subscription_at):
        instants.append(current.start - timedelta(microseconds=1))
    for charge, instant in ((c, i) for c in advance_charges(sub) for i in instants):
        window, days, events = _period_events(session, sub, charge, at=instant)
        if not events:
            continue
        billed = set(
            session.scalars(
                select(Fee.event_transaction_id).where(
                    Fee.subscription_id == sub.id,
                    Fee.charge_id == charge.id,
                    Fee.event_transaction_id.is_not(None),
                )
            )
        )
        prior = _prior_events(session, sub, charge, window)
        for priced in price_events(
            charge, events, cur, window=window, period_days=days, prior=prior
        ):
            if priced.event.transaction_id in billed:
                continue
            fee = _store_fee(session, sub, priced, now=now)
            if fee is not None:
                created.append(fee)
    return created


def _store_fee(
    session: Session, sub: Subscription, priced: AdvanceFee, *, now: datetime
) -> Fee | None:

    fee = build_fee(sub, priced, now=now)
    try:
        with session.begin_nested():
            session.add(fee)
            session.flush()
    except IntegrityError:
        return None  # another worker billed this event
    if priced.charge.invoiceable:
        issue_advance_invoice(session, sub=sub, fee=fee, clock=FrozenClock(now))
    else:
        tax_standalone_fee(session, sub=sub, fee=fee)
    enqueue(session, sub.organization_id, "fee.created", "fee", fee.id, FrozenClock(now))
    return fee


def build_fee(sub: Subscription, priced: AdvanceFee, *, now: datetime) -> Fee:
    """The fee row of one priced event (not added to the session)."""
    charge, metric = priced.charge, priced.charge.billable_metric
    return Fee(
        id=new_id(),
        organization_id=sub.organization_id,
        customer_id=sub.customer_id,
        subscription_id=sub.id,
        charge_id=charge.id,
        charge_filter_id=priced.charge_filter.id if priced.charge_filter else None,
        fee_type="charge",
        item={
            "type": "charge",
            "code": metric.code,
            "name": metric.name,
            "description": metric.description,
            "invoice_display_name": charge.invoice_display_name or metric.name,
            "filters": dict(priced.charge_filter.values) if priced.charge_filter else None,
            "filter_invoice_display_name": priced.charge_filter.invoice_display_name
            if priced.charge_filter
            else None,
            "lago_item_id": metric.id,
            "item_type": "BillableMetric",
            "grouped_by": {},
        },
        pay_in_advance=True,
        invoiceable=charge.invoiceable,
        currency=sub.plan.amount_currency,
        amount_cents=priced.fee.amount_cents,
        precise_amount_cents=priced.fee.precise_amount_cents,
        unit_amount_cents=priced.fee.unit_amount_cents,
        precise_unit_amount=priced.fee.precise_unit_amount,
        units=priced.units,
        total_aggregated_units=priced.units,
        events_count=1,
        amount_details={},
        explanation=[],
        properties=dict(charge.properties),
        applied_taxes=[],
        event_transaction_id=priced.event.transaction_id,
        payment_status="pending",
        from_datetime=priced.event.timestamp,
        to_datetime=priced.event.timestamp,
        precise_coupons_amount_cents=Decimal(0),
        taxes_amount_cents=0,
        taxes_precise_amount_cents=Decimal(0),
        taxes_rate=Decimal(0),
        created_at=now,
        updated_at=now,
    )


def estimate(
    session: Session, *, organization_id: str, raw: Mapping[str, Any], clock: Clock
) -> list[tuple[AdvanceFee, Subscription]]:
    """What an event would cost on the subscription's pay-in-advance charges (nothing stored)."""

    event = ingest.validate(raw, now=clock.now())
    sub = active(
        session, organization_id=organization_id, external_id=event.external_subscription_id
    )
    if sub is None:
        raise NotFound("subscription")
    if not any(c.billable_metric.code == event.code for c in sub.plan.charges):
        raise NotFound("billable_metric")
    charges = advance_charges(sub, event.code)
    if not charges:
        raise ValidationFailed.field("code", "does_not_match_an_instant_charge")
    candidate = UsageEvent(
        transaction_id=event.transaction_id,
        code=event.code,
        timestamp=event.timestamp,
        properties=event.properties,
        precise_total_amount_cents=event.precise_total_amount_cents,
    )
    cur = currency(sub.plan.amount_currency)
    results = []
    for charge in charges:
        window, days, current = _period_events(session, sub, charge, at=event.timestamp)
        prior = _prior_events(session, sub, charge, window)
        existing = [e for e in current if e.transaction_id != event.transaction_id]
        ordered = sorted([*existing, candidate], key=lambda e: (e.timestamp, e.transaction_id))
        for priced in price_events(
            charge, ordered, cur, window=window, period_days=days, prior=prior
        ):
            if priced.event is candidate:
                results.append((priced, sub))
    return results


def estimate_fees(
    session: Session, *, organization_id: str, raw: Mapping[str, Any], clock: Clock
) -> list[tuple[Fee, Subscription]]:
    """Fee rows (with taxes, never stored) that the event would create."""

    rows = []
    for priced, sub in estimate(session, organization_id=organization_id, raw=raw, clock=clock):
        fee = build_fee(sub, priced, now=clock.now())
        tax_standalone_fee(session, sub=sub, fee=fee)
        rows.append((fee, sub))
    return rows
