"""Statement 1: every request's aggregates, grouped by subscription, from one scan.

`aggregate_values` runs it (plus the ranked statement a unique count needs when values
are removed) and returns the raw aggregate columns, which `results._result` reads.
`aggregate_columns` and `count_columns` are the per-request columns, over any inner
query that has the per-row values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import SimpleNamespace
from typing import Any

import sqlalchemy as sa
from sqlalchemy import ColumnElement, Connection

from meterly.domain.usage import AggregationType
from meterly.store.tables import events
from meterly.store.usage_queries.conditions import _lower, _order, request_conditions
from meterly.store.usage_queries.properties import _Properties
from meterly.store.usage_queries.request import _NUMERIC_TYPES, UsageRequest

# SQLite: JSON integers this short are summed natively (exact int64, no Python call);
# 100k of them stay far below the int64 range. Longer ones go through decimal_text.
_NATIVE_INTEGER_DIGITS = 12


def _number_columns(
    props: _Properties,
    field_name: str,
    *,
    when: ColumnElement[bool],
    suffix: str,
) -> list[ColumnElement[Any]]:
    """Per-row numeric value(s) of one request, computed once in the inner query.

    PostgreSQL: `num` (numeric). SQLite: `num_int` (short JSON integers, native) and `num`
    (every other numeric value as text the engine's exact aggregates read).
    Computed only on the rows `when` picks (NULL elsewhere); `suffix` ends their names.
    """
    if props.postgres:
        values: dict[str, ColumnElement[Any]] = {"num": props.number(field_name)}
    else:
        kind = sa.func.json_type(props.column, props._path(field_name))
        raw = props._json(field_name)
        native = sa.and_(kind == "integer", sa.func.length(raw) <= _NATIVE_INTEGER_DIGITS)
        values = {
            "num_int": sa.case((native, props.text_raw(field_name)), else_=sa.null()),
            # A JSON number as its JSON text (the exact aggregates read it; no Python call
            # per row), a string only when decimal_text finds Lago's plain number in it.
            "num": sa.case(
                (native, sa.null()),
                (kind.in_(("integer", "real")), sa.type_coerce(raw, sa.String())),
                (kind == "text", sa.func.decimal_text(raw)),
                else_=sa.null(),
            ),
        }
    return [
        sa.case((when, value), else_=sa.null()).label(name + suffix)
        for name, value in values.items()
    ]


def _unmerged(select: Any, postgres: bool) -> Any:
    """Keep the per-row values computed once: stop the planner from inlining the subquery."""
    return select.offset(0) if postgres else select.limit(-1)


def aggregate_columns(
    props: _Properties,
    req: UsageRequest,
    inner: Any,
    label: str,
    mine: ColumnElement[bool],
) -> tuple[ColumnElement[bool], list[ColumnElement[Any]]]:
    """Which of a request's events count, and its sums (in and before the window),
    maximum and weighted sum, over `inner` (rows with `ts`, numbers and `present`
    columns), of which `mine` picks the request's."""
    kind = req.metric.aggregation_type
    in_window: ColumnElement[bool] = (
        sa.and_(mine, inner.c.ts >= req.window_from) if req.includes_prior else mine
    )
    before_window = sa.and_(mine, inner.c.ts < req.window_from)
    columns: list[ColumnElement[Any]] = []
    if kind is AggregationType.COUNT:
        return in_window, columns
    if kind is AggregationType.UNIQUE_COUNT:
        return sa.and_(in_window, inner.c.present == 1), columns
    numbers = [inner.c.num] if props.postgres else [inner.c.num_int, inner.c.num]
    counted = sa.and_(in_window, sa.or_(*[n.is_not(None) for n in numbers]))
    for n, number in enumerate(numbers):
        native = n == 0 and not props.postgres
        add_up = sa.func.sum if native else props.sum
        present = sa.and_(number.is_not(None), in_window)
        columns.append(add_up(number).filter(present).label(f"{label}total{n}"))
        if req.includes_prior:
            columns.append(
                add_up(number)
                .filter(sa.and_(number.is_not(None), before_window))
                .label(f"{label}prior{n}")
            )
        if kind is AggregationType.MAX:
            top = sa.func.max if native else props.max
            columns.append(top(number).filter(present).label(f"{label}top{n}"))
        if kind is AggregationType.WEIGHTED_SUM:
            weighted = props.weighted_sum(number, inner.c.ts, req.window_to)
            columns.append(weighted.filter(present).label(f"{label}wsum{n}"))
    return counted, columns


def count_columns(
    props: _Properties, inner: Any, counted: ColumnElement[bool], label: str
) -> list[ColumnElement[Any]]:
    """How many events count, and the sum of their precise amounts."""
    return [
        sa.func.count().filter(counted).label(label + "n"),
        props.sum(inner.c.precise)
        .filter(sa.and_(inner.c.precise.is_not(None), counted))
        .label(label + "precise"),
    ]


class _Values(dict[str, Any]):
    """One subscription's aggregate columns; a column it has no row for reads as NULL."""

    def __missing__(self, key: str) -> Any:
        return None


def aggregate_values(
    conn: Connection,
    *,
    organization_id: str,
    external_subscription_ids: Sequence[str],
    requests: Sequence[UsageRequest],
) -> dict[str, Mapping[str, Any]]:
    """The aggregate columns of every request for each subscription (`_result` reads them).

    One statement reads the subscriptions' events once (every request's code) and computes
    every request's aggregates side by side, each over the rows its own conditions pick
    (an `m<i>` flag and per-request value columns in the inner query). Then:

    * a unique count is `count(DISTINCT value)` unless the subscription's events hold a
      remove: then its values are ranked by their last operation (one more statement, for
      those subscriptions only);
    * the latest value is one index probe per subscription (newest event first, LIMIT 1),
      a scalar subquery of the same statement.
    """
    sids = sorted(set(external_subscription_ids))
    values: dict[str, _Values] = {sid: _Values() for sid in sids}
    if not sids or not requests:
        return dict(values)
    dialect = conn.dialect.name

    def merge(statement: Any) -> None:
        for row in conn.execute(statement):
            mapping = row._mapping
            target = values.get(mapping["sid"])
            if target is not None:
                target.update((k, v) for k, v in mapping.items() if k != "sid")

    merge(_aggregates(requests, dialect, organization_id, sids))
    for i, req in enumerate(requests):
        kind = req.metric.aggregation_type
        if kind is AggregationType.UNIQUE_COUNT:
            removing = [sid for sid in sids if values[sid][f"r{i}_removes"]]
            for sid in removing:  # none present unless the ranked statement says so
                values[sid][f"r{i}_present"] = 0
            if removing:
                merge(_present_values(i, req, dialect, organization_id, removing))
    return dict(values)


def _aggregates(
    requests: Sequence[UsageRequest], dialect: str, organization_id: str, sids: Sequence[str]
) -> Any:
    """Every request's aggregate columns, grouped by subscription, from one scan."""
    t = events
    props = _Properties(t, dialect)
    inner_columns: list[ColumnElement[Any]] = [
        t.c.external_subscription_id.label("sid"),
        t.c.timestamp.label("ts"),
        t.c.precise_total_amount_cents.label("precise"),
    ]
    for i, req in enumerate(requests):
        mine = sa.and_(*request_conditions(props, req, _lower(req), req.window_to))
        field_name = req.metric.field_name or ""
        kind = req.metric.aggregation_type
        inner_columns.append(sa.case((mine, 1), else_=0).label(f"m{i}"))
        if kind in _NUMERIC_TYPES:
            inner_columns += _number_columns(props, field_name, when=mine, suffix=f"_{i}")
        elif kind is AggregationType.UNIQUE_COUNT:
            key = props.text(field_name)
            inner_columns += [
                sa.case((mine, props.present(field_name)), else_=0).label(f"present_{i}"),
                sa.case((mine, key), else_=sa.null()).label(f"key_{i}"),
                sa.case((sa.and_(mine, key.is_not(None), sa.not_(props.is_add())), 1), else_=0)
                .label(f"removes_{i}"),
            ]  # fmt: skip
    lowers = [_lower(req) for req in requests]
    bounds: list[ColumnElement[bool]] = [
        t.c.organization_id == organization_id,
        t.c.external_subscription_id.in_(sids),
        t.c.code.in_(sorted({req.metric.code for req in requests})),
        t.c.timestamp <= max(req.window_to for req in requests),
    ]
    if all(lower is not None for lower in lowers):
        bounds.append(t.c.timestamp >= min(lower for lower in lowers if lower is not None))
    inner = _unmerged(sa.select(*inner_columns).where(*bounds), props.postgres).subquery("e")

    sid = sa.literal(sids[0], sa.String()) if len(sids) == 1 else inner.c.sid
    columns: list[ColumnElement[Any]] = []
    for i, req in enumerate(requests):
        label = f"r{i}_"
        view = SimpleNamespace(
            c=SimpleNamespace(
                ts=inner.c.ts,
                precise=inner.c.precise,
                **{
                    name: inner.c[f"{name}_{i}"]
                    for name in ("num", "num_int", "present")
                    if f"{name}_{i}" in inner.c
                },
            )
        )
        counted, request_columns = aggregate_columns(
            props, req, view, label, mine=inner.c[f"m{i}"] == 1
        )
        columns += request_columns
        columns += count_columns(props, view, counted, label)
        if req.metric.aggregation_type is AggregationType.UNIQUE_COUNT:
            columns += [
                sa.func.count(sa.distinct(inner.c[f"key_{i}"])).label(f"{label}present"),
                sa.func.sum(inner.c[f"removes_{i}"]).label(f"{label}removes"),
            ]
        if req.metric.aggregation_type is AggregationType.LATEST:
            columns.append(_latest_value(i, req, dialect, organization_id, sid))
    if len(sids) == 1:
        # One subscription (current usage): a plain aggregate, nothing to sort or group.
        return sa.select(sid.label("sid"), *columns).select_from(inner)
    return sa.select(inner.c.sid, *columns).group_by(inner.c.sid)


def _present_values(
    i: int, req: UsageRequest, dialect: str, organization_id: str, sids: Sequence[str]
) -> Any:
    """Unique count: per subscription, how many values have an add as their last operation."""
    t = events
    props = _Properties(t, dialect)
    key = props.text(req.metric.field_name or "")
    sid = t.c.external_subscription_id
    ranked = (
        sa.select(
            sid.label("sid"),
            sa.case((props.is_add(), 1), else_=0).label("a"),
            sa.func.row_number()
            .over(partition_by=[sid, key], order_by=_order(t, descending=True))
            .label("rn"),
        )
        .where(
            t.c.organization_id == organization_id,
            t.c.external_subscription_id.in_(sids),
            *request_conditions(props, req, _lower(req), req.window_to),
            key.is_not(None),
        )
        .subquery(f"u{i}")
    )
    return (
        sa.select(ranked.c.sid, sa.func.count().label(f"r{i}_present"))
        .where(ranked.c.rn == 1, ranked.c.a == 1)
        .group_by(ranked.c.sid)
    )


def _latest_value(
    i: int, req: UsageRequest, dialect: str, organization_id: str, sid: ColumnElement[Any]
) -> ColumnElement[Any]:
    """Latest: the numeric value of subscription `sid`'s newest event that has one."""
    t = events.alias(f"l{i}")
    props = _Properties(t, dialect)
    number = props.number(req.metric.field_name or "")
    newest = (
        sa.select(number)
        .where(
            t.c.organization_id == organization_id,
            t.c.external_subscription_id == sid,
            *request_conditions(props, req, _lower(req), req.window_to),
            number.is_not(None),
        )
        .order_by(*_order(t, descending=True))
        .limit(1)
        .scalar_subquery()
    )
    return newest.label(f"r{i}_latest")
