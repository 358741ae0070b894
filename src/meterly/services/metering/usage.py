"""Usage of a subscription over a charges window, priced charge by charge.

Current usage, projected usage and the invoices of a billing run all come from here, so
the figure a customer watches is the figure they are billed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from meterly.domain.aggregation import AggregationResult
from meterly.domain.filters import ChargeFilterSpec, exclusions_for
from meterly.domain.money import Currency, currency
from meterly.domain.periods import BillingPeriod
from meterly.domain.pricing import (
    ChargeAmount,
    FeeAmounts,
    PricingInput,
    compute_charge,
    finalize_fee,
    parse_properties,
)
from meterly.domain.taxes import Tax as TaxRate
from meterly.domain.taxes import invoice_applied_taxes, tax_fee
from meterly.domain.usage import AggregationType
from meterly.services.accounts import active, timezone_of
from meterly.services.accounts import customers as customer_service
from meterly.services.catalog import TaxContext as TaxContext
from meterly.services.catalog import billable_metrics
from meterly.services.metering import advance_usage, usage_cache
from meterly.services.metering.usage_cache import UsageCache
from meterly.store.tables import Charge, ChargeFilter, Customer, Subscription
from meterly.store.usage_queries import GroupKey, UsageRequest


@dataclass(frozen=True, slots=True)
class BucketUsage:
    """One priced bucket of a charge: a filter (or the default bucket) and a group."""

    charge_filter: ChargeFilter | None
    grouped_by: dict[str, str | None]
    aggregation: AggregationResult
    priced: ChargeAmount
    fee: FeeAmounts
    # The units current usage shows when they are not the priced aggregation's (a
    # pay-in-advance charge priced on its high-water mark shows its total: advance_usage).
    shown_units: Decimal | None = None
    # The bucket's units by the charge's presentation group keys (no pricing effect).
    presentation: tuple[tuple[tuple[tuple[str, str | None], ...], Decimal], ...] = ()

    @property
    def units(self) -> Decimal:
        return self.aggregation.units

    @property
    def usage_units(self) -> Decimal:
        """The units current usage shows: a prorated charge shows its full, unprorated
        units (only its amount is prorated, lago-semantics.md item 13)."""
        if self.shown_units is not None:
            return self.shown_units
        full = self.aggregation.full_units
        return full if full is not None else self.aggregation.units

    @property
    def events_count(self) -> int:
        return self.aggregation.events_count


@dataclass(frozen=True, slots=True)
class ChargeUsage:
    charge: Charge
    buckets: tuple[BucketUsage, ...]
    taxes: tuple[TaxRate, ...] = ()

    @property
    def units(self) -> Decimal:
        return sum((b.units for b in self.buckets), Decimal(0))

    @property
    def usage_units(self) -> Decimal:
        return sum((b.usage_units for b in self.buckets), Decimal(0))

    @property
    def events_count(self) -> int:
        return sum(b.events_count for b in self.buckets)

    @property
    def amount_cents(self) -> int:
        return sum(b.fee.amount_cents for b in self.buckets)


@dataclass(frozen=True, slots=True)
class SubscriptionUsage:
    subscription: Subscription
    window: BillingPeriod
    currency: Currency
    charges: tuple[ChargeUsage, ...]
    taxes_amount_cents: int = 0
    applied_taxes: tuple[Any, ...] = field(default=())

    @property
    def amount_cents(self) -> int:
        return sum(c.amount_cents for c in self.charges)

    @property
    def total_amount_cents(self) -> int:
        return self.amount_cents + self.taxes_amount_cents


def _filter_values(row: ChargeFilter) -> dict[str, tuple[str, ...]]:
    return {k: tuple(v) for k, v in (row.values or {}).items()}


def _group_keys(properties: Mapping[str, Any]) -> list[str]:
    keys = properties.get("pricing_group_keys") or properties.get("grouped_by")
    return [str(k) for k in keys] if isinstance(keys, list) else []


# The event property naming the wallet that pays a charge's fee (`accepts_target_wallet`).
TARGET_WALLET_KEY = "target_wallet_code"


def presentation_keys(charge: Charge) -> list[str]:
    """Lago's `presentation_group_keys`: `[{"value": "team", ...}]` (or plain strings)."""
    raw = charge.properties.get("presentation_group_keys") or []
    keys = [k.get("value") if isinstance(k, dict) else k for k in raw]
    return [str(k) for k in keys if k]


def bucket_group_keys(charge: Charge, charge_filter: ChargeFilter | None) -> list[str]:
    """The keys splitting one bucket into groups (lago-semantics.md item 13).

    A filter's own `pricing_group_keys`/`grouped_by` split its bucket; a filter declaring
    none is split like its charge (lago-api.md §7.6: the filters repeat in each group).
    """
    keys = _group_keys(charge_filter.properties or {}) if charge_filter is not None else []
    keys = keys or _group_keys(charge.properties)
    if charge.accepts_target_wallet and TARGET_WALLET_KEY not in keys:
        # Each wallet an event targets gets its own fee (lago-semantics.md item 13).
        keys = [*keys, TARGET_WALLET_KEY]
    return keys


def has_grouped_buckets(charge: Charge) -> bool:
    """Whether any bucket of the charge (its default one or a filter's) is grouped."""
    return any(bucket_group_keys(charge, f) for f in [None, *charge.filters])


@dataclass(frozen=True, slots=True)
class UsageGrouping:
    """How current usage splits grouped buckets (`current_usage` query parameters).

    `only`: `group[key]=value` (or `filter_by_group`): a bucket grouped by `key` keeps the
    events whose `key` is `value` (keys a bucket is not grouped by do not restrict it).
    `skip`: `skip_grouping=true`, no bucket is split into groups.
    """

    only: Mapping[str, str] = field(default_factory=dict)
    skip: bool = False

    def keys_for(self, charge: Charge, charge_filter: ChargeFilter | None) -> list[str]:
        return [] if self.skip else bucket_group_keys(charge, charge_filter)

    def restrict(self, request: UsageRequest, keys: list[str]) -> UsageRequest:
        wanted = {k: v for k, v in self.only.items() if k in keys}
        if not wanted:
            return request
        return replace(request, group_values={**(request.group_values or {}), **wanted})


def charge_requests(
    charge: Charge, *, window: BillingPeriod, recurring_from: datetime | None, full_period_days: int
) -> list[tuple[ChargeFilter | None, UsageRequest]]:
    """One usage request per bucket: each filter, then the default bucket."""
    metric = billable_metrics.to_domain(charge.billable_metric)
    filters = list(charge.filters)
    specs = [ChargeFilterSpec(values=_filter_values(f)) for f in filters]
    needs_values = charge.charge_model == "percentage"
    base = UsageRequest(
        metric=metric,
        window_from=window.start,
        window_to=window.end,
        recurring_from=recurring_from,
        prorated=charge.prorated,
        timezone=window.timezone,
        period_days=full_period_days,
        with_event_values=needs_values,
    )
    buckets: list[tuple[ChargeFilter | None, UsageRequest]] = []
    for index, row in enumerate(filters):
        buckets.append(
            (
                row,
                _replace(
                    base,
                    filter_values=specs[index].values,
                    exclude_filters=exclusions_for(index, specs, metric_filters=metric.filters),
                ),
            )
        )
    buckets.append((None, _replace(base, exclude_filters=exclusions_for(None, specs))))
    return buckets


def _replace(request: UsageRequest, **changes: Any) -> UsageRequest:
    return replace(request, **changes)


# Lago's percentage model counts running totals 1..n for count and unique count metrics.
_COUNTING = (AggregationType.COUNT.value, AggregationType.UNIQUE_COUNT.value)


def price_bucket(
    charge: Charge,
    charge_filter: ChargeFilter | None,
    aggregation: AggregationResult,
    cur: Currency,
) -> tuple[ChargeAmount, FeeAmounts]:
    properties = charge_filter.properties if charge_filter is not None else charge.properties
    parsed = parse_properties(charge.charge_model, properties)
    metric_type = charge.billable_metric.aggregation_type
    running = None
    if metric_type in _COUNTING and aggregation.event_values:
        running = tuple(Decimal(i + 1) for i in range(len(aggregation.event_values)))
    priced = compute_charge(
        parsed,
        PricingInput(
            units=aggregation.units,
            events_count=aggregation.events_count,
            event_values=aggregation.event_values,
            precise_total_amount_cents=aggregation.precise_total_amount_cents,
            full_units=aggregation.full_units,
            running_totals=running,
            prorated_events=aggregation.prorated_events,
        ),
        currency=cur,
    )
    fee = finalize_fee(
        amount=priced.amount, units=priced.units, currency=cur, unit_amount=priced.unit_amount
    )
    return priced, fee


def compute_usage(
    session: Session,
    *,
    sub: Subscription,
    window: BillingPeriod,
    full_period_days: int,
    include: Callable[[Charge], bool] = lambda _c: True,
    apply_taxes: bool = True,
    cache: UsageCache | None = None,
    grouping: UsageGrouping | None = None,
    in_advance_billed: bool = False,
) -> SubscriptionUsage:
    """Aggregate and price every charge of the subscription's plan over `window`.

    `cache`: reuse aggregation results while the subscription's events are unchanged
    (see `usage_cache`); only for transactions that have written no events.
    `grouping`: current usage's `group[...]`/`skip_grouping` (default: every group).
    `in_advance_billed`: price pay-in-advance charges at least on what their in-advance
    fees billed this period (current usage, see `advance_usage`); invoices leave it off.
    """
    plan = sub.plan
    cur = currency(plan.amount_currency)
    charges = [c for c in plan.charges if include(c) and c.billable_metric.deleted_at is None]
    recurring_from = chain_start(session, sub)
    grouping = grouping or UsageGrouping()
    plain: list[tuple[Charge, ChargeFilter | None, UsageRequest]] = []
    grouped: list[tuple[Charge, ChargeFilter | None, UsageRequest, list[str]]] = []
    # Each bucket's place among its charge's buckets: (plain or grouped, index there).
    slots: dict[str, list[tuple[bool, int]]] = {c.id: [] for c in charges}
    for charge in charges:
        for charge_filter, request in charge_requests(
            charge, window=window, recurring_from=recurring_from, full_period_days=full_period_days
        ):
            keys = grouping.keys_for(charge, charge_filter)
            if keys:
                slots[charge.id].append((True, len(grouped)))
                grouped.append((charge, charge_filter, grouping.restrict(request, keys), keys))
            else:
                slots[charge.id].append((False, len(plain)))
                plain.append((charge, charge_filter, request))
    plain_results, grouped_results = usage_cache.aggregate(
        session.connection(),
        cache,
        organization_id=sub.organization_id,
        external_subscription_id=sub.external_id,
        plain=[r for _, _, r in plain],
        grouped=[(r, tuple(keys)) for _c, _f, r, keys in grouped],
    )
    plain_buckets: list[BucketUsage] = []
    for (charge, charge_filter, _), aggregation in zip(plain, plain_results, strict=True):
        shown: Decimal | None = None
        if in_advance_billed and advance_usage.applies(charge):
            shown = advance_usage.shown_units(aggregation)
            billed = advance_usage.billed_in_advance(
                session, sub=sub, charge=charge, charge_filter=charge_filter, window=window
            )
            aggregation = advance_usage.high_water_aggregation(aggregation, billed=billed)
        priced, fee = price_bucket(charge, charge_filter, aggregation, cur)
        plain_buckets.append(BucketUsage(charge_filter, {}, aggregation, priced, fee, shown))
    grouped_buckets: list[list[BucketUsage]] = []
    for (charge, charge_filter, request, keys), per_group in zip(
        grouped, grouped_results, strict=True
    ):
        rows: list[BucketUsage] = []
        for group, aggregation in sorted(
            (per_group or _no_group(keys, request)).items(), key=lambda kv: [str(v) for v in kv[0]]
        ):
            priced, fee = price_bucket(charge, charge_filter, aggregation, cur)
            grouped_by = dict(zip(keys, group, strict=True))
            rows.append(BucketUsage(charge_filter, grouped_by, aggregation, priced, fee))
        grouped_buckets.append(rows)
    buckets: dict[str, list[BucketUsage]] = {
        c.id: [
            bucket
            for is_grouped, index in slots[c.id]
            for bucket in (grouped_buckets[index] if is_grouped else [plain_buckets[index]])
        ]
        for c in charges
    }
    requests = {
        id(b): r for b, r in _bucket_requests(plain, grouped, plain_buckets, grouped_buckets)
    }
    _present(session, sub, cache, charges, buckets, requests)
    tax_context = TaxContext.load(session, sub) if apply_taxes else None
    usages = tuple(
        ChargeUsage(
            charge=c,
            buckets=tuple(buckets[c.id]),
            taxes=tax_context.for_charge(c) if tax_context else (),
        )
        for c in charges
    )
    fee_taxes = [
        tax_fee(base_amount_cents=Decimal(b.fee.amount_cents), taxes=u.taxes)
        for u in usages
        for b in u.buckets
    ]
    applied = invoice_applied_taxes(fee_taxes)
    return SubscriptionUsage(
        subscription=sub,
        window=window,
        currency=cur,
        charges=usages,
        taxes_amount_cents=sum(t.amount_cents for t in applied),
        applied_taxes=applied,
    )


def _bucket_requests(
    plain: list[tuple[Charge, ChargeFilter | None, UsageRequest]],
    grouped: list[tuple[Charge, ChargeFilter | None, UsageRequest, list[str]]],
    plain_buckets: list[BucketUsage],
    grouped_buckets: list[list[BucketUsage]],
) -> list[tuple[BucketUsage, UsageRequest]]:
    """Each bucket with the request that reads exactly its events."""
    out = [(b, r) for b, (_c, _f, r) in zip(plain_buckets, plain, strict=True)]
    for rows, (_c, _f, request, _keys) in zip(grouped_buckets, grouped, strict=True):
        for b in rows:
            values = {**(request.group_values or {}), **b.grouped_by}
            out.append((b, replace(request, group_values=values)))
    return out


def _present(
    session: Session,
    sub: Subscription,
    cache: UsageCache | None,
    charges: list[Charge],
    buckets: dict[str, list[BucketUsage]],
    requests: Mapping[int, UsageRequest],
) -> None:
    """Split each bucket of a charge with presentation group keys into its units per key
    values (Lago's `presentation_breakdowns`): one more grouped read per such bucket."""
    wanted: list[tuple[str, int, list[str]]] = []
    for charge in charges:
        keys = presentation_keys(charge)
        if keys:
            wanted.extend((charge.id, i, keys) for i in range(len(buckets[charge.id])))
    if not wanted:
        return
    _, results = usage_cache.aggregate(
        session.connection(),
        cache,
        organization_id=sub.organization_id,
        external_subscription_id=sub.external_id,
        plain=[],
        grouped=[
            (requests[id(buckets[charge_id][i])], tuple(keys)) for charge_id, i, keys in wanted
        ],
    )
    for (charge_id, i, keys), per_value in zip(wanted, results, strict=True):
        bucket = buckets[charge_id][i]
        parts = tuple(
            (
                tuple(zip(keys, values, strict=True)),
                result.full_units if result.full_units is not None else result.units,
            )
            for values, result in sorted(
                (per_value or {}).items(), key=lambda kv: [str(v) for v in kv[0]]
            )
        )
        buckets[charge_id][i] = replace(bucket, presentation=parts)


def _no_group(keys: list[str], request: UsageRequest) -> dict[GroupKey, AggregationResult]:
    """A grouped bucket without events shows one zero group, every key null (Lago's
    `empty_results`, lago-semantics.md item 13)."""
    zero = Decimal(0)
    empty = AggregationResult(
        units=zero, events_count=0, full_units=zero if request.prorated else None
    )
    return {tuple(None for _ in keys): empty}


def chain_start(session: Session, sub: Subscription) -> datetime | None:
    """Recurring metrics count events back to the start of the subscription chain."""
    start = sub.started_at or sub.subscription_at
    previous_id = sub.previous_subscription_id
    while previous_id:
        previous = session.get(Subscription, previous_id)
        if previous is None:
            break
        start = previous.started_at or previous.subscription_at
        previous_id = previous.previous_subscription_id
    return start


def charges_window(
    session: Session, sub: Subscription, *, at: datetime
) -> tuple[BillingPeriod, int]:
    """The charges period containing `at`, clipped to the subscription's life, and its full days."""
    from meterly.domain.periods import charges_period_containing

    started = sub.started_at or sub.subscription_at
    full = charges_period_containing(
        max(at, started),
        interval=sub.plan.interval,
        billing_time=sub.billing_time,
        anchor=sub.subscription_at,
        timezone=timezone_of(session, sub),
        bill_charges_monthly=bool(sub.plan.bill_charges_monthly),
    )
    window = full.clipped(start=started, end=sub.terminated_at)
    return window, full.days


def current_usage(
    session: Session,
    *,
    organization_id: str,
    external_customer_id: str,
    external_subscription_id: str,
    at: datetime,
    apply_taxes: bool = True,
    charge_code: str | None = None,
    charge_id: str | None = None,
    billable_metric_code: str | None = None,
    use_cache: bool = True,
    grouping: UsageGrouping | None = None,
) -> tuple[SubscriptionUsage, Customer]:
    """The usage of the subscription's current period, as `GET current_usage` shows it.

    A read: aggregation results come from the engine's usage cache while the events they
    were computed from are unchanged (`use_cache=False`: always from the events).
    `charge_code`/`charge_id`/`billable_metric_code` keep one charge; `grouping` restricts
    or skips the groups. Pay-in-advance charges never fall below what was billed in advance.
    """
    from meterly.domain.errors import NotAllowed, NotFound

    customer = customer_service.find(
        session, organization_id=organization_id, external_id=external_customer_id
    )
    sub = active(session, organization_id=organization_id, external_id=external_subscription_id)
    if sub is None or sub.customer_id != customer.id:
        raise NotAllowed("no_active_subscription")
    wanted = list(sub.plan.charges)
    if charge_code or charge_id or billable_metric_code:
        wanted = [
            c
            for c in wanted
            if (not charge_code or c.code == charge_code)
            and (not charge_id or c.id == charge_id)
            and (not billable_metric_code or c.billable_metric.code == billable_metric_code)
        ]
        if not wanted:
            raise NotFound("charge")
    ids = {c.id for c in wanted}
    window, full_days = charges_window(session, sub, at=at)
    usage = compute_usage(
        session,
        sub=sub,
        window=window,
        full_period_days=full_days,
        include=lambda c: c.id in ids,
        apply_taxes=apply_taxes,
        cache=usage_cache.cache_for(session.connection().engine) if use_cache else None,
        grouping=grouping,
        in_advance_billed=True,
    )
    return usage, customer


def projection_ratio(window: BillingPeriod, *, at: datetime) -> Decimal:
    """Elapsed share of the window (days in the customer's timezone, at least one)."""
    from meterly.domain.periods import billed_days

    total = window.days
    elapsed = billed_days(
        window.start, min(max(at, window.start), window.end), timezone=window.timezone
    )
    return Decimal(max(elapsed, 1)) / Decimal(max(total, 1))


def project_bucket(
    bucket: BucketUsage, charge: Charge, cur: Currency, ratio: Decimal
) -> tuple[Decimal, int]:
    """Linear projection to the end of the period: units / ratio, priced again."""
    from meterly.domain.money import round_to

    if ratio >= 1:
        return bucket.units, bucket.fee.amount_cents
    kind = charge.billable_metric.aggregation_type
    if kind in ("max_agg", "latest_agg") or charge.billable_metric.recurring:
        projected_units = bucket.units
    else:
        projected_units = round_to(bucket.units / ratio, 2)
    events = int((Decimal(bucket.events_count) / ratio).to_integral_value())
    aggregation = AggregationResult(
        units=projected_units,
        events_count=events,
        full_units=bucket.aggregation.full_units,
        precise_total_amount_cents=bucket.aggregation.precise_total_amount_cents / ratio,
    )
    _priced, fee = price_bucket(charge, bucket.charge_filter, aggregation, cur)
    return projected_units, fee.amount_cents
