"""The fees of a billed period: the subscription fee, the charge fees priced from usage
(read ahead by the run or aggregated here), spending minimums and the commitment true-up.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from meterly.domain.aggregation import AggregationResult
from meterly.domain.money import currency
from meterly.domain.periods import (
    BillingPeriod,
    charges_period_containing,
)
from meterly.domain.pricing import commitment_true_up, prorata, spending_minimum_true_up
from meterly.domain.schedule import (
    FeeSpan,
)
from meterly.domain.subscription_fee import subscription_fee
from meterly.services.accounts import terms_of
from meterly.services.common import new_id
from meterly.services.metering import (
    BucketUsage,
    ChargeUsage,
    chain_start,
    charge_requests,
    compute_usage,
    price_bucket,
)
from meterly.store.tables import (
    Charge,
    ChargeFilter,
    Fee,
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
) -> list[Fee]:
    """The charge fees of a closed window; `usage`: aggregations read ahead by the run."""
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
    return fees


def full_charges_period(sub: Subscription, window: BillingPeriod) -> BillingPeriod:
    return charges_period_containing(
        window.start,
        interval=sub.plan.interval,
        billing_time=sub.billing_time,
        anchor=sub.subscription_at,
        timezone=window.timezone,
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
    if any(_group_keys(c) for c in charges):
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
    sub: Subscription, fees: list[Fee], span: FeeSpan | None, window: BillingPeriod | None
) -> Fee | None:
    commitment = sub.plan.minimum_commitment
    if not commitment or not commitment.get("amount_cents") or span is None:
        return None
    ratio = prorata(days_used=span.billed.days, days_in_period=span.full_period.days)
    total = sum(f.amount_cents for f in fees if f.fee_type in ("subscription", "charge"))
    true_up = commitment_true_up(
        fees_amount_cents=total,
        commitment_amount_cents=int(commitment["amount_cents"]),
        prorata=ratio,
    )
    if true_up <= 0:
        return None
    cur = currency(sub.plan.amount_currency)
    return _fee(
        sub,
        fee_type="commitment",
        item={
            "type": "commitment",
            "code": "minimum_commitment",
            "name": commitment.get("invoice_display_name") or "Minimum commitment true-up",
            "description": None,
            "invoice_display_name": commitment.get("invoice_display_name")
            or "Minimum commitment true-up",
            "filters": None,
            "filter_invoice_display_name": None,
            "lago_item_id": commitment.get("lago_id") or sub.plan.id,
            "item_type": "Commitment",
            "grouped_by": {},
        },
        amount_cents=true_up,
        precise_amount_cents=Decimal(true_up),
        units=Decimal(1),
        unit_amount_cents=true_up,
        precise_unit_amount=Decimal(true_up) / cur.subunit_to_unit,
        from_=span.billed.start,
        to=span.billed.end,
        amount_details={
            "commitment_amount_cents": commitment["amount_cents"],
            "prorata": str(ratio),
        },
        explanation=[],
    )


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
    return Fee(
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
