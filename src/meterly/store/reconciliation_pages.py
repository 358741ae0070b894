"""Listed events with their fates: the events API, the dashboard's explorer and overview,
and the hourly `events.errors`, on either event store.

On the main database each read is one statement over `events` and `fate_column`. With
the events in ClickHouse (`METERLY_EVENTS_URL`) the same classifier runs over the listed
events staged next to the catalog, as the reconciliation report does
(`reconciliation_staged`), so the explorer, the API and the report cannot disagree:

- a page of events (the API, the explorer unfiltered, an hour's receptions) is read from
  ClickHouse, staged, and classified. An event received after its period's invoice was
  finalized is billed or not by its rank among the period's events in reception order,
  so for those few the subscription's events of the period are staged too;
- the explorer filtered by fate, and the overview's counts, must classify every event
  that could match: subscription by subscription, as the reconciliation report does,
  keeping only the matching keys (a count, or the keys of the page asked for).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import sqlalchemy as sa
from sqlalchemy import ColumnElement, Connection

from meterly.store.event_stores import reconciliation as clickhouse_reads
from meterly.store.event_stores.clickhouse import ClickHouseEvents
from meterly.store.event_stores.config import for_source
from meterly.store.reconciliation import (
    ALREADY_INVOICED,
    BILLED,
    PENDING,
    REASONS,
    fate_column,
    fate_counts,
    received_after_invoicing,
)
from meterly.store.reconciliation_staged import (
    STAGED,
    period_bounds,
    stage,
    staged_fate_counts,
)
from meterly.store.tables import events
from meterly.store.types import AwareDateTime

Key = tuple[str, str]
# The fates told apart by an event's rank among its period's events (`fate_column`).
_RANKED = frozenset({BILLED, PENDING, ALREADY_INVOICED})
# Rows classified by one statement (the IN list of their ids).
_CLASSIFIED_AT_ONCE = 500
_MICROSECOND = timedelta(microseconds=1)


def fates_of(conn: Connection, organization_id: str, keys: Sequence[Key]) -> dict[Key, str]:
    """The fate of some events, by (transaction id, external subscription id)."""
    if not keys:
        return {}
    store = for_source(conn)
    if store is not None:
        rows = clickhouse_reads.events_of_keys(store, organization_id, keys)
        return {(tx, sid): fate for (_, tx, sid), fate in _staged_fates(conn, store, rows).items()}
    e = events.c
    query = sa.select(
        e.transaction_id, e.external_subscription_id, fate_column(conn.dialect.name).label("fate")
    ).where(
        e.organization_id == organization_id,
        sa.tuple_(e.transaction_id, e.external_subscription_id).in_(list(keys)),
    )
    return {(r.transaction_id, r.external_subscription_id): r.fate for r in conn.execute(query)}


def _filters(
    organization_id: str,
    *,
    source: sa.Table = events,
    code: str | None = None,
    external_subscription_ids: Sequence[str] | None = None,
    timestamp_from: datetime | None = None,
    timestamp_to: datetime | None = None,
    transaction_id: str | None = None,
) -> list[ColumnElement[bool]]:
    e = source.c
    where: list[ColumnElement[bool]] = [e.organization_id == organization_id]
    if code:
        where.append(e.code == code)
    if external_subscription_ids is not None:
        where.append(e.external_subscription_id.in_(list(external_subscription_ids)))
    if timestamp_from is not None:
        where.append(e.timestamp >= timestamp_from)
    if timestamp_to is not None:
        where.append(e.timestamp <= timestamp_to)
    if transaction_id:
        where.append(e.transaction_id == transaction_id)
    return where


def events_page(
    conn: Connection,
    organization_id: str,
    *,
    page: int,
    per_page: int,
    only_unbilled: bool = False,
    reason: str | None = None,
    **filters: Any,
) -> tuple[list[dict[str, Any]], int]:
    """A page of events, newest first, each with its `fate`; optionally only those that
    will never be billed (any reason, or one)."""
    wanted: tuple[str, ...] | None = (reason,) if reason else REASONS if only_unbilled else None
    store = for_source(conn)
    if store is not None:
        if wanted is None:
            return _clickhouse_page(conn, store, organization_id, page, per_page, filters)
        return _clickhouse_flagged_page(
            conn, store, organization_id, page, per_page, wanted, filters
        )
    fate = fate_column(conn.dialect.name).label("fate")
    inner = sa.select(events, fate).where(*_filters(organization_id, **filters)).subquery()
    where: list[ColumnElement[bool]] = []
    if wanted is not None:
        where.append(inner.c.fate.in_(wanted))
    total = conn.execute(sa.select(sa.func.count()).select_from(inner).where(*where)).scalar_one()
    rows = conn.execute(
        sa.select(inner)
        .where(*where)
        .order_by(inner.c.timestamp.desc(), inner.c.transaction_id)
        .offset((page - 1) * per_page)
        .limit(per_page)
    )
    return [dict(r) for r in rows.mappings()], int(total)


def reason_counts(conn: Connection, organization_id: str) -> dict[str, int]:
    """How many of the organization's events will never be billed, per reason."""
    if for_source(conn) is not None:
        found: dict[str, int] = {}
        for count in fate_counts(conn, organization_id=organization_id):
            if count.fate in REASONS:
                found[count.fate] = found.get(count.fate, 0) + count.events
        return found
    fate = fate_column(conn.dialect.name).label("fate")
    inner = sa.select(fate).where(events.c.organization_id == organization_id).subquery()
    query = (
        sa.select(inner.c.fate, sa.func.count())
        .where(inner.c.fate.in_(REASONS))
        .group_by(inner.c.fate)
    )
    return {str(r[0]): int(r[1]) for r in conn.execute(query)}


def flagged_received(
    conn: Connection, *, received_from: datetime, received_to: datetime, reasons: Sequence[str]
) -> Iterator[tuple[str, str, str]]:
    """(organization, reason, transaction id) of the events received in [from, to) whose
    fate is one of `reasons`, streamed in organization order (events.errors)."""
    store = for_source(conn)
    if store is not None:
        ranked = not _RANKED.isdisjoint(reasons)
        for chunk in clickhouse_reads.received_events(
            store, received_from=received_from, received_to=received_to
        ):
            fates = _staged_fates(conn, store, chunk, exact_rank=ranked)
            for r in chunk:  # in (organization, transaction id) order
                fate = fates[_key(r)]
                if fate in reasons:
                    yield r["organization_id"], fate, r["transaction_id"]
        return
    e = events.c
    inner = (
        sa.select(e.organization_id, e.transaction_id, fate_column(conn.dialect.name).label("fate"))
        .where(e.created_at >= received_from, e.created_at < received_to)
        .subquery()
    )
    query = (
        sa.select(inner.c.organization_id, inner.c.fate, inner.c.transaction_id)
        .where(inner.c.fate.in_(list(reasons)))
        .order_by(inner.c.organization_id, inner.c.transaction_id)
    )
    for found in conn.execute(query.execution_options(stream_results=True, yield_per=1000)):
        yield str(found[0]), str(found[1]), str(found[2])


# --- ClickHouse: stage, classify, drop ------------------------------------------------------


def _key(row: dict[str, Any]) -> tuple[str, str, str]:
    return (row["organization_id"], row["transaction_id"], row["external_subscription_id"])


def _staged_fates(
    conn: Connection,
    store: ClickHouseEvents,
    rows: Sequence[dict[str, Any]],
    *,
    exact_rank: bool = True,
) -> dict[tuple[str, str, str], str]:
    """The fates of these events read from ClickHouse, by (organization, transaction id,
    subscription). `exact_rank`: also stage the periods of the events received after their
    period was invoiced (needless when only fates decided before the rank are wanted)."""
    if not rows:
        return {}
    table = STAGED
    table.drop(conn, checkfirst=True)  # one left on a pooled connection by a failed request
    table.create(conn)
    try:
        stage(conn, table, rows)
        if exact_rank:
            _stage_late_periods(conn, store, table, {_key(r) for r in rows})
        fate = fate_column(conn.dialect.name, table).label("fate")
        e = table.c
        ids = [r["lago_id"] for r in rows]
        found: dict[tuple[str, str, str], str] = {}
        for start in range(0, len(ids), _CLASSIFIED_AT_ONCE):
            query = sa.select(
                e.organization_id, e.transaction_id, e.external_subscription_id, fate
            ).where(e.lago_id.in_(ids[start : start + _CLASSIFIED_AT_ONCE]))
            for r in conn.execute(query):
                found[(str(r[0]), r[1], r[2])] = r.fate
        return found
    finally:
        table.drop(conn, checkfirst=True)


def _stage_late_periods(
    conn: Connection,
    store: ClickHouseEvents,
    table: sa.Table,
    staged: set[tuple[str, str, str]],
) -> None:
    """Stage the invoiced periods of the staged events received after their invoice: the
    rank `fate_column` gives such an event counts the period's events received before it."""
    e = table.c
    late = conn.execute(
        sa.select(
            e.organization_id,
            e.external_subscription_id,
            # Coerced: on SQLite min() and max() would lose the column's type.
            sa.type_coerce(sa.func.min(e.timestamp), AwareDateTime()),
            sa.type_coerce(sa.func.max(e.timestamp), AwareDateTime()),
        )
        .where(received_after_invoicing(table))
        .group_by(e.organization_id, e.external_subscription_id)
    ).all()
    for org, sid, earliest, latest in late:
        lower, upper = period_bounds(conn, str(org), sid, earliest, latest + _MICROSECOND)
        for page in clickhouse_reads.subscription_events(
            store,
            organization_id=str(org),
            external_subscription_id=sid,
            timestamp_from=lower,
            timestamp_to=upper,
        ):
            more = [r for r in page if _key(r) not in staged]
            staged.update(_key(r) for r in more)
            if more:
                stage(conn, table, more)


def _clickhouse_page(
    conn: Connection,
    store: ClickHouseEvents,
    organization_id: str,
    page: int,
    per_page: int,
    filters: dict[str, Any],
) -> tuple[list[dict[str, Any]], int]:
    rows, total = store.list_page(
        organization_id=organization_id, page=page, per_page=per_page, **filters
    )
    listed = [{**r, "voided_at": None, "amended_at": None} for r in rows]
    fates = _staged_fates(conn, store, listed)
    return [{**r, "fate": fates[_key(r)]} for r in listed], total


def _clickhouse_flagged_page(
    conn: Connection,
    store: ClickHouseEvents,
    organization_id: str,
    page: int,
    per_page: int,
    wanted: tuple[str, ...],
    filters: dict[str, Any],
) -> tuple[list[dict[str, Any]], int]:
    """Only events of some fates: every subscription that could hold one is staged and
    classified in turn; the matching keys are kept, sorted, and the page's events read."""
    timestamp_to = filters.get("timestamp_to")
    matching = list(
        staged_fate_counts(
            conn,
            store,
            classify=partial(_matching, wanted=wanted, filters=filters),
            organization_id=organization_id,
            timestamp_from=filters.get("timestamp_from"),
            # The report's ranges end before `to`; the explorer's include it.
            timestamp_to=timestamp_to + _MICROSECOND if timestamp_to else None,
            external_subscription_ids=filters.get("external_subscription_ids"),
        )
    )
    # Newest first, then by transaction id, as on the main database (sorts are stable).
    matching.sort(key=lambda m: m[1])
    matching.sort(key=lambda m: m[0], reverse=True)
    chosen = matching[(page - 1) * per_page : page * per_page]
    fates = {(tx, sid): fate for _, tx, sid, fate in chosen}
    rows = {
        (r["transaction_id"], r["external_subscription_id"]): r
        for r in clickhouse_reads.events_of_keys(store, organization_id, list(fates))
    }
    listed = [{**rows[(tx, sid)], "fate": fate} for _, tx, sid, fate in chosen if (tx, sid) in rows]
    return listed, len(matching)


def _matching(
    conn: Connection,
    table: sa.Table,
    *,
    organization_id: str,
    wanted: tuple[str, ...],
    filters: dict[str, Any],
    **_range: Any,
) -> Iterator[tuple[datetime, str, str, str]]:
    """(timestamp, transaction id, subscription, fate) of the staged events matching the
    explorer's filters whose fate is wanted (the staging range is wider than the filters)."""
    fate = fate_column(conn.dialect.name, table).label("fate")
    e = table.c
    inner = (
        sa.select(e.timestamp, e.transaction_id, e.external_subscription_id, fate)
        .where(*_filters(organization_id, source=table, **filters))
        .subquery()
    )
    for r in conn.execute(sa.select(inner).where(inner.c.fate.in_(wanted))):
        yield r[0], r[1], r[2], r[3]
