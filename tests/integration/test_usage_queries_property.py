"""The SQL aggregations equal the domain reference, on SQLite and PostgreSQL.

One database per test (per backend); each Hypothesis example empties the events table and
inserts its own events: inside and outside the window (and on its edges), before the
subscription's start, for another subscription and another metric code, with numeric,
quoted numeric, float, Decimal, non-numeric and missing values, filter properties and
add/remove operations. Prorated sums and unique counts are compared with their per-event
(full, prorated) increments too (`AggregationResult.prorated_events`); a recurring metric
has no lower time bound.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, Engine, delete

from meterly.domain.aggregation import AggregationResult, aggregate
from meterly.domain.filters import (
    ALL_FILTER_VALUES,
    ChargeFilterSpec,
    bucket_events,
    exclusions_for,
    group_events,
)
from meterly.domain.usage import (
    AggregationType,
    BillableMetric,
    MetricFilter,
    RoundingFunction,
    UsageEvent,
)
from meterly.store.engine import create_engine
from meterly.store.event_stores import ClickHouseEvents
from meterly.store.tables import events, metadata
from meterly.store.usage_queries import (
    UsageRequest,
    aggregate_grouped_usage,
    aggregate_subscription_usage,
)

ORG = "org-1"
SUB = "sub-1"
CODE = "metric"
RECURRING_FROM = datetime(2024, 1, 10, tzinfo=UTC)
WINDOW_FROM = datetime(2024, 3, 1, tzinfo=UTC)
WINDOW_TO = datetime(2024, 3, 31, 23, 59, 59, 999999, tzinfo=UTC)
CREATED = datetime(2024, 5, 1, tzinfo=UTC)
RECURRING_TYPES = {
    AggregationType.SUM,
    AggregationType.UNIQUE_COUNT,
    AggregationType.WEIGHTED_SUM,
}
METRIC_FILTERS = (
    MetricFilter("region", ("eu", "us", "asia")),
    MetricFilter("cloud", ("aws", "gcp")),
)

SETTINGS = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


class EventsAt:
    """Where a property's events live: the main database, or the ClickHouse event store."""

    def __init__(self, engine: Engine | None = None, store: ClickHouseEvents | None = None):
        self.engine = engine
        self.store = store

    def replace(self, rows: list[dict[str, Any]]) -> None:
        if self.store is not None:
            self.store.truncate()
            self.store.insert_rows(rows)
            return
        assert self.engine is not None
        with self.engine.begin() as conn:
            conn.execute(delete(events))
            if rows:
                conn.execute(events.insert(), rows)

    @contextmanager
    def connect(self) -> Iterator[Connection | ClickHouseEvents]:
        """What the usage entries read from: a connection, or the store itself."""
        if self.store is not None:
            yield self.store
            return
        assert self.engine is not None
        with self.engine.connect() as conn:
            yield conn


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("chdb", marks=pytest.mark.chdb),
    ]
)
def engine(request: pytest.FixtureRequest) -> Iterator[EventsAt]:
    """The events' backend: SQLite, PostgreSQL, or ClickHouse on chdb."""
    if request.param == "chdb":
        yield EventsAt(store=request.getfixturevalue("chdb_events"))
        return
    url = request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")
    engine = create_engine(url)
    metadata.create_all(engine)
    yield EventsAt(engine=engine)
    engine.dispose()


# --- strategies ---------------------------------------------------------------------------

EDGES = [
    WINDOW_FROM,
    WINDOW_TO,
    WINDOW_FROM - timedelta(microseconds=1),
    WINDOW_TO + timedelta(microseconds=1),
    RECURRING_FROM,
    RECURRING_FROM - timedelta(microseconds=1),
    datetime(2024, 3, 15, 12, tzinfo=UTC),
]
timestamps = st.one_of(
    st.sampled_from(EDGES),
    st.datetimes(
        min_value=datetime(2024, 1, 1),
        max_value=datetime(2024, 4, 10),
        timezones=st.just(UTC),
    ),
)
small_decimals = st.decimals(min_value=-1000, max_value=1000, places=3, allow_nan=False)
numeric_values = st.one_of(
    st.integers(min_value=-1000, max_value=1000),
    st.integers(min_value=-(10**15), max_value=10**15),  # beyond SQLite's native int path
    small_decimals.map(str),
    small_decimals.map(lambda d: float(d) + 0.0),
    st.decimals(min_value=-100, max_value=100, places=2, allow_nan=False),
)
odd_values = st.sampled_from(
    ["abc", "1e3", " 5", "5.", ".5", "", "true", "1,5", "+1", "-", "0x10", True, False, None]
)
unique_values = st.sampled_from(["a", "b", "c", 1, 2, "1", "2", 1.0, 2.5, Decimal("1.00")])
values = st.one_of(numeric_values, odd_values, unique_values)
regions = st.sampled_from(["eu", "us", "asia", "mars", 1, None])
clouds = st.sampled_from(["aws", "gcp", "azure"])
operations = st.sampled_from(["add", "remove", "other", None])


@st.composite
def properties(draw: st.DrawFn) -> dict[str, object]:
    props: dict[str, object] = {}
    if draw(st.integers(0, 9)) > 0:
        props["v"] = draw(values)
    if draw(st.booleans()):
        props["region"] = draw(regions)
    if draw(st.booleans()):
        props["cloud"] = draw(clouds)
    if draw(st.integers(0, 2)) == 0:
        props["operation_type"] = draw(operations)
    return props


@st.composite
def event_rows(draw: st.DrawFn) -> list[dict[str, Any]]:
    count = draw(st.integers(min_value=0, max_value=25))
    rows = []
    for i in range(count):
        roll = draw(st.integers(0, 19))
        rows.append(
            {
                "organization_id": ORG,
                "transaction_id": f"tx-{i}",
                "external_subscription_id": "other-sub" if roll == 0 else SUB,
                "code": "other-code" if roll == 1 else CODE,
                "timestamp": draw(timestamps),
                "properties": draw(properties()),
                "precise_total_amount_cents": draw(st.none() | small_decimals),
                "lago_id": f"{i:06d}",
                "created_at": CREATED + timedelta(seconds=i),
            }
        )
    return rows


@st.composite
def metrics(draw: st.DrawFn, kind: AggregationType) -> BillableMetric:
    function = draw(st.none() | st.sampled_from(list(RoundingFunction)))
    return BillableMetric(
        code=CODE,
        aggregation_type=kind,
        field_name="v",
        recurring=kind in RECURRING_TYPES and draw(st.booleans()),
        rounding_function=function,
        rounding_precision=draw(st.sampled_from([None, -1, 0, 2])),
        filters=METRIC_FILTERS if draw(st.booleans()) else (),
    )


filter_specs = st.lists(
    st.dictionaries(
        st.sampled_from(["region", "cloud"]),
        st.lists(
            st.sampled_from(["eu", "us", "asia", "1", "aws", "gcp", ALL_FILTER_VALUES]),
            min_size=1,
            max_size=3,
            unique=True,
        ).map(tuple),
        min_size=1,
        max_size=2,
    ).map(ChargeFilterSpec),
    max_size=3,
)
options = st.fixed_dictionaries(
    {
        "prorated": st.booleans(),
        "timezone": st.sampled_from(["UTC", "Europe/Paris", "America/Los_Angeles", "Asia/Kolkata"]),
        "period_days": st.sampled_from([None, 31, 30]),
        "with_event_values": st.booleans(),
    }
)


# --- helpers ------------------------------------------------------------------------------


def load(engine: EventsAt, rows: list[dict[str, Any]]) -> list[UsageEvent]:
    """Replace the events table's content; the subscription's events in store order."""
    engine.replace(rows)
    ours = [r for r in rows if r["external_subscription_id"] == SUB and r["code"] == CODE]
    ours.sort(key=lambda r: (r["timestamp"], r["created_at"]))
    return [
        UsageEvent(
            transaction_id=r["transaction_id"],
            code=r["code"],
            timestamp=r["timestamp"],
            properties=r["properties"],
            precise_total_amount_cents=r["precise_total_amount_cents"],
        )
        for r in ours
    ]


def reference(
    metric: BillableMetric, chosen: list[UsageEvent], opts: dict[str, Any]
) -> AggregationResult:
    # A recurring metric has no lower time bound (lago-semantics item 8): the events
    # before RECURRING_FROM (the subscription's start) count as well.
    prior = [e for e in chosen if e.timestamp < WINDOW_FROM]
    prorated = opts["prorated"] and metric.aggregation_type in {
        AggregationType.SUM,
        AggregationType.UNIQUE_COUNT,
    }
    return aggregate(
        metric,
        chosen,
        window=(WINDOW_FROM, WINDOW_TO),
        prior_events=prior,
        prorated=prorated,
        timezone=opts["timezone"],
        period_days=opts["period_days"],
        with_event_values=opts["with_event_values"],
    )


def in_scope_of(metric: BillableMetric, event: UsageEvent) -> bool:
    """Whether a request of `metric` reads the event: up to the window's end, and from its
    start unless the metric is recurring (then with no lower bound at all)."""
    return (metric.recurring or event.timestamp >= WINDOW_FROM) and event.timestamp <= WINDOW_TO


def request(metric: BillableMetric, opts: dict[str, Any], **extra: Any) -> UsageRequest:
    prorated = opts["prorated"] and metric.aggregation_type in {
        AggregationType.SUM,
        AggregationType.UNIQUE_COUNT,
    }
    return UsageRequest(
        metric=metric,
        window_from=WINDOW_FROM,
        window_to=WINDOW_TO,
        recurring_from=RECURRING_FROM,
        prorated=prorated,
        timezone=opts["timezone"],
        period_days=opts["period_days"],
        with_event_values=opts["with_event_values"],
        **extra,
    )


# --- the properties -----------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(AggregationType))
def test_sql_equals_reference_for_every_charge_filter_bucket(
    engine: EventsAt, kind: AggregationType
) -> None:
    @SETTINGS
    @given(
        rows=event_rows(),
        metric=metrics(kind),
        filters=filter_specs,
        opts=options,
    )
    def check(
        rows: list[dict[str, Any]],
        metric: BillableMetric,
        filters: list[ChargeFilterSpec],
        opts: dict[str, Any],
    ) -> None:
        ours = load(engine, rows)
        buckets = bucket_events(ours, filters, metric_filters=metric.filters)
        indexes: list[int | None] = [*range(len(filters)), None]
        expected = [reference(metric, buckets[i], opts) for i in indexes]
        requests = [
            request(
                metric,
                opts,
                filter_values=None if i is None else filters[i].values,
                exclude_filters=exclusions_for(i, filters, metric_filters=metric.filters),
            )
            for i in indexes
        ]
        with engine.connect() as conn:
            actual = aggregate_subscription_usage(
                conn,
                organization_id=ORG,
                external_subscription_id=SUB,
                requests=requests,
            )
        assert actual == expected

    check()


def test_sql_equals_reference_per_pricing_group(engine: EventsAt) -> None:
    @SETTINGS
    @given(
        rows=event_rows(),
        metric=st.sampled_from(list(AggregationType)).flatmap(metrics),
        keys=st.sampled_from([["region"], ["cloud", "region"], ["v"]]),
        opts=options,
    )
    def check(
        rows: list[dict[str, Any]],
        metric: BillableMetric,
        keys: list[str],
        opts: dict[str, Any],
    ) -> None:
        ours = load(engine, rows)
        # A recurring metric has no lower time bound (lago-semantics item 8).
        in_scope = [e for e in ours if in_scope_of(metric, e)]
        expected = {
            group: reference(metric, chosen, opts)
            for group, chosen in group_events(in_scope, keys).items()
        }
        with engine.connect() as conn:
            actual = aggregate_grouped_usage(
                conn,
                organization_id=ORG,
                external_subscription_id=SUB,
                request=request(metric, opts),
                group_keys=keys,
            )
        assert actual == expected

    check()


def test_sql_equals_reference_per_pricing_group_inside_each_filter_bucket(engine: EventsAt) -> None:
    """`grouped_by` in a filter's properties: the filter's bucket (its events minus those of
    the filters ranked before it) split by group, in SQL as in the domain."""

    @SETTINGS
    @given(
        rows=event_rows(),
        metric=st.sampled_from(list(AggregationType)).flatmap(metrics),
        filters=filter_specs.filter(bool),
        keys=st.sampled_from([["region"], ["cloud", "region"], ["v"]]),
        opts=options,
    )
    def check(
        rows: list[dict[str, Any]],
        metric: BillableMetric,
        filters: list[ChargeFilterSpec],
        keys: list[str],
        opts: dict[str, Any],
    ) -> None:
        ours = load(engine, rows)
        # A recurring metric has no lower time bound (lago-semantics item 8).
        in_scope = [e for e in ours if in_scope_of(metric, e)]
        buckets = bucket_events(in_scope, filters, metric_filters=metric.filters)
        with engine.connect() as conn:
            for i in [*range(len(filters)), None]:
                expected = {
                    group: reference(metric, chosen, opts)
                    for group, chosen in group_events(buckets[i], keys).items()
                }
                actual = aggregate_grouped_usage(
                    conn,
                    organization_id=ORG,
                    external_subscription_id=SUB,
                    request=request(
                        metric,
                        opts,
                        filter_values=None if i is None else filters[i].values,
                        exclude_filters=exclusions_for(i, filters, metric_filters=metric.filters),
                    ),
                    group_keys=keys,
                )
                assert actual == expected, i

    check()
