"""Which event store this process uses: `METERLY_EVENTS_URL`, read once.

Unset (the default): events stay in the main database and every statement of
`store/usage_queries`, `billing_usage`, `daily_usage`, `usage_counts` and
`repositories/events` runs there. Set: those entry points hand their work to the
ClickHouse store instead (`for_source`), so no service knows where events live.
`METERLY_CLICKHOUSE_CLUSTER` names the cluster whose replicated tables `meterly db
upgrade` creates.
"""

from __future__ import annotations

import os
import threading

from meterly.store.event_stores.clickhouse import ClickHouseEvents

_lock = threading.Lock()
_state: dict[str, ClickHouseEvents | None] = {}


def configure(url: str | None, *, cluster: str | None = None) -> ClickHouseEvents | None:
    """Use the event store at `url` in this process (None: the main database)."""
    with _lock:
        store = ClickHouseEvents(url, cluster=cluster) if url else None
        _state["store"] = store
        return store


def configured() -> ClickHouseEvents | None:
    """The process's ClickHouse store, opened from the environment on first use."""
    if "store" not in _state:
        with _lock:
            if "store" not in _state:
                url = os.environ.get("METERLY_EVENTS_URL", "").strip()
                cluster = os.environ.get("METERLY_CLICKHOUSE_CLUSTER", "").strip() or None
                _state["store"] = ClickHouseEvents(url, cluster=cluster) if url else None
    return _state["store"]


def for_source(source: object) -> ClickHouseEvents | None:
    """The ClickHouse store to answer a read or write given `source` (a ClickHouse store
    itself, or a main-database connection while one is configured), else None."""
    if isinstance(source, ClickHouseEvents):
        return source
    return configured()
