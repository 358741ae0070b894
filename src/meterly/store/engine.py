"""Engines for every backend: SQLite (WAL, exact decimal aggregates) and PostgreSQL."""

from __future__ import annotations

import re
import sqlite3
from datetime import datetime
from decimal import Context, Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, event
from sqlalchemy import create_engine as sa_create_engine
from sqlalchemy.engine import ExceptionContext, make_url
from sqlalchemy.pool import NullPool


def json_dumps(value: Any) -> str:
    return orjson.dumps(value, default=_json_default).decode()


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return format(value, "f")
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def json_loads(text: str | bytes) -> Any:
    return orjson.loads(text)


def create_engine(url: str, *, echo: bool = False) -> Engine:
    """An engine with the settings Meterly relies on, whatever the backend."""
    sa_url = make_url(url)
    if sa_url.get_backend_name() == "sqlite":
        return _sqlite_engine(url, echo=echo)
    if sa_url.drivername == "postgresql":
        url = str(sa_url.set(drivername="postgresql+psycopg"))
    engine = sa_create_engine(
        url,
        echo=echo,
        json_serializer=json_dumps,
        json_deserializer=json_loads,
        pool_size=10,
        max_overflow=20,
        # A connection the server dropped (a restart, an outage) is found and replaced at
        # check-out; one that fails mid-use is invalidated by SQLAlchemy's disconnect check.
        pool_pre_ping=True,
        connect_args=POSTGRES_CONNECT_ARGS,
    )
    event.listen(engine, "connect", _plan_each_execution)
    return engine


def _plan_each_execution(dbapi_connection: Any, _record: Any) -> None:
    """Plan every execution for the tables as they are now, never from a cached generic plan.

    A plan cached while a table was empty (a young database, `invoices` at the start of a
    billing run) scans it whole for the rest of the connection's life once it holds
    thousands of rows: psycopg's prepared statements, and PostgreSQL's own foreign-key
    checks (every fee inserted looked its invoice up that way). 10,000 invoices in one
    run: 9.1 ms each with cached plans, 6.6 ms without. A SET rather than a startup option,
    which connection poolers such as PgBouncer refuse.
    """
    autocommit = dbapi_connection.autocommit
    dbapi_connection.autocommit = True
    dbapi_connection.execute("SET plan_cache_mode = force_custom_plan")
    dbapi_connection.autocommit = autocommit


# How every connection is made. Bounded waits when the server does not answer: connecting
# (seconds), and unacknowledged writes or a silent peer (tcp_user_timeout in ms; keepalives
# after 10 s idle, 3 probes 2 s apart). Without them a request, or the event writer, could
# hang on a dead socket.
POSTGRES_CONNECT_ARGS: dict[str, Any] = {
    "connect_timeout": 5,
    "tcp_user_timeout": 10_000,
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 2,
    "keepalives_count": 3,
}


def _sqlite_engine(url: str, *, echo: bool) -> Engine:
    sa_url = make_url(url)
    database = sa_url.database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa_create_engine(
        url,
        echo=echo,
        json_serializer=json_dumps,
        json_deserializer=json_loads,
        connect_args={"timeout": 30, "check_same_thread": False},
        poolclass=NullPool if database in (None, "", ":memory:") else None,
        pool_pre_ping=True,
    )
    event.listen(engine, "connect", _configure_sqlite)
    event.listen(engine, "handle_error", _discard_broken_sqlite_connection)
    # SQLite's own BEGIN is deferred; BEGIN IMMEDIATE takes the write lock up front so two
    # writers queue on busy_timeout instead of failing with "database is locked" mid-way.
    event.listen(engine, "begin", lambda conn: conn.exec_driver_sql("BEGIN IMMEDIATE"))
    return engine


# SQLite errors after which a connection stays unusable even once the cause is gone: a
# connection opened while the file was read-only (or could not be opened, or the disk
# failed) keeps refusing writes. Counted as disconnects, so the pool discards it and the
# connections opened before it, instead of keeping them until a restart (issue 20).
_BROKEN_SQLITE = ("SQLITE_READONLY", "SQLITE_IOERR", "SQLITE_CANTOPEN")


def _discard_broken_sqlite_connection(context: ExceptionContext) -> None:
    name = getattr(context.original_exception, "sqlite_errorname", "") or ""
    if name.startswith(_BROKEN_SQLITE):
        context.is_disconnect = True


def _configure_sqlite(dbapi_conn: sqlite3.Connection, _record: object) -> None:
    # Let SQLAlchemy issue BEGIN itself (pysqlite's implicit transactions are off).
    dbapi_conn.isolation_level = None
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    # FULL, not NORMAL: in WAL mode NORMAL may lose the last commits on a power cut or an
    # OS crash, and an acknowledged event must never be lost. FULL syncs the WAL at each
    # commit; the event writer's group commit shares one sync among many requests.
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA cache_size=-65536")
    cursor.close()
    register_decimal_functions(dbapi_conn)


WIDE = Context(prec=80)


class _DecimalSum:
    """SUM over decimal text, exact (SQLite's own SUM would add binary floats)."""

    def __init__(self) -> None:
        self.total: Decimal | None = None

    def step(self, value: object) -> None:
        number = to_decimal_or_none(value)
        if number is not None:
            # Exact like PostgreSQL's numeric: the default 28-digit context would round.
            # (WIDE.add rather than a localcontext block: called once per row.)
            self.total = number if self.total is None else WIDE.add(self.total, number)

    def finalize(self) -> str | None:
        return None if self.total is None else format(self.total, "f")


class _DecimalMax:
    def __init__(self) -> None:
        self.best: Decimal | None = None

    def step(self, value: object) -> None:
        number = to_decimal_or_none(value)
        if number is not None and (self.best is None or number > self.best):
            self.best = number

    def finalize(self) -> str | None:
        return None if self.best is None else format(self.best, "f")


class _DecimalWeightedSum:
    """Σ value × seconds from the event to the window's end, exact (weighted sums).

    Takes the property value, the event's stored timestamp and the window's end (both
    `YYYY-MM-DD HH:MM:SS.ffffff` text, as AwareDateTime keeps them on SQLite).
    """

    def __init__(self) -> None:
        self.total: Decimal | None = None
        self.end: tuple[str, datetime] | None = None

    def step(self, value: object, moment: str, end: str) -> None:
        number = to_decimal_or_none(value)
        if number is None:
            return
        if self.end is None or self.end[0] != end:
            self.end = (end, datetime.fromisoformat(end))
        delta = self.end[1] - datetime.fromisoformat(moment)
        micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
        weighted = WIDE.multiply(number, Decimal(micros).scaleb(-6))
        self.total = weighted if self.total is None else WIDE.add(self.total, weighted)

    def finalize(self) -> str | None:
        return None if self.total is None else format(self.total, "f")


def to_decimal_or_none(value: object) -> Decimal | None:
    """A property value as a Decimal, or None when it is not a number Lago aggregates.

    SQLite hands us the JSON text of the property (`properties -> '$.field'`): an unquoted
    JSON number is always numeric (exponent forms included, as jsonb renders them plainly
    on PostgreSQL); a quoted string counts only when it matches Lago's `^-?\\d+(\\.\\d+)?$`.
    """
    if value is None or isinstance(value, bytes | bool):
        return None
    if isinstance(value, int | Decimal):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value))
    text = str(value).strip()
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        text = text[1:-1]
        if not PLAIN_NUMBER.fullmatch(text):
            return None
    try:
        number = Decimal(text)
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


# ASCII digits only: `\d` would also accept other scripts' digits, which PostgreSQL refuses.
PLAIN_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")


def register_decimal_functions(dbapi_conn: sqlite3.Connection) -> None:
    dbapi_conn.create_aggregate("decimal_sum", 1, _DecimalSum)  # type: ignore[arg-type]
    dbapi_conn.create_aggregate("decimal_max", 1, _DecimalMax)  # type: ignore[arg-type]
    dbapi_conn.create_aggregate(
        "decimal_weighted_sum",
        3,
        _DecimalWeightedSum,  # type: ignore[arg-type]
    )
    dbapi_conn.create_function("decimal_text", 1, _decimal_text, deterministic=True)


def _decimal_text(value: object) -> str | None:
    number = to_decimal_or_none(value)
    return None if number is None else format(number, "f")
