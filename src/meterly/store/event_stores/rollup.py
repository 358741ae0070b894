"""The whole hours of a usage window, read from the hourly rollup (`events_hourly`).

A request the rollup can answer is a count, a sum or a max over its window with no
filter, exclusion or group (the rollup keeps no property texts), nothing carried over from
before the window (a recurring metric) and no per-event values or rows. Its window
[from, to] splits into whole UTC hours [first, last), read here, and two ragged edges,
[from, first) and [last, to], that `usage.aggregate_values` scans from `events` with the
other requests. However many events a month holds, its hours are 744 rollup rows.

The columns are the ones `usage_queries.results._result` reads: the events counted (`n`),
the sum (`total1`, added to the edges' `total0`), the largest value (`top1`, beside the
edges' `top0`) and the precise amounts, per subscription.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from meterly.domain.usage import AggregationType
from meterly.store.event_stores.clickhouse import ClickHouseEvents
from meterly.store.event_stores.sql import instant, text, texts
from meterly.store.usage_queries.request import UsageRequest

Span = tuple[datetime, datetime]
_HOUR = timedelta(hours=1)
_TICK = timedelta(microseconds=1)
_ROLLED = (AggregationType.COUNT, AggregationType.SUM, AggregationType.MAX)


def rollable(req: UsageRequest) -> bool:
    kind = req.metric.aggregation_type
    return (
        kind in _ROLLED
        and (kind is AggregationType.COUNT or bool(req.metric.field_name))
        and not req.filter_values
        and not req.exclude_filters
        and not req.group_values
        and not req.includes_prior
        and not req.with_event_values
        and not req.needs_numeric_rows
    )


def _floor_hour(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def whole_hours(req: UsageRequest) -> Span | None:
    """[first, last): the whole hours inside the window, when the rollup answers for them."""
    if not rollable(req):
        return None
    start = req.window_from.astimezone(UTC)
    first = _floor_hour(start)
    if first < start:
        first += _HOUR
    # The window's end is included: an hour is whole when it ends by `to` + 1 µs.
    last = _floor_hour(req.window_to + _TICK)
    return (first, last) if first < last else None


def rollup_values(
    store: ClickHouseEvents,
    *,
    organization_id: str,
    sids: Sequence[str],
    spans: Mapping[int, tuple[UsageRequest, Span]],
) -> dict[str, dict[str, Any]]:
    """Per subscription, each spanned request's columns over its whole hours: one statement
    per distinct span (the requests of one usage call nearly always share theirs)."""
    found: dict[str, dict[str, Any]] = {sid: {} for sid in sids}
    by_span: dict[Span, list[int]] = {}
    for i, (_, span) in spans.items():
        by_span.setdefault(span, []).append(i)
    for (first, last), indexes in by_span.items():
        codes = sorted({spans[i][0].metric.code for i in indexes})
        rows = store.transport.query(
            "SELECT external_subscription_id, code, sum(events), sum(precise), sumMap(sums),"
            " sumMap(counts), sumMap(precise_sums), maxMap(maxes)"
            f" FROM {store.database}.events_hourly"
            f" WHERE organization_id = {text(organization_id)}"
            f" AND external_subscription_id IN {texts(sids)} AND code IN {texts(codes)}"
            f" AND hour >= {instant(first)} AND hour < {instant(last)}"
            " GROUP BY external_subscription_id, code"
        )
        by_key = {(r[0], r[1]): r for r in rows}
        for sid in sids:
            for i in indexes:
                req = spans[i][0]
                found[sid].update(_columns(i, req, by_key.get((sid, req.metric.code))))
    return found


def _columns(i: int, req: UsageRequest, row: list[Any] | None) -> dict[str, Any]:
    label = f"r{i}_"
    if row is None:
        return {label + "n": 0, label + "precise": Decimal(0)}
    if req.metric.aggregation_type is AggregationType.COUNT:
        return {label + "n": int(str(row[2])), label + "precise": Decimal(str(row[3]))}
    key = req.metric.field_name or ""
    sums, counts, precise_sums, maxes = row[4], row[5], row[6], row[7]
    n = int(str(counts.get(key, 0)))
    return {
        label + "n": n,
        # A key whose sum is 0 may be left out of a summed map: it reads as 0.
        label + "total1": Decimal(str(sums.get(key, 0))),
        label + "top1": Decimal(str(maxes.get(key, 0))) if n else None,
        label + "precise": Decimal(str(precise_sums.get(key, 0))),
    }


def add_edges(columns: dict[str, Any], edges: Mapping[str, Any], i: int) -> None:
    """The whole hours' columns of request `i` plus its edges' (scanned from `events`)."""
    label = f"r{i}_"
    columns[label + "n"] += int(edges.get(label + "n") or 0)
    columns[label + "precise"] += edges.get(label + "precise") or Decimal(0)
