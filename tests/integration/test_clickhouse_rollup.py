"""The hourly rollup of the ClickHouse event store (chdb): exact, and never counting twice.

A count, sum or max with no filter reads its window's whole hours from `events_hourly`
and only the ragged edges from `events`. The property holds the result equal to the
domain's reference for windows starting and ending anywhere (on the hour, a microsecond
off it, mid-hour), events on and beside every hour boundary, and values of every shape
(negative, zero, decimal, non-numeric, missing) with and without precise amounts. Then:
a rollup created over stored events is filled from them once, and two processes racing
on one new event store it once through the main database's ingestion lock.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from meterly.domain.aggregation import aggregate
from meterly.domain.usage import AggregationType, BillableMetric, UsageEvent
from meterly.services.metering.event_writer import EventWriter, _Submission
from meterly.store.engine import create_engine
from meterly.store.event_stores import ClickHouseEvents
from meterly.store.event_stores.rollup import whole_hours
from meterly.store.uow import Database
from meterly.store.usage_queries import UsageRequest, aggregate_subscription_usage

pytestmark = pytest.mark.chdb

ORG = "org-rollup"
SUB = "sub-1"
CODE = "calls"
DAY = datetime(2024, 3, 10, tzinfo=UTC)
TICK = timedelta(microseconds=1)
HOURS = [DAY + timedelta(hours=h) for h in range(7)]
# On an hour, a microsecond either side of it, and inside one.
NEAR_HOURS = [moment + shift for moment in HOURS for shift in (-TICK, timedelta(0), TICK)]
timestamps = st.one_of(
    st.sampled_from(NEAR_HOURS),
    st.datetimes(
        min_value=datetime(2024, 3, 9, 23),
        max_value=datetime(2024, 3, 10, 7),
        timezones=st.just(UTC),
    ),
)
numbers = st.one_of(
    st.integers(min_value=-50, max_value=50),
    st.decimals(min_value=-100, max_value=100, places=3, allow_nan=False).map(str),
    st.just(0),
)
values = st.one_of(numbers, st.sampled_from(["abc", "", True, None, "1e3"]))
SETTINGS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@st.composite
def event_rows(draw: st.DrawFn) -> list[dict[str, Any]]:
    rows = []
    for i in range(draw(st.integers(min_value=0, max_value=30))):
        roll = draw(st.integers(0, 14))
        properties = {} if roll == 2 else {"v": draw(values)}
        rows.append(
            {
                "organization_id": ORG,
                "transaction_id": f"tx-{i}",
                "external_subscription_id": "other-sub" if roll == 0 else SUB,
                "code": "other-code" if roll == 1 else CODE,
                "timestamp": draw(timestamps),
                "properties": properties,
                "precise_total_amount_cents": draw(
                    st.none() | st.decimals(min_value=-99, max_value=99, places=4, allow_nan=False)
                ),
                "lago_id": f"{i:06d}",
                "created_at": DAY + timedelta(days=5, seconds=i),
            }
        )
    return rows


windows = st.tuples(
    st.sampled_from([*NEAR_HOURS, DAY + timedelta(minutes=17, seconds=3)]),
    st.sampled_from([*NEAR_HOURS, DAY + timedelta(hours=5, minutes=42)]),
).filter(lambda w: w[0] <= w[1])


def reference(metric: BillableMetric, rows: Iterable[dict[str, Any]], window: Any) -> Any:
    chosen = [
        UsageEvent(
            transaction_id=r["transaction_id"],
            code=r["code"],
            timestamp=r["timestamp"],
            properties=r["properties"],
            precise_total_amount_cents=r["precise_total_amount_cents"],
        )
        for r in sorted(rows, key=lambda r: (r["timestamp"], r["created_at"]))
        if r["external_subscription_id"] == SUB
        and r["code"] == CODE
        and window[0] <= r["timestamp"] <= window[1]
    ]
    return aggregate(metric, chosen, window=window)


@pytest.mark.parametrize("kind", [AggregationType.COUNT, AggregationType.SUM, AggregationType.MAX])
def test_whole_hours_and_edges_equal_the_reference(
    chdb_events: ClickHouseEvents, kind: AggregationType
) -> None:
    metric = BillableMetric(code=CODE, aggregation_type=kind, field_name="v")
    spanned = []

    @SETTINGS
    @given(rows=event_rows(), window=windows)
    def check(rows: list[dict[str, Any]], window: tuple[datetime, datetime]) -> None:
        chdb_events.truncate()
        # Two inserts: the rollup sums parts of one hour written at different times.
        chdb_events.insert_rows(rows[::2])
        chdb_events.insert_rows(rows[1::2])
        request = UsageRequest(metric=metric, window_from=window[0], window_to=window[1])
        spanned.append(whole_hours(request) is not None)
        (actual,) = aggregate_subscription_usage(
            chdb_events, organization_id=ORG, external_subscription_id=SUB, requests=[request]
        )
        assert actual == reference(metric, rows, window)

    check()
    # The rollup answered for some windows, the edges alone for others.
    assert any(spanned) and not all(spanned)


def test_the_rollup_of_march_is_hours_not_events(chdb_events: ClickHouseEvents) -> None:
    """3 events per hour over 2 hours and one event 30 minutes into a third: the rollup
    holds one row per hour, and a window from 00:30 to 02:45 reads 01:00–02:00 there."""
    rows = []
    for hour in range(2):
        for n, v in enumerate(["1", "2.5", "-4"]):
            moment = DAY + timedelta(hours=hour, minutes=10 * n)
            rows.append(_row(f"h{hour}-{n}", moment, v))
    rows.append(_row("late", DAY + timedelta(hours=2, minutes=30), "10"))
    chdb_events.insert_rows(rows)
    hours = chdb_events.transport.query(
        f"SELECT hour, sum(events) FROM {chdb_events.database}.events_hourly"
        " GROUP BY hour ORDER BY hour"
    )
    assert [(h, int(n)) for h, n in hours] == [
        ("2024-03-10 00:00:00", 3),
        ("2024-03-10 01:00:00", 3),
        ("2024-03-10 02:00:00", 1),
    ]
    sum_metric = BillableMetric(code=CODE, aggregation_type=AggregationType.SUM, field_name="v")
    request = UsageRequest(
        metric=sum_metric,
        window_from=DAY + timedelta(minutes=30),
        window_to=DAY + timedelta(hours=2, minutes=45),
    )
    assert whole_hours(request) == (DAY + timedelta(hours=1), DAY + timedelta(hours=2))
    (result,) = aggregate_subscription_usage(
        chdb_events, organization_id=ORG, external_subscription_id=SUB, requests=[request]
    )
    # Edge 00:30–01:00: the -4 at 00:20 is before it, nothing inside: 0.
    # Whole hour 01:00: 1 + 2.5 - 4 = -0.5.  Edge 02:00–02:45: the 10 at 02:30.
    assert result.units == Decimal("9.5") and result.events_count == 4


def test_a_rollup_created_over_stored_events_is_filled_once(
    chdb_events: ClickHouseEvents,
) -> None:
    """An event store from before the rollup: `create_schema` fills it from `events`, each
    event once (`FINAL`), and the view takes the inserts from then on."""
    chdb_events.insert_rows([_row("a", DAY, "2"), _row("b", DAY + timedelta(minutes=5), "3")])
    database = chdb_events.database
    chdb_events.transport.command(f"DROP VIEW {database}.events_hourly_view")
    chdb_events.transport.command(f"DROP TABLE {database}.events_hourly")
    # Stored before the rollup existed, and once more behind the check.
    chdb_events.insert_rows([_row("b", DAY + timedelta(minutes=5), "3")])
    chdb_events.create_schema()
    chdb_events.insert_rows([_row("c", DAY + timedelta(minutes=20), "5")])
    totals = chdb_events.transport.query(
        f"SELECT sum(events), sumMap(sums)['v'] FROM {database}.events_hourly"
    )
    # a + b from the backfill (b once), c through the view: 3 events, 2 + 3 + 5 = 10.
    assert [int(totals[0][0]), Decimal(totals[0][1])] == [3, Decimal(10)]


class _SlowCheck(ClickHouseEvents):
    """A second API process's store: its own thread lock, and a check that takes a while
    (widening the window in which another process could insert the same event)."""

    def existing_keys(self, organization_id: str, keys: Iterable[tuple[str, str]]) -> Any:
        found = super().existing_keys(organization_id, keys)
        time.sleep(0.3)
        return found


def _race(main_database_url: str, chdb_events: ClickHouseEvents, *, writer: bool) -> list[bool]:
    """Two processes, each with its own store object and main-database engine, store the
    same new event at once, through the event writer or straight into the store; which of
    them had it stored."""
    event = _row("raced", DAY + timedelta(minutes=1), "7")
    outcomes: list[bool] = []
    barrier = threading.Barrier(2)

    def process() -> None:
        event_writer = EventWriter(Database(create_engine(main_database_url)))
        store = _SlowCheck(chdb_events.url)
        rows = [{**event, "lago_id": str(uuid.uuid4())}]
        barrier.wait()
        if writer:
            submission = _Submission(rows=rows, all_or_nothing=True)
            (result,) = event_writer._commit_clickhouse(store, [submission])
            outcomes.append(bool(getattr(result, "committed", False)))
        else:
            outcomes.append(bool(store.insert_new(rows)))
        event_writer.database.engine.dispose()

    threads = [threading.Thread(target=process) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_two_processes_racing_on_one_event_store_it_once(
    request: pytest.FixtureRequest, backend: str, chdb_events: ClickHouseEvents
) -> None:
    """The writer holds the main database's ingestion lock (PostgreSQL: an advisory lock;
    SQLite: the database file's write lock), so one process checks and inserts at a time."""
    main_database_url = request.getfixturevalue(f"{backend}_url")
    assert sorted(_race(main_database_url, chdb_events, writer=True)) == [False, True]
    count = BillableMetric(code=CODE, aggregation_type=AggregationType.COUNT)
    window = UsageRequest(metric=count, window_from=DAY, window_to=DAY + timedelta(days=1) - TICK)
    (result,) = aggregate_subscription_usage(
        chdb_events, organization_id=ORG, external_subscription_id=SUB, requests=[window]
    )
    assert result.events_count == 1


def test_without_the_ingestion_lock_the_race_is_real(
    sqlite_url: str, chdb_events: ClickHouseEvents
) -> None:
    """Why the lock: two stores inserting straight away, each under only its own thread
    lock, both find the event absent and both insert it."""
    assert _race(sqlite_url, chdb_events, writer=False) == [True, True]


def _row(tx: str, moment: datetime, v: str) -> dict[str, Any]:
    return {
        "organization_id": ORG,
        "transaction_id": tx,
        "external_subscription_id": SUB,
        "code": CODE,
        "timestamp": moment,
        "properties": {"v": v},
        "precise_total_amount_cents": None,
        "lago_id": str(uuid.uuid4()),
        "created_at": DAY + timedelta(days=3),
    }
