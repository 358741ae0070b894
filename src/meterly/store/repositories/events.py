"""Every SQL statement on the events table (usage aggregations live in store/usage_queries/)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson
from psycopg.errors import UniqueViolation
from psycopg.types.json import set_json_dumps
from sqlalchemy import Connection, func, select, tuple_
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import RowMapping

from meterly.store.engine import json_dumps
from meterly.store.event_stores.config import for_source
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
    store = for_source(conn)  # METERLY_EVENTS_URL: events live in ClickHouse
    if store is not None:
        return store.insert_new(rows)
    result = conn.execute(_insert_statement(conn.dialect.name), list(rows))
    return {(r[0], r[1]) for r in result}


_COLUMNS = (
    "organization_id",
    "transaction_id",
    "external_subscription_id",
    "code",
    "timestamp",
    "properties",
    "precise_total_amount_cents",
    "lago_id",
    "created_at",
)
_COLUMN_LIST = ", ".join(_COLUMNS)
_CONFLICT = "ON CONFLICT (organization_id, transaction_id, external_subscription_id) DO NOTHING"
_SQLITE_INSERT = (
    f"INSERT INTO events ({_COLUMN_LIST}) VALUES ({', '.join('?' * len(_COLUMNS))}) {_CONFLICT}"
)
# Binary COPY: the server skips parsing text timestamps, the driver formats rows in C.
_PG_COPY = f"COPY events ({_COLUMN_LIST}) FROM STDIN (FORMAT BINARY)"
_PG_COPY_TYPES = (
    "varchar",
    "varchar",
    "varchar",
    "varchar",
    "timestamptz",
    "jsonb",
    "numeric",
    "varchar",
    "timestamptz",
)
# Below this many rows, one INSERT ... SELECT FROM jsonb_to_recordset(<one parameter>)
# beats COPY's extra round trips; above it, COPY's cheaper parsing wins.
_PG_SMALL_GROUP = 200
_PG_INSERT_JSON = (
    f"INSERT INTO events ({_COLUMN_LIST}) SELECT {_COLUMN_LIST} FROM jsonb_to_recordset(%s::jsonb)"
    " AS r(organization_id text, transaction_id text, external_subscription_id text, code text,"
    ' "timestamp" timestamptz, properties jsonb, precise_total_amount_cents numeric,'
    f" lago_id text, created_at timestamptz) {_CONFLICT}"
)


def append_ignoring_duplicates(conn: Connection, rows: Sequence[dict[str, Any]]) -> int:
    """Insert-or-ignore at driver speed; returns how many rows were new.

    The group-commit writer's fast path: when the count equals the rows given, every row
    was new and nobody needs to know which. Otherwise the caller must roll the
    transaction back (on PostgreSQL a large group is copied without ON CONFLICT, and an
    old row aborts it) and take the slow path (`insert_new`, which names the old keys).
    Rows go straight to the driver in the column formats SQLAlchemy's types would have
    produced (UTC instants, JSON text), so what is stored is the same either way.
    """
    if not rows:
        return 0
    store = for_source(conn)
    if store is not None:
        return len(store.insert_new(rows))
    driver = conn.connection.driver_connection
    if conn.dialect.name == "postgresql":
        return _append_postgres(conn, driver, rows)
    created_at = _sqlite_time(rows[0]["created_at"])
    values = [
        (
            r["organization_id"],
            r["transaction_id"],
            r["external_subscription_id"],
            r["code"],
            _sqlite_time(r["timestamp"]),
            json_dumps(r["properties"]),
            _decimal_text(r["precise_total_amount_cents"]),
            r["lago_id"],
            created_at
            if r["created_at"] is rows[0]["created_at"]
            else _sqlite_time(r["created_at"]),
        )
        for r in rows
    ]
    cursor = driver.cursor()  # type: ignore[union-attr]
    try:
        cursor.executemany(_SQLITE_INSERT, values)
        stored: int = cursor.rowcount
    finally:
        cursor.close()
    return stored


def _append_postgres(conn: Connection, driver: Any, rows: Sequence[dict[str, Any]]) -> int:
    if len(rows) <= _PG_SMALL_GROUP:
        return _append_postgres_json(driver, rows)
    # COPY straight into the table, the fastest way in. It has no ON CONFLICT: a row
    # stored before aborts the copy, and the caller, told that not all rows were new,
    # rolls back and sorts it out (duplicates are rare: a client's retry).
    try:
        with driver.cursor() as cursor:
            set_json_dumps(json_dumps, context=cursor)  # orjson, exact decimals as text
            with cursor.copy(_PG_COPY) as copy:
                copy.set_types(_PG_COPY_TYPES)
                for r in rows:
                    copy.write_row(
                        (
                            r["organization_id"],
                            r["transaction_id"],
                            r["external_subscription_id"],
                            r["code"],
                            r["timestamp"],
                            r["properties"],
                            r["precise_total_amount_cents"],
                            r["lago_id"],
                            r["created_at"],
                        )
                    )
    except UniqueViolation:
        return 0
    return len(rows)


def _append_postgres_json(driver: Any, rows: Sequence[dict[str, Any]]) -> int:
    """A small group as one statement with one JSON parameter: one round trip."""
    payload = orjson.dumps(
        [
            {
                "organization_id": r["organization_id"],
                "transaction_id": r["transaction_id"],
                "external_subscription_id": r["external_subscription_id"],
                "code": r["code"],
                "timestamp": r["timestamp"],
                "properties": r["properties"],
                "precise_total_amount_cents": r["precise_total_amount_cents"],
                "lago_id": r["lago_id"],
                "created_at": r["created_at"],
            }
            for r in rows
        ],
        default=_decimal_text,
    )
    with driver.cursor() as cursor:
        cursor.execute(_PG_INSERT_JSON, (payload.decode(),))
        stored: int = cursor.rowcount
    return stored


def _sqlite_time(moment: datetime) -> str:
    """SQLAlchemy's SQLite text for an instant: `YYYY-MM-DD HH:MM:SS.ffffff`, UTC."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _decimal_text(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


def existing_keys(
    conn: Connection, organization_id: str, keys: Sequence[tuple[str, str]]
) -> set[tuple[str, str]]:
    if not keys:
        return set()
    store = for_source(conn)
    if store is not None:
        return store.existing_keys(organization_id, keys)
    query = select(events.c.transaction_id, events.c.external_subscription_id).where(
        events.c.organization_id == organization_id,
        tuple_(events.c.transaction_id, events.c.external_subscription_id).in_(list(keys)),
    )
    return {(r[0], r[1]) for r in conn.execute(query)}


def find_by_transaction_id(
    conn: Connection, organization_id: str, transaction_id: str
) -> RowMapping | dict[str, Any] | None:
    store = for_source(conn)
    if store is not None:
        return store.find_by_transaction_id(organization_id, transaction_id)
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
) -> tuple[list[RowMapping], int] | tuple[list[dict[str, Any]], int]:
    store = for_source(conn)
    if store is not None:
        return store.list_page(
            organization_id=organization_id,
            page=page,
            per_page=per_page,
            code=code,
            external_subscription_id=external_subscription_id,
            timestamp_from=timestamp_from,
            timestamp_to=timestamp_to,
        )
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
    store = for_source(conn)
    if store is not None:
        return store.events_in_window(  # type: ignore[return-value]
            organization_id=organization_id,
            external_subscription_id=external_subscription_id,
            codes=codes,
            window_from=window_from,
            window_to=window_to,
        )
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
            events.c.voided_at.is_(None),
        )
        .order_by(events.c.timestamp, events.c.transaction_id)
    )
    return list(conn.execute(query).mappings())
