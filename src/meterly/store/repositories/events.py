"""Every SQL statement on the events table (usage aggregations live in store/usage_queries.py)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, select, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import RowMapping

from meterly.store.tables import events

_IDEMPOTENCY_KEY = ["organization_id", "transaction_id", "external_subscription_id"]
_INSERTS: dict[str, Any] = {}


def _insert_statement(dialect: str) -> Any:
    """Insert-or-ignore with RETURNING, built once per dialect: executed with a list of
    rows it is compiled once and cached, and SQLAlchemy sends it as multi-row inserts."""
    if dialect not in _INSERTS:
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        _INSERTS[dialect] = (
            insert(events)
            .on_conflict_do_nothing(index_elements=_IDEMPOTENCY_KEY)
            .returning(events.c.transaction_id, events.c.external_subscription_id)
        )
    return _INSERTS[dialect]


def insert_new(conn: Connection, rows: Sequence[dict[str, Any]]) -> set[tuple[str, str]]:
    """Insert-or-ignore; returns the (transaction_id, subscription) keys actually stored.

    Idempotency rests on the unique index, so two concurrent requests with the same
    transaction id cannot both store it: the loser's row is ignored and it learns so here.
    """
    if not rows:
        return set()
    result = conn.execute(_insert_statement(conn.dialect.name), list(rows))
    return {(r[0], r[1]) for r in result}


def existing_keys(
    conn: Connection, organization_id: str, keys: Sequence[tuple[str, str]]
) -> set[tuple[str, str]]:
    if not keys:
        return set()
    query = select(events.c.transaction_id, events.c.external_subscription_id).where(
        events.c.organization_id == organization_id,
        tuple_(events.c.transaction_id, events.c.external_subscription_id).in_(list(keys)),
    )
    return {(r[0], r[1]) for r in conn.execute(query)}


def find_by_transaction_id(
    conn: Connection, organization_id: str, transaction_id: str
) -> RowMapping | None:
    query = (
        select(events)
        .where(
            events.c.organization_id == organization_id, events.c.transaction_id == transaction_id
        )
        .limit(1)
    )
    return conn.execute(query).mappings().first()


def list_page(
    conn: Connection,
    *,
    organization_id: str,
    page: int,
    per_page: int,
    code: str | None = None,
    external_subscription_id: str | None = None,
    timestamp_from: datetime | None = None,
    timestamp_to: datetime | None = None,
) -> tuple[list[RowMapping], int]:
    where = [events.c.organization_id == organization_id]
    if code:
        where.append(events.c.code == code)
    if external_subscription_id:
        where.append(events.c.external_subscription_id == external_subscription_id)
    if timestamp_from:
        where.append(events.c.timestamp >= timestamp_from)
    if timestamp_to:
        where.append(events.c.timestamp <= timestamp_to)
    total = conn.execute(select(func.count()).select_from(events).where(*where)).scalar_one()
    rows = conn.execute(
        select(events)
        .where(*where)
        .order_by(events.c.timestamp.desc(), events.c.transaction_id)
        .offset((page - 1) * per_page)
        .limit(per_page)
    )
    return list(rows.mappings()), total


def events_in_window(
    conn: Connection,
    *,
    organization_id: str,
    external_subscription_id: str,
    codes: Sequence[str],
    window_from: datetime,
    window_to: datetime,
) -> list[RowMapping]:
    """The events of some metric codes of one subscription in a window, in time order."""
    query = (
        select(
            events.c.transaction_id,
            events.c.code,
            events.c.timestamp,
            events.c.properties,
            events.c.precise_total_amount_cents,
        )
        .where(
            events.c.organization_id == organization_id,
            events.c.external_subscription_id == external_subscription_id,
            events.c.code.in_(list(codes)),
            events.c.timestamp >= window_from,
            events.c.timestamp <= window_to,
        )
        .order_by(events.c.timestamp, events.c.transaction_id)
    )
    return list(conn.execute(query).mappings())
