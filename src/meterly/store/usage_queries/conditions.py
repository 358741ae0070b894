"""Which events a request reads, and in what order: the conditions every statement shares.

A request's events are those of its subscription and metric code in its time range,
matching its charge filter, outside the filters it excludes, and in its group. A recurring
metric's range has no lower bound at all: Lago's event store drops the lower bound for
recurring metrics (`use_from_boundary = !recurring`), so events timestamped before the
subscription started count too, and the request's `recurring_from` is not a bound.
Order: `timestamp, created_at, lago_id`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy import ColumnElement, FromClause

from meterly.domain.filters import resolve_values
from meterly.store.usage_queries.properties import _Properties
from meterly.store.usage_queries.request import UsageRequest


def _matches(
    props: _Properties, values: Mapping[str, Sequence[str]], request: UsageRequest
) -> ColumnElement[bool]:
    conditions: list[ColumnElement[bool]] = []
    for key, accepted in resolve_values(values, request.metric.filters).items():
        text = props.text(key)
        if accepted is None:
            conditions.append(text.is_not(None))
        else:
            conditions.append(sa.and_(text.is_not(None), text.in_(accepted)))
    return sa.and_(sa.true(), *conditions)


def _selection(
    props: _Properties,
    *,
    organization_id: str,
    external_subscription_id: str,
    request: UsageRequest,
    lower: datetime | None,
    upper: datetime | None,
    strictly_before: bool = False,
) -> ColumnElement[bool]:
    """The events of the subscription, metric, time range, filter and group."""
    t = props.table
    return sa.and_(
        t.c.organization_id == organization_id,
        t.c.external_subscription_id == external_subscription_id,
        *request_conditions(props, request, lower, upper, strictly_before=strictly_before),
    )


def request_conditions(
    props: _Properties,
    request: UsageRequest,
    lower: datetime | None,
    upper: datetime | None,
    *,
    strictly_before: bool = False,
    include_voided: bool = False,
) -> list[ColumnElement[bool]]:
    """A request's code, time range, filter and group, whatever the subscription."""
    t = props.table
    conditions: list[ColumnElement[bool]] = [t.c.code == request.metric.code]
    if not include_voided and "voided_at" in t.c:
        # A voided event counts nowhere (services/corrections). The ClickHouse event
        # store has no such column: corrections are refused for its organizations.
        conditions.append(t.c.voided_at.is_(None))
    if lower is not None:
        conditions.append(t.c.timestamp >= lower)
    if upper is not None:
        conditions.append(t.c.timestamp < upper if strictly_before else t.c.timestamp <= upper)
    if request.filter_values:
        conditions.append(_matches(props, request.filter_values, request))
    for excluded in request.exclude_filters:
        conditions.append(sa.not_(_matches(props, excluded, request)))
    for key, value in (request.group_values or {}).items():
        text = props.text(key)
        conditions.append(text.is_(None) if value is None else text == value)
    return conditions


def _scope(
    props: _Properties, organization_id: str, external_subscription_id: str, req: UsageRequest
) -> ColumnElement[bool]:
    return _selection(
        props,
        organization_id=organization_id,
        external_subscription_id=external_subscription_id,
        request=req,
        lower=_lower(req),
        upper=req.window_to,
    )


def _order(t: FromClause, *, descending: bool = False) -> list[ColumnElement[Any]]:
    columns = [t.c.timestamp, t.c.created_at, t.c.lago_id]
    return [c.desc() for c in columns] if descending else list(columns)


def _lower(req: UsageRequest) -> datetime | None:
    """The request's lower time bound: none for a metric carrying earlier events over."""
    return None if req.includes_prior else req.window_from
