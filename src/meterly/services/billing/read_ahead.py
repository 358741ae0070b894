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
    sub_id: str
    boundaries: tuple[BillingBoundary, ...] | None  # None: read them in the unit of work
    advance: bool


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
