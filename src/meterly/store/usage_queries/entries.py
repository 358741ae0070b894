"""The public entries: one subscription's usage for many requests, one, or per group."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import Connection

from meterly.domain.aggregation import AggregationResult
from meterly.domain.usage import BillableMetric
from meterly.store.event_stores import usage as clickhouse_usage
from meterly.store.event_stores.clickhouse import ClickHouseEvents
from meterly.store.event_stores.config import for_source
from meterly.store.tables import events
from meterly.store.usage_queries.aggregates import aggregate_values
from meterly.store.usage_queries.conditions import _scope
from meterly.store.usage_queries.properties import _Properties
from meterly.store.usage_queries.request import UsageRequest
from meterly.store.usage_queries.results import _result
from meterly.store.usage_queries.rows import _fetch_rows

GroupKey = tuple[str | None, ...]
# Where events are read: a main-database connection, or the ClickHouse store. With
# `METERLY_EVENTS_URL` set, a connection is routed to the configured store (`for_source`).
EventSource = Connection | ClickHouseEvents


def aggregate_subscription_usage(
    conn: EventSource,
    *,
    organization_id: str,
    external_subscription_id: str,
    requests: Sequence[UsageRequest],
) -> list[AggregationResult]:
    """Aggregate many metrics/filters/groups of one subscription (see `aggregate_values`)."""
    if not requests:
        return []
    store = for_source(conn)
    if store is not None:
        return clickhouse_usage.aggregate_subscription_usage(
            store,
            organization_id=organization_id,
            external_subscription_id=external_subscription_id,
            requests=requests,
        )
    assert isinstance(conn, Connection)
    values = aggregate_values(
        conn,
        organization_id=organization_id,
        external_subscription_ids=[external_subscription_id],
        requests=requests,
    )[external_subscription_id]
    rows = _fetch_rows(conn, requests, organization_id, external_subscription_id)
    return [_result(i, req, values, rows.get(i, [])) for i, req in enumerate(requests)]


def aggregate_usage(
    conn: EventSource,
    *,
    organization_id: str,
    external_subscription_id: str,
    metric: BillableMetric,
    window_from: datetime,
    window_to: datetime,
    recurring_from: datetime | None = None,
    filter_values: Mapping[str, Sequence[str]] | None = None,
    exclude_filters: Sequence[Mapping[str, Sequence[str]]] = (),
    prorated: bool = False,
    timezone: str = "UTC",
    period_days: int | None = None,
    with_event_values: bool = False,
) -> AggregationResult:
    """One metric's usage for one subscription, window, charge filter or default bucket."""
    request = UsageRequest(
        metric=metric,
        window_from=window_from,
        window_to=window_to,
        recurring_from=recurring_from,
        filter_values=filter_values,
        exclude_filters=exclude_filters,
        prorated=prorated,
        timezone=timezone,
        period_days=period_days,
        with_event_values=with_event_values,
    )
    return aggregate_subscription_usage(
        conn,
        organization_id=organization_id,
        external_subscription_id=external_subscription_id,
        requests=[request],
    )[0]


def usage_groups(
    conn: EventSource,
    *,
    organization_id: str,
    external_subscription_id: str,
    request: UsageRequest,
    group_keys: Sequence[str],
) -> list[GroupKey]:
    """The distinct texts of `group_keys` among the request's events (None when missing)."""
    store = for_source(conn)
    if store is not None:
        return clickhouse_usage.usage_groups(
            store,
            organization_id=organization_id,
            external_subscription_id=external_subscription_id,
            request=request,
            group_keys=group_keys,
        )
    assert isinstance(conn, Connection)
    props = _Properties(events, conn.dialect.name)
    texts = [props.text(key).label(f"g{n}") for n, key in enumerate(group_keys)]
    statement = (
        sa.select(*texts)
        .distinct()
        .where(_scope(props, organization_id, external_subscription_id, request))
    )
    return [tuple(row) for row in conn.execute(statement)]


def aggregate_grouped_usage(
    conn: EventSource,
    *,
    organization_id: str,
    external_subscription_id: str,
    request: UsageRequest,
    group_keys: Sequence[str],
) -> dict[GroupKey, AggregationResult]:
    """`pricing_group_keys`: one result per distinct group among the request's events.

    Groups come from the events the request aggregates (for a recurring metric, the
    carried-over earlier events too). Two statements plus one when rows are needed.
    """
    if not group_keys:
        raise ValueError("group_keys is empty: use aggregate_usage")
    groups = usage_groups(
        conn,
        organization_id=organization_id,
        external_subscription_id=external_subscription_id,
        request=request,
        group_keys=group_keys,
    )
    requests = [_with_group(request, dict(zip(group_keys, group, strict=True))) for group in groups]
    results = aggregate_subscription_usage(
        conn,
        organization_id=organization_id,
        external_subscription_id=external_subscription_id,
        requests=requests,
    )
    return dict(zip(groups, results, strict=True))


def _with_group(request: UsageRequest, group_values: Mapping[str, str | None]) -> UsageRequest:
    return replace(request, group_values={**(request.group_values or {}), **group_values})
