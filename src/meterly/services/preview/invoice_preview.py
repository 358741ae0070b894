"""What an invoice would be, computed by the code that bills, in a unit of work never committed.

Lago's `POST /invoices/preview` answers three questions:

- the next invoice of a customer's subscriptions, with the usage so far;
- what a new subscription to `plan_code` would invoice first;
- what a plan change of subscriptions (`subscriptions.plan_code`) would invoice now.

Pricing is not repeated here: the preview creates what the question supposes (the
subscription, the plan change) and bills it with `services.billing` exactly as the billing
run would, inside the caller's session. The caller reads the invoice and then rolls the
session back, so nothing is stored (`tests/preview` counts the rows to prove it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from meterly.domain.errors import NotFound, ValidationFailed
from meterly.domain.schedule import closed_boundaries
from meterly.services import billing, subscriptions
from meterly.services.accounts import customers as customer_service
from meterly.services.accounts import terms_of
from meterly.services.common import Clock, FrozenClock, new_id
from meterly.store.tables import Customer, Invoice, Subscription

# How far ahead the next boundary is looked for: past the longest billing interval (a year).
_HORIZON = timedelta(days=400)


@dataclass(frozen=True)
class PreviewRequest:
    """Lago's preview body, read: the customer, and what to suppose about its subscriptions."""

    customer_external_id: str | None = None
    customer_fields: dict[str, Any] = field(default_factory=dict)
    plan_code: str | None = None
    billing_time: str | None = None
    subscription_at: datetime | None = None
    subscription_external_ids: tuple[str, ...] = ()
    subscriptions_plan_code: str | None = None


def preview_invoice(
    session: Session, *, organization_id: str, request: PreviewRequest, clock: Clock
) -> Invoice:
    """The invoice the request describes, billed in `session`; the caller must roll it back."""
    customer = _customer(session, organization_id, request, clock)
    if request.plan_code:
        sub = subscriptions.create(
            session,
            organization_id=organization_id,
            data=subscriptions.SubscriptionInput(
                external_customer_id=customer.external_id,
                plan_code=request.plan_code,
                external_id=f"preview-{new_id()}",
                billing_time=request.billing_time,
                subscription_at=request.subscription_at,
            ),
            clock=clock,
        )
        return _next_invoice(session, [sub], clock)
    subs = _subscriptions(session, organization_id, customer, request.subscription_external_ids)
    if request.subscriptions_plan_code:
        invoice = _plan_change(session, organization_id, customer, subs, request, clock)
        if invoice is not None:
            return invoice
        # A downgrade waits for the period's end: the next invoice is the old plan's.
    return _next_invoice(session, subs, clock)


def _customer(
    session: Session, organization_id: str, request: PreviewRequest, clock: Clock
) -> Customer:
    """The existing customer, or (Lago) one made of the inline fields, never stored."""
    external_id = request.customer_external_id
    if external_id:
        found = customer_service.find_optional(
            session, organization_id=organization_id, external_id=external_id
        )
        if found is not None:
            return found
    if not request.plan_code:
        # Only a new subscription can be previewed for a customer that does not exist.
        raise NotFound("customer")
    customer, _ = customer_service.upsert(
        session,
        organization_id=organization_id,
        data=customer_service.CustomerInput(
            external_id=external_id or f"preview-{new_id()}", fields=request.customer_fields
        ),
        clock=clock,
    )
    return customer


def _subscriptions(
    session: Session, organization_id: str, customer: Customer, external_ids: tuple[str, ...]
) -> list[Subscription]:
    query = select(Subscription).where(
        Subscription.organization_id == organization_id,
        Subscription.customer_id == customer.id,
        Subscription.status == "active",
    )
    if external_ids:
        query = query.where(Subscription.external_id.in_(external_ids))
    subs = list(session.scalars(query.order_by(Subscription.created_at, Subscription.id)))
    if not subs:
        raise NotFound("subscription")
    if external_ids and len(subs) != len(set(external_ids)):
        raise NotFound("subscription")
    return subs


def _plan_change(
    session: Session,
    organization_id: str,
    customer: Customer,
    subs: list[Subscription],
    request: PreviewRequest,
    clock: Clock,
) -> Invoice | None:
    """The invoice an upgrade issues at once (old plan's end, new plan's start), if any."""
    if len(subs) != 1:
        raise ValidationFailed.field("subscriptions", "only_one_subscription_per_plan_change")
    before = set(session.scalars(select(Invoice.id).where(Invoice.customer_id == customer.id)))
    subscriptions.create(
        session,
        organization_id=organization_id,
        data=subscriptions.SubscriptionInput(
            external_customer_id=customer.external_id,
            plan_code=request.subscriptions_plan_code,
            external_id=subs[0].external_id,
        ),
        clock=clock,
    )
    session.flush()
    issued = session.scalars(
        select(Invoice)
        .where(Invoice.customer_id == customer.id, Invoice.id.not_in(before))
        .order_by(Invoice.created_at)
    ).first()
    return issued


def _next_invoice(session: Session, subs: list[Subscription], clock: Clock) -> Invoice:
    """The invoice of the subscriptions' next boundary, billed as the billing run bills it."""
    now = clock.now()
    upcoming: list[datetime] = []
    for sub in subs:
        boundaries = closed_boundaries(
            terms_of(session, sub), after=sub.last_billed_boundary, as_of=now + _HORIZON
        )
        if boundaries:
            upcoming.append(boundaries[0].at)
    if not upcoming:
        raise NotFound("invoice")
    at = min(upcoming)
    planned = [
        billing.plan_subscription(session, sub, as_of=at, successor_start=None) for sub in subs
    ]
    for candidate in billing.plan_invoices(planned):
        if candidate.at != at:
            continue
        # Issued as of the boundary: its dates and any grace period are the real invoice's.
        invoice = billing.bill_planned_invoice(
            session, planned=candidate, clock=FrozenClock(max(now, at))
        )
        if invoice is not None:
            return invoice
    raise NotFound("invoice")
