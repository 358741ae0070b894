"""The fate classifier over events kept in ClickHouse: stage one subscription, classify, next.

`fate_column` is one SQL expression over an `events`-shaped table and the catalog
(subscriptions, charges, invoice periods, fees) of the main database. ClickHouse holds the
events but not the catalog, so the classifier cannot run there; rewriting it for
ClickHouse would give two classifiers that could disagree. Instead the events are read
from ClickHouse a subscription at a time (pages of `STREAM_PAGE`, keyset-paged), copied
into a temporary table of the main database's connection, classified there by the very
same expression, grouped, and deleted before the next subscription. Memory holds one page
of events and one subscription's grouped counts; the temporary table holds one
subscription's events; nothing is written to a real table.

What is staged per subscription: its events in the report's range, widened to the invoice
periods that overlap the range: an event received after its period's invoice was
finalized is billed or not by its rank among the period's events (see `fate_column`), so
the whole period must be there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from psycopg.types.json import set_json_dumps
from sqlalchemy import Connection

from meterly.store.engine import json_dumps
from meterly.store.event_stores import reconciliation as clickhouse_reads
from meterly.store.event_stores.clickhouse import ClickHouseEvents
from meterly.store.tables import InvoiceSubscription, Subscription, events

T = TypeVar("T")
STAGING_TABLE = "reconciliation_staged_events"


def _staging_table() -> sa.Table:
    """A temporary table with the columns of `events` (no constraints: rows come checked)."""
    return sa.Table(
        STAGING_TABLE,
        sa.MetaData(),
        *(sa.Column(c.name, c.type) for c in events.c),
        # The classifier's rank probe reads one subscription's code and window.
        sa.Index(
            f"ix_{STAGING_TABLE}",
            "organization_id",
            "external_subscription_id",
            "code",
            "timestamp",
        ),
        prefixes=["TEMPORARY"],
    )


# One Table object for the process: its compiled statements are cached across reports.
STAGED = _staging_table()
# The staging table's PostgreSQL types, for a binary COPY (the columns of `events`).
_PG_TYPES = {
    "timestamp": "timestamptz",
    "created_at": "timestamptz",
    "voided_at": "timestamptz",
    "amended_at": "timestamptz",
    "properties": "jsonb",
    "precise_total_amount_cents": "numeric",
}


def stage(conn: Connection, table: sa.Table, rows: Sequence[dict[str, Any]]) -> None:
    """Copy event rows into the staging table: a binary COPY on PostgreSQL (an INSERT
    executed per row costs about 40 us an event there, most of a report's time), one
    executemany on SQLite."""
    if not rows:
        return
    if conn.dialect.name != "postgresql":
        conn.execute(table.insert(), list(rows))
        return
    names = [c.name for c in table.c]
    driver: Any = conn.connection.driver_connection
    with driver.cursor() as cursor:
        set_json_dumps(json_dumps, context=cursor)  # orjson, exact decimals as text
        with cursor.copy(
            f"COPY {table.name} ({', '.join(names)}) FROM STDIN (FORMAT BINARY)"
        ) as copy:
            copy.set_types([_PG_TYPES.get(name, "varchar") for name in names])
            for row in rows:
                copy.write_row([row.get(name) for name in names])


def period_bounds(
    conn: Connection,
    organization_id: str,
    external_subscription_id: str,
    timestamp_from: datetime | None,
    timestamp_to: datetime | None,
) -> tuple[datetime | None, datetime | None]:
    """The staging range: [from, to] widened to the invoice periods overlapping it."""
    if timestamp_from is None and timestamp_to is None:
        return None, None
    isub, s = InvoiceSubscription.__table__, Subscription.__table__
    periods = (
        sa.select(isub.c.charges_from_datetime, isub.c.charges_to_datetime)
        .join(s, s.c.id == isub.c.subscription_id)
        .where(
            s.c.organization_id == organization_id,
            s.c.external_id == external_subscription_id,
            isub.c.charges_from_datetime.is_not(None),
            isub.c.charges_to_datetime.is_not(None),
        )
    )
    if timestamp_from is not None:
        periods = periods.where(isub.c.charges_to_datetime >= timestamp_from)
    if timestamp_to is not None:
        periods = periods.where(isub.c.charges_from_datetime < timestamp_to)
    sub = periods.subquery()
    # ORDER BY ... LIMIT 1 rather than min()/max(): the column keeps its type on SQLite.
    earliest = conn.execute(
        sa.select(sub.c.charges_from_datetime).order_by(sub.c.charges_from_datetime).limit(1)
    ).scalar()
    latest = conn.execute(
        sa.select(sub.c.charges_to_datetime).order_by(sub.c.charges_to_datetime.desc()).limit(1)
    ).scalar()
    lower = timestamp_from
    if lower is not None and earliest is not None:
        lower = min(lower, earliest)
    upper = timestamp_to
    if upper is not None and latest is not None:
        upper = max(upper, latest)
    return lower, upper


def staged_fate_counts(
    conn: Connection,
    store: ClickHouseEvents,
    *,
    classify: Callable[..., Iterator[T]],
    organization_id: str | None = None,
    timestamp_from: datetime | None = None,
    timestamp_to: datetime | None = None,
    external_subscription_ids: Sequence[str] | None = None,
) -> Iterator[T]:
    """`classify(conn, table, organization_id=, timestamp_from=, timestamp_to=)` over each
    subscription's staged events, in (organization, subscription) order."""
    subscriptions = clickhouse_reads.subscriptions_with_events(
        store,
        organization_id=organization_id,
        timestamp_from=timestamp_from,
        timestamp_to=timestamp_to,
        external_subscription_ids=external_subscription_ids,
    )
    if not subscriptions:
        return
    table = STAGED
    table.drop(conn, checkfirst=True)  # one left on a pooled connection by a failed run
    table.create(conn)
    try:
        for org, sid in subscriptions:
            lower, upper = period_bounds(conn, org, sid, timestamp_from, timestamp_to)
            for page in clickhouse_reads.subscription_events(
                store,
                organization_id=org,
                external_subscription_id=sid,
                timestamp_from=lower,
                timestamp_to=upper,
            ):
                stage(conn, table, page)
            # Read whole before the rows are deleted: one subscription's groups.
            counted = list(
                classify(
                    conn,
                    table,
                    organization_id=org,
                    timestamp_from=timestamp_from,
                    timestamp_to=timestamp_to,
                )
            )
            conn.execute(table.delete())
            yield from counted
    finally:
        table.drop(conn, checkfirst=True)
