"""Reference usage aggregations: Lago's billable-metric semantics as pure functions.

`aggregate` takes the events of one subscription and one metric code and returns an
`AggregationResult`. The store (store/usage_queries.py) computes the same numbers in SQL
and reuses the small building blocks below (`weighted_sum_units`, `unique_count_units`,
`apply_rounding`) and those of `meterly.domain.proration` (prorated sums and unique counts,
and their per-event increments) to finish the aggregations that need ordered rows, so both
paths agree to the last digit.

Rules shared by both paths (see reference/lago-semantics.md and lago-features.md §2-3):

* The window is inclusive at both ends: `from <= timestamp <= to`.
* A property value is numeric when it is an int, a finite float (read as
  `Decimal(repr(value))`), a finite Decimal, or a string matching `^-?[0-9]+(\\.[0-9]+)?$`
  (Lago's rule: no exponent, no spaces). Booleans, other strings, null: not numeric.
  Sum, max, latest and weighted sum only see events with a numeric value; their
  `events_count` counts those events.
* A property's *text* (`property_text`) is what PostgreSQL's `properties->>'key'` gives:
  strings as they are, numbers in plain notation, `true`/`false`. Unique counts, charge
  filters and pricing groups compare texts, so `1` and `"1"` are the same value.
* Events with equal timestamps keep the order they are given in (the store orders them by
  `timestamp, created_at, lago_id`).
* `operation_type` (unique count): a missing/null value or `"add"` adds, anything else
  removes (Lago: `COALESCE(operation_type, 'add') = 'add'`). A value counts when its last
  operation is an add; consecutive adds count once, a remove of an absent value is a no-op.
* Recurring metrics (sum, unique count, weighted sum) also take `prior_events`: the
  subscription's events before the window, with no lower time bound at all (Lago's event
  store applies none for a recurring metric: events timestamped before the subscription
  started count too). Count, max and latest ignore them.
* Latest: a negative last value gives 0 units (lago-semantics item 13).
* Prorated sums and unique counts also give, per event in order, its (full, prorated)
  increment (`prorated_events`): the prorated graduated model walks them.
* Rounding: the metric's `rounding_function` with `rounding_precision` (None -> 0, may be
  negative) is applied last, to `units` and `full_units`. Built in: prorated sum and
  prorated unique count `ceil(5)`, weighted sum `ceil(20)` (the non-prorated unique count
  is an integer, so its `ceil(5)` changes nothing).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, localcontext

from meterly.domain.money import ceil_to, floor_to, round_to
from meterly.domain.proration import (
    ProratedIncrement,
    Window,
    prorated_sum_increments,
    prorated_sum_units,
    prorated_unique_count_increments,
    prorated_unique_count_units,
)
from meterly.domain.proration import window_days as window_days  # re-exported
from meterly.domain.usage import AggregationType, BillableMetric, RoundingFunction, UsageEvent

PLAIN_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")
OPERATION_TYPE = "operation_type"
ADD = "add"
WEIGHTED_SUM_PRECISION = 20
UNIQUE_COUNT_PRECISION = 5
SECONDS_PER_DAY = 86400
# Digits for the intermediate products and quotients (Lago uses BigDecimal).
_WORK_PRECISION = 60
_ZERO = Decimal(0)
_ONE = Decimal(1)


@dataclass(frozen=True, slots=True)
class AggregationResult:
    """What a charge model needs from the usage of one metric (one filter, one group).

    `units`: the aggregated quantity after the metric's rounding.
    `events_count`: events the aggregation looked at in the window (see module doc).
    `full_units`: for prorated charges, the unprorated units (Lago's full_units_number).
    `event_values`: per-event values in timestamp order (count: 1 per event), filled when
      asked for (`with_event_values=True`); the percentage model needs them.
    `precise_total_amount_cents`: sum over the counted events (the dynamic model).
    `current_value`: weighted sum only, the running total at the window's end (the starting
      value of the next period of a recurring metric).
    `prorated_events`: prorated sum and unique count only (None otherwise), each event's
      (full, prorated) increment in timestamp order, unrounded; a recurring metric's
      earlier events come first (see `prorated_sum_increments`,
      `prorated_unique_count_increments`).
    """

    units: Decimal
    events_count: int
    full_units: Decimal | None = None
    event_values: tuple[Decimal, ...] = ()
    precise_total_amount_cents: Decimal = _ZERO
    current_value: Decimal | None = None
    prorated_events: tuple[ProratedIncrement, ...] | None = None


# --- property values ----------------------------------------------------------------------


def _is_json_null(obj: object) -> bool:
    # NaN and infinities are written as JSON null by the store's serializer.
    return obj is None or (isinstance(obj, float) and not math.isfinite(obj))


def numeric_value(obj: object) -> Decimal | None:
    """A property value as a Decimal, or None when Lago would not aggregate it."""
    if obj is None or isinstance(obj, bool):
        return None
    if isinstance(obj, int):
        return Decimal(obj)
    if isinstance(obj, float):
        return Decimal(repr(obj)) if math.isfinite(obj) else None
    if isinstance(obj, Decimal):
        return obj if obj.is_finite() else None
    if isinstance(obj, str):
        return Decimal(obj) if PLAIN_NUMBER.fullmatch(obj) else None
    return None


def property_text(obj: object) -> str | None:
    """A property value as text, the way PostgreSQL's `properties->>'key'` renders it."""
    if _is_json_null(obj):
        return None
    if isinstance(obj, bool):
        return "true" if obj else "false"
    if isinstance(obj, str):
        return obj
    if isinstance(obj, int):
        return str(obj)
    if isinstance(obj, float):
        return format(Decimal(repr(obj)), "f")
    if isinstance(obj, Decimal):
        # The store serializes a Decimal as a JSON string in plain notation.
        return format(obj, "f")
    return json.dumps(obj, default=str)


def is_add_operation(properties: Mapping[str, object]) -> bool:
    """Unique count: does this event add its value (else it removes it)?"""
    operation = properties.get(OPERATION_TYPE)
    return _is_json_null(operation) or operation == ADD


def _value(event: UsageEvent, field_name: str | None) -> Decimal | None:
    return None if field_name is None else numeric_value(event.properties.get(field_name))


def _text(event: UsageEvent, field_name: str | None) -> str | None:
    return None if field_name is None else property_text(event.properties.get(field_name))


# --- rounding -----------------------------------------------------------------------------


def apply_rounding(
    value: Decimal, function: RoundingFunction | None, precision: int | None
) -> Decimal:
    """The metric's rounding of the aggregated units (half up for `round`)."""
    if function is None:
        return value
    digits = precision or 0
    with localcontext(prec=_WORK_PRECISION):
        if function is RoundingFunction.ROUND:
            return round_to(value, digits)
        if function is RoundingFunction.CEIL:
            return ceil_to(value, digits)
        return floor_to(value, digits)


def apply_metric_rounding(metric: BillableMetric, value: Decimal) -> Decimal:
    return apply_rounding(value, metric.rounding_function, metric.rounding_precision)


# --- building blocks shared with the store ------------------------------------------------


def seconds_between(start: datetime, end: datetime) -> Decimal:
    """Exact seconds from `start` to `end` (microseconds kept)."""
    delta = end - start
    return Decimal(delta.days * SECONDS_PER_DAY + delta.seconds) + Decimal(
        delta.microseconds
    ).scaleb(-6)


def weighted_sum_units(
    initial: Decimal,
    deltas: Sequence[tuple[datetime, Decimal]],
    *,
    window: Window,
    period_days: int | None = None,
) -> Decimal:
    """Σ running_total × seconds it stays / period seconds, ceil(20).

    The running total starts at `initial` at the window start; each delta (in the window,
    in timestamp order) changes it; the last interval runs to the window end. The divisor
    is `period_days` × 86400 when given, else the window's length in seconds.
    Σ total_i × (t_{i+1} - t_i) telescopes to initial × (to - from) + Σ delta_i × (to - t_i),
    so the order of the deltas does not matter (the store sums the second term in SQL).
    """
    end = window[1]
    with localcontext(prec=_WORK_PRECISION):
        weighted = sum((delta * seconds_between(moment, end) for moment, delta in deltas), _ZERO)
    return weighted_sum_of(initial, weighted, window=window, period_days=period_days)


def weighted_sum_of(
    initial: Decimal, weighted_deltas: Decimal, *, window: Window, period_days: int | None = None
) -> Decimal:
    """`weighted_sum_units` given Σ delta_i × seconds(t_i, to) (`weighted_deltas`)."""
    start, end = window
    with localcontext(prec=_WORK_PRECISION):
        weighted = initial * seconds_between(start, end) + weighted_deltas
        divisor = (
            Decimal(period_days * SECONDS_PER_DAY) if period_days else seconds_between(start, end)
        )
        if divisor <= 0:
            return _ZERO
        return ceil_to(weighted / divisor, WEIGHTED_SUM_PRECISION)


def unique_count_units(operations: Iterable[tuple[str, bool]]) -> int:
    """How many values are present after the (value, is_add) operations, in order."""
    present: dict[str, bool] = {}
    for value, is_add in operations:
        present[value] = is_add
    return sum(1 for is_add in present.values() if is_add)


# --- the reference aggregation ------------------------------------------------------------


def _in_order(events: Iterable[UsageEvent]) -> list[UsageEvent]:
    return sorted(events, key=lambda event: event.timestamp)


def _precise_sum(events: Iterable[UsageEvent]) -> Decimal:
    total = _ZERO
    for event in events:
        if event.precise_total_amount_cents is not None:
            total += event.precise_total_amount_cents
    return total


def aggregate(
    metric: BillableMetric,
    events: Sequence[UsageEvent],
    *,
    window: Window,
    prior_events: Sequence[UsageEvent] = (),
    prorated: bool = False,
    timezone: str = "UTC",
    period_days: int | None = None,
    with_event_values: bool = False,
) -> AggregationResult:
    """Aggregate one metric over the events of one subscription (see the module doc).

    `events` outside the window are ignored; `prior_events` count only for recurring
    metrics and only those before the window start.
    """
    start, end = window
    current = _in_order(e for e in events if start <= e.timestamp <= end)
    prior = _in_order(e for e in prior_events if e.timestamp < start) if metric.recurring else []
    kind = metric.aggregation_type
    field_name = metric.field_name

    if kind is AggregationType.COUNT:
        return AggregationResult(
            units=apply_metric_rounding(metric, Decimal(len(current))),
            events_count=len(current),
            event_values=(_ONE,) * len(current) if with_event_values else (),
            precise_total_amount_cents=_precise_sum(current),
        )

    if kind is AggregationType.UNIQUE_COUNT:
        return _unique_count(
            metric, current, prior, window, prorated=prorated, timezone=timezone,
            period_days=period_days,
        )  # fmt: skip

    numeric = [(e, v) for e in current if (v := _value(e, field_name)) is not None]
    values = [v for _, v in numeric]
    event_values = tuple(values) if with_event_values else ()
    precise = _precise_sum(e for e, _ in numeric)
    prior_values = [v for e in prior if (v := _value(e, field_name)) is not None]

    if kind is AggregationType.SUM:
        with localcontext(prec=_WORK_PRECISION):
            full = sum(prior_values, _ZERO) + sum(values, _ZERO)
        if prorated:
            pairs = [(start, sum(prior_values, _ZERO))] if prior_values else []
            pairs += [(e.timestamp, v) for e, v in numeric]
            units = prorated_sum_units(
                pairs, window=window, timezone=timezone, period_days=period_days
            )
            return AggregationResult(
                units=apply_metric_rounding(metric, units),
                events_count=len(values),
                full_units=apply_metric_rounding(metric, full),
                event_values=event_values,
                precise_total_amount_cents=precise,
                prorated_events=prorated_sum_increments(
                    pairs, window=window, timezone=timezone, period_days=period_days
                ),
            )
        return AggregationResult(
            units=apply_metric_rounding(metric, full),
            events_count=len(values),
            event_values=event_values,
            precise_total_amount_cents=precise,
        )

    if kind is AggregationType.MAX:
        units = max(values) if values else _ZERO
    elif kind is AggregationType.LATEST:
        # A negative last value gives 0 units (Lago clamps latest_agg at 0).
        units = max(values[-1], _ZERO) if values else _ZERO
    elif kind is AggregationType.WEIGHTED_SUM:
        with localcontext(prec=_WORK_PRECISION):
            initial = sum(prior_values, _ZERO)
            final = initial + sum(values, _ZERO)
        units = weighted_sum_units(
            initial,
            [(e.timestamp, v) for e, v in numeric],
            window=window,
            period_days=period_days,
        )
        return AggregationResult(
            units=apply_metric_rounding(metric, units),
            events_count=len(values),
            event_values=event_values,
            precise_total_amount_cents=precise,
            current_value=final,
        )
    else:  # pragma: no cover - every AggregationType is handled above
        raise ValueError(f"unsupported aggregation type: {kind}")
    return AggregationResult(
        units=apply_metric_rounding(metric, units),
        events_count=len(values),
        event_values=event_values,
        precise_total_amount_cents=precise,
    )


def _unique_count(
    metric: BillableMetric,
    current: list[UsageEvent],
    prior: list[UsageEvent],
    window: Window,
    *,
    prorated: bool,
    timezone: str,
    period_days: int | None,
) -> AggregationResult:
    counted = [(e, t) for e in current if (t := _text(e, metric.field_name)) is not None]
    operations = [
        (e.timestamp, text, is_add_operation(e.properties))
        for e in [*prior, *current]
        if (text := _text(e, metric.field_name)) is not None
    ]
    full = Decimal(unique_count_units((value, is_add) for _, value, is_add in operations))
    if not prorated:
        return AggregationResult(
            units=apply_metric_rounding(metric, full),
            events_count=len(counted),
            precise_total_amount_cents=_precise_sum(e for e, _ in counted),
        )
    units = prorated_unique_count_units(
        operations, window=window, timezone=timezone, period_days=period_days
    )
    return AggregationResult(
        units=apply_metric_rounding(metric, units),
        events_count=len(counted),
        full_units=apply_metric_rounding(metric, full),
        precise_total_amount_cents=_precise_sum(e for e, _ in counted),
        prorated_events=prorated_unique_count_increments(
            operations, window=window, timezone=timezone, period_days=period_days
        ),
    )


# --- pay in advance -----------------------------------------------------------------------


def running_totals(metric: BillableMetric, events: Sequence[UsageEvent]) -> list[Decimal]:
    """The aggregate after each event, in timestamp order (one entry per event).

    count: 1, 2, 3...; sum (and the other numeric types): the cumulative sum of numeric
    values (a non-numeric event repeats the previous total); unique count: the number of
    present values after the event's add or remove.
    """
    totals: list[Decimal] = []
    kind = metric.aggregation_type
    if kind is AggregationType.COUNT:
        return [Decimal(n) for n in range(1, len(events) + 1)]
    if kind is AggregationType.UNIQUE_COUNT:
        present: set[str] = set()
        for event in _in_order(events):
            text = _text(event, metric.field_name)
            if text is not None:
                if is_add_operation(event.properties):
                    present.add(text)
                else:
                    present.discard(text)
            totals.append(Decimal(len(present)))
        return totals
    total = _ZERO
    for event in _in_order(events):
        value = _value(event, metric.field_name)
        if value is not None:
            total += value
        totals.append(total)
    return totals


def high_water_increments(
    totals: Sequence[Decimal], *, previous_max: Decimal = _ZERO
) -> list[Decimal]:
    """Pay in advance (sum, unique count): the billable part of each running total.

    Only what rises above the highest total seen so far in the period is billed; a
    decrease bills 0 and must be climbed back before anything is billed again.
    """
    increments: list[Decimal] = []
    high = previous_max
    for total in totals:
        increments.append(max(total - high, _ZERO))
        high = max(high, total)
    return increments
