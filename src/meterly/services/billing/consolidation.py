"""One invoice per customer per billing boundary (Lago's consolidated invoices).

A billing run plans what each subscription owes (`read_ahead.PlannedSubscription`): its
closed boundaries and, once it has ended, its termination. The parts a customer owes at
the same instant go on one invoice: every subscription due at a boundary, and a plan
change's termination with the new subscription's first fees. A subscription with
`consolidate_invoice` false always gets an invoice of its own (its plan changes included).

Exactly once: each part keeps its own (subscription, boundary, reason) key on the invoice
(`invoice_subscriptions`), checked before any other write; a run that finds a part billed
already leaves it out, and a concurrent run that inserts the same key rolls back whole.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from meterly.domain.schedule import BillingBoundary
from meterly.services.billing.boundaries import (
    boundary_part,
    termination_billed,
    termination_part,
)
from meterly.services.billing.fees import PrefetchedUsage, UsageKey
from meterly.services.billing.issuing import InvoicePart, issue_parts
from meterly.services.billing.read_ahead import PlannedSubscription
from meterly.services.common import Clock
from meterly.store.clock_scope import in_scope
from meterly.store.tables import Invoice, Subscription


@dataclass(frozen=True)
class PlannedPart:
    """One subscription's share of a planned invoice: a boundary, or (None) its termination."""

    sub_id: str
    boundary: BillingBoundary | None


@dataclass(frozen=True)
class PlannedInvoice:
    """The parts one customer owes at the instant `at`, billed as one invoice."""

    customer_id: str
    at: datetime
    parts: tuple[PlannedPart, ...]

    @property
    def sub_ids(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(part.sub_id for part in self.parts))


def due_subscriptions(session: Session, organization_id: str | None) -> list[tuple[str, str]]:
    """(subscription id, customer id) of everything a run may bill, a customer's together.

    Active subscriptions, and terminated ones whose termination invoice is still due (a
    downgrade ends its predecessor at the boundary). Ordered by customer, so the batches
    of a run never split a customer's subscriptions over two batches' invoices.
    """
    query = select(Subscription.id, Subscription.customer_id).where(
        or_(
            Subscription.status == "active",
            # Waiting for its first payment: only its start is billed (the invoice to pay).
            and_(Subscription.status == "incomplete", Subscription.last_billed_boundary.is_(None)),
            and_(
                Subscription.status == "terminated",
                Subscription.terminated_at.is_not(None),
                Subscription.on_termination_invoice == "generate",
                ~termination_billed(Subscription.id),
            ),
        )
    )
    if organization_id:
        query = query.where(Subscription.organization_id == organization_id)
    query = query.where(in_scope(Subscription.customer_id))
    query = query.order_by(Subscription.customer_id, Subscription.created_at, Subscription.id)
    return [(str(sub_id), str(customer_id)) for sub_id, customer_id in session.execute(query)]


def customer_batches(due: list[tuple[str, str]], size: int) -> list[list[str]]:
    """`due` cut in batches of about `size` subscriptions, never splitting a customer."""
    batches: list[list[str]] = []
    current: list[str] = []
    previous_customer: str | None = None
    for sub_id, customer_id in due:
        if len(current) >= size and customer_id != previous_customer:
            batches.append(current)
            current = []
        current.append(sub_id)
        previous_customer = customer_id
    if current:
        batches.append(current)
    return batches


def plan_invoices(subscriptions: Iterable[PlannedSubscription]) -> list[PlannedInvoice]:
    """Group the planned boundaries and terminations into invoices, oldest first per customer.

    Invoices of one customer come in the order of their instants, so a subscription's
    boundaries are billed in order (its `last_billed_boundary` only moves forward). Within
    an invoice, parts keep the order of `subscriptions` (a predecessor before its successor).
    """
    groups: dict[tuple[str, datetime, str, str], list[PlannedPart]] = {}
    for planned in subscriptions:
        # A plan change keeps its external id: an opted-out chain stays on one invoice.
        alone = "" if planned.consolidate else planned.external_id or planned.sub_id
        for boundary in planned.boundaries or ():
            key = (planned.customer_id, boundary.at, planned.currency, alone)
            groups.setdefault(key, []).append(PlannedPart(planned.sub_id, boundary))
        if planned.termination_at is not None:
            key = (planned.customer_id, planned.termination_at, planned.currency, alone)
            groups.setdefault(key, []).append(PlannedPart(planned.sub_id, None))
    customers = list(dict.fromkeys(customer for customer, *_ in groups))
    rank = {customer: index for index, customer in enumerate(customers)}
    ordered = sorted(groups.items(), key=lambda item: (rank[item[0][0]], item[0][1]))
    return [
        PlannedInvoice(customer_id=customer, at=at, parts=tuple(parts))
        for (customer, at, _, _), parts in ordered
    ]


def bill_planned_invoice(
    session: Session,
    *,
    planned: PlannedInvoice,
    clock: Clock,
    usage: Mapping[UsageKey, PrefetchedUsage] | None = None,
) -> Invoice | None:
    """Bill what is still due of `planned` on one invoice, in the caller's unit of work.

    Parts billed already (by an earlier run, or a concurrent one that committed) are left
    out; an invoice with nothing left is not issued.
    """
    parts: list[InvoicePart] = []
    for planned_part in planned.parts:
        sub = session.get(Subscription, planned_part.sub_id)
        if sub is None:
            continue
        if planned_part.boundary is None:
            part = _termination_due(session, sub)
            if part is not None:
                parts.append(part)
            continue
        boundary = planned_part.boundary
        if sub.last_billed_boundary is not None and boundary.at <= sub.last_billed_boundary:
            continue  # another worker got here first
        parts.append(boundary_part(session, sub=sub, boundary=boundary, usage=usage))
        sub.last_billed_boundary = boundary.at
    return issue_parts(session, parts=parts, at=planned.at, clock=clock)


def _termination_due(session: Session, sub: Subscription) -> InvoicePart | None:
    if sub.status != "terminated" or sub.on_termination_invoice != "generate":
        return None
    if session.scalar(select(termination_billed(sub.id))):
        return None
    return termination_part(session, sub, upgraded=False)
