"""The ClickHouse event store's contract, on chdb (the engine in process).

What every event store promises: an acknowledged event is counted once (a duplicate is
refused with the keys that were new, an all-or-nothing batch holding one stores nothing,
and a row stored twice behind the check is listed once), decimals stay
exact, the events API reads back what was sent, the cluster DDL has the replicated and
distributed shape, and `events migrate` moves a main database's events resumably and
verifies them. The aggregations themselves are held to the domain's reference by the
property tests (test_usage_queries_property, parametrized over chdb too).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from meterly.domain.usage import AggregationType, BillableMetric
from meterly.services.metering.event_writer import EventWriter, WriteResult, _Submission
from meterly.store import event_stores
from meterly.store.engine import create_engine
from meterly.store.event_stores import ClickHouseEvents, schema_statements
from meterly.store.event_stores import reconciliation as reconciliation_reads
from meterly.store.event_stores.migration import migrate, source_totals, verify
from meterly.store.event_stores.schema import KEYS, ROLLUP, derived_statements
from meterly.store.repositories import events as event_repository
from meterly.store.schema import upgrade
from meterly.store.tables import events
from meterly.store.uow import Database
from meterly.store.usage_queries import UsageRequest, aggregate_subscription_usage

pytestmark = pytest.mark.chdb

ORG = "org-ch"
MARCH = datetime(2024, 3, 1, tzinfo=UTC)
END = datetime(2024, 3, 31, 23, 59, 59, 999999, tzinfo=UTC)


def row(tx: str, sub: str = "sub-1", **extra: Any) -> dict[str, Any]:
    return {
        "organization_id": ORG,
        "transaction_id": tx,
        "external_subscription_id": sub,
        "code": "storage",
        "timestamp": MARCH + timedelta(days=2),
        "properties": {"gb": "1.5"},
        "precise_total_amount_cents": None,
        "lago_id": str(uuid.uuid4()),
        "created_at": MARCH + timedelta(days=20),
        **extra,
    }


def usage(store: ClickHouseEvents, kind: AggregationType, sub: str = "sub-1") -> Any:
    metric = BillableMetric(code="storage", aggregation_type=kind, field_name="gb")
    request = UsageRequest(metric=metric, window_from=MARCH, window_to=END)
    (result,) = aggregate_subscription_usage(
        store, organization_id=ORG, external_subscription_id=sub, requests=[request]
    )
    return result


# --- exactly once ------------------------------------------------------------------------


def test_a_duplicate_is_refused_and_an_all_or_nothing_batch_holding_one_stores_nothing(
    chdb_events: ClickHouseEvents,
) -> None:
    assert chdb_events.insert_new([row("a"), row("b")]) == {("a", "sub-1"), ("b", "sub-1")}
    # "c" is new but "a" is not: the batch is refused whole, "c" is not stored.
    assert chdb_events.insert_new([row("a"), row("c")]) == {("c", "sub-1")}
    assert chdb_events.existing_keys(ORG, [("c", "sub-1")]) == set()
    # The same transaction id on another subscription is another event (Lago's key).
    assert chdb_events.insert_new([row("a", sub="sub-2")]) == {("a", "sub-2")}
    # Not all or nothing: the new rows are stored, the old ones ignored.
    assert chdb_events.insert_new([row("a"), row("c")], all_or_nothing=False) == {("c", "sub-1")}
    # a, b, c on sub-1: 3 events of 1.5 GB.
    assert usage(chdb_events, AggregationType.COUNT).events_count == 3
    assert usage(chdb_events, AggregationType.SUM).units == Decimal("4.5")


def test_one_group_of_requests_is_checked_and_stored_together(
    chdb_events: ClickHouseEvents,
) -> None:
    chdb_events.insert_new([row("old")])
    answers = chdb_events.append_groups(
        [
            ([row("n1"), row("n2")], True),
            ([row("n3"), row("old")], True),  # refused whole
            ([row("n1"), row("n4")], False),  # n1 taken by the first request of the group
        ]
    )
    assert answers == [{("n1", "sub-1"), ("n2", "sub-1")}, {("n3", "sub-1")}, {("n4", "sub-1")}]
    stored = chdb_events.existing_keys(ORG, [(t, "sub-1") for t in ["old", "n1", "n2", "n3", "n4"]])
    assert {t for t, _ in stored} == {"old", "n1", "n2", "n4"}


def test_a_row_stored_twice_behind_the_check_is_listed_once(
    chdb_events: ClickHouseEvents,
) -> None:
    """`insert_rows` skips the check (a migration checks itself): should a row still land
    twice, `FINAL` keeps one for the events API. Usage relies on the check instead (the
    hourly rollup counts inserts): see test_clickhouse_rollup for racing processes."""
    first = row("twice", properties={"gb": "2"})
    chdb_events.insert_rows([first])
    chdb_events.insert_rows([{**first, "lago_id": str(uuid.uuid4())}])
    _, total = chdb_events.list_page(organization_id=ORG, page=1, per_page=10)
    assert total == 1
    assert chdb_events.find_by_transaction_id(ORG, "twice") is not None


def test_streamed_events_are_read_once_each_across_pages(
    chdb_events: ClickHouseEvents,
) -> None:
    """The staging streams page with a keyset, 2 rows a page here: 5 events of sub-1 (two
    codes, three instants) and 1 of sub-2, one of sub-1's stored twice behind the check."""
    day = MARCH + timedelta(days=2)
    rows = [
        row("a", code="calls", timestamp=day),
        row("b", code="calls", timestamp=day),  # same instant as a: the tie is broken by tx
        row("c", code="calls", timestamp=day + timedelta(hours=1)),
        row("d", code="storage", timestamp=day),
        row("e", code="storage", timestamp=day + timedelta(hours=2)),
        row("f", sub="sub-2", created_at=MARCH + timedelta(days=21)),
    ]
    chdb_events.insert_rows(rows)
    chdb_events.insert_rows([{**rows[1], "lago_id": str(uuid.uuid4())}])
    pages = list(
        reconciliation_reads.subscription_events(
            chdb_events, organization_id=ORG, external_subscription_id="sub-1", page_size=2
        )
    )
    # 5 events of sub-1 in (code, timestamp, transaction id) order: pages of 2, 2 and 1.
    assert [[e["transaction_id"] for e in page] for page in pages] == [
        ["a", "b"],
        ["c", "d"],
        ["e"],
    ]
    # Received on March 21 (every row but f, received on the 22nd): a to e once each, in
    # (organization, transaction id, subscription) order, b's second copy left out.
    received = list(
        reconciliation_reads.received_events(
            chdb_events,
            received_from=MARCH + timedelta(days=20),
            received_to=MARCH + timedelta(days=21),
            page_size=2,
        )
    )
    assert [[e["transaction_id"] for e in page] for page in received] == [
        ["a", "b"],
        ["c", "d"],
        ["e"],
    ]


def test_the_event_writer_acknowledges_after_the_insert(chdb_events: ClickHouseEvents) -> None:
    event_stores.configure(chdb_events.url)
    try:
        group = [
            _Submission(rows=[row("w1"), row("w2")], all_or_nothing=True),
            _Submission(rows=[row("w1", sub="sub-x"), row("w1")], all_or_nothing=True),
        ]
        # The writer needs no main database when events live in ClickHouse.
        EventWriter(Database(create_engine("sqlite://")))._commit(group)
        first, second = (s.done.result() for s in group)
    finally:
        event_stores.configure(None)
    assert first == WriteResult({("w1", "sub-1"), ("w2", "sub-1")}, committed=True)
    # Its w1 on sub-1 was stored by the first request: refused whole, sub-x not stored.
    assert second == WriteResult({("w1", "sub-x")}, committed=False)
    assert chdb_events.existing_keys(ORG, [("w1", "sub-x")]) == set()


# --- exact values, and the events API ------------------------------------------------------


def test_decimals_stay_exact(chdb_events: ClickHouseEvents) -> None:
    values = ["0.1", "0.2", "100000000000000000000.000001", "-0.3"]
    chdb_events.insert_rows(
        [row(f"d{i}", properties={"gb": v}) for i, v in enumerate(values)]
        + [row("float", properties={"gb": 0.1})]  # a JSON float reads as Decimal("0.1")
    )
    # 0.1 + 0.2 + 100000000000000000000.000001 - 0.3 + 0.1 = 100000000000000000000.100001
    assert usage(chdb_events, AggregationType.SUM).units == Decimal("100000000000000000000.100001")
    assert usage(chdb_events, AggregationType.MAX).units == Decimal("100000000000000000000.000001")


def test_the_events_api_reads_back_what_was_sent(chdb_events: ClickHouseEvents) -> None:
    sent = row(
        "api-1",
        properties={"gb": 3, "region": "eu", "note": None, "nested": {"a": [1, 2]}},
        precise_total_amount_cents=Decimal("12.345"),
        timestamp=datetime(2024, 3, 5, 6, 7, 8, 123456, tzinfo=UTC),
    )
    chdb_events.insert_new([sent, row("api-2")])
    found = chdb_events.find_by_transaction_id(ORG, "api-1")
    assert found is not None
    assert found["properties"] == sent["properties"]
    assert found["precise_total_amount_cents"] == Decimal("12.345")
    assert found["timestamp"] == sent["timestamp"]
    assert found["lago_id"] == sent["lago_id"]
    page, total = chdb_events.list_page(organization_id=ORG, page=1, per_page=1)
    # Newest timestamp first: api-1 (March 5) before api-2 (March 3).
    assert total == 2 and [e["transaction_id"] for e in page] == ["api-1"]
    assert chdb_events.find_by_transaction_id(ORG, "missing") is None


def test_a_quote_in_a_value_cannot_end_the_literal(chdb_events: ClickHouseEvents) -> None:
    tricky = "x' OR '1'='1\\"
    chdb_events.insert_new([row(tricky, properties={"gb": "1", tricky: tricky})])
    assert chdb_events.existing_keys(ORG, [(tricky, "sub-1")]) == {(tricky, "sub-1")}
    assert chdb_events.existing_keys(ORG, [("x", "sub-1")]) == set()


# --- cluster DDL ---------------------------------------------------------------------------


def test_the_cluster_schema_is_replicated_shards_behind_a_distributed_table() -> None:
    database, local, distributed = schema_statements("meterly", "prod")
    assert database == "CREATE DATABASE IF NOT EXISTS meterly ON CLUSTER prod"
    assert local.startswith("CREATE TABLE IF NOT EXISTS meterly.events_local ON CLUSTER prod (")
    assert (
        "ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/{shard}/meterly/events_local',"
        " '{replica}')" in local
    )
    assert "PARTITION BY toYYYYMM(timestamp)" in local
    assert (
        "ORDER BY (organization_id, external_subscription_id, code, timestamp, transaction_id)"
        in local
    )
    assert "precise_total_amount_cents Nullable(Decimal(76, 30))" in local
    assert "Float" not in local
    assert distributed == (
        "CREATE TABLE IF NOT EXISTS meterly.events ON CLUSTER prod AS meterly.events_local\n"
        "ENGINE = Distributed(prod, meterly, events_local,"
        " cityHash64(organization_id, external_subscription_id))"
    )
    single = schema_statements("meterly")
    assert len(single) == 2 and "ENGINE = ReplacingMergeTree\n" in single[1]
    with pytest.raises(ValueError):
        schema_statements("meterly; DROP TABLE x")


def test_the_keys_are_sorted_by_transaction_id_beside_each_shards_events() -> None:
    (local, distributed), view = derived_statements("meterly", KEYS, "prod")
    assert (
        "ENGINE = ReplicatedReplacingMergeTree("
        "'/clickhouse/tables/{shard}/meterly/events_keys_local', '{replica}')" in local
    )
    assert local.endswith("ORDER BY (organization_id, transaction_id, external_subscription_id)")
    assert "ENGINE = Distributed(prod, meterly, events_keys_local," in distributed
    assert view == (
        "CREATE MATERIALIZED VIEW IF NOT EXISTS meterly.events_keys_view ON CLUSTER prod"
        " TO meterly.events_keys_local AS\n"
        "SELECT organization_id, transaction_id, external_subscription_id\n"
        "FROM meterly.events_local"
    )


def test_the_duplicate_check_reads_the_keys_filled_before_the_view(
    chdb_events: ClickHouseEvents,
) -> None:
    """A store from before the keys table: `create_schema` fills it from `events`, so an
    event stored then is still refused as a duplicate."""
    chdb_events.insert_new([row("before")])
    database = chdb_events.database
    chdb_events.transport.command(f"DROP VIEW {database}.events_keys_view")
    chdb_events.transport.command(f"DROP TABLE {database}.events_keys")
    chdb_events.create_schema()
    assert chdb_events.insert_new([row("before")]) == set()
    assert chdb_events.insert_new([row("after")]) == {("after", "sub-1")}
    assert chdb_events.existing_keys(ORG, [("after", "sub-1"), ("x", "sub-1")]) == {
        ("after", "sub-1")
    }


def test_the_cluster_rollup_lives_beside_each_shards_events() -> None:
    """Each shard's view rolls up its own `events_local` into its own `events_hourly_local`,
    sharded like the events, so one subscription's hours are on the shard of its events."""
    (local, distributed), view = derived_statements("meterly", ROLLUP, "prod")
    assert local.startswith(
        "CREATE TABLE IF NOT EXISTS meterly.events_hourly_local ON CLUSTER prod ("
    )
    assert (
        "ENGINE = ReplicatedAggregatingMergeTree("
        "'/clickhouse/tables/{shard}/meterly/events_hourly_local', '{replica}')" in local
    )
    assert "ORDER BY (organization_id, external_subscription_id, code, hour)" in local
    assert distributed.endswith(
        "ENGINE = Distributed(prod, meterly, events_hourly_local,"
        " cityHash64(organization_id, external_subscription_id))"
    )
    assert view.startswith(
        "CREATE MATERIALIZED VIEW IF NOT EXISTS meterly.events_hourly_view ON CLUSTER prod"
        " TO meterly.events_hourly_local AS"
    )
    assert "FROM meterly.events_local GROUP BY" in view
    (single,), single_view = derived_statements("meterly", ROLLUP)
    assert "ENGINE = AggregatingMergeTree\n" in single
    assert (
        "TO meterly.events_hourly AS" in single_view and "FROM meterly.events GROUP" in single_view
    )


# --- migrating a main database's events ----------------------------------------------------


@pytest.fixture
def main_events(tmp_path: Path) -> Iterator[Database]:
    database = Database(create_engine(f"sqlite:///{tmp_path / 'main.db'}"))
    upgrade(database.engine)
    rows = [
        row(f"m{i}", sub=f"sub-{i % 3}", precise_total_amount_cents=Decimal(i)) for i in range(30)
    ]
    with database.engine.begin() as conn:
        conn.execute(events.insert(), rows)
    yield database
    database.engine.dispose()


def test_migrate_copies_what_is_missing_and_verifies(
    chdb_events: ClickHouseEvents, main_events: Database
) -> None:
    with main_events.engine.connect() as conn:
        # A run stopped half-way: sub-0 fully there, sub-1 in part, sub-2 not at all.
        first = list(conn.execute(select(events).order_by(events.c.transaction_id)).mappings())
        sub0 = [dict(r) for r in first if r["external_subscription_id"] == "sub-0"]
        sub1 = [dict(r) for r in first if r["external_subscription_id"] == "sub-1"]
        chdb_events.insert_rows(sub0 + sub1[:4])
        assert len(verify(conn, chdb_events)) == 2
        progress: list[tuple[int, int]] = []
        subscriptions, copied = migrate(
            conn, chdb_events, on_progress=lambda d, t: progress.append((d, t))
        )
        # sub-1 lacks 10 - 4 = 6 events, sub-2 all of its 10.
        assert (subscriptions, copied) == (2, 16)
        assert progress[-1] == (30, 30)
        assert verify(conn, chdb_events) == []
        # Per subscription: 10 events each; sub-0 sums 0+3+...+27 = 135.
        assert chdb_events.totals_by_subscription()[(ORG, "sub-0")] == (10, Decimal(135))
        assert source_totals(conn)[(ORG, "sub-0")] == (10, Decimal(135))
        assert migrate(conn, chdb_events) == (0, 0)  # resumed: nothing left to copy


def test_reads_route_to_the_configured_store(
    chdb_events: ClickHouseEvents, main_events: Database
) -> None:
    """With METERLY_EVENTS_URL set, a main-database connection reads ClickHouse's events."""
    chdb_events.insert_new([row("only-in-clickhouse", sub="sub-9")])
    event_stores.configure(chdb_events.url)
    try:
        with main_events.engine.connect() as conn:
            found = event_repository.find_by_transaction_id(conn, ORG, "only-in-clickhouse")
            counted = conn.execute(select(func.count()).select_from(events)).scalar_one()
    finally:
        event_stores.configure(None)
    assert found is not None and found["external_subscription_id"] == "sub-9"
    assert counted == 30  # the main database's own table is untouched


def test_the_migrate_command_copies_and_verifies(
    chdb_events: ClickHouseEvents, main_events: Database
) -> None:
    from typer.testing import CliRunner

    from meterly.cli.main import app

    url = str(main_events.engine.url)
    result = CliRunner().invoke(
        app, ["events", "migrate", "--to", chdb_events.url, "--database-url", url]
    )
    assert result.exit_code == 0, result.output
    # 30 events over sub-0, sub-1, sub-2, all new to ClickHouse.
    assert "copied 30 events of 3 subscriptions" in result.output
    assert "verified" in result.output
    again = CliRunner().invoke(
        app, ["events", "migrate", "--to", chdb_events.url, "--database-url", url]
    )
    assert again.exit_code == 0 and "copied 0 events of 0 subscriptions" in again.output


def test_a_weighted_sum_keeps_every_digit(chdb_events: ClickHouseEvents) -> None:
    # One event of 3733572281961.001 at the window's start holds for the whole window:
    # Σ value × seconds / window seconds = 3733572281961.001 exactly (its product with
    # the window's microseconds has 32 digits: more than Python's default 28).
    chdb_events.insert_rows([row("w", timestamp=MARCH, properties={"gb": "3733572281961.001"})])
    result = usage(chdb_events, AggregationType.WEIGHTED_SUM)
    assert result.units == Decimal("3733572281961.001")
