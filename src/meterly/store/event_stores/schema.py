"""The ClickHouse events table: one node, or replicated shards behind a Distributed table.

Rows are ordered for usage queries (organization, subscription, code, timestamp, then the
transaction id), partitioned by month. `ReplacingMergeTree` collapses rows with an equal
sorting key when parts merge, and every read of `events` is `FINAL`, so a row stored
twice counts once there; the rollup, fed by inserts, relies on none being stored twice
(below).

Values: `properties` keeps each property's *text* (the domain's `property_text`) and
`numbers` its numeric value (the domain's `numeric_value`, exact in `Decimal(76, 30)`),
both computed once at ingestion, so queries neither parse nor match text; the raw JSON
is kept for the events API. Money never becomes a float. A number that `Decimal(76, 30)`
cannot hold exactly (over 30 decimal places or 46 integer digits) is left out of
`numbers`: it does not aggregate, as a non-numeric value.

The hourly rollup: a materialized view adds every inserted block to `events_hourly`,
per (organization, subscription, code, hour): the events, each numeric property's sum,
count, largest value and sum of precise amounts, and all the events' precise amounts. A
usage query reads the whole hours of its window there (a month is 744 rows, whatever the
number of events) and only its two ragged edges from `events` (see `rollup`). The
rollup is exact because no duplicate reaches `events`: ingestion checks and inserts under
one lock (a PostgreSQL advisory lock across processes, see `services.metering`).

The keys: a second view keeps (organization, transaction id, subscription) in
`events_keys`, sorted by transaction id, where the writer checks for duplicates.

Cluster (`METERLY_CLICKHOUSE_CLUSTER=name`): each shard holds `events_local`
(`ReplicatedReplacingMergeTree` on `{shard}`/`{replica}` macros) and `events` is a
`Distributed` table over them, sharded by subscription so one subscription's events
(and a usage query's `FINAL`) stay on one shard; `events_hourly_local`,
`events_keys_local` and their views live beside `events_local` on each shard, behind
`Distributed` tables `events_hourly` and `events_keys`.
"""

from __future__ import annotations

from dataclasses import dataclass

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


_ROLLUP_COLUMNS = f"""(
    organization_id String,
    external_subscription_id String,
    code String,
    hour DateTime('UTC'),
    events SimpleAggregateFunction(sum, UInt64),
    precise SimpleAggregateFunction(sum, {DECIMAL}),
    sums SimpleAggregateFunction(sumMap, Map(String, {DECIMAL})),
    counts SimpleAggregateFunction(sumMap, Map(String, UInt64)),
    precise_sums SimpleAggregateFunction(sumMap, Map(String, {DECIMAL})),
    maxes SimpleAggregateFunction(maxMap, Map(String, {DECIMAL}))
)"""
_ROLLUP_LAYOUT = """
PARTITION BY toYYYYMM(hour)
ORDER BY (organization_id, external_subscription_id, code, hour)"""
# The view's SELECT, also the backfill of events stored before the view existed.
_NO_PRECISE = f"CAST(0, '{DECIMAL}')"
ROLLUP_SELECT = f"""SELECT organization_id, external_subscription_id, code,
    toStartOfHour(timestamp) AS hour, count() AS events,
    sum(ifNull(precise_total_amount_cents, {_NO_PRECISE})) AS precise,
    sumMap(numbers) AS sums,
    sumMap(mapApply((k, v) -> (k, toUInt64(1)), numbers)) AS counts,
    sumMap(mapApply((k, v) -> (k, ifNull(precise_total_amount_cents, {_NO_PRECISE})), numbers))
        AS precise_sums,
    maxMap(numbers) AS maxes"""
ROLLUP_GROUP = " GROUP BY organization_id, external_subscription_id, code, hour"


_KEY_COLUMNS = "(organization_id String, transaction_id String, external_subscription_id String)"


@dataclass(frozen=True)
class Derived:
    """A table a materialized view keeps from every insert into `events`."""

    name: str
    columns: str
    engine: str  # a MergeTree family engine; `Replicated` is prefixed on a cluster
    layout: str
    select: str  # the view's SELECT without its FROM, also the backfill's
    group: str


# Which subscriptions hold a transaction id, sorted by it: the writer's duplicate check is a
# primary-key lookup, whatever the number of events (a bloom-filter index over `events`
# is read whole for every check: 0.4 s per 2,000 ids at 10M events).
KEYS = Derived(
    "events_keys",
    _KEY_COLUMNS,
    "ReplacingMergeTree",
    "\nORDER BY (organization_id, transaction_id, external_subscription_id)",
    "SELECT organization_id, transaction_id, external_subscription_id",
    "",
)
ROLLUP = Derived(
    "events_hourly",
    _ROLLUP_COLUMNS,
    "AggregatingMergeTree",
    _ROLLUP_LAYOUT,
    ROLLUP_SELECT,
    ROLLUP_GROUP,
)
DERIVED = (KEYS, ROLLUP)


def derived_statements(
    database: str, derived: Derived, cluster: str | None = None
) -> tuple[list[str], str]:
    """(the derived table's tables, its view), idempotent. A view created anew over stored
    events needs the tables filled first (`ClickHouseEvents.create_schema`)."""
    db = identifier(database)
    name = derived.name
    if not cluster:
        return (
            [
                f"CREATE TABLE IF NOT EXISTS {db}.{name} {derived.columns}\n"
                f"ENGINE = {derived.engine}{derived.layout}"
            ],
            f"CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.{name}_view"
            f" TO {db}.{name} AS\n{derived.select}\nFROM {db}.events{derived.group}",
        )
    on = f" ON CLUSTER {identifier(cluster)}"
    zk_path = f"'/clickhouse/tables/{{shard}}/{database}/{name}_local'"
    return (
        [
            f"CREATE TABLE IF NOT EXISTS {db}.{name}_local{on} {derived.columns}\n"
            f"ENGINE = Replicated{derived.engine}({zk_path}, '{{replica}}'){derived.layout}",
            f"CREATE TABLE IF NOT EXISTS {db}.{name}{on} AS {db}.{name}_local\n"
            f"ENGINE = Distributed({identifier(cluster)}, {db}, {name}_local,"
            " cityHash64(organization_id, external_subscription_id))",
        ],
        f"CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.{name}_view{on}"
        f" TO {db}.{name}_local AS\n{derived.select}\nFROM {db}.events_local{derived.group}",
    )


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
