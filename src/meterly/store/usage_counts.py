"""How many events the usage requests of one subscription can see: a cheap fingerprint.

Events are appended, never updated or deleted (see `tables.events`), so the number of
events of a subscription, codes and time range identifies that set of events exactly: a
count equal to an earlier one means no event was added since. The count reads only the
columns of `ix_events_usage` (organization, external subscription, code, timestamp), so
both backends answer it from the index alone (PostgreSQL: an index-only scan, which
skips the table as far as the visibility map allows; SQLite: a covering index).

The range per code is the union of what `usage_queries` reads for the requests of that
code: from the window start (unbounded for a metric carrying earlier events over) to the
window end, both included.

Corrections (void, amend) are the one change to stored events: each adds a row to
`event_corrections`, counted per code and added to the scope's count, so a corrected
subscription's cache entries miss in every process.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from meterly.store.event_stores import usage as clickhouse_usage
from meterly.store.event_stores.clickhouse import ClickHouseEvents
from meterly.store.event_stores.config import for_source
from meterly.store.tables import EventCorrection, events
from meterly.store.usage_queries import UsageRequest


@dataclass(frozen=True, slots=True)
class CountScope:
    """Events of one code with `lower <= timestamp <= upper` (lower None: unbounded)."""

    code: str
    lower: datetime | None
    upper: datetime


def scopes_of(requests: Sequence[UsageRequest]) -> tuple[CountScope, ...]:
    """Per code, the smallest range holding every event the requests of that code read.

    One scope per code keeps each count an equality on `code` followed by a timestamp
    range: an index range scan the planner picks even when the subscription holds most
    of the table (with `code IN (...)` PostgreSQL may prefer a sequential scan).
    """
    ranges: dict[str, tuple[datetime | None, datetime]] = {}
    for req in requests:
        lower = None if req.includes_prior else req.window_from  # recurring: no lower bound
        upper = req.window_to
        seen = ranges.get(req.metric.code)
        if seen is not None:
            lower = None if lower is None or seen[0] is None else min(lower, seen[0])
            upper = max(upper, seen[1])
        ranges[req.metric.code] = (lower, upper)
    return tuple(
        CountScope(code=code, lower=lower, upper=upper)
        for code, (lower, upper) in sorted(ranges.items())
    )


def _count(i: int, bounded_below: bool) -> sa.ScalarSelect[int]:
    t = events
    conditions = [
        t.c.organization_id == sa.bindparam("organization_id", type_=t.c.organization_id.type),
        t.c.external_subscription_id
        == sa.bindparam("external_subscription_id", type_=t.c.external_subscription_id.type),
        t.c.code == sa.bindparam(f"code{i}", type_=t.c.code.type),
        t.c.timestamp <= sa.bindparam(f"upper{i}", type_=t.c.timestamp.type),
    ]
    if bounded_below:
        conditions.append(t.c.timestamp >= sa.bindparam(f"lower{i}", type_=t.c.timestamp.type))
    return sa.select(sa.func.count()).select_from(t).where(*conditions).scalar_subquery()


def _corrections(i: int) -> sa.ScalarSelect[int]:
    """Corrections of the scope's code (void, amend): they change events without changing
    their number, and are only ever appended, so adding them keeps the sum a fingerprint."""
    c = EventCorrection.__table__.c
    return (
        sa.select(sa.func.count())
        .select_from(EventCorrection.__table__)
        .where(
            c.organization_id == sa.bindparam("organization_id", type_=c.organization_id.type),
            c.external_subscription_id
            == sa.bindparam("external_subscription_id", type_=c.external_subscription_id.type),
            c.code == sa.bindparam(f"code{i}", type_=c.code.type),
        )
        .scalar_subquery()
    )


@functools.lru_cache(maxsize=256)
def _statement(bounded_below: tuple[bool, ...]) -> sa.Select[*tuple[int, ...]]:
    """One row, the count of each scope (a scalar subquery each). Built once per shape, so
    SQLAlchemy's compiled cache answers every later request."""
    return sa.select(
        *[
            (_count(i, lower) + _corrections(i)).label(f"c{i}")
            for i, lower in enumerate(bounded_below)
        ]
    )


def count_statement(
    *, organization_id: str, external_subscription_id: str, scopes: Sequence[CountScope]
) -> sa.Select[*tuple[int, ...]]:
    """The counting statement with its parameters bound (for EXPLAIN and tests)."""
    return _statement(tuple(s.lower is not None for s in scopes)).params(
        _parameters(organization_id, external_subscription_id, scopes)
    )


def _parameters(
    organization_id: str, external_subscription_id: str, scopes: Sequence[CountScope]
) -> dict[str, Any]:
    values: dict[str, Any] = {
        "organization_id": organization_id,
        "external_subscription_id": external_subscription_id,
    }
    for i, scope in enumerate(scopes):
        values[f"code{i}"] = scope.code
        values[f"upper{i}"] = scope.upper
        if scope.lower is not None:
            values[f"lower{i}"] = scope.lower
    return values


def count_events(
    conn: Connection | ClickHouseEvents,
    *,
    organization_id: str,
    external_subscription_id: str,
    scopes: Sequence[CountScope],
) -> tuple[int, ...]:
    """The number of events in each scope, in one statement."""
    if not scopes:
        return ()
    store = for_source(conn)
    if store is not None:
        return clickhouse_usage.count_scopes(
            store,
            organization_id=organization_id,
            external_subscription_id=external_subscription_id,
            scopes=[(s.code, s.lower, s.upper) for s in scopes],
        )
    assert isinstance(conn, Connection)
    statement = _statement(tuple(s.lower is not None for s in scopes))
    row = conn.execute(
        statement, _parameters(organization_id, external_subscription_id, scopes)
    ).one()
    return tuple(int(v) for v in row)
