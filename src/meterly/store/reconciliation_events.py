"""The exact events one fee counted: the usage statements' own conditions, as a paged list."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from meterly.store.event_stores import reconciliation as clickhouse_reads
from meterly.store.event_stores.config import for_source
from meterly.store.tables import events
from meterly.store.usage_queries import UsageRequest, request_conditions
from meterly.store.usage_queries.properties import _Properties


def _conditions(
    conn: Connection,
    organization_id: str,
    external_subscription_id: str,
    request: UsageRequest,
    *,
    include_voided: bool = False,
) -> list[sa.ColumnElement[bool]]:
    props = _Properties(events, conn.dialect.name)
    # A recurring metric carries every earlier event over: no lower bound, as in billing.
    lower = None if request.includes_prior else request.window_from
    return [
        events.c.organization_id == organization_id,
        events.c.external_subscription_id == external_subscription_id,
        *request_conditions(
            props, request, lower, request.window_to, include_voided=include_voided
        ),
    ]


def received_cutoff(
    conn: Connection,
    *,
    organization_id: str,
    external_subscription_id: str,
    request: UsageRequest,
    finalized_at: datetime,
    events_count: int | None,
) -> datetime:
    """The last reception instant a finalized fee counted.

    Normally its invoice's finalization. But `meterly bill --as-of` in the past (catching
    up, the demo) finalizes at that past instant events received since: when the fee
    counted more events than had arrived by then, its cutoff is the reception of the
    `events_count`-th event (in reception order), the last one it can have counted.
    """
    if not events_count:
        return finalized_at
    store = for_source(conn)  # METERLY_EVENTS_URL: the events live in ClickHouse
    if store is not None:
        nth = clickhouse_reads.nth_received(
            store,
            organization_id=organization_id,
            external_subscription_id=external_subscription_id,
            request=request,
            nth=events_count,
        )
        return max(finalized_at, nth) if nth is not None else finalized_at
    # Voided events included: the fee counted them when it was issued.
    where = _conditions(
        conn, organization_id, external_subscription_id, request, include_voided=True
    )
    nth = conn.execute(
        sa.select(events.c.created_at)
        .where(*where)
        .order_by(events.c.created_at, events.c.lago_id)
        .offset(events_count - 1)
        .limit(1)
    ).scalar()
    return max(finalized_at, nth) if nth is not None else finalized_at


def counted_events(
    conn: Connection,
    *,
    organization_id: str,
    external_subscription_id: str,
    request: UsageRequest,
    received_by: datetime | None,
    page: int,
    per_page: int,
    include_voided: bool = False,
) -> tuple[list[dict[str, Any]], int]:
    """The events a fee's usage request reads, oldest first, as the aggregation orders them.

    The conditions are those of the aggregation itself (`request_conditions`), so the list
    and the fee's count cannot drift apart. `received_by`: for a finalized invoice, only the
    events stored by the time it was finalized (later ones were never counted).
    `include_voided`: also the events voided since (what a finalized fee counted).
    """
    store = for_source(conn)
    if store is not None:  # ClickHouse voids nothing: `include_voided` changes nothing there
        return clickhouse_reads.counted_events(
            store,
            organization_id=organization_id,
            external_subscription_id=external_subscription_id,
            request=request,
            received_by=received_by,
            page=page,
            per_page=per_page,
        )
    where = _conditions(
        conn, organization_id, external_subscription_id, request, include_voided=include_voided
    )
    if received_by is not None:
        where.append(events.c.created_at <= received_by)
    total = conn.execute(sa.select(sa.func.count()).select_from(events).where(*where)).scalar_one()
    rows = conn.execute(
        sa.select(events)
        .where(*where)
        .order_by(events.c.timestamp, events.c.created_at, events.c.lago_id)
        .offset((page - 1) * per_page)
        .limit(per_page)
    )
    return [dict(r) for r in rows.mappings()], int(total)


def event_of(
    conn: Connection, organization_id: str, external_subscription_id: str, transaction_id: str
) -> dict[str, Any] | None:
    """One stored event by its idempotency key (organization, transaction, subscription)."""
    store = for_source(conn)
    if store is not None:
        return clickhouse_reads.event_of(
            store, organization_id, external_subscription_id, transaction_id
        )
    row = (
        conn.execute(
            sa.select(events).where(
                events.c.organization_id == organization_id,
                events.c.transaction_id == transaction_id,
                events.c.external_subscription_id == external_subscription_id,
            )
        )
        .mappings()
        .first()
    )
    return dict(row) if row is not None else None
