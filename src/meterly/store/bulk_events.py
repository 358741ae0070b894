"""Bulk appends of events known to be new (demo data): one prepared statement, many rows.

Unlike `repositories.events.insert_new`, nothing is ignored or returned: a duplicate
transaction id fails the statement. Use it only for generated data with fresh ids.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection

from meterly.store.event_stores.config import for_source
from meterly.store.tables import events


def append(conn: Connection, rows: Sequence[dict[str, Any]]) -> int:
    if not rows:
        return 0
    store = for_source(conn)
    if store is not None:
        store.insert_rows(rows)
        return len(rows)
    conn.execute(events.insert(), list(rows))
    return len(rows)
