"""The fees of a billed period: the subscription fee, the charge fees priced from usage
(read ahead by the run or aggregated here), spending minimums and the commitment true-up.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session, object_session

from meterly.domain.aggregation import AggregationResult
from meterly.domain.commitments import (
    ServiceFee,
    commitment_period,
    minimum_commitment_true_up,
)
from meterly.domain.money import currency
from meterly.domain.periods import (
    BillingPeriod,
    charges_period_containing,
)
from meterly.domain.pricing import prorata, spending_minimum_true_up
from meterly.domain.schedule import (
    FeeSpan,
    fee_span_containing,
)
from meterly.domain.subscription_fee import subscription_fee
from meterly.services.accounts import terms_of
from meterly.services.common import new_id
from meterly.services.credits import PROGRESSIVE
from meterly.services.metering import (
    BucketUsage,
    ChargeUsage,
    chain_start,
    charge_requests,
    compute_usage,
    has_grouped_buckets,
    presentation_keys,
    price_bucket,
)
from meterly.store.tables import (
    Charge,
    ChargeFilter,
    Fee,
    Invoice,
    InvoiceSubscription,
    Subscription,
)
from meterly.store.usage_queries import UsageRequest


def build_subscription_fee(
    session: Session, sub: Subscription, span: FeeSpan, *, terminated: bool, upgraded: bool
) -> Fee:
    plan = sub.plan
    terms = terms_of(session, sub)
    amount = subscription_fee(
        plan_amount_cents=plan.amount_cents,
        interval=plan.interval,
        period=span.full_period,
        billed_from=span.billed.start,
        billed_to=span.billed.end,
        timezone=terms.timezone,
        pay_in_advance=plan.pay_in_advance,
        billing_time=sub.billing_time,
        is_first_period=span.is_first_period,
        trial_end=terms.trial_ends_at,
        terminated=terminated,
        upgraded=upgraded,
    )
    cur = currency(plan.amount_currency)
    precise_major = amount.precise_amount_cents / cur.subunit_to_unit
    return _fee(
        sub,
        fee_type="subscription",
        item={
            "type": "subscription",
            "code": plan.code,
            "name": plan.name,
            "description": plan.description,
            "invoice_display_name": plan.invoice_display_name or plan.name,
            "filters": None,
            "filter_invoice_display_name": None,
            "lago_item_id": sub.id,
            "item_type": "Subscription",
            "grouped_by": {},
        },
        amount_cents=amount.amount_cents,
        precise_amount_cents=amount.precise_amount_cents,
        units=Decimal(1),
        unit_amount_cents=amount.amount_cents,
        precise_unit_amount=precise_major,
        from_=span.billed.start,
        to=span.billed.end,
        pay_in_advance=plan.pay_in_advance,
        explanation=[
            {
                "label": f"{amount.days} of {amount.full_period_days} days",
                "units": str(amount.days),
                "unit_price": str(
                    Decimal(plan.amount_cents) / cur.subunit_to_unit / amount.full_period_days
                ),
                "flat_amount": "0",
                "amount": str(precise_major),
                # The per-day price rarely ends: the exact arithmetic is the plan's
                # amount times the days billed over the days of the full period.
                "arithmetic": (
                    f"{Decimal(plan.amount_cents) / cur.subunit_to_unit} × {amount.days}"
                    f" / {amount.full_period_days} = {precise_major}"
                ),
            }
        ],
        amount_details={
            "plan_amount_cents": plan.amount_cents,
            "days": amount.days,
            "full_period_days": amount.full_period_days,
        },
    )


def charge_fees(
    session: Session,
    sub: Subscription,
    window: BillingPeriod,
    *,
    usage: Mapping[UsageKey, PrefetchedUsage] | None = None,
    renew_in_advance: bool = True,
) -> list[Fee]:
    """The charge fees of a closed window; `usage`: aggregations read ahead by the run.

    When the window closes a whole charges period of a subscription that goes on, the
    recurring pay-in-advance charges are billed again for the next period
    (`renewed_in_advance_fees`); `renew_in_advance=False` leaves them out (a progressive
    invoice bills usage so far, never the next period).
    """
    full = full_charges_period(sub, window)
    charge_usages: Sequence[ChargeUsage] | None = _prefetched_usage(
        session, sub, window, full, usage
    )
    if charge_usages is None:
        charge_usages = compute_usage(
            session,
            sub=sub,
            window=window,
            full_period_days=full.days,
            include=lambda c: not c.pay_in_advance,
            apply_taxes=False,
        ).charges
    fees: list[Fee] = []
    for charge_usage in charge_usages:
        fees.extend(_fees_of_charge(sub, charge_usage, window))
        fees.extend(_spending_minimum(sub, charge_usage, window, full))
    if renew_in_advance:
        fees.extend(renewed_in_advance_fees(session, sub, window, full))
    return fees


def renewed_in_advance_fees(
    session: Session, sub: Subscription, window: BillingPeriod, full: BillingPeriod
) -> list[Fee]:
    """Recurring pay-in-advance charges billed again, in advance, for the next period.

    Lago (lago-semantics item 14): the periodic invoice holds the pay-in-advance charges
    of recurring metrics, their units carried into the new period priced for all of it;
    only pay-in-advance charges on non-recurring metrics stay out of it. The units are
    those at the end of the closed window (a recurring metric counts every earlier event),
    unprorated: the whole new period is paid. Each fee's service period is the next
    charges period, so the minimum commitment counts it there.
    Nothing is renewed when the window stops before its period's end (a termination, a
    progressive invoice) or the subscription ends when the next period starts.
    """
    renewed = {
        c.id
        for c in sub.plan.charges
        if c.pay_in_advance
        and c.invoiceable
        and c.billable_metric.recurring
        and c.billable_metric.deleted_at is None
    }
    if not renewed or window.end != full.end:
        return []
    if sub.terminated_at is not None and sub.terminated_at <= full.end_exclusive:
        return []
    next_period = _charges_period_at(sub, full.end_exclusive, timezone=window.timezone)
    usage = compute_usage(
        session,
        sub=sub,
        window=window,
        full_period_days=full.days,
        include=lambda c: c.id in renewed,
        apply_taxes=False,
    )
    cur = currency(sub.plan.amount_currency)
    fees: list[Fee] = []
    for charge_usage in usage.charges:
        buckets = []
        for bucket in charge_usage.buckets:
            aggregation = bucket.aggregation
            if aggregation.full_units is not None:  # prorated: the next period is used whole
                aggregation = replace(aggregation, units=aggregation.full_units, full_units=None)
            priced, fee = price_bucket(charge_usage.charge, bucket.charge_filter, aggregation, cur)
            buckets.append(
                BucketUsage(bucket.charge_filter, bucket.grouped_by, aggregation, priced, fee)
            )
        renewal = ChargeUsage(charge=charge_usage.charge, buckets=tuple(buckets))
        fees.extend(_fees_of_charge(sub, renewal, next_period))
    return fees


def full_charges_period(sub: Subscription, window: BillingPeriod) -> BillingPeriod:
    return _charges_period_at(sub, window.start, timezone=window.timezone)


def _charges_period_at(sub: Subscription, instant: datetime, *, timezone: str) -> BillingPeriod:
    return charges_period_containing(
        instant,
        interval=sub.plan.interval,
        billing_time=sub.billing_time,
        anchor=sub.subscription_at,
        timezone=timezone,
        bill_charges_monthly=bool(sub.plan.bill_charges_monthly),
    )


# --- usage read ahead by the billing run (services/billing/read_ahead.py) ------------

# (subscription id, charges window start, end)
UsageKey = tuple[str, datetime, datetime]
BilledCharges = tuple[list[Charge], list[tuple[Charge, ChargeFilter | None, UsageRequest]]]


@dataclass(frozen=True)
class PrefetchedUsage:
    """The aggregations of a window, read before the unit of work, for these requests."""

    requests: list[UsageRequest]
    results: list[AggregationResult]


def billed_charges(
    session: Session, sub: Subscription, window: BillingPeriod, days: int
) -> BilledCharges | None:
    """`compute_usage`'s charges and requests for a billing run (None: it has groups)."""
    charges = [
        c for c in sub.plan.charges if not c.pay_in_advance and c.billable_metric.deleted_at is None
    ]
    # A filter may group its bucket; presentation keys need a grouped read of their own.
    if any(has_grouped_buckets(c) or presentation_keys(c) for c in charges):
        return None
    recurring_from = chain_start(session, sub)
    entries = [
        (charge, charge_filter, request)
        for charge in charges
        for charge_filter, request in charge_requests(
            charge, window=window, recurring_from=recurring_from, full_period_days=days
        )
    ]
    return charges, entries


def _group_keys(charge: Charge) -> list[str]:
    keys = charge.properties.get("pricing_group_keys") or charge.properties.get("grouped_by")
    return [str(k) for k in keys] if isinstance(keys, list) else []


def _prefetched_usage(
    session: Session,
    sub: Subscription,
    window: BillingPeriod,
    full: BillingPeriod,
    usage: Mapping[UsageKey, PrefetchedUsage] | None,
) -> list[ChargeUsage] | None:
    """Price the aggregations read ahead, if they answer exactly this window's requests."""
    found = usage.get((sub.id, window.start, window.end)) if usage else None
    if found is None:
        return None
    billed = billed_charges(session, sub, window, full.days)
    if billed is None:
        return None
    charges, entries = billed
    if [request for _, _, request in entries] != found.requests:
        return None  # the plan changed since: aggregate again
    cur = currency(sub.plan.amount_currency)
    buckets: dict[str, list[BucketUsage]] = {c.id: [] for c in charges}
    for (charge, charge_filter, _), aggregation in zip(entries, found.results, strict=True):
        priced, fee = price_bucket(charge, charge_filter, aggregation, cur)
        buckets[charge.id].append(BucketUsage(charge_filter, {}, aggregation, priced, fee))
    return [ChargeUsage(charge=c, buckets=tuple(buckets[c.id])) for c in charges]


def _fees_of_charge(sub: Subscription, usage: ChargeUsage, window: BillingPeriod) -> list[Fee]:
    charge, metric = usage.charge, usage.charge.billable_metric
    fees = []
    for bucket in usage.buckets:
        charge_filter = bucket.charge_filter
        fees.append(
            _fee(
                sub,
                fee_type="charge",
                item={
                    "type": "charge",
                    "code": metric.code,
                    "name": metric.name,
                    "description": metric.description,
                    "invoice_display_name": charge.invoice_display_name or metric.name,
                    "filters": dict(charge_filter.values) if charge_filter else None,
                    "filter_invoice_display_name": charge_filter.invoice_display_name
                    if charge_filter
                    else None,
                    "lago_item_id": metric.id,
                    "item_type": "BillableMetric",
                    "grouped_by": dict(bucket.grouped_by),
                    **(
                        {
                            "presentation_breakdowns": [
                                {"presentation_by": dict(by), "units": format(units, "f")}
                                for by, units in bucket.presentation
                            ]
                        }
                        if bucket.presentation
                        else {}
                    ),
                },
                amount_cents=bucket.fee.amount_cents,
                precise_amount_cents=bucket.fee.precise_amount_cents,
                units=bucket.fee.units,
                unit_amount_cents=bucket.fee.unit_amount_cents,
                precise_unit_amount=bucket.fee.precise_unit_amount,
                from_=window.start,
                to=window.end,
                charge_id=charge.id,
                charge_filter_id=charge_filter.id if charge_filter else None,
                events_count=bucket.events_count,
                total_aggregated_units=bucket.units,
                amount_details=dict(bucket.priced.amount_details),
                explanation=[
                    {
                        "label": line.label,
                        "units": str(line.units),
                        "unit_price": str(line.unit_price),
                        "flat_amount": str(line.flat_amount),
                        "amount": str(line.amount),
                    }
                    for line in bucket.priced.lines
                ],
                properties=dict(charge_filter.properties if charge_filter else charge.properties),
            )
        )
    return fees


def _spending_minimum(
    sub: Subscription, usage: ChargeUsage, window: BillingPeriod, full: BillingPeriod
) -> list[Fee]:
    charge = usage.charge
    if not charge.min_amount_cents:
        return []
    ratio = prorata(days_used=window.days, days_in_period=full.days)
    true_up = spending_minimum_true_up(
        fees_amount_cents=usage.amount_cents,
        min_amount_cents=charge.min_amount_cents,
        prorata=ratio,
    )
    if true_up <= 0:
        return []
    metric = charge.billable_metric
    return [
        _fee(
            sub,
            fee_type="charge",
            item={
                "type": "charge",
                "code": metric.code,
                "name": f"{metric.name} (true-up)",
                "description": "Spending minimum true-up",
                "invoice_display_name": f"{charge.invoice_display_name or metric.name} - true-up",
                "filters": None,
                "filter_invoice_display_name": None,
                "lago_item_id": metric.id,
                "item_type": "BillableMetric",
                "grouped_by": {},
            },
            amount_cents=true_up,
            precise_amount_cents=Decimal(true_up),
            units=Decimal(1),
            unit_amount_cents=true_up,
            precise_unit_amount=Decimal(true_up)
            / currency(sub.plan.amount_currency).subunit_to_unit,
            from_=window.start,
            to=window.end,
            charge_id=charge.id,
            amount_details={"min_amount_cents": charge.min_amount_cents, "prorata": str(ratio)},
            explanation=[
                {
                    "label": "Spending minimum",
                    "units": "1",
                    "unit_price": str(true_up),
                    "flat_amount": "0",
                    "amount": str(true_up),
                }
            ],
        )
    ]


def commitment_fee(
    sub: Subscription,
    fees: list[Fee],
    fee_span: FeeSpan | None,
    charges_window: BillingPeriod | None = None,
    *,
    reason: str = "subscription_periodic",
) -> Fee | None:
    """The minimum-commitment true-up of the plan period this invoice closes, if short.

    `fees`: this invoice's fees (not stored yet); the period's other fees are read from
    wherever they were invoiced (`domain.commitments` states the rule). `reason`: the
    invoicing reason; a termination closes the open period up to `terminated_at`.
    `charges_window` is not needed: the commitment follows the plan period.
    """
    del charges_window
    commitment = sub.plan.minimum_commitment
    if not commitment or not commitment.get("amount_cents"):
        return None
    session = object_session(sub)
    assert session is not None
    terminated_at = sub.terminated_at if reason == "subscription_terminating" else None
    period = commitment_period(
        terms_of(session, sub), billed_span=fee_span, terminated_at=terminated_at
    )
    if period is None:
        return None
    true_up = minimum_commitment_true_up(
        commitment_amount_cents=int(commitment["amount_cents"]),
        period=period,
        fees=_service_fees(session, sub, period.full_period, fees),
    )
    if true_up.amount_cents <= 0:
        return None
    amount = true_up.amount_cents
    cur = currency(sub.plan.amount_currency)
    name = commitment.get("invoice_display_name") or "Minimum commitment true-up"
    return _fee(
        sub,
        fee_type="commitment",
        item={
            "type": "commitment",
            "code": "minimum_commitment",
            "name": name,
            "description": None,
            "invoice_display_name": name,
            "filters": None,
            "filter_invoice_display_name": None,
            "lago_item_id": commitment.get("lago_id") or sub.plan.id,
            "item_type": "Commitment",
            "grouped_by": {},
        },
        amount_cents=amount,
        precise_amount_cents=Decimal(amount),
        units=Decimal(1),
        unit_amount_cents=amount,
        precise_unit_amount=Decimal(amount) / cur.subunit_to_unit,
        from_=period.billed.start,
        to=period.billed.end,
        amount_details={
            "commitment_amount_cents": commitment["amount_cents"],
            "prorata": str(true_up.prorata),
            "fees_amount_cents": true_up.fees_amount_cents,
        },
        explanation=[],
    )


def refreshed_commitment_fee(
    session: Session, sub: Subscription, period: InvoiceSubscription, fees: list[Fee]
) -> Fee | None:
    """The true-up of a draft's billed period, worked again on its refreshed fees.

    The boundary's fee span is found again from the subscription fee on the draft (a
    charges-only boundary has none, and closes no commitment).
    """
    reason = period.invoicing_reason
    if reason not in ("subscription_periodic", "subscription_terminating"):
        return None
    starts = [f.from_datetime for f in fees if f.fee_type == "subscription" and f.from_datetime]
    span = fee_span_containing(terms_of(session, sub), starts[0]) if starts else None
    return commitment_fee(sub, fees, span, reason=reason)


# Fees a commitment counts: the subscription fee and charge fees (spending-minimum
# true-ups and pay-in-advance fees are charge fees), never another commitment or add-on.
_COMMITTED_FEE_TYPES = ("subscription", "charge")


def _service_fees(
    session: Session, sub: Subscription, period: BillingPeriod, current: Sequence[Fee]
) -> list[ServiceFee]:
    """The subscription's fees whose service lies in `period`: stored ones (on any invoice
    but a voided or progressive one, or on none: non-invoiceable pay-in-advance fees),
    and this invoice's fees, not stored yet."""
    rows = session.execute(
        select(Fee.id, Fee.amount_cents, Fee.from_datetime, Fee.to_datetime)
        .outerjoin(Invoice, Invoice.id == Fee.invoice_id)
        .where(
            Fee.subscription_id == sub.id,
            Fee.fee_type.in_(_COMMITTED_FEE_TYPES),
            Fee.deleted_at.is_(None),
            Fee.from_datetime >= period.start,
            Fee.to_datetime <= period.end,
            # Progressive invoices bill usage the period's invoice bills again in full.
            or_(
                Fee.invoice_id.is_(None),
                and_(Invoice.status != "voided", Invoice.invoice_type != PROGRESSIVE),
            ),
        )
    ).all()
    stored = {fee_id for fee_id, *_ in rows}
    spans = [(amount, start, end) for _, amount, start, end in rows]
    spans.extend(
        (f.amount_cents, f.from_datetime, f.to_datetime)
        for f in current
        if f.id not in stored and f.fee_type in _COMMITTED_FEE_TYPES
    )
    return [
        ServiceFee(amount_cents=amount, service_from=start, service_to=end)
        for amount, start, end in spans
        if start is not None and end is not None
    ]


def _fee(
    sub: Subscription,
    *,
    fee_type: str,
    item: dict[str, Any],
    amount_cents: int,
    precise_amount_cents: Decimal,
    units: Decimal,
    unit_amount_cents: int,
    precise_unit_amount: Decimal,
    from_: datetime | None,
    to: datetime | None,
    charge_id: str | None = None,
    charge_filter_id: str | None = None,
    events_count: int | None = None,
    total_aggregated_units: Decimal | None = None,
    amount_details: dict[str, Any] | None = None,
    explanation: list[Any] | None = None,
    properties: dict[str, Any] | None = None,
    pay_in_advance: bool = False,
) -> Fee:
    return Fee.new_row(
        id=new_id(),
        organization_id=sub.organization_id,
        customer_id=sub.customer_id,
        subscription_id=sub.id,
        charge_id=charge_id,
        charge_filter_id=charge_filter_id,
        fee_type=fee_type,
        item=item,
        pay_in_advance=pay_in_advance,
        invoiceable=True,
        currency=sub.plan.amount_currency,
        amount_cents=amount_cents,
        precise_amount_cents=precise_amount_cents,
        unit_amount_cents=unit_amount_cents,
        precise_unit_amount=precise_unit_amount,
        units=units,
        total_aggregated_units=total_aggregated_units,
        events_count=events_count,
        amount_details=amount_details or {},
        explanation=explanation or [],
        properties=properties or {},
        applied_taxes=[],
        payment_status="pending",
        from_datetime=from_,
        to_datetime=to,
    )
