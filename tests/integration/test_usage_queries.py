"""Usage aggregations in SQL (meterly.store.usage_queries), worked examples on each backend."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import count
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, event

from meterly.domain.filters import ALL_FILTER_VALUES
from meterly.domain.usage import AggregationType, BillableMetric, MetricFilter, RoundingFunction
from meterly.store.engine import create_engine
from meterly.store.tables import events, metadata
from meterly.store.usage_queries import (
    UsageRequest,
    aggregate_grouped_usage,
    aggregate_subscription_usage,
    aggregate_usage,
)

D = Decimal
A = AggregationType
ORG = "org-1"
SUB = "sub-1"
START = datetime(2024, 3, 1, tzinfo=UTC)
END = datetime(2024, 3, 31, 23, 59, 59, 999999, tzinfo=UTC)
_ids = count()


@pytest.fixture
def conn(db_url: str) -> Iterator[Connection]:
    engine = create_engine(db_url)
    metadata.create_all(engine)
    with engine.begin() as connection:
        yield connection
    engine.dispose()


def at(day: int, hour: int = 12) -> datetime:
    return datetime(2024, 3, day, hour, tzinfo=UTC)


def add(
    conn: Connection,
    timestamp: datetime,
    *,
    code: str = "m",
    sub: str = SUB,
    org: str = ORG,
    precise: str | None = None,
    **properties: Any,
) -> None:
    n = next(_ids)
    conn.execute(
        events.insert().values(
            organization_id=org,
            transaction_id=f"tx-{n}",
            external_subscription_id=sub,
            code=code,
            timestamp=timestamp,
            properties=properties,
            precise_total_amount_cents=None if precise is None else D(precise),
            lago_id=f"{n:012d}",
            created_at=datetime(2024, 6, 1, tzinfo=UTC) + timedelta(seconds=n),
        )
    )


def metric(kind: AggregationType, code: str = "m", **options: Any) -> BillableMetric:
    field_name = None if kind is A.COUNT else "v"
    return BillableMetric(code=code, aggregation_type=kind, field_name=field_name, **options)


def usage(conn: Connection, m: BillableMetric, **options: Any) -> Any:
    return aggregate_usage(
        conn,
        organization_id=ORG,
        external_subscription_id=SUB,
        metric=m,
        window_from=options.pop("window_from", START),
        window_to=options.pop("window_to", END),
        **options,
    )


def test_count_counts_the_subscriptions_events_of_the_code_in_the_window(
    conn: Connection,
) -> None:
    add(conn, START, v=1)
    add(conn, END)
    add(conn, START - timedelta(microseconds=1))
    add(conn, END + timedelta(microseconds=1))
    add(conn, at(5), code="other")
    add(conn, at(5), sub="other")
    add(conn, at(5), org="other")
    result = usage(conn, metric(A.COUNT), with_event_values=True)
    assert (result.units, result.events_count) == (D(2), 2)
    assert result.event_values == (D(1), D(1))


def test_sum_is_exact_over_ints_decimal_strings_and_floats(conn: Connection) -> None:
    add(conn, at(2), v=1, precise="10.5")
    add(conn, at(3), v="2.25", precise="1")
    add(conn, at(4), v=0.1)
    add(conn, at(5), v=0.2)
    add(conn, at(6), v="1e3", precise="99")  # not a number for Lago
    add(conn, at(7), v="abc")
    add(conn, at(8), v=True)
    add(conn, at(9))
    result = usage(conn, metric(A.SUM), with_event_values=True)
    assert result.units == D("3.55")
    assert result.events_count == 4
    assert result.event_values == (D(1), D("2.25"), D("0.1"), D("0.2"))
    assert result.precise_total_amount_cents == D("11.5")


def test_large_and_tiny_json_numbers_are_read_exactly(conn: Connection) -> None:
    # 28 significant digits: SQLite's decimal_sum works in Python's default context.
    add(conn, at(2), v=1e15)
    add(conn, at(3), v=1e-7)
    add(conn, at(4), v=D("0.000000000001"))
    assert usage(conn, metric(A.SUM)).units == D("1000000000000000.000000100001")


def test_recurring_sum_has_no_lower_time_bound(conn: Connection) -> None:
    # Lago applies no lower bound to a recurring metric (lago-semantics item 8): the event
    # timestamped before the subscription started counts too, 1000 + 10 + 5 = 1015.
    add(conn, datetime(2023, 12, 31, tzinfo=UTC), v=1000)  # before the subscription
    add(conn, datetime(2024, 1, 5, tzinfo=UTC), v=10)
    add(conn, at(3), v=5)
    recurring = metric(A.SUM, recurring=True)
    assert usage(conn, recurring, recurring_from=datetime(2024, 1, 1, tzinfo=UTC)).units == 1015
    assert usage(conn, recurring).units == 1015
    assert usage(conn, metric(A.SUM)).units == 5


def test_max_and_latest(conn: Connection) -> None:
    add(conn, at(2), v="7.5")
    add(conn, at(4), v=3)
    add(conn, at(5), v="not a number")
    add(conn, at(3), v=-2)
    assert usage(conn, metric(A.MAX)).units == D("7.5")
    assert usage(conn, metric(A.LATEST)).units == 3


def test_latest_between_equal_timestamps_takes_the_last_created(conn: Connection) -> None:
    add(conn, at(4), v=1)
    add(conn, at(4), v=2)
    assert usage(conn, metric(A.LATEST)).units == 2


@pytest.mark.parametrize("kind", [A.MAX, A.LATEST, A.SUM, A.WEIGHTED_SUM, A.UNIQUE_COUNT])
def test_no_events_gives_zero(conn: Connection, kind: AggregationType) -> None:
    result = usage(conn, metric(kind))
    assert (result.units, result.events_count) == (0, 0)


def test_unique_count_with_add_and_remove_carried_over(conn: Connection) -> None:
    add(conn, datetime(2024, 1, 5, tzinfo=UTC), v="a")
    add(conn, datetime(2024, 1, 6, tzinfo=UTC), v="b")
    add(conn, datetime(2024, 2, 1, tzinfo=UTC), v="b", operation_type="remove")
    add(conn, at(2), v="c")
    add(conn, at(3), v="a", operation_type="remove")
    add(conn, at(4), v=1)
    add(conn, at(5), v="1")  # same text as 1
    add(conn, at(6), v="z", operation_type="remove")
    assert usage(conn, metric(A.UNIQUE_COUNT, recurring=True)).units == 2  # c, 1
    plain = usage(conn, metric(A.UNIQUE_COUNT))
    assert (plain.units, plain.events_count) == (D(2), 5)


def test_weighted_sum_with_a_recurring_starting_value(conn: Connection) -> None:
    day = datetime(2024, 3, 1, tzinfo=UTC)
    add(conn, datetime(2024, 2, 1, tzinfo=UTC), v=4)
    add(conn, datetime(2024, 2, 9, tzinfo=UTC), v="6")
    add(conn, day + timedelta(hours=6), v=2)
    add(conn, day + timedelta(hours=12), v=-5)
    add(conn, day + timedelta(hours=18), v=3)
    result = usage(
        conn,
        metric(A.WEIGHTED_SUM, recurring=True),
        window_from=day,
        window_to=day + timedelta(hours=24),
    )
    assert result.units == D("9.75")
    assert result.current_value == 10


def test_prorated_sum_in_the_customers_timezone(conn: Connection) -> None:
    add(conn, datetime(2024, 2, 15, tzinfo=UTC), v=10)
    add(conn, datetime(2024, 3, 10, 23, 30, tzinfo=UTC), v=6)  # March 11 in Paris
    add(conn, datetime(2024, 3, 20, 22, 30, tzinfo=UTC), v=-3)
    result = usage(
        conn,
        metric(A.SUM, recurring=True),
        window_from=datetime(2024, 2, 29, 23, tzinfo=UTC),
        window_to=datetime(2024, 3, 31, 21, 59, 59, 999999, tzinfo=UTC),
        prorated=True,
        timezone="Europe/Paris",
        period_days=31,
    )
    assert (result.units, result.full_units) == (D("12.90323"), D(13))


def test_prorated_unique_count_counts_the_remove_day(conn: Connection) -> None:
    add(conn, datetime(2024, 2, 10, tzinfo=UTC), v="a")  # all month
    add(conn, at(5, 1), v="b")
    add(conn, at(9, 22), v="b", operation_type="remove")  # 5 days
    result = usage(conn, metric(A.UNIQUE_COUNT, recurring=True), prorated=True, period_days=31)
    assert (result.units, result.full_units) == (D("1.16130"), D(1))  # 36/31


def test_rounding_is_applied_in_sql_results(conn: Connection) -> None:
    add(conn, at(2), v="1234.5678")
    m = metric(A.SUM, rounding_function=RoundingFunction.FLOOR, rounding_precision=-2)
    assert usage(conn, m).units == 1200


def test_charge_filter_and_default_bucket(conn: Connection) -> None:
    add(conn, at(2), v=1, region="eu", cloud="aws")
    add(conn, at(3), v=2, region="eu", cloud="gcp")
    add(conn, at(4), v=4, region="us")
    add(conn, at(5), v=8, region="asia")
    add(conn, at(6), v=16)
    m = metric(A.SUM, filters=(MetricFilter("region", ("eu", "us")),))
    eu_aws = {"region": ["eu"], "cloud": ["aws"]}
    any_region = {"region": [ALL_FILTER_VALUES]}
    assert usage(conn, m, filter_values=eu_aws).units == 1
    assert usage(conn, m, filter_values=any_region, exclude_filters=[eu_aws]).units == 6
    assert usage(conn, m, exclude_filters=[eu_aws, any_region]).units == 24


def test_odd_field_names_are_read(conn: Connection) -> None:
    odd: dict[str, Any] = {"gb.used": 3, "the size": "4"}
    add(conn, at(2), **odd)
    dotted = BillableMetric(code="m", aggregation_type=A.SUM, field_name="gb.used")
    spaced = BillableMetric(code="m", aggregation_type=A.SUM, field_name="the size")
    assert usage(conn, dotted).units == 3
    assert usage(conn, spaced).units == 4


def test_grouped_usage_has_a_null_group_for_events_lacking_the_key(conn: Connection) -> None:
    add(conn, at(2), v=1, team="x")
    add(conn, at(3), v=2, team="x")
    add(conn, at(4), v=4, team="y")
    add(conn, at(5), v=8)
    request = UsageRequest(metric=metric(A.SUM), window_from=START, window_to=END)
    grouped = aggregate_grouped_usage(
        conn,
        organization_id=ORG,
        external_subscription_id=SUB,
        request=request,
        group_keys=["team"],
    )
    assert {group: result.units for group, result in grouped.items()} == {
        ("x",): 3,
        ("y",): 4,
        (None,): 8,
    }


def count_statements(conn: Connection) -> list[str]:
    statements: list[str] = []
    engine: Engine = conn.engine

    def record(*args: Any) -> None:
        statements.append(args[2])

    event.listen(engine, "before_cursor_execute", record)
    return statements


def test_current_usage_of_ten_metrics_is_one_statement(conn: Connection) -> None:
    kinds = [A.COUNT, A.SUM, A.MAX, A.LATEST, A.UNIQUE_COUNT] * 2
    metrics = [metric(kind, code=f"m{i}") for i, kind in enumerate(kinds)]
    for i, m in enumerate(metrics):
        add(conn, at(2), code=m.code, v=i)
        add(conn, at(3), code=m.code, v=2 * i)
    statements = count_statements(conn)
    results = aggregate_subscription_usage(
        conn,
        organization_id=ORG,
        external_subscription_id=SUB,
        requests=[UsageRequest(metric=m, window_from=START, window_to=END) for m in metrics],
    )
    assert len(statements) == 1
    assert [r.units for r in results] == [2, 3, 4, 6, 2, 2, 18, 14, 16, 2]


def test_requests_needing_rows_add_one_statement(conn: Connection) -> None:
    add(conn, at(2), v=1)
    requests = [
        UsageRequest(metric=metric(A.WEIGHTED_SUM), window_from=START, window_to=END),
        UsageRequest(
            metric=metric(A.UNIQUE_COUNT, recurring=True),
            window_from=START,
            window_to=END,
            prorated=True,
        ),
        UsageRequest(
            metric=metric(A.SUM), window_from=START, window_to=END, with_event_values=True
        ),
        UsageRequest(metric=metric(A.COUNT), window_from=START, window_to=END),
    ]
    statements = count_statements(conn)
    results = aggregate_subscription_usage(
        conn, organization_id=ORG, external_subscription_id=SUB, requests=requests
    )
    assert len(statements) == 2
    assert results[2].event_values == (D(1),)


def test_weighted_sum_is_summed_in_sql_to_the_microsecond(conn: Connection) -> None:
    # Σ value × seconds to the window's end: no ordered rows, exact with microseconds.
    first = datetime(2024, 3, 11, 0, 0, 0, 250000, tzinfo=UTC)
    add(conn, first, v="2.5")
    add(conn, at(21, 0), v=-1)
    add(conn, at(16, 0), v="not a number")
    statements = count_statements(conn)
    result = usage(conn, metric(A.WEIGHTED_SUM), period_days=31)
    assert len(statements) == 1
    seconds_left = (END - first).total_seconds()
    assert D(str(seconds_left)) == D("1814399.749999")
    expected = (D("2.5") * D("1814399.749999") + D(-1) * D("950399.999999")) / D(31 * 86400)
    assert result.units == expected.quantize(D("1e-20"), rounding="ROUND_CEILING")
    assert result.events_count == 2
    assert result.current_value == D("1.5")
