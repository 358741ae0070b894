"""One ingestion into ClickHouse at a time across the processes of a deployment.

ClickHouse has no unique constraint: the store checks which transaction ids it holds,
then inserts the new rows. Two API processes doing that at once for the same new event
could both find it absent and both insert it, and the hourly rollup (a materialized view
over inserts) would count it twice. A PostgreSQL advisory lock, held by a transaction on
the main database that every process shares, makes check-then-insert one step for the
whole deployment; `meterly db upgrade` holds it while it fills a new rollup. One process
(chdb, or a SQLite main database, which serves one machine) needs only the store's own
thread lock.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, text

# "meterly-events" as a 64-bit key for pg_advisory_xact_lock.
INGESTION_LOCK_KEY = 0x6D65746572_6C79


@contextmanager
def ingestion_lock(conn: Connection) -> Iterator[None]:
    """Holds the deployment's ingestion lock until the block ends (PostgreSQL), in a
    transaction of its own on `conn`."""
    if conn.dialect.name != "postgresql":
        yield
        return
    with conn.begin():
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": INGESTION_LOCK_KEY})
        yield
