"""Progressive billing: invoice usage early when the subscription's lifetime usage crosses
a threshold, and deduct what was billed early from the period's final invoice.

Lifetime usage = usage billed before Meterly (set through the API) + usage invoiced for
closed periods + the current period's usage. One-off thresholds fire once; a recurring
threshold fires again every `amount_cents` above the largest one-off threshold.
Each crossing is a row with a unique key, so a threshold never bills twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from meterly.domain.errors import ValidationFailed
from meterly.services.accounts import timezone_of
from meterly.services.billing import charge_fees, issue_invoice
from meterly.services.common import Clock, new_id
from meterly.services.credits import PROGRESSIVE
from meterly.services.metering import charges_window, compute_usage
from meterly.services.notifications import enqueue
from meterly.store.clock_scope import in_scope
from meterly.store.tables import Fee, Invoice, InvoiceSubscription, Plan, Subscription
from meterly.store.tables_spend import LifetimeUsage, UsageThresholdCrossing


@dataclass(frozen=True, slots=True)
class Lifetime:
    record: LifetimeUsage
    historical_cents: int
    invoiced_cents: int
    current_cents: int
    window_start: datetime
    window_end: datetime

    @property
    def total_cents(self) -> int:
        return self.historical_cents + self.invoiced_cents + self.current_cents


def thresholds_of(sub: Subscription) -> list[dict[str, Any]]:
    """The subscription's own thresholds override the plan's."""
    own = sub.usage_thresholds or []
    return list(own or sub.plan.usage_thresholds or [])


def lifetime_record(session: Session, sub: Subscription, *, now: datetime) -> LifetimeUsage:
    record = session.get(LifetimeUsage, sub.id)
    if record is None:
        record = LifetimeUsage(
            subscription_id=sub.id,
            id=new_id(),
            organization_id=sub.organization_id,
            external_historical_usage_amount_cents=0,
            created_at=now,
            updated_at=now,
        )
        session.add(record)
        session.flush()
    return record


def lifetime_usage(session: Session, *, sub: Subscription, at: datetime) -> Lifetime:
    window, full_days = charges_window(session, sub, at=at)
    current = compute_usage(
        session, sub=sub, window=window, full_period_days=full_days, apply_taxes=False
    )
    invoiced = session.scalar(
        select(func.coalesce(func.sum(Fee.amount_cents), 0))
        .join(Invoice, Invoice.id == Fee.invoice_id)
        .join(InvoiceSubscription, InvoiceSubscription.invoice_id == Invoice.id)
        .where(
            Fee.subscription_id == sub.id,
            Fee.fee_type == "charge",
            Fee.deleted_at.is_(None),
            Invoice.status == "finalized",
            InvoiceSubscription.subscription_id == sub.id,
            InvoiceSubscription.invoicing_reason.in_(
                ("subscription_periodic", "subscription_terminating")
            ),
        )
    )
    record = lifetime_record(session, sub, now=at)
    return Lifetime(
        record=record,
        historical_cents=record.external_historical_usage_amount_cents,
        invoiced_cents=int(invoiced or 0),
        current_cents=current.amount_cents,
        window_start=window.start,
        window_end=window.end,
    )


def set_historical_usage(
    session: Session, *, sub: Subscription, amount_cents: object, clock: Clock
) -> LifetimeUsage:
    if not isinstance(amount_cents, int) or isinstance(amount_cents, bool) or amount_cents < 0:
        raise ValidationFailed.field("external_historical_usage_amount_cents", "value_is_invalid")
    record = lifetime_record(session, sub, now=clock.now())
    record.external_historical_usage_amount_cents = amount_cents
    record.updated_at = clock.now()
    return record


def due_crossings(
    thresholds: Sequence[dict[str, Any]], *, lifetime_cents: int, crossed: set[str]
) -> list[tuple[str, dict[str, Any]]]:
    """(crossing key, threshold) of every threshold reached and not billed yet."""
    fixed = sorted(
        (t for t in thresholds if not t.get("recurring")), key=lambda t: int(t["amount_cents"])
    )
    due = [
        (str(t["lago_id"]), t)
        for t in fixed
        if int(t["amount_cents"]) <= lifetime_cents and str(t["lago_id"]) not in crossed
    ]
    base = int(fixed[-1]["amount_cents"]) if fixed else 0
    for threshold in (t for t in thresholds if t.get("recurring")):
        step = int(threshold["amount_cents"])
        if step <= 0:
            continue
        repeats = max(lifetime_cents - base, 0) // step
        for n in range(1, repeats + 1):
            key = f"{threshold['lago_id']}:{n}"
            if key not in crossed:
                due.append((key, threshold))
    return due


def check_thresholds(session: Session, *, sub: Subscription, clock: Clock) -> Invoice | None:
    """Issue a progressive-billing invoice when lifetime usage crossed a new threshold."""
    thresholds = thresholds_of(sub)
    if not thresholds or sub.progressive_billing_disabled or sub.status != "active":
        return None
    now = clock.now()
    lifetime = lifetime_usage(session, sub=sub, at=now)
    crossed = set(
        session.scalars(
            select(UsageThresholdCrossing.crossing_key).where(
                UsageThresholdCrossing.subscription_id == sub.id
            )
        )
    )
    due = due_crossings(thresholds, lifetime_cents=lifetime.total_cents, crossed=crossed)
    if not due:
        return None
    try:
        with session.begin_nested():
            for key, threshold in due:
                session.add(
                    UsageThresholdCrossing(
                        id=new_id(),
                        subscription_id=sub.id,
                        threshold_id=str(threshold["lago_id"]),
                        crossing_key=key,
                        amount_cents=int(threshold["amount_cents"]),
                        lifetime_usage_amount_cents=lifetime.total_cents,
                        created_at=now,
                    )
                )
            session.flush()
    except IntegrityError:
        return None  # a concurrent check took these crossings
    invoice = _issue_progressive_invoice(session, sub=sub, clock=clock, lifetime=lifetime, due=due)
    for key, _threshold in due:
        row = session.scalar(
            select(UsageThresholdCrossing).where(
                UsageThresholdCrossing.subscription_id == sub.id,
                UsageThresholdCrossing.crossing_key == key,
            )
        )
        if row is not None and invoice is not None:
            row.invoice_id = invoice.id
    enqueue(
        session,
        sub.organization_id,
        "subscription.usage_threshold_reached",
        "subscription",
        sub.id,
        clock,
    )
    return invoice


def _issue_progressive_invoice(
    session: Session,
    *,
    sub: Subscription,
    clock: Clock,
    lifetime: Lifetime,
    due: list[tuple[str, dict[str, Any]]],
) -> Invoice | None:
    from meterly.domain.periods import BillingPeriod

    now = clock.now()
    window = BillingPeriod(
        start=lifetime.window_start,
        end=max(min(now, lifetime.window_end), lifetime.window_start),
        timezone=_timezone(session, sub),
    )
    # Usage so far only: the period goes on, nothing is billed for the next one yet.
    fees = charge_fees(session, sub, window, renew_in_advance=False)
    invoice = issue_invoice(
        session,
        sub=sub,
        fees=fees,
        boundary=now,
        reason=PROGRESSIVE,
        fee_span=None,
        charges_window=window,
        clock=clock,
        invoice_type=PROGRESSIVE,
    )
    if invoice is not None:
        breakdown = dict(invoice.breakdown)
        breakdown["applied_usage_thresholds"] = [
            {
                "lago_usage_threshold_id": str(t["lago_id"]),
                "threshold_display_name": t.get("threshold_display_name"),
                "amount_cents": int(t["amount_cents"]),
                "recurring": bool(t.get("recurring")),
                "lifetime_usage_amount_cents": lifetime.total_cents,
                "crossing_key": key,
            }
            for key, t in due
        ]
        invoice.breakdown = breakdown
    return invoice


def _timezone(session: Session, sub: Subscription) -> str:

    return timezone_of(session, sub)


def completion(
    thresholds: Sequence[dict[str, Any]], lifetime_cents: int, reached: dict[str, datetime]
) -> list[dict[str, Any]]:
    """The lifetime_usage endpoint's `usage_thresholds`: how far each threshold is reached."""
    rows = []
    for t in sorted(thresholds, key=lambda t: int(t["amount_cents"])):
        amount = int(t["amount_cents"])
        ratio = min(lifetime_cents / amount, 1.0) if amount else 1.0
        rows.append(
            {
                "amount_cents": amount,
                "completion_ratio": round(ratio, 4),
                "reached_at": reached.get(str(t["lago_id"])),
            }
        )
    return rows


def reached_at(session: Session, sub: Subscription) -> dict[str, datetime]:
    rows = session.execute(
        select(UsageThresholdCrossing.threshold_id, func.min(UsageThresholdCrossing.created_at))
        .where(UsageThresholdCrossing.subscription_id == sub.id)
        .group_by(UsageThresholdCrossing.threshold_id)
    )
    return {str(threshold_id): when for threshold_id, when in rows}


def checks_due(session: Session, *, organization_id: str | None = None) -> list[str]:
    """Active subscriptions that have thresholds (their own or their plan's)."""

    query = (
        select(Subscription.id, Subscription.usage_thresholds, Plan.usage_thresholds)
        .join(Plan, Plan.id == Subscription.plan_id)
        .where(
            Subscription.status == "active",
            Subscription.progressive_billing_disabled.is_(False),
            in_scope(Subscription.customer_id),
        )
    )
    if organization_id:
        query = query.where(Subscription.organization_id == organization_id)
    return [sub_id for sub_id, own, plans in session.execute(query) if own or plans]
