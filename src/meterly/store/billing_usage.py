"""Usage of many subscriptions at once: the billing run's grouped aggregation.

A billing run prices the same requests (plan, charges window, recurring start, period
length) for many subscriptions. Instead of statements per subscription and request, one
statement reads the events of a whole batch of subscriptions once (every request's code,
`external_subscription_id IN (...) ... GROUP BY external_subscription_id`) and computes
every request's aggregates side by side, each over the rows its own conditions pick
(`usage_queries.aggregate_values`, the statement current usage uses for one).

The results are those of `usage_queries.aggregate_subscription_usage` for each
subscription on its own: the same per-row SQL expressions, the same filters and time
bounds, the same assembly (`usage_queries.results._result`), only grouped by subscription.
The ordered rows that prorated sums and per-event values need are streamed in (subscription,
request) order and turned into results one group at a time, so memory holds one group of
rows, not the batch's events.

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
from meterly.store.event_stores import usage as clickhouse_usage
from meterly.store.event_stores.clickhouse import ClickHouseEvents
from meterly.store.event_stores.config import for_source
from meterly.store.tables import events
from meterly.store.usage_queries import UsageRequest, aggregate_values, request_conditions
from meterly.store.usage_queries.properties import _Properties
from meterly.store.usage_queries.results import _result

# Rows of one fetch, streamed from the server in chunks of this many.
_STREAM_CHUNK = 2_000


def supported(requests: Sequence[UsageRequest]) -> bool:
    """Whether `aggregate_batch` answers these requests (else aggregate one by one)."""
    return all(not r.needs_operation_rows and r.group_values is None for r in requests)


def aggregate_batch(
    conn: Connection | ClickHouseEvents,
    *,
    organization_id: str,
    external_subscription_ids: Sequence[str],
    requests: Sequence[UsageRequest],
) -> dict[str, list[AggregationResult]]:
    """Every request for every subscription of the batch: external id -> results in order."""
    if not supported(requests):
        raise ValueError("requests need operation rows or groups: aggregate them one by one")
    store = for_source(conn)  # METERLY_EVENTS_URL: the same answers, from ClickHouse
    if store is not None:
        return clickhouse_usage.aggregate_batch(
            store,
            organization_id=organization_id,
            external_subscription_ids=external_subscription_ids,
            requests=requests,
        )
    assert isinstance(conn, Connection)
    sids = sorted(set(external_subscription_ids))
    values = aggregate_values(
        conn,
        organization_id=organization_id,
        external_subscription_ids=sids,
        requests=requests,
    )
    dialect = conn.dialect.name
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
    """`usage_queries.conditions._selection` for a batch: the same bounds, filters, exclusions."""
    t = props.table
    return sa.and_(
        t.c.organization_id == organization_id,
        t.c.external_subscription_id.in_(sids),
        *request_conditions(props, request, lower, upper),
    )


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
        # Per statement: Connection.execution_options would stream every later one too.
        result = conn.execute(
            ordered, execution_options={"stream_results": True, "yield_per": _STREAM_CHUNK}
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
