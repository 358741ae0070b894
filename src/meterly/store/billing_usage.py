"""Usage of many subscriptions at once: the billing run's grouped aggregation.

A billing run prices the same requests (plan, charges window, recurring start, period
length) for many subscriptions. Instead of one statement per subscription, each request
here is one statement over the events of a whole batch of subscriptions
(`external_subscription_id IN (...) ... GROUP BY external_subscription_id`): the database
reads each event once per batch, and the statement is built once per batch.

The results are those of `usage_queries.aggregate_subscription_usage` for each
subscription on its own: the same per-row SQL expressions, the same filters and time
bounds, the same assembly (`usage_queries._result`), only grouped by subscription. The
ordered rows that weighted sums, prorated sums and per-event values need are streamed in
(subscription, request) order and turned into results one group at a time, so memory
holds one group of rows, not the batch's events.

Requests that need add/remove operation rows (prorated unique counts) or group values
(`pricing_group_keys`) are not handled here: `supported` says so, and the caller
aggregates those subscriptions one by one.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import ColumnElement, Connection

from meterly.domain.aggregation import AggregationResult
from meterly.domain.usage import AggregationType
from meterly.store.tables import events
from meterly.store.usage_queries import (
    _NUMERIC_TYPES,
    UsageRequest,
    _matches,
    _number_columns,
    _order,
    _Properties,
    _result,
    _unmerged,
    aggregate_columns,
    count_columns,
)

# Rows of one fetch, streamed from the server in chunks of this many.
_STREAM_CHUNK = 2_000


class _Values(dict[str, Any]):
    """One subscription's aggregate columns; a column it has no row for reads as NULL."""

    def __missing__(self, key: str) -> Any:
        return None


def supported(requests: Sequence[UsageRequest]) -> bool:
    """Whether `aggregate_batch` answers these requests (else aggregate one by one)."""
    return all(not r.needs_operation_rows and r.group_values is None for r in requests)


def aggregate_batch(
    conn: Connection,
    *,
    organization_id: str,
    external_subscription_ids: Sequence[str],
    requests: Sequence[UsageRequest],
) -> dict[str, list[AggregationResult]]:
    """Every request for every subscription of the batch: external id -> results in order."""
    if not supported(requests):
        raise ValueError("requests need operation rows or groups: aggregate them one by one")
    sids = sorted(set(external_subscription_ids))
    values: dict[str, _Values] = {sid: _Values() for sid in sids}
    if not sids:
        return {}
    dialect = conn.dialect.name
    for i, req in enumerate(requests):
        for statement in _aggregate_statements(i, req, dialect, organization_id, sids):
            for row in conn.execute(statement):
                mapping = row._mapping
                target = values.get(mapping["sid"])
                if target is not None:
                    target.update((k, v) for k, v in mapping.items() if k != "sid")
    results: dict[str, list[AggregationResult | None]] = {
        sid: [None] * len(requests) for sid in sids
    }
    for sid, i, rows in _grouped_rows(conn, requests, dialect, organization_id, sids):
        if sid in results:
            results[sid][i] = _result(i, requests[i], values[sid], rows)
    return {
        sid: [
            found if found is not None else _result(i, req, values[sid], [])
            for i, (found, req) in enumerate(zip(per_sub, requests, strict=True))
        ]
        for sid, per_sub in results.items()
    }


# --- conditions ---------------------------------------------------------------------------


def _selection(
    props: _Properties,
    *,
    organization_id: str,
    sids: Sequence[str],
    request: UsageRequest,
    lower: datetime | None,
    upper: datetime | None,
) -> ColumnElement[bool]:
    """`usage_queries._selection` for a batch: the same bounds, filters and exclusions."""
    t = props.table
    conditions: list[ColumnElement[bool]] = [
        t.c.organization_id == organization_id,
        t.c.external_subscription_id.in_(sids),
        t.c.code == request.metric.code,
    ]
    if lower is not None:
        conditions.append(t.c.timestamp >= lower)
    if upper is not None:
        conditions.append(t.c.timestamp <= upper)
    if request.filter_values:
        conditions.append(_matches(props, request.filter_values, request))
    for excluded in request.exclude_filters:
        conditions.append(sa.not_(_matches(props, excluded, request)))
    return sa.and_(*conditions)


def _scope(
    props: _Properties, organization_id: str, sids: Sequence[str], req: UsageRequest
) -> ColumnElement[bool]:
    lower = req.recurring_from if req.includes_prior else req.window_from
    return _selection(
        props,
        organization_id=organization_id,
        sids=sids,
        request=req,
        lower=lower,
        upper=req.window_to,
    )


# --- aggregates: one grouped statement per request (two for unique counts and latest) -----


def _aggregate_statements(
    i: int, req: UsageRequest, dialect: str, organization_id: str, sids: Sequence[str]
) -> list[Any]:
    statements = [_grouped_aggregates(i, req, dialect, organization_id, sids)]
    kind = req.metric.aggregation_type
    if kind is AggregationType.UNIQUE_COUNT:
        statements.append(_present_values(i, req, dialect, organization_id, sids))
    if kind is AggregationType.LATEST:
        statements.append(_latest_values(i, req, dialect, organization_id, sids))
    return statements


def _grouped_aggregates(
    i: int, req: UsageRequest, dialect: str, organization_id: str, sids: Sequence[str]
) -> Any:
    """`usage_queries._request_aggregates`, grouped by subscription."""
    t = events
    props = _Properties(t, dialect)
    kind = req.metric.aggregation_type
    field_name = req.metric.field_name or ""
    label = f"r{i}_"
    inner_columns: list[ColumnElement[Any]] = [
        t.c.external_subscription_id.label("sid"),
        t.c.timestamp.label("ts"),
        t.c.precise_total_amount_cents.label("precise"),
    ]
    if kind in _NUMERIC_TYPES:
        inner_columns += _number_columns(props, field_name)
    elif kind is AggregationType.UNIQUE_COUNT:
        inner_columns.append(props.present(field_name).label("present"))
    inner = _unmerged(
        sa.select(*inner_columns).where(_scope(props, organization_id, sids, req)),
        props.postgres,
    ).subquery(f"e{i}")

    counted, columns = aggregate_columns(props, req, inner, label)
    columns += count_columns(props, inner, counted, label)
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
        .where(_scope(props, organization_id, sids, req), key.is_not(None))
        .subquery(f"u{i}")
    )
    return (
        sa.select(ranked.c.sid, sa.func.count().label(f"r{i}_present"))
        .where(ranked.c.rn == 1, ranked.c.a == 1)
        .group_by(ranked.c.sid)
    )


def _latest_values(
    i: int, req: UsageRequest, dialect: str, organization_id: str, sids: Sequence[str]
) -> Any:
    """Latest: per subscription, the numeric value of the last event that has one."""
    t = events
    props = _Properties(t, dialect)
    number = props.number(req.metric.field_name or "")
    sid = t.c.external_subscription_id
    ranked = (
        sa.select(
            sid.label("sid"),
            number.label("v"),
            sa.func.row_number()
            .over(partition_by=sid, order_by=_order(t, descending=True))
            .label("rn"),
        )
        .where(_scope(props, organization_id, sids, req), number.is_not(None))
        .subquery(f"l{i}")
    )
    return sa.select(ranked.c.sid, ranked.c.v.label(f"r{i}_latest")).where(ranked.c.rn == 1)


# --- ordered rows, streamed per (subscription, request) -----------------------------------


def _numeric_rows(
    i: int, req: UsageRequest, dialect: str, organization_id: str, sids: Sequence[str]
) -> Any:
    t = events
    props = _Properties(t, dialect)
    number = props.number(req.metric.field_name or "")
    where = _selection(
        props,
        organization_id=organization_id,
        sids=sids,
        request=req,
        lower=req.window_from,
        upper=req.window_to,
    )
    return sa.select(
        t.c.external_subscription_id.label("sid"),
        sa.literal_column(str(i), sa.Integer()).label("idx"),
        t.c.timestamp.label("ts"),
        t.c.created_at.label("created_at"),
        t.c.lago_id.label("lago_id"),
        number.label("num"),
    ).where(where, number.is_not(None))


def _grouped_rows(
    conn: Connection,
    requests: Sequence[UsageRequest],
    dialect: str,
    organization_id: str,
    sids: Sequence[str],
) -> Iterator[tuple[str, int, list[Any]]]:
    """(external id, request index, its rows in event order), one group at a time.

    One ordered statement per request rather than one sort of all of them together: each
    request reads one code, so the usage index (subscription, code, timestamp) already
    gives its rows in (subscription, time) order and the server sorts only ties, where one
    sort of every request's rows spilled to disk at millions of events.
    """
    for i, req in enumerate(requests):
        if not req.needs_numeric_rows:
            continue
        rows_of: Any = _numeric_rows(i, req, dialect, organization_id, sids).subquery("usage_rows")
        ordered: Any = sa.select(*rows_of.c).order_by(
            rows_of.c.sid, rows_of.c.ts, rows_of.c.created_at, rows_of.c.lago_id
        )
        result = conn.execution_options(stream_results=True, yield_per=_STREAM_CHUNK).execute(
            ordered
        )
        current: str | None = None
        rows: list[Any] = []
        for row in result:
            if row.sid != current:
                if current is not None:
                    yield current, i, rows
                current, rows = row.sid, []
            rows.append(row)
        if current is not None:
            yield current, i, rows
