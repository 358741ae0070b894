"""The reference aggregations (meterly.domain.aggregation), one behaviour per test."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import count
from typing import Any

import pytest

from meterly.domain.aggregation import (
    AggregationResult,
    aggregate,
    apply_rounding,
    high_water_increments,
    numeric_value,
    property_text,
    running_totals,
    weighted_sum_units,
    window_days,
)
from meterly.domain.usage import AggregationType, BillableMetric, RoundingFunction, UsageEvent

D = Decimal
A = AggregationType
START = datetime(2024, 3, 1, tzinfo=UTC)
END = datetime(2024, 3, 31, 23, 59, 59, 999999, tzinfo=UTC)
WINDOW = (START, END)
MID = datetime(2024, 3, 15, 12, tzinfo=UTC)
_ids = count()


def ev(at: datetime, precise: str | None = None, **properties: Any) -> UsageEvent:
    return UsageEvent(
        transaction_id=f"tx-{next(_ids)}",
        code="m",
        timestamp=at,
        properties=properties,
        precise_total_amount_cents=None if precise is None else D(precise),
    )


def metric(kind: AggregationType, **options: Any) -> BillableMetric:
    field_name = None if kind is A.COUNT else "v"
    return BillableMetric(code="m", aggregation_type=kind, field_name=field_name, **options)


def units(kind: AggregationType, events: list[UsageEvent], **options: Any) -> Decimal:
    metric_options = {k: options.pop(k) for k in ("recurring",) if k in options}
    return aggregate(metric(kind, **metric_options), events, window=WINDOW, **options).units


def at(day: int, hour: int = 12, minute: int = 0) -> datetime:
    return datetime(2024, 3, day, hour, minute, tzinfo=UTC)


# --- numeric values and texts -------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (3, D(3)),
        (-7, D(-7)),
        ("12.50", D("12.50")),
        ("-3", D(-3)),
        (0.1, D("0.1")),
        (2.5, D("2.5")),
        (D("1.25"), D("1.25")),
    ],
)
def test_numeric_values_follow_lagos_rule(value: object, expected: Decimal) -> None:
    assert numeric_value(value) == expected


@pytest.mark.parametrize(
    "value",
    ["1e3", " 5", "5 ", "5.", ".5", "+1", "", "abc", "1,5", "١٢", True, False, None,
     float("nan"), float("inf"), D("NaN"), {"a": 1}, [1]],
)  # fmt: skip
def test_non_numeric_values_are_not_aggregated(value: object) -> None:
    assert numeric_value(value) is None


def test_a_float_reads_as_its_shortest_repr_not_its_binary_expansion() -> None:
    assert numeric_value(0.1) == D("0.1")
    assert numeric_value(0.1) != D(0.1)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("eu", "eu"),
        (1, "1"),
        ("1", "1"),
        (1.0, "1.0"),
        (1e20, "100000000000000000000"),
        (1e-05, "0.00001"),
        (D("1E+2"), "100"),
        (True, "true"),
        (False, "false"),
        (None, None),
        (float("nan"), None),
    ],
)
def test_property_text_is_what_postgres_gives_for_arrow_text(
    value: object, expected: str | None
) -> None:
    assert property_text(value) == expected


# --- count --------------------------------------------------------------------------------


def test_count_counts_every_event_in_the_window_whatever_its_properties() -> None:
    events = [ev(at(2), v="x"), ev(at(3)), ev(at(4), v=5)]
    result = aggregate(metric(A.COUNT), events, window=WINDOW)
    assert (result.units, result.events_count) == (D(3), 3)


def test_count_includes_both_window_edges_and_nothing_beyond() -> None:
    one_microsecond = timedelta(microseconds=1)
    events = [ev(START), ev(END), ev(START - one_microsecond), ev(END + one_microsecond)]
    assert units(A.COUNT, events) == 2


@pytest.mark.parametrize("kind", list(AggregationType))
def test_an_empty_window_aggregates_to_zero(kind: AggregationType) -> None:
    result = aggregate(metric(kind), [ev(at(1) - timedelta(days=3), v=4)], window=WINDOW)
    assert result == AggregationResult(
        units=D(0),
        events_count=0,
        current_value=D(0) if kind is A.WEIGHTED_SUM else None,
    )


def test_count_event_values_are_one_per_event_when_asked() -> None:
    result = aggregate(
        metric(A.COUNT), [ev(at(2)), ev(at(3))], window=WINDOW, with_event_values=True
    )
    assert result.event_values == (D(1), D(1))


def test_event_values_are_left_empty_unless_asked() -> None:
    assert aggregate(metric(A.SUM), [ev(at(2), v=1)], window=WINDOW).event_values == ()


# --- sum ----------------------------------------------------------------------------------


def test_sum_adds_ints_decimal_strings_floats_and_decimals_exactly() -> None:
    events = [ev(at(2), v=1), ev(at(3), v="2.25"), ev(at(4), v=0.1), ev(at(5), v=D("0.2"))]
    assert units(A.SUM, events) == D("3.55")


def test_sum_skips_non_numeric_values_and_does_not_count_their_events() -> None:
    events = [
        ev(at(2), "100", v=4),
        ev(at(3), "1", v="1e3"),
        ev(at(4), "1", v="abc"),
        ev(at(5), "1", v=True),
        ev(at(6), "1"),
        ev(at(7), "200", v="-1.5"),
    ]
    result = aggregate(metric(A.SUM), events, window=WINDOW, with_event_values=True)
    assert result.units == D("2.5")
    assert result.events_count == 2
    assert result.event_values == (D(4), D("-1.5"))
    assert result.precise_total_amount_cents == D(300)


def test_recurring_sum_carries_the_prior_events_over() -> None:
    prior = [ev(datetime(2024, 1, 5, tzinfo=UTC), v=10), ev(datetime(2024, 2, 5, tzinfo=UTC), v=-2)]
    assert units(A.SUM, [ev(at(3), v=5)], prior_events=prior, recurring=True) == 13


def test_non_recurring_sum_ignores_prior_events() -> None:
    prior = [ev(datetime(2024, 2, 5, tzinfo=UTC), v=10)]
    assert units(A.SUM, [ev(at(3), v=5)], prior_events=prior) == 5


def test_prior_events_inside_the_window_are_not_counted_twice() -> None:
    inside = ev(at(3), v=5)
    assert units(A.SUM, [inside], prior_events=[inside], recurring=True) == 5


# --- max and latest -----------------------------------------------------------------------


def test_max_is_the_largest_numeric_value() -> None:
    events = [ev(at(2), v="3.5"), ev(at(3), v=-10), ev(at(4), v="99x"), ev(at(5), v=2)]
    assert units(A.MAX, events) == D("3.5")


def test_max_of_negative_values_stays_negative() -> None:
    assert units(A.MAX, [ev(at(2), v=-3), ev(at(3), v=-1)]) == -1


def test_latest_is_the_value_of_the_most_recent_event_whatever_the_input_order() -> None:
    events = [ev(at(9), v=7), ev(at(2), v=100), ev(at(5), v=1)]
    assert units(A.LATEST, events) == 7


def test_latest_skips_events_without_a_numeric_value() -> None:
    assert units(A.LATEST, [ev(at(2), v=4), ev(at(3), v="n/a"), ev(at(4))]) == 4


def test_latest_between_equal_timestamps_takes_the_later_one_in_store_order() -> None:
    assert units(A.LATEST, [ev(at(2), v=1), ev(at(2), v=2)]) == 2


# --- unique count -------------------------------------------------------------------------


def test_unique_count_counts_distinct_texts() -> None:
    events = [
        ev(at(2), v="a"),
        ev(at(3), v="a"),
        ev(at(4), v="b"),
        ev(at(5), v=1),
        ev(at(6), v="1"),
    ]
    result = aggregate(metric(A.UNIQUE_COUNT), events, window=WINDOW)
    assert (result.units, result.events_count) == (D(3), 5)


def test_unique_count_ignores_events_without_the_field() -> None:
    result = aggregate(metric(A.UNIQUE_COUNT), [ev(at(2)), ev(at(3), v=None)], window=WINDOW)
    assert (result.units, result.events_count) == (D(0), 0)


def test_unique_count_removes_a_value_on_remove() -> None:
    events = [
        ev(at(2), v="a"),
        ev(at(3), v="b", operation_type="add"),
        ev(at(4), v="a", operation_type="remove"),
    ]
    assert units(A.UNIQUE_COUNT, events) == 1


def test_unique_count_remove_of_an_absent_value_changes_nothing() -> None:
    events = [ev(at(2), v="a", operation_type="remove"), ev(at(3), v="b")]
    assert units(A.UNIQUE_COUNT, events) == 1


def test_unique_count_re_add_after_remove_counts_once() -> None:
    events = [
        ev(at(2), v="a"),
        ev(at(3), v="a"),
        ev(at(4), v="a", operation_type="remove"),
        ev(at(5), v="a"),
    ]
    assert units(A.UNIQUE_COUNT, events) == 1


def test_unique_count_any_operation_other_than_add_removes() -> None:
    assert units(A.UNIQUE_COUNT, [ev(at(2), v="a"), ev(at(3), v="a", operation_type="x")]) == 0


def test_recurring_unique_count_keeps_values_added_in_earlier_periods() -> None:
    prior = [
        ev(datetime(2024, 1, 5, tzinfo=UTC), v="a"),
        ev(datetime(2024, 1, 6, tzinfo=UTC), v="b"),
        ev(datetime(2024, 2, 1, tzinfo=UTC), v="b", operation_type="remove"),
    ]
    current = [ev(at(2), v="c"), ev(at(3), v="a", operation_type="remove"), ev(at(4), v="d")]
    assert units(A.UNIQUE_COUNT, current, prior_events=prior, recurring=True) == 2
    assert units(A.UNIQUE_COUNT, current, prior_events=prior) == 2  # c, d: prior ignored
    assert units(A.UNIQUE_COUNT, [], prior_events=prior, recurring=True) == 1


# --- weighted sum -------------------------------------------------------------------------

DAY_START = datetime(2024, 3, 1, tzinfo=UTC)


def hours(n: float) -> datetime:
    return DAY_START + timedelta(hours=n)


def test_weighted_sum_worked_example_with_a_recurring_starting_value() -> None:
    # 10 (carried over) for 6h, 12 for 6h, 7 for 6h, 10 for 6h -> 234/24 = 9.75.
    prior = [ev(datetime(2024, 2, 1, tzinfo=UTC), v=4), ev(datetime(2024, 2, 9, tzinfo=UTC), v="6")]
    events = [ev(hours(6), v=2), ev(hours(12), v=-5), ev(hours(18), v=3)]
    result = aggregate(
        metric(A.WEIGHTED_SUM, recurring=True),
        events,
        window=(DAY_START, hours(24)),
        prior_events=prior,
    )
    assert result.units == D("9.75")
    assert result.current_value == D(10)
    assert result.events_count == 3


def test_weighted_sum_last_interval_ends_at_the_period_end_like_lago() -> None:
    # Lago's period ends at 23:59:59.999999 and divides by whole days of 86400 s.
    events = [ev(hours(6), v=2), ev(hours(12), v=-5), ev(hours(18), v=3)]
    end = hours(24) - timedelta(microseconds=1)
    result = aggregate(
        metric(A.WEIGHTED_SUM, recurring=True),
        events,
        window=(DAY_START, end),
        prior_events=[ev(datetime(2024, 2, 1, tzinfo=UTC), v=10)],
        period_days=1,
    )
    # 9.75 - 10 * 1e-6 / 86400, ceil to 20 digits.
    assert result.units == D("9.74999999988425925926")


def test_weighted_sum_without_carry_over_starts_at_zero() -> None:
    result = aggregate(
        metric(A.WEIGHTED_SUM),
        [ev(hours(12), v=4)],
        window=(DAY_START, hours(24)),
        prior_events=[ev(datetime(2024, 2, 1, tzinfo=UTC), v=10)],
    )
    assert result.units == 2


def test_weighted_sum_events_at_the_same_instant_weigh_together() -> None:
    events = [ev(hours(12), v=4), ev(hours(12), v=-1)]
    assert aggregate(metric(A.WEIGHTED_SUM), events, window=(DAY_START, hours(24))).units == D(
        "1.5"
    )


def test_weighted_sum_is_ceiled_to_20_digits() -> None:
    assert weighted_sum_units(D(0), [(hours(16), D(1))], window=(DAY_START, hours(24))) == D(
        "0.33333333333333333334"
    )


# --- prorated sum and unique count --------------------------------------------------------

PARIS = "Europe/Paris"
# March 2024 in Paris: CET until March 31 01:00 UTC, then CEST.
PARIS_START = datetime(2024, 2, 29, 23, tzinfo=UTC)
PARIS_END = datetime(2024, 3, 31, 21, 59, 59, 999999, tzinfo=UTC)
PARIS_WINDOW = (PARIS_START, PARIS_END)


def test_window_days_are_counted_in_the_customer_timezone() -> None:
    assert window_days(PARIS_WINDOW, PARIS) == 31
    assert window_days(PARIS_WINDOW, "UTC") == 32


def test_prorated_sum_worked_example_in_paris() -> None:
    prior = [ev(datetime(2024, 2, 15, tzinfo=UTC), v=10)]  # the whole month: 10 * 31/31
    events = [
        ev(datetime(2024, 3, 10, 23, 30, tzinfo=UTC), v=6),  # March 11 in Paris: 21 days
        ev(datetime(2024, 3, 20, 22, 30, tzinfo=UTC), v=-3),  # March 20 in Paris: 12 days
    ]
    result = aggregate(
        metric(A.SUM, recurring=True),
        events,
        window=PARIS_WINDOW,
        prior_events=prior,
        prorated=True,
        timezone=PARIS,
        period_days=31,
    )
    assert result.units == D("12.90323")  # (310 + 126 - 36) / 31 = 12.903225...
    assert result.full_units == D(13)
    in_utc = aggregate(
        metric(A.SUM, recurring=True),
        events,
        window=PARIS_WINDOW,
        prior_events=prior,
        prorated=True,
        timezone="UTC",
        period_days=31,
    )
    assert in_utc.units != result.units


def test_prorated_unique_count_worked_example_in_paris() -> None:
    feb = datetime(2024, 2, 10, tzinfo=UTC)
    prior = [
        ev(feb, v="a"),  # present all month: 31 days
        ev(feb, v="d"),
        ev(feb + timedelta(days=1), v="d", operation_type="remove"),  # gone before: 0
        ev(feb, v="e"),
    ]
    events = [
        ev(datetime(2024, 3, 1, 10, tzinfo=UTC), v="e", operation_type="remove"),  # 1 day
        ev(datetime(2024, 3, 4, 23, 30, tzinfo=UTC), v="b"),  # March 5 in Paris
        ev(datetime(2024, 3, 9, 22, tzinfo=UTC), v="b", operation_type="remove"),  # March 9
        ev(datetime(2024, 3, 30, 23, 30, tzinfo=UTC), v="c"),  # March 31 in Paris: 1 day
    ]
    result = aggregate(
        metric(A.UNIQUE_COUNT, recurring=True),
        events,
        window=PARIS_WINDOW,
        prior_events=prior,
        prorated=True,
        timezone=PARIS,
        period_days=31,
    )
    assert result.units == D("1.22581")  # (31 + 1 + 5 + 1) / 31 = 1.2258064...
    assert result.full_units == D(2)  # a and c


def test_prorated_unique_count_remove_day_counts_as_used() -> None:
    events = [ev(at(3, 1), v="a"), ev(at(3, 22), v="a", operation_type="remove")]
    result = aggregate(metric(A.UNIQUE_COUNT, recurring=True), events, window=WINDOW, prorated=True)
    assert result.units == D("0.03226")  # 1/31 ceiled to 5 digits


def test_prorated_unique_count_days_default_to_the_window_days() -> None:
    events = [ev(at(17), v="a")]
    result = aggregate(metric(A.UNIQUE_COUNT), events, window=WINDOW, prorated=True)
    assert result.units == D("0.48388")  # 15/31 = 0.483870...


# --- rounding -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("function", "precision", "expected"),
    [
        (RoundingFunction.ROUND, 2, D("1234.57")),
        (RoundingFunction.ROUND, 0, D(1235)),
        (RoundingFunction.ROUND, None, D(1235)),
        (RoundingFunction.ROUND, -2, D(1200)),
        (RoundingFunction.CEIL, 2, D("1234.57")),
        (RoundingFunction.CEIL, 0, D(1235)),
        (RoundingFunction.CEIL, None, D(1235)),
        (RoundingFunction.CEIL, -2, D(1300)),
        (RoundingFunction.FLOOR, 2, D("1234.56")),
        (RoundingFunction.FLOOR, 0, D(1234)),
        (RoundingFunction.FLOOR, None, D(1234)),
        (RoundingFunction.FLOOR, -2, D(1200)),
    ],
)
def test_metric_rounding_applies_to_units(
    function: RoundingFunction, precision: int | None, expected: Decimal
) -> None:
    m = metric(A.SUM, rounding_function=function, rounding_precision=precision)
    result = aggregate(m, [ev(at(2), v="1234.5678")], window=WINDOW)
    assert result.units == expected


def test_round_is_half_up() -> None:
    assert apply_rounding(D("2.5"), RoundingFunction.ROUND, 0) == 3
    assert apply_rounding(D("-2.5"), RoundingFunction.ROUND, 0) == -3
    assert apply_rounding(D("0.125"), RoundingFunction.ROUND, 2) == D("0.13")


def test_ceil_and_floor_go_towards_the_infinities_for_negative_values() -> None:
    assert apply_rounding(D("-1.5"), RoundingFunction.CEIL, 0) == -1
    assert apply_rounding(D("-1.5"), RoundingFunction.FLOOR, 0) == -2


def test_no_rounding_function_keeps_the_value() -> None:
    assert apply_rounding(D("1.23456"), None, 2) == D("1.23456")


def test_rounding_applies_to_prorated_and_full_units_alike() -> None:
    m = metric(A.SUM, recurring=True, rounding_function=RoundingFunction.CEIL)
    result = aggregate(m, [ev(at(17), v="2.5")], window=WINDOW, prorated=True)
    assert (result.units, result.full_units) == (D(2), D(3))  # 2.5*15/31 = 1.2097 -> 2


def test_rounding_applies_to_counts_too() -> None:
    m = metric(A.COUNT, rounding_function=RoundingFunction.ROUND, rounding_precision=-1)
    assert aggregate(m, [ev(at(2))] * 15, window=WINDOW).units == 20


# --- pay in advance -----------------------------------------------------------------------


def test_running_totals_of_a_sum_follow_timestamp_order() -> None:
    events = [ev(at(4), v=3), ev(at(2), v=5), ev(at(3), v="x"), ev(at(5), v=-4)]
    assert running_totals(metric(A.SUM), events) == [D(5), D(5), D(8), D(4)]


def test_running_totals_of_a_count_are_one_two_three() -> None:
    assert running_totals(metric(A.COUNT), [ev(at(2)), ev(at(3))]) == [D(1), D(2)]


def test_running_totals_of_a_unique_count_follow_adds_and_removes() -> None:
    events = [
        ev(at(2), v="a"),
        ev(at(3), v="b"),
        ev(at(4), v="a"),
        ev(at(5), v="a", operation_type="remove"),
        ev(at(6), v="c"),
    ]
    assert running_totals(metric(A.UNIQUE_COUNT), events) == [D(1), D(2), D(2), D(1), D(2)]


def test_high_water_mark_bills_only_what_rises_above_the_previous_maximum() -> None:
    totals = [D(5), D(3), D(8), D(10), D(2), D(11)]
    assert high_water_increments(totals) == [D(5), D(0), D(3), D(2), D(0), D(1)]


def test_high_water_mark_starts_from_the_previous_maximum() -> None:
    assert high_water_increments([D(4), D(7)], previous_max=D(5)) == [D(0), D(2)]
