"""Usage read ahead for a batch of subscriptions of a billing run: their closed boundaries
and one scan of their events for every window they bill.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from meterly.domain.periods import (
    BillingPeriod,
)
from meterly.domain.schedule import (
    BillingBoundary,
    closed_boundaries,
)
from meterly.services.accounts import billing_cache, terms_of
from meterly.services.billing import advance
from meterly.services.billing.fees import (
    PrefetchedUsage,
    UsageKey,
    billed_charges,
    full_charges_period,
)
from meterly.services.credits import available_credits
from meterly.store import billing_usage
from meterly.store.tables import (
    Organization,
    Subscription,
)
from meterly.store.uow import Database
from meterly.store.usage_queries import UsageRequest

# --- usage read ahead, one scan of the events per batch of subscriptions ----------------

# Subscriptions read (and aggregated) together ahead of their units of work. Each batch
# scans the events of its subscriptions once; when their events are interleaved (as they
# are, stored in arrival order) that touches most of the table's pages whatever the batch
# size, so fewer, larger batches read less. What a batch holds is small per subscription
# (its plan's aggregates), so memory grows with the batch, not with the events.
BATCH_SIZE = 1_000

# (subscription id, charges window start, end)


@dataclass(frozen=True)
class PlannedSubscription:
    """What a run bills of one subscription: closed boundaries, and its termination if due.

    `termination_at`: a terminated subscription whose termination is not billed yet, the
    instant its final invoice is issued at (`termination_instant`); None otherwise.
    `customer_id`, `currency`, `consolidate` and `external_id` say which invoice it joins.
    """

    sub_id: str
    boundaries: tuple[BillingBoundary, ...] | None  # None: read them in the unit of work
    advance: bool
    customer_id: str = ""
    currency: str = ""
    consolidate: bool = True
    external_id: str = ""
    termination_at: datetime | None = None


def plan_subscription(
    session: Session, sub: Subscription, *, as_of: datetime, successor_start: datetime | None
) -> PlannedSubscription:
    """The closed boundaries of `sub` (and its termination when it has ended)."""
    terms = terms_of(session, sub)
    boundaries = tuple(closed_boundaries(terms, after=sub.last_billed_boundary, as_of=as_of))
    terminated = sub.status == "terminated" and sub.terminated_at is not None
    # Waiting for its first payment (an activation rule): its start alone, on an invoice
    # of its own, since a failed payment voids it whole.
    incomplete = sub.status == "incomplete"
    if incomplete:
        boundaries = tuple(b for b in boundaries if b.at <= terms.started_at)
    return PlannedSubscription(
        sub.id,
        boundaries,
        not terminated and not incomplete and bool(advance.advance_charges(sub)),
        customer_id=sub.customer_id,
        currency=sub.plan.amount_currency,
        consolidate=sub.consolidate_invoice and not incomplete,
        external_id=sub.external_id,
        termination_at=termination_instant(sub, successor_start) if terminated else None,
    )


def termination_instant(sub: Subscription, successor_start: datetime | None) -> datetime:
    """When the final invoice of a terminated subscription is issued.

    At its termination; on a plan change at its successor's start (a downgrade ends the old
    subscription 1 µs before the new one starts), so both go on one invoice.
    """
    assert sub.terminated_at is not None
    return successor_start if successor_start is not None else sub.terminated_at


def successor_starts(session: Session, sub_ids: Sequence[str]) -> dict[str, datetime]:
    """Predecessor id -> start of the subscription that replaced it (a plan change)."""
    if not sub_ids:
        return {}
    rows = session.execute(
        select(Subscription.previous_subscription_id, Subscription.started_at).where(
            Subscription.previous_subscription_id.in_(sub_ids),
            Subscription.status.in_(("active", "terminated")),
            Subscription.started_at.is_not(None),
        )
    )
    return {str(previous): started for previous, started in rows if started is not None}


@dataclass
class Batch:
    subscriptions: list[PlannedSubscription] = field(default_factory=list)
    usage: dict[UsageKey, PrefetchedUsage] = field(default_factory=dict)
    cache: billing_cache.BatchCache = field(default_factory=billing_cache.BatchCache)


def read_batch(database: Database, ids: Sequence[str], *, as_of: datetime) -> Batch:
    """Boundaries of a batch of subscriptions, and the usage of their closed windows.

    Subscriptions sharing their requests (plan, window, chain start) are aggregated together,
    one scan of their events (`billing_usage.aggregate_batch`). Anything not read here is
    read in the unit of work.
    """

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
        customer_ids = {s.customer_id for s in subs.values()}
        available_credits.probe_batch(session, batch.cache, customer_ids)
        ended = [s.id for s in subs.values() if s.status == "terminated"]
        successors = successor_starts(session, ended)
        for sub_id in ids:
            sub = subs.get(sub_id)
            try:
                assert sub is not None
                planned = plan_subscription(
                    session, sub, as_of=as_of, successor_start=successors.get(sub_id)
                )
            except Exception:  # the unit of work reads it again and reports what fails
                batch.subscriptions.append(PlannedSubscription(sub_id, None, True))
                continue
            batch.subscriptions.append(planned)
            for boundary in planned.boundaries or ():
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
    full = full_charges_period(sub, window)
    billed = billed_charges(session, sub, window, full.days)
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
