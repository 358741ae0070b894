"""One ingestion into ClickHouse at a time across the processes of a deployment.

ClickHouse has no unique constraint: the store checks which transaction ids it holds,
then inserts the new rows. Two API processes doing that at once for the same new event
could both find it absent and both insert it, and the hourly rollup (a materialized view
over inserts) would count it twice. A lock on the main database, which every process
shares, makes check-then-insert one step for the whole deployment: a PostgreSQL advisory
lock (nothing else waits on it), or on SQLite the database's write lock that every
transaction takes (`BEGIN IMMEDIATE`, see `store.engine`), held for one insert.
`meterly db upgrade` holds it too while it fills a new rollup.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, text

# "meterly-events" as a 64-bit key for pg_advisory_xact_lock.
INGESTION_LOCK_KEY = 0x6D65746572_6C79


@contextmanager
def ingestion_lock(conn: Connection) -> Iterator[None]:
    """Holds the deployment's ingestion lock until the block ends, in a transaction of
    its own on `conn`."""
    with conn.begin():
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": INGESTION_LOCK_KEY})
        yield
