"""The ClickHouse events table: one node, or replicated shards behind a Distributed table.

Rows are ordered for usage queries (organization, subscription, code, timestamp, then the
transaction id), partitioned by month. `ReplacingMergeTree` collapses rows with an equal
sorting key when parts merge, and every usage query reads `FINAL`, so a duplicate the
insert check let through (two processes racing on a server) never counts twice.

Values: `properties` keeps each property's *text* (the domain's `property_text`) and
`numbers` its numeric value (the domain's `numeric_value`, exact in `Decimal(76, 30)`),
both computed once at ingestion, so queries neither parse nor match text; the raw JSON
is kept for the events API. Money never becomes a float. A number that `Decimal(76, 30)`
cannot hold exactly (over 30 decimal places or 46 integer digits) is left out of
`numbers`: it does not aggregate, as a non-numeric value.

Cluster (`METERLY_CLICKHOUSE_CLUSTER=name`): each shard holds `events_local`
(`ReplicatedReplacingMergeTree` on `{shard}`/`{replica}` macros) and `events` is a
`Distributed` table over them, sharded by subscription so one subscription's events
(and a usage query's `FINAL`) stay on one shard.
"""

from __future__ import annotations

from meterly.store.event_stores.sql import identifier

# Scale of exact decimals read from property texts and precise amounts.
DECIMAL_SCALE = 30
DECIMAL = f"Decimal(76, {DECIMAL_SCALE})"

_COLUMNS = f"""(
    organization_id String,
    external_subscription_id String,
    code String,
    timestamp DateTime64(6, 'UTC'),
    transaction_id String,
    properties Map(String, String),
    numbers Map(String, {DECIMAL}),
    properties_json String,
    precise_total_amount_cents Nullable({DECIMAL}),
    lago_id String,
    created_at DateTime64(6, 'UTC'),
    INDEX transaction_ids transaction_id TYPE bloom_filter(0.01) GRANULARITY 4
)"""
_LAYOUT = """
PARTITION BY toYYYYMM(timestamp)
ORDER BY (organization_id, external_subscription_id, code, timestamp, transaction_id)"""


def schema_statements(database: str, cluster: str | None = None) -> list[str]:
    """CREATE statements, idempotent, in order (the database first)."""
    db = identifier(database)
    if not cluster:
        return [
            f"CREATE DATABASE IF NOT EXISTS {db}",
            f"CREATE TABLE IF NOT EXISTS {db}.events {_COLUMNS}\n"
            f"ENGINE = ReplacingMergeTree{_LAYOUT}",
        ]
    on = f" ON CLUSTER {identifier(cluster)}"
    zk_path = f"'/clickhouse/tables/{{shard}}/{database}/events_local'"
    return [
        f"CREATE DATABASE IF NOT EXISTS {db}{on}",
        f"CREATE TABLE IF NOT EXISTS {db}.events_local{on} {_COLUMNS}\n"
        f"ENGINE = ReplicatedReplacingMergeTree({zk_path}, '{{replica}}'){_LAYOUT}",
        f"CREATE TABLE IF NOT EXISTS {db}.events{on} AS {db}.events_local\n"
        f"ENGINE = Distributed({identifier(cluster)}, {db}, events_local,"
        " cityHash64(organization_id, external_subscription_id))",
    ]
