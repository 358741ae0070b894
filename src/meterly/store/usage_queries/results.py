"""Assembling one request's `AggregationResult` from its aggregate columns and rows.

SQLite gives some aggregates in two parts (short integers summed natively, the other
numbers as exact decimal text); they are added up here, exactly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal, localcontext
from typing import Any

from sqlalchemy.engine import Row

from meterly.domain.aggregation import AggregationResult, apply_metric_rounding, weighted_sum_of
from meterly.domain.proration import (
    prorated_sum_increments,
    prorated_sum_units,
    prorated_unique_count_increments,
    prorated_unique_count_units,
)
from meterly.domain.usage import AggregationType
from meterly.store.usage_queries.request import UsageRequest

_ZERO = Decimal(0)
_ONE = Decimal(1)


def _parts(values: Mapping[str, Any], name: str) -> list[Decimal]:
    """The non-null values of `name0`, `name1`... (SQLite splits native and decimal parts)."""
    found = (_dec(values.get(f"{name}{n}")) for n in range(2))
    return [v for v in found if v is not None]


def _exact_sum(*values: Decimal) -> Decimal:
    with localcontext(prec=60):
        return sum(values, _ZERO)


def _dec(value: object) -> Decimal | None:
    if value is None:
        return None
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _result(
    i: int, req: UsageRequest, values: Mapping[str, Any], rows: Sequence[Row[Any]]
) -> AggregationResult:
    metric = req.metric
    kind = metric.aggregation_type
    window = (req.window_from, req.window_to)
    label = f"r{i}_"
    count = int(values[label + "n"] or 0)
    precise = _dec(values[label + "precise"]) or _ZERO

    if kind is AggregationType.COUNT:
        return AggregationResult(
            units=apply_metric_rounding(metric, Decimal(count)),
            events_count=count,
            event_values=(_ONE,) * count if req.with_event_values else (),
            precise_total_amount_cents=precise,
        )

    if kind is AggregationType.UNIQUE_COUNT:
        full = Decimal(int(values[label + "present"] or 0))
        if not req.prorated:
            return AggregationResult(
                units=apply_metric_rounding(metric, full),
                events_count=count,
                precise_total_amount_cents=precise,
            )
        operations = [(row.ts, str(row.k), bool(row.a)) for row in rows if row.k is not None]
        units = prorated_unique_count_units(
            operations, window=window, timezone=req.timezone, period_days=req.period_days
        )
        return AggregationResult(
            units=apply_metric_rounding(metric, units),
            events_count=count,
            full_units=apply_metric_rounding(metric, full),
            precise_total_amount_cents=precise,
            prorated_events=prorated_unique_count_increments(
                operations, window=window, timezone=req.timezone, period_days=req.period_days
            ),
        )

    numeric = [(row.ts, _dec(row.num) or _ZERO) for row in rows if row.num is not None]
    event_values = tuple(v for _, v in numeric) if req.with_event_values else ()
    total = _exact_sum(*_parts(values, label + "total"))
    prior = _exact_sum(*_parts(values, label + "prior"))

    if kind is AggregationType.SUM:
        full = _exact_sum(prior, total)
        if req.prorated:
            pairs = [(req.window_from, prior), *numeric]
            units = prorated_sum_units(
                pairs, window=window, timezone=req.timezone, period_days=req.period_days
            )
            return AggregationResult(
                units=apply_metric_rounding(metric, units),
                events_count=count,
                full_units=apply_metric_rounding(metric, full),
                event_values=event_values,
                precise_total_amount_cents=precise,
                prorated_events=prorated_sum_increments(
                    pairs, window=window, timezone=req.timezone, period_days=req.period_days
                ),
            )
        return AggregationResult(
            units=apply_metric_rounding(metric, full),
            events_count=count,
            event_values=event_values,
            precise_total_amount_cents=precise,
        )

    if kind is AggregationType.WEIGHTED_SUM:
        weighted = _exact_sum(*_parts(values, label + "wsum"))
        units = weighted_sum_of(prior, weighted, window=window, period_days=req.period_days)
        return AggregationResult(
            units=apply_metric_rounding(metric, units),
            events_count=count,
            event_values=event_values,
            precise_total_amount_cents=precise,
            current_value=_exact_sum(prior, total),
        )

    if kind is AggregationType.MAX:
        units = max(_parts(values, label + "top"), default=_ZERO)
    else:
        # A negative last value gives 0 units (Lago clamps latest_agg at 0).
        units = max(_dec(values[label + "latest"]) or _ZERO, _ZERO)
    return AggregationResult(
        units=apply_metric_rounding(metric, units),
        events_count=count,
        event_values=event_values,
        precise_total_amount_cents=precise,
    )
