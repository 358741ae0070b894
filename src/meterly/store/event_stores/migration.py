"""Moving the main database's events into the ClickHouse store, resumably, verified.

The unit of work is one subscription. Its events count and the sum of their precise
amounts are compared between the two stores: equal, it was moved already and is skipped
(so a migration stopped half-way resumes where it was); absent from ClickHouse, its events
are streamed across in chunks without a duplicate check; partly there (a run stopped in
the middle of it), each chunk inserts only the keys ClickHouse lacks. `verify` then
compares every subscription's count and sum once more.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from meterly.store.event_stores.clickhouse import ClickHouseEvents
from meterly.store.tables import events

Totals = dict[tuple[str, str], tuple[int, Decimal]]
_CHUNK = 10_000


@dataclass(frozen=True, slots=True)
class Mismatch:
    organization_id: str
    external_subscription_id: str
    source: tuple[int, Decimal]
    target: tuple[int, Decimal]


def source_totals(conn: Connection) -> Totals:
    """(organization, subscription) -> (events, sum of precise amounts) in the main database."""
    amount = events.c.precise_total_amount_cents
    total = (
        sa.func.sum(amount) if conn.dialect.name == "postgresql" else sa.func.decimal_sum(amount)
    )
    statement = sa.select(
        events.c.organization_id, events.c.external_subscription_id, sa.func.count(), total
    ).group_by(events.c.organization_id, events.c.external_subscription_id)
    return {
        (str(r[0]), str(r[1])): (int(r[2]), Decimal(str(r[3])) if r[3] is not None else Decimal(0))
        for r in conn.execute(statement)
    }


def _rows(conn: Connection, organization_id: str, sid: str) -> Iterator[list[dict[str, Any]]]:
    statement = (
        sa.select(events)
        .where(
            events.c.organization_id == organization_id,
            events.c.external_subscription_id == sid,
        )
        .order_by(events.c.timestamp, events.c.transaction_id)
    )
    result = conn.execute(
        statement, execution_options={"stream_results": True, "yield_per": _CHUNK}
    )
    for chunk in result.mappings().partitions(_CHUNK):
        yield [dict(row) for row in chunk]


def migrate(
    conn: Connection,
    store: ClickHouseEvents,
    *,
    on_progress: Callable[[int, int], None] | None = None,
) -> tuple[int, int]:
    """Copy what ClickHouse lacks; returns (subscriptions copied, events copied).

    `on_progress(done, total)` counts events of the main database handled so far.
    """
    source = source_totals(conn)
    target = store.totals_by_subscription()
    total = sum(count for count, _ in source.values())
    done = copied_subscriptions = copied_events = 0
    for (org, sid), counts in sorted(source.items()):
        already = target.get((org, sid))
        if already != counts:
            copied_subscriptions += 1
            for chunk in _rows(conn, org, sid):
                done += len(chunk)
                if already is not None:  # partly moved: only the keys ClickHouse lacks
                    have = store.existing_keys(
                        org, [(r["transaction_id"], r["external_subscription_id"]) for r in chunk]
                    )
                    chunk = [
                        r
                        for r in chunk
                        if (r["transaction_id"], r["external_subscription_id"]) not in have
                    ]
                store.insert_rows(chunk)
                copied_events += len(chunk)
                if on_progress is not None:
                    on_progress(done, total)
        else:
            done += counts[0]
        if on_progress is not None:
            on_progress(done, total)
    return copied_subscriptions, copied_events


def verify(conn: Connection, store: ClickHouseEvents) -> list[Mismatch]:
    """Subscriptions whose event count or precise-amount sum differ between the stores.

    Run it before events are sent to ClickHouse only (or with ingestion stopped): an
    event ingested into ClickHouse after the switch is, rightly, in one store only.
    """
    source = source_totals(conn)
    target = store.totals_by_subscription()
    return [
        Mismatch(org, sid, counts, target.get((org, sid), (0, Decimal(0))))
        for (org, sid), counts in sorted(source.items())
        if target.get((org, sid), (0, Decimal(0))) != counts
    ]
