"""Subscriptions: a customer on a plan, from its start to its termination.

Reading subscriptions, their timezone, current period and billing terms, and starting
pending ones when their start comes. Creating, changing and terminating them lives in
services/subscriptions (lifecycle), above billing, since a plan change bills.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from meterly.domain.errors import NotFound
from meterly.domain.periods import BillingPeriod, subscription_period_containing
from meterly.domain.schedule import SubscriptionTerms
from meterly.services.accounts.billing_entities import customer_timezone
from meterly.services.common import Clock
from meterly.store.clock_scope import in_scope
from meterly.store.tables import Customer, Plan, Subscription

STATUSES = ("pending", "incomplete", "active", "terminated", "canceled")


def timezone_of(session: Session, sub: Subscription) -> str:
    """The customer's timezone, else its billing entity's, else the organization's."""
    return customer_timezone(session, sub.customer)


def current_period(session: Session, sub: Subscription, *, at: datetime) -> BillingPeriod | None:
    """The subscription's billing period containing `at` (None before it starts).

    Periods are anchored on `subscription_at`, which a plan change keeps.
    """
    started = sub.started_at or sub.subscription_at
    if at < started:
        return None
    return subscription_period_containing(
        at,
        interval=sub.plan.interval,
        billing_time=sub.billing_time,
        started_at=started,
        timezone=timezone_of(session, sub),
        anchor=sub.subscription_at,
    )


def find(
    session: Session, *, organization_id: str, external_id: str, status: str | None = None
) -> Subscription:
    """The subscription with this external id: the live one unless a status is asked for."""
    query = select(Subscription).where(
        Subscription.organization_id == organization_id, Subscription.external_id == external_id
    )
    if status:
        query = query.where(Subscription.status == status)
    else:
        query = query.where(Subscription.status.in_(("active", "pending", "incomplete")))
    rows = list(session.scalars(query.order_by(Subscription.created_at.desc())))
    if not rows and not status:
        rows = list(
            session.scalars(
                select(Subscription)
                .where(
                    Subscription.organization_id == organization_id,
                    Subscription.external_id == external_id,
                )
                .order_by(Subscription.created_at.desc())
            )
        )
    if not rows:
        raise NotFound("subscription")
    active = [r for r in rows if r.status == "active"]
    return active[0] if active else rows[0]


def active(session: Session, *, organization_id: str, external_id: str) -> Subscription | None:
    return session.scalar(
        select(Subscription).where(
            Subscription.organization_id == organization_id,
            Subscription.external_id == external_id,
            Subscription.status == "active",
        )
    )


def list_page(
    session: Session,
    *,
    organization_id: str,
    page: int,
    per_page: int,
    external_customer_id: str | None = None,
    plan_code: str | None = None,
    statuses: list[str] | None = None,
) -> tuple[list[Subscription], int]:
    where = [Subscription.organization_id == organization_id]
    where.append(Subscription.status.in_(statuses or ["active"]))
    if external_customer_id:
        where.append(
            Subscription.customer_id.in_(
                select(Customer.id).where(
                    Customer.organization_id == organization_id,
                    Customer.external_id == external_customer_id,
                )
            )
        )
    if plan_code:
        where.append(
            Subscription.plan_id.in_(
                select(Plan.id).where(
                    Plan.organization_id == organization_id, Plan.code == plan_code
                )
            )
        )
    total = session.scalar(select(func.count()).select_from(Subscription).where(*where)) or 0
    rows = session.scalars(
        select(Subscription)
        .where(*where)
        .order_by(Subscription.created_at.desc(), Subscription.id)
        .offset((page - 1) * per_page)
        .limit(per_page)
    )
    return list(rows), total


def next_subscription(session: Session, sub: Subscription) -> Subscription | None:
    return session.scalar(
        select(Subscription).where(
            Subscription.previous_subscription_id == sub.id, Subscription.status == "pending"
        )
    )


def activate_pending(
    session: Session, *, organization_id: str | None, clock: Clock
) -> list[Subscription]:
    """Start every pending subscription whose start has come, downgrades included.

    A scheduled downgrade replaces its predecessor at the period boundary: the old one is
    terminated there (its last period is billed by the billing clock like any other).
    """
    now = clock.now()
    query = select(Subscription).where(
        Subscription.status == "pending", in_scope(Subscription.customer_id)
    )
    if organization_id:
        query = query.where(Subscription.organization_id == organization_id)
    started = []
    for sub in session.scalars(query.order_by(Subscription.created_at)):
        starts_at = sub.started_at or sub.subscription_at
        if starts_at > now:
            continue
        if sub.previous_subscription_id is not None:
            previous = session.get(Subscription, sub.previous_subscription_id)
            if previous is not None and previous.status == "active":
                previous.status = "terminated"
                previous.terminated_at = starts_at - timedelta(microseconds=1)
                previous.updated_at = now
        sub.status, sub.started_at, sub.updated_at = "active", starts_at, now
        started.append(sub)
    return started


def initial_started_at(session: Session, sub: Subscription) -> datetime:
    """Lago's `initial_started_at`: the first start of the customer's subscriptions with
    this external_id (plan changes and re-creations included), where trials run from."""
    first = session.scalar(
        select(func.min(Subscription.started_at)).where(
            Subscription.customer_id == sub.customer_id,
            Subscription.external_id == sub.external_id,
            Subscription.started_at.is_not(None),
        )
    )
    return first or sub.started_at or sub.subscription_at


def terms_of(session: Session, sub: Subscription) -> SubscriptionTerms:
    """What the billing schedule needs to know of a subscription and its plan."""
    plan = sub.plan
    trial = plan.trial_period or Decimal(0)
    return SubscriptionTerms(
        started_at=sub.started_at or sub.subscription_at,
        anchor=sub.subscription_at,
        # Only a trial needs the first start: no query for the plans without one.
        trial_started_at=initial_started_at(session, sub) if trial > 0 else None,
        billing_time=sub.billing_time,  # type: ignore[arg-type]
        interval=plan.interval,  # type: ignore[arg-type]
        timezone=timezone_of(session, sub),
        plan_pay_in_advance=plan.pay_in_advance,
        trial_period_days=trial,
        bill_charges_monthly=bool(plan.bill_charges_monthly),
        terminated_at=sub.terminated_at,
    )
