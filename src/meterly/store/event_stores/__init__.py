"""Where events live: the main database (default) or ClickHouse (`METERLY_EVENTS_URL`).

`ClickHouseEvents` is the second adapter of the event store; `config.for_source` routes the event
writes and every usage read to it when one is configured, else to the SQL statements on
the main database.
"""

from meterly.store.event_stores.clickhouse import ClickHouseEvents
from meterly.store.event_stores.config import configure, configured, for_source
from meterly.store.event_stores.lock import ingestion_lock
from meterly.store.event_stores.schema import schema_statements

__all__ = [
    "ClickHouseEvents",
    "configure",
    "configured",
    "for_source",
    "ingestion_lock",
    "schema_statements",
]
