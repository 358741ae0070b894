"""Billing: turning closed periods into invoices, exactly once.

Each billed boundary of a subscription is one unit of work: the invoice, its fees and the
`invoice_subscriptions` row keyed by (subscription, boundary, reason). A repeated or
concurrent run hits that unique key, rolls back its unit of work, and bills nothing twice;
a run killed half-way leaves whole invoices behind and the next run carries on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from meterly.domain.aggregation import AggregationResult
from meterly.domain.invoicing import FeeLine, InvoiceTotals, compute_invoice
from meterly.domain.money import Currency, currency
from meterly.domain.periods import (
    BillingPeriod,
    charges_period_containing,
    local_date,
    local_midnight,
)
from meterly.domain.pricing import commitment_true_up, prorata, spending_minimum_true_up
from meterly.domain.schedule import (
    BillingBoundary,
    FeeSpan,
    SubscriptionTerms,
    closed_boundaries,
    termination_boundary,
)
from meterly.domain.subscription_fee import subscription_fee
from meterly.domain.taxes import Tax as TaxRate
from meterly.services import billing_cache
from meterly.services.clock import Clock, FrozenClock
from meterly.services.ids import new_id
from meterly.services.subscriptions import activate_pending, timezone_of
from meterly.services.usage import (
    BucketUsage,
    ChargeUsage,
    TaxContext,
    chain_start,
    charge_requests,
    compute_usage,
    price_bucket,
)
from meterly.store import billing_usage
from meterly.store.tables import (
    Charge,
    ChargeFilter,
    Customer,
    Fee,
    Invoice,
    InvoiceSubscription,
    Organization,
    Subscription,
)
from meterly.store.uow import Database
from meterly.store.usage_queries import UsageRequest

PERIODIC = "subscription_periodic"
STARTING = "subscription_starting"
TERMINATING = "subscription_terminating"


@dataclass
class RunReport:
    """What a billing run did, for the command line's summary table."""

    invoices: list[str] = field(default_factory=list)
    already_billed: int = 0
    subscriptions_seen: int = 0
    activated: int = 0
    finalized_drafts: int = 0
    alerts_triggered: int = 0
    overdue: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)
    amount_cents_by_currency: dict[str, int] = field(default_factory=dict)


# --- subscription terms ----------------------------------------------------------------


def terms_of(session: Session, sub: Subscription) -> SubscriptionTerms:
    plan = sub.plan
    return SubscriptionTerms(
        started_at=sub.started_at or sub.subscription_at,
        billing_time=sub.billing_time,  # type: ignore[arg-type]
        interval=plan.interval,  # type: ignore[arg-type]
        timezone=timezone_of(session, sub),
        plan_pay_in_advance=plan.pay_in_advance,
        trial_period_days=plan.trial_period or Decimal(0),
        bill_charges_monthly=bool(plan.bill_charges_monthly),
        terminated_at=sub.terminated_at,
    )


# --- the billing run -------------------------------------------------------------------


def run(
    database: Database,
    *,
    as_of: datetime,
    clock: Clock,
    organization_id: str | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> RunReport:
    """Bill every boundary that closed by `as_of` and is not billed yet (catching up).

    `as_of` is "now" for everything the run bills (a FrozenClock at that instant).
    """
    report = RunReport()
    with database.unit_of_work() as session:
        report.activated = len(
            activate_pending(session, organization_id=organization_id, clock=FrozenClock(as_of))
        )
        # Downgrades terminate their predecessor at the boundary: bill those terminations.
        for sub in _terminated_unbilled(session, organization_id):
            _bill_termination_in(session, sub, clock=FrozenClock(as_of), report=report)
    with database.unit_of_work() as session:
        query = select(Subscription.id).where(Subscription.status == "active")
        if organization_id:
            query = query.where(Subscription.organization_id == organization_id)
        ids = list(session.scalars(query.order_by(Subscription.created_at)))
    report.subscriptions_seen = len(ids)
    done = 0
    for start in range(0, len(ids), BATCH_SIZE):
        batch = _read_batch(database, ids[start : start + BATCH_SIZE], as_of=as_of)
        # Organization settings, taxes, webhook endpoints: read once for the batch.
        with billing_cache.active(batch.cache):
            for planned in batch.subscriptions:
                if planned.advance:
                    _bill_advance_charges(database, planned.sub_id, as_of=as_of, report=report)
                _bill_subscription(
                    database,
                    planned.sub_id,
                    as_of=as_of,
                    clock=clock,
                    report=report,
                    boundaries=planned.boundaries,
                    usage=batch.usage,
                )
                done += 1
                if on_progress:
                    on_progress(done, len(ids))
    report.finalized_drafts = finalize_due_drafts(database, as_of=as_of, clock=clock)
    _housekeeping(database, as_of=as_of, organization_id=organization_id, report=report)
    from meterly.services import spend

    checks = spend.run_checks(database, clock=FrozenClock(as_of), organization_id=organization_id)
    report.invoices.extend(checks.progressive_invoices)
    report.alerts_triggered = checks.alerts_triggered
    report.errors.extend(checks.errors)
    return report


def _housekeeping(
    database: Database, *, as_of: datetime, organization_id: str | None, report: RunReport
) -> None:
    """The clock's other duties: overdue invoices, expiries and recurring wallet top-ups."""
    from meterly.services import coupons, invoices, wallets

    at = FrozenClock(as_of)
    with database.unit_of_work() as session:
        report.overdue = invoices.mark_overdue(session, clock=at, organization_id=organization_id)
    with database.unit_of_work() as session:
        coupons.terminate_expired(session, clock=at)
        wallets.terminate_expired(session, clock=at)
    with database.unit_of_work() as session:
        wallets.run_recurring_top_ups(session, clock=at)


def _bill_subscription(
    database: Database,
    sub_id: str,
    *,
    as_of: datetime,
    clock: Clock,
    report: RunReport,
    boundaries: Sequence[BillingBoundary] | None = None,
    usage: Mapping[UsageKey, PrefetchedUsage] | None = None,
) -> None:
    """Bill each closed boundary in its own unit of work (`boundaries`: read ahead)."""
    if boundaries is None:
        with database.unit_of_work() as session:
            sub = session.get(Subscription, sub_id)
            assert sub is not None
            boundaries = closed_boundaries(
                terms_of(session, sub), after=sub.last_billed_boundary, as_of=as_of
            )
    for boundary in boundaries:
        try:
            with database.unit_of_work() as session:
                sub = session.get(Subscription, sub_id)
                assert sub is not None
                # Referenced for the whole unit of work: read once, not once per use.
                org = billing_cache.organization(session, sub.organization_id)  # noqa: F841
                if sub.last_billed_boundary is not None and boundary.at <= sub.last_billed_boundary:
                    continue  # another worker got here first
                invoice = bill_boundary(
                    session, sub=sub, boundary=boundary, clock=clock, usage=usage
                )
                sub.last_billed_boundary = boundary.at
                if invoice is not None:
                    report.invoices.append(invoice.id)
                    _tally(report, invoice)
        except IntegrityError:
            # The (subscription, boundary) key exists: billed by a concurrent run.
            report.already_billed += 1
        except Exception as exc:  # one bad subscription must not stop the run
            report.errors.append((sub_id, f"{type(exc).__name__}: {exc}"))
            return


def _tally(report: RunReport, invoice: Invoice) -> None:
    totals = report.amount_cents_by_currency
    totals[invoice.currency] = totals.get(invoice.currency, 0) + invoice.total_amount_cents


def bill_boundary(
    session: Session,
    *,
    sub: Subscription,
    boundary: BillingBoundary,
    clock: Clock,
    usage: Mapping[UsageKey, PrefetchedUsage] | None = None,
) -> Invoice | None:
    """The invoice of one boundary: subscription fee and/or the charges of the closed period."""
    reason = (
        STARTING
        if "subscription_start" in boundary.reasons and boundary.charges_period is None
        else PERIODIC
    )
    fees: list[Fee] = []
    if boundary.subscription_fee is not None:
        fees.append(
            _subscription_fee(
                session, sub, boundary.subscription_fee, terminated=False, upgraded=False
            )
        )
    charges_window = boundary.charges_period
    if charges_window is not None:
        fees.extend(charge_fees(session, sub, charges_window, usage=usage))
    return issue_invoice(
        session,
        sub=sub,
        fees=fees,
        boundary=boundary.at,
        reason=reason,
        fee_span=boundary.subscription_fee,
        charges_window=charges_window,
        clock=clock,
    )


# --- termination -----------------------------------------------------------------------


def terminate(session: Session, *, sub: Subscription, clock: Clock, upgrading: bool) -> None:
    """End an active subscription now and bill its open period at once.

    Closed boundaries not billed yet (a worker that was down) are billed first; then the
    open period: the termination day is billed; on an upgrade that day goes to the new plan.
    """
    now = clock.now()
    for boundary in closed_boundaries(
        terms_of(session, sub), after=sub.last_billed_boundary, as_of=now
    ):
        bill_boundary(session, sub=sub, boundary=boundary, clock=clock)
        sub.last_billed_boundary = boundary.at
    sub.status = "terminated"
    sub.terminated_at = now
    sub.updated_at = now
    session.flush()
    _bill_termination(session, sub, clock=clock, upgraded=upgrading)
    # A pay-in-advance plan paid for days it will not use: credit them back.
    from meterly.services import credit_notes

    credit_notes.credit_unused_subscription_fee(session, sub=sub, clock=clock, upgrading=upgrading)
    enqueue(session, sub.organization_id, "subscription.terminated", "subscription", sub.id, clock)


def _terminated_unbilled(session: Session, organization_id: str | None) -> list[Subscription]:
    billed = select(InvoiceSubscription.subscription_id).where(
        InvoiceSubscription.invoicing_reason == TERMINATING
    )
    query = select(Subscription).where(
        Subscription.status == "terminated",
        Subscription.terminated_at.is_not(None),
        Subscription.on_termination_invoice == "generate",
        Subscription.id.not_in(billed),
    )
    if organization_id:
        query = query.where(Subscription.organization_id == organization_id)
    return list(session.scalars(query))


def _bill_termination_in(
    session: Session, sub: Subscription, *, clock: Clock, report: RunReport
) -> None:
    invoice = _bill_termination(session, sub, clock=clock, upgraded=False)
    if invoice is not None:
        report.invoices.append(invoice.id)
        _tally(report, invoice)


def _bill_termination(
    session: Session, sub: Subscription, *, clock: Clock, upgraded: bool
) -> Invoice | None:
    if sub.on_termination_invoice == "skip" or sub.terminated_at is None:
        return None
    terms = terms_of(session, sub)
    ending = termination_boundary(terms, sub.terminated_at, upgraded=upgraded)
    fees: list[Fee] = []
    if ending.subscription_fee is not None:
        fees.append(
            _subscription_fee(
                session, sub, ending.subscription_fee, terminated=True, upgraded=upgraded
            )
        )
    if ending.charges_period is not None:
        fees.extend(charge_fees(session, sub, ending.charges_period))
    return issue_invoice(
        session,
        sub=sub,
        fees=fees,
        boundary=ending.at,
        reason=TERMINATING,
        fee_span=ending.subscription_fee,
        charges_window=ending.charges_period,
        clock=clock,
    )


# --- fees ------------------------------------------------------------------------------


def _subscription_fee(
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
    full = _full_charges_period(sub, window)
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


def _full_charges_period(sub: Subscription, window: BillingPeriod) -> BillingPeriod:
    return charges_period_containing(
        window.start,
        interval=sub.plan.interval,
        billing_time=sub.billing_time,
        anchor=sub.subscription_at,
        timezone=window.timezone,
        bill_charges_monthly=bool(sub.plan.bill_charges_monthly),
    )


# --- usage read ahead, one scan of the events per batch of subscriptions ----------------

# Subscriptions read (and aggregated) together ahead of their units of work. Each batch
# scans the events of its subscriptions once; when their events are interleaved (as they
# are, stored in arrival order) that touches most of the table's pages whatever the batch
# size, so fewer, larger batches read less. What a batch holds is small per subscription
# (its plan's aggregates), so memory grows with the batch, not with the events.
BATCH_SIZE = 1_000

# (subscription id, charges window start, end)
UsageKey = tuple[str, datetime, datetime]
BilledCharges = tuple[list[Charge], list[tuple[Charge, ChargeFilter | None, UsageRequest]]]


@dataclass(frozen=True)
class PrefetchedUsage:
    """The aggregations of a window, read before the unit of work, for these requests."""

    requests: list[UsageRequest]
    results: list[AggregationResult]


@dataclass(frozen=True)
class PlannedSubscription:
    sub_id: str
    boundaries: tuple[BillingBoundary, ...] | None  # None: read them in the unit of work
    advance: bool


@dataclass
class Batch:
    subscriptions: list[PlannedSubscription] = field(default_factory=list)
    usage: dict[UsageKey, PrefetchedUsage] = field(default_factory=dict)
    cache: billing_cache.BatchCache = field(default_factory=billing_cache.BatchCache)


def _billed_charges(
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
    billed = _billed_charges(session, sub, window, full.days)
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


def _read_batch(database: Database, ids: Sequence[str], *, as_of: datetime) -> Batch:
    """Boundaries of a batch of subscriptions, and the usage of their closed windows.

    Subscriptions sharing their requests (plan, window, chain start) are aggregated together,
    one scan of their events (`billing_usage.aggregate_batch`). Anything not read here is
    read in the unit of work.
    """
    from meterly.services import advance

    batch = Batch()
    groups: dict[tuple[Any, ...], tuple[list[UsageRequest], list[tuple[str, str, BillingPeriod]]]]
    groups = {}
    with database.unit_of_work() as session:
        subs = {
            s.id: s for s in session.scalars(select(Subscription).where(Subscription.id.in_(ids)))
        }
        # Held for the whole read (the session's identity map keeps only what is
        # referenced), then by the batch's units of work (loaded copies, no SELECT each).
        orgs = list(
            session.scalars(
                select(Organization).where(
                    Organization.id.in_({s.organization_id for s in subs.values()})
                )
            )
        )
        batch.cache.organizations.update((org.id, org) for org in orgs)
        for sub_id in ids:
            sub = subs.get(sub_id)
            try:
                assert sub is not None
                terms = terms_of(session, sub)
                boundaries = tuple(
                    closed_boundaries(terms, after=sub.last_billed_boundary, as_of=as_of)
                )
                planned = PlannedSubscription(
                    sub_id, boundaries, bool(advance.advance_charges(sub))
                )
            except Exception:  # the unit of work reads it again and reports what fails
                batch.subscriptions.append(PlannedSubscription(sub_id, None, True))
                continue
            batch.subscriptions.append(planned)
            for boundary in boundaries:
                if boundary.charges_period is not None:
                    _group_window(session, sub, boundary.charges_period, groups)
    for (organization_id, *_), (requests, members) in groups.items():
        try:
            with database.unit_of_work() as session:
                results = billing_usage.aggregate_batch(
                    session.connection(),
                    organization_id=organization_id,
                    external_subscription_ids=[external_id for _, external_id, _ in members],
                    requests=requests,
                )
        except Exception:  # aggregated one by one in the units of work instead
            continue
        for sub_id, external_id, window in members:
            batch.usage[(sub_id, window.start, window.end)] = PrefetchedUsage(
                requests, results[external_id]
            )
    return batch


def _group_window(
    session: Session,
    sub: Subscription,
    window: BillingPeriod,
    groups: dict[tuple[Any, ...], tuple[list[UsageRequest], list[tuple[str, str, BillingPeriod]]]],
) -> None:
    full = _full_charges_period(sub, window)
    billed = _billed_charges(session, sub, window, full.days)
    if billed is None:
        return
    requests = [request for _, _, request in billed[1]]
    if not requests or not billing_usage.supported(requests):
        return
    key = (
        sub.organization_id,
        sub.plan_id,
        window.start,
        window.end,
        window.timezone,
        full.days,
        requests[0].recurring_from,
    )
    known, members = groups.setdefault(key, (requests, []))
    if known == requests:
        members.append((sub.id, sub.external_id, window))


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


def _commitment_fee(
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


# --- issuing ---------------------------------------------------------------------------


def issue_invoice(
    session: Session,
    *,
    sub: Subscription,
    fees: list[Fee],
    boundary: datetime,
    reason: str,
    fee_span: FeeSpan | None,
    charges_window: BillingPeriod | None,
    clock: Clock,
    invoice_type: str = "subscription",
) -> Invoice | None:
    """Create, tax, credit and settle the invoice of one billed period of a subscription."""
    if not fees and fee_span is None and charges_window is None:
        return None
    commitment = (
        _commitment_fee(sub, fees, fee_span, charges_window)
        if reason in (PERIODIC, TERMINATING)
        else None
    )
    if commitment is not None:
        fees.append(commitment)
    customer: Customer = sub.customer
    org = session.get(Organization, sub.organization_id)
    assert org is not None
    tz = timezone_of(session, sub)
    now = clock.now()
    issuing_day = local_date(boundary, timezone=tz)
    term = (
        customer.net_payment_term if customer.net_payment_term is not None else org.net_payment_term
    )
    grace = (
        customer.invoice_grace_period
        if customer.invoice_grace_period is not None
        else org.invoice_grace_period
    )
    invoice = Invoice(
        id=new_id(),
        organization_id=sub.organization_id,
        customer_id=sub.customer_id,
        invoice_type=invoice_type,
        status="draft",
        payment_status="pending",
        currency=sub.plan.amount_currency,
        issuing_date=local_midnight(issuing_day, timezone="UTC"),
        payment_due_date=local_midnight(issuing_day + timedelta(days=term), timezone="UTC"),
        net_payment_term=term,
        breakdown={},
        invoice_metadata=[],
        finalize_at=boundary + timedelta(days=grace) if grace else None,
        created_at=now,
        updated_at=now,
    )
    session.add(invoice)
    session.flush()
    session.add(
        InvoiceSubscription(
            id=new_id(),
            invoice_id=invoice.id,
            subscription_id=sub.id,
            boundary=boundary,
            invoicing_reason=reason,
            from_datetime=fee_span.billed.start
            if fee_span
            else (charges_window.start if charges_window else None),
            to_datetime=fee_span.billed.end
            if fee_span
            else (charges_window.end if charges_window else None),
            charges_from_datetime=charges_window.start if charges_window else None,
            charges_to_datetime=charges_window.end if charges_window else None,
            created_at=now,
        )
    )
    # The key above is checked now, before any more work: a concurrent run fails here.
    session.flush()
    for position, fee in enumerate(fees):
        fee.invoice_id = invoice.id
        fee.position = position
        fee.created_at = now
        fee.updated_at = now
        session.add(fee)
    session.flush()
    totals = apply_waterfall(
        session,
        invoice=invoice,
        fees=fees,
        taxes=billing_cache.tax_context(session, customer, sub.plan),
    )
    _settle(
        session,
        invoice=invoice,
        customer=customer,
        org=org,
        clock=clock,
        grace=grace,
        totals=totals,
    )
    return invoice


def _fee_taxes(fee: Fee, taxes: TaxContext) -> tuple[TaxRate, ...]:
    if fee.fee_type == "charge" and fee.charge_id:
        charge = fee_charge(fee)
        if charge is not None:
            return taxes.for_charge(charge)
    if fee.fee_type == "commitment":
        return taxes.for_fee_type("commitment")
    if fee.fee_type == "add_on":
        # One-off fees keep the tax codes resolved when they were created.
        return taxes.for_fee_type("add_on", (fee.properties or {}).get("tax_codes"))
    return taxes.for_fee_type(fee.fee_type)


def fee_charge(fee: Fee) -> Any:
    from sqlalchemy.orm import object_session

    from meterly.store.tables import Charge

    session = object_session(fee)
    return session.get(Charge, fee.charge_id) if session and fee.charge_id else None


def apply_waterfall(
    session: Session,
    *,
    invoice: Invoice,
    fees: Iterable[Fee],
    taxes: TaxContext,
    clock: Clock | None = None,
) -> InvoiceTotals:
    """Run Lago's waterfall over the invoice's fees and store every step on the rows.

    With a `clock` the invoice is being finalized: the credits it uses are consumed.
    """
    from meterly.services import invoice_credits

    fee_list = list(fees)
    cur: Currency = currency(invoice.currency)
    lines = [
        FeeLine(
            id=f.id,
            fee_type=f.fee_type,
            amount_cents=f.amount_cents,
            precise_amount_cents=f.precise_amount_cents,
            plan_code=_plan_code(session, f),
            billable_metric_code=f.item.get("code") if f.fee_type == "charge" else None,
            taxes=_fee_taxes(f, taxes),
        )
        for f in fee_list
    ]
    credits = invoice_credits.gather(session, invoice=invoice, fees=fee_list)
    totals = compute_invoice(
        currency=cur,
        fees=lines,
        progressive_billing_credit_cents=credits.progressive_billing_credit_cents,
        coupons=credits.coupons,
        credit_note_credits=credits.credit_notes,
        wallets=credits.wallets,
    )
    if clock is not None:
        invoice_credits.consume(session, invoice=invoice, totals=totals, clock=clock)
    by_id = {r.fee_id: r for r in totals.fees}
    ids = tax_ids(session, invoice.organization_id)
    for fee in fee_list:
        result = by_id[fee.id]
        fee.precise_coupons_amount_cents = result.precise_coupons_amount_cents
        fee.taxes_amount_cents = result.taxes_amount_cents
        fee.taxes_precise_amount_cents = result.taxes_precise_amount_cents
        fee.taxes_rate = result.taxes_rate
        fee.applied_taxes = [
            {
                "tax_id": ids.get(a.tax.code),
                "tax_code": a.tax.code,
                "tax_name": a.tax.name,
                "tax_rate": str(a.tax.rate),
                "tax_description": a.tax.description,
                "amount_cents": a.amount_cents,
                "precise_amount_cents": str(a.precise_amount_cents),
            }
            for a in result.taxes.applied
        ]
    invoice.fees_amount_cents = totals.fees_amount_cents
    invoice.progressive_billing_credit_amount_cents = totals.progressive_billing_credit_amount_cents
    invoice.coupons_amount_cents = totals.coupons_amount_cents
    invoice.sub_total_excluding_taxes_amount_cents = totals.sub_total_excluding_taxes_amount_cents
    invoice.taxes_amount_cents = totals.taxes_amount_cents
    invoice.sub_total_including_taxes_amount_cents = totals.sub_total_including_taxes_amount_cents
    invoice.credit_notes_amount_cents = totals.credit_notes_amount_cents
    invoice.prepaid_credit_amount_cents = totals.prepaid_credit_amount_cents
    invoice.total_amount_cents = totals.total_amount_cents
    invoice.breakdown = {
        "applied_taxes": [
            {
                "tax_id": ids.get(t.tax.code),
                "tax_code": t.tax.code,
                "tax_name": t.tax.name,
                "tax_rate": str(t.tax.rate),
                "tax_description": t.tax.description,
                "amount_cents": t.amount_cents,
                "precise_amount_cents": str(t.precise_amount_cents),
                "fees_amount_cents": t.base_amount_cents,
            }
            for t in totals.applied_taxes
        ],
        "credits": _credit_lines(session, totals),
        "wallets": [
            {
                "wallet_id": w.wallet_id,
                "amount_cents": w.amount_cents,
                "credit_amount": str(w.credit_amount),
            }
            for w in totals.wallets
        ],
        "rounding": "half_up",
    }
    invoice.prepaid_credit_amount_cents = totals.prepaid_credit_amount_cents
    invoice.total_amount_cents = totals.total_amount_cents
    return totals


def _credit_lines(session: Session, totals: InvoiceTotals) -> list[dict[str, Any]]:
    """The invoice's `credits[]`: coupons (before taxes) and credit notes (after), each
    named the way Lago names them: the coupon, or the credit note and the invoice it credits."""
    from meterly.store.tables_coupons import AppliedCouponRow, CouponRow
    from meterly.store.tables_credit_notes import CreditNote

    lines: list[dict[str, Any]] = []
    for application in totals.coupons:
        applied = session.get(AppliedCouponRow, application.applied_coupon.id)
        coupon = session.get(CouponRow, applied.coupon_id) if applied else None
        lines.append(
            {
                "kind": "coupon",
                "applied_coupon_id": application.applied_coupon.id,
                "lago_item_id": coupon.id if coupon else application.applied_coupon.id,
                "code": application.applied_coupon.coupon_code,
                "name": coupon.name if coupon else application.applied_coupon.coupon_code,
                "description": coupon.description if coupon else None,
                "amount_cents": application.amount_cents,
                "before_taxes": True,
            }
        )
    for consumption in totals.credit_notes:
        note = session.get(CreditNote, consumption.credit_note_id)
        credited = session.get(Invoice, note.invoice_id) if note else None
        lines.append(
            {
                "kind": "credit_note",
                "credit_note_id": consumption.credit_note_id,
                "lago_item_id": consumption.credit_note_id,
                "code": note.number if note else None,
                "name": credited.number if credited else None,
                "description": note.description if note else None,
                "amount_cents": consumption.amount_cents,
                "before_taxes": False,
            }
        )
    if totals.progressive_billing_credit_amount_cents:
        lines.append(
            {
                "kind": "progressive_billing",
                "amount_cents": totals.progressive_billing_credit_amount_cents,
                "before_taxes": True,
            }
        )
    return lines


def tax_ids(session: Session, organization_id: str) -> dict[str, str]:
    """Tax code -> lago_id, so every applied tax names the tax it applies."""
    return billing_cache.tax_ids(session, organization_id)


def _plan_code(session: Session, fee: Fee) -> str | None:
    if fee.subscription_id is None:
        return None
    sub = session.get(Subscription, fee.subscription_id)
    if sub is None:
        return None
    plan = sub.plan
    if plan.parent_id:
        from meterly.store.tables import Plan

        parent = session.get(Plan, plan.parent_id)
        return parent.code if parent else plan.code
    return plan.code


def _settle(
    session: Session,
    *,
    invoice: Invoice,
    customer: Customer,
    org: Organization,
    clock: Clock,
    grace: int,
    totals: InvoiceTotals | None = None,
) -> None:
    """Finalize at once, or keep a draft through the grace period; skip empty ones if asked.

    `totals`: the waterfall just computed in this unit of work over the same fees and
    credits; finalizing at once consumes those credits instead of running it again.
    """
    if invoice.total_amount_cents == 0 and not _finalize_zero(customer, org):
        invoice.status = "closed"
        return
    if grace:
        enqueue(session, invoice.organization_id, "invoice.drafted", "invoice", invoice.id, clock)
        return
    if totals is None or invoice.invoice_type == "credit":
        finalize(session, invoice=invoice, clock=clock)
        return
    from meterly.services import invoice_credits, invoices

    invoice_credits.consume(session, invoice=invoice, totals=totals, clock=clock)
    invoices.finalize(session, invoice=invoice, clock=clock)


def _finalize_zero(customer: Customer, org: Organization) -> bool:
    setting = customer.finalize_zero_amount_invoice
    if setting == "skip":
        return False
    if setting == "finalize":
        return True
    return org.finalize_zero_amount_invoice


def finalize(session: Session, *, invoice: Invoice, clock: Clock) -> Invoice:
    """Apply and consume the credits available now, then number and finalize.

    Numbering and the lifecycle live in services/invoices.py; the waterfall is re-run
    here so a draft finalized after its grace period uses the credits of that moment.
    """
    from meterly.services import invoices

    if invoice.invoice_type != "credit":
        session.refresh(invoice)
        customer = session.get(Customer, invoice.customer_id)
        assert customer is not None
        apply_waterfall(
            session,
            invoice=invoice,
            fees=invoice.fees,
            taxes=TaxContext.for_customer(session, customer, _invoice_plan(session, invoice)),
            clock=clock,
        )
    return invoices.finalize(session, invoice=invoice, clock=clock)


def _invoice_plan(session: Session, invoice: Invoice) -> Any:
    if not invoice.periods:
        return None
    sub = session.get(Subscription, invoice.periods[0].subscription_id)
    return sub.plan if sub else None


def enqueue(
    session: Session,
    organization_id: str,
    webhook_type: str,
    object_type: str,
    object_id: str,
    clock: Clock,
) -> None:
    import importlib.util

    if importlib.util.find_spec("meterly.services.webhooks") is None:
        return
    from meterly.services import webhooks

    webhooks.enqueue(
        session,
        organization_id=organization_id,
        webhook_type=webhook_type,
        object_type=object_type,
        object_id=object_id,
        clock=clock,
    )


# --- pay-in-advance charges ------------------------------------------------------------


def issue_advance_invoice(
    session: Session, *, sub: Subscription, fee: Fee, clock: Clock
) -> Invoice:
    """An invoiceable pay-in-advance fee gets its own invoice at once (Lago's in_advance_charge)."""
    customer: Customer = sub.customer
    org = session.get(Organization, sub.organization_id)
    assert org is not None
    now = clock.now()
    issuing_day = local_date(now, timezone=timezone_of(session, sub))
    term = (
        customer.net_payment_term if customer.net_payment_term is not None else org.net_payment_term
    )
    invoice = Invoice(
        id=new_id(),
        organization_id=sub.organization_id,
        customer_id=sub.customer_id,
        invoice_type="subscription",
        status="draft",
        payment_status="pending",
        currency=fee.currency,
        issuing_date=local_midnight(issuing_day, timezone="UTC"),
        payment_due_date=local_midnight(issuing_day + timedelta(days=term), timezone="UTC"),
        net_payment_term=term,
        breakdown={},
        invoice_metadata=[],
        created_at=now,
        updated_at=now,
    )
    session.add(invoice)
    session.flush()
    session.add(
        InvoiceSubscription(
            id=new_id(),
            invoice_id=invoice.id,
            subscription_id=sub.id,
            boundary=fee.from_datetime or now,
            invoicing_reason="in_advance_charge",
            from_datetime=fee.from_datetime,
            to_datetime=fee.to_datetime,
            charges_from_datetime=fee.from_datetime,
            charges_to_datetime=fee.to_datetime,
            created_at=now,
        )
    )
    fee.invoice_id = invoice.id
    session.flush()
    totals = apply_waterfall(
        session,
        invoice=invoice,
        fees=[fee],
        taxes=billing_cache.tax_context(session, customer, sub.plan),
    )
    _settle(
        session, invoice=invoice, customer=customer, org=org, clock=clock, grace=0, totals=totals
    )
    return invoice


def tax_standalone_fee(session: Session, *, sub: Subscription, fee: Fee) -> None:
    """A non-invoiceable fee still carries its taxes (Lago shows them on GET /fees)."""
    from meterly.domain.taxes import tax_fee

    taxes = billing_cache.tax_context(session, sub.customer, sub.plan)
    result = tax_fee(base_amount_cents=Decimal(fee.amount_cents), taxes=_fee_taxes(fee, taxes))
    fee.taxes_amount_cents = result.amount_cents
    fee.taxes_precise_amount_cents = result.precise_amount_cents
    fee.taxes_rate = result.taxes_rate
    ids = tax_ids(session, sub.organization_id)
    fee.applied_taxes = [
        {
            "tax_id": ids.get(a.tax.code),
            "tax_code": a.tax.code,
            "tax_name": a.tax.name,
            "tax_rate": str(a.tax.rate),
            "tax_description": a.tax.description,
            "amount_cents": a.amount_cents,
            "precise_amount_cents": str(a.precise_amount_cents),
        }
        for a in result.applied
    ]


def _bill_advance_charges(
    database: Database, sub_id: str, *, as_of: datetime, report: RunReport
) -> None:
    from meterly.services import advance

    with database.unit_of_work() as session:
        sub = session.get(Subscription, sub_id)
        if sub is None or not advance.advance_charges(sub):
            return
        for fee in advance.process_subscription(session, sub=sub, clock=FrozenClock(as_of)):
            if fee.invoice_id:
                report.invoices.append(fee.invoice_id)


# --- drafts ----------------------------------------------------------------------------


def refresh_draft(session: Session, *, invoice: Invoice, clock: Clock) -> Invoice:
    """Recompute a draft's fees from the events (late events are picked up)."""
    from meterly.domain.errors import NotAllowed

    if invoice.status != "draft":
        raise NotAllowed("invoice_not_draft")
    now = clock.now()
    for period in invoice.periods:
        sub = session.get(Subscription, period.subscription_id)
        if sub is None:
            continue
        old = [
            f
            for f in invoice.fees
            if f.subscription_id == sub.id and f.fee_type in ("charge", "commitment")
        ]
        for fee in old:
            fee.deleted_at = now
        session.flush()
        if period.charges_from_datetime is None or period.charges_to_datetime is None:
            continue
        window = BillingPeriod(
            start=period.charges_from_datetime,
            end=period.charges_to_datetime,
            timezone=timezone_of(session, sub),
        )
        new_fees = charge_fees(session, sub, window)
        position = len(invoice.fees)
        for offset, fee in enumerate(new_fees):
            fee.invoice_id, fee.position, fee.created_at, fee.updated_at = (
                invoice.id,
                position + offset,
                now,
                now,
            )
            session.add(fee)
    session.flush()
    session.refresh(invoice)
    recompute_totals(session, invoice=invoice, clock=clock)
    return invoice


def recompute_totals(session: Session, *, invoice: Invoice, clock: Clock) -> Invoice:
    customer = session.get(Customer, invoice.customer_id)
    assert customer is not None
    plan = None
    if invoice.periods:
        sub = session.get(Subscription, invoice.periods[0].subscription_id)
        plan = sub.plan if sub else None
    session.refresh(invoice)
    apply_waterfall(
        session,
        invoice=invoice,
        fees=invoice.fees,
        taxes=TaxContext.for_customer(session, customer, plan),
    )
    invoice.updated_at = clock.now()
    return invoice


def finalize_due_drafts(database: Database, *, as_of: datetime, clock: Clock) -> int:
    """Drafts whose grace period ended: refresh with late events, then finalize."""
    with database.unit_of_work() as session:
        ids = list(
            session.scalars(
                select(Invoice.id).where(
                    Invoice.status == "draft",
                    Invoice.finalize_at.is_not(None),
                    Invoice.finalize_at <= as_of,
                )
            )
        )
    done = 0
    for invoice_id in ids:
        with database.unit_of_work() as session:
            invoice = session.get(
                Invoice,
                invoice_id,
                with_for_update=session.bind is not None
                and session.get_bind().dialect.name == "postgresql",
            )
            if invoice is None or invoice.status != "draft":
                continue
            refresh_draft(session, invoice=invoice, clock=clock)
            finalize(session, invoice=invoice, clock=clock)
            done += 1
    return done
