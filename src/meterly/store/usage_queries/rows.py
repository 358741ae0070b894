"""Statement 2: the ordered event rows of the requests that need them.

Prorated sums and per-event values need each numeric event of the window; a prorated
unique count needs the values present before the window (their last prior add) and the
window's add/remove operations. One UNION ALL fetches them all, ordered per request.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy import ColumnElement, Connection
from sqlalchemy.engine import Row

from meterly.store.tables import events
from meterly.store.usage_queries.conditions import _order, _selection
from meterly.store.usage_queries.properties import _Properties
from meterly.store.usage_queries.request import UsageRequest


def _ranked_present(props: _Properties, where: ColumnElement[bool], field_name: str) -> Any:
    """Per value, its last operation (rn = 1) and whether it adds (a = 1)."""
    t = props.table
    key = props.text(field_name)
    return (
        sa.select(
            t.c.timestamp.label("ts"),
            t.c.created_at.label("created_at"),
            t.c.lago_id.label("lago_id"),
            key.label("k"),
            sa.case((props.is_add(), 1), else_=0).label("a"),
            sa.func.row_number()
            .over(partition_by=key, order_by=_order(t, descending=True))
            .label("rn"),
        )
        .where(where, key.is_not(None))
        .subquery()
    )


_ROW_COLUMNS = ("idx", "ts", "created_at", "lago_id", "num", "k", "a")


def _numeric_rows(
    i: int, req: UsageRequest, dialect: str, organization_id: str, external_subscription_id: str
) -> Any:
    t = events
    props = _Properties(t, dialect)
    number = props.number(req.metric.field_name or "")
    where = _selection(
        props,
        organization_id=organization_id,
        external_subscription_id=external_subscription_id,
        request=req,
        lower=req.window_from,
        upper=req.window_to,
    )
    return sa.select(
        sa.literal_column(str(i), sa.Integer()).label("idx"),
        t.c.timestamp.label("ts"),
        t.c.created_at.label("created_at"),
        t.c.lago_id.label("lago_id"),
        number.label("num"),
        sa.cast(sa.null(), sa.String()).label("k"),
        sa.cast(sa.null(), sa.Integer()).label("a"),
    ).where(where, number.is_not(None))


def _operation_rows(
    i: int, req: UsageRequest, dialect: str, organization_id: str, external_subscription_id: str
) -> list[Any]:
    """Values present before the window (their last prior add), then the window's ops."""
    field_name = req.metric.field_name or ""
    selects: list[Any] = []
    if req.includes_prior:
        alias = events.alias(f"p{i}")
        alias_props = _Properties(alias, dialect)
        prior = _selection(
            alias_props,
            organization_id=organization_id,
            external_subscription_id=external_subscription_id,
            request=req,
            lower=None,  # a recurring metric has no lower bound (see `conditions`)
            upper=req.window_from,
            strictly_before=True,
        )
        ranked = _ranked_present(alias_props, prior, field_name)
        selects.append(
            sa.select(
                sa.literal_column(str(i), sa.Integer()).label("idx"),
                ranked.c.ts,
                ranked.c.created_at,
                ranked.c.lago_id,
                _Properties(events, dialect).typed_null_number().label("num"),
                sa.type_coerce(ranked.c.k, sa.String()).label("k"),
                ranked.c.a.label("a"),
            ).where(ranked.c.rn == 1, ranked.c.a == 1)
        )
    t = events
    props = _Properties(t, dialect)
    key = props.text(field_name)
    where = _selection(
        props,
        organization_id=organization_id,
        external_subscription_id=external_subscription_id,
        request=req,
        lower=req.window_from,
        upper=req.window_to,
    )
    selects.append(
        sa.select(
            sa.literal_column(str(i), sa.Integer()).label("idx"),
            t.c.timestamp.label("ts"),
            t.c.created_at.label("created_at"),
            t.c.lago_id.label("lago_id"),
            props.typed_null_number().label("num"),
            sa.type_coerce(key, sa.String()).label("k"),
            sa.case((props.is_add(), 1), else_=0).label("a"),
        ).where(where, key.is_not(None))
    )
    return selects


def _union(selects: list[Any]) -> Any:
    if len(selects) == 1:
        return selects[0]
    return sa.union_all(*selects)


def _fetch_rows(
    conn: Connection,
    requests: Sequence[UsageRequest],
    organization_id: str,
    external_subscription_id: str,
) -> dict[int, list[Row[Any]]]:
    dialect = conn.dialect.name
    selects: list[Any] = []
    for i, req in enumerate(requests):
        if req.needs_numeric_rows:
            selects.append(
                _numeric_rows(i, req, dialect, organization_id, external_subscription_id)
            )
        if req.needs_operation_rows:
            selects.extend(
                _operation_rows(i, req, dialect, organization_id, external_subscription_id)
            )
    rows: dict[int, list[Row[Any]]] = {}
    if not selects:
        return rows
    subquery = _union(selects).subquery("usage_rows")
    ordered = sa.select(*[subquery.c[name] for name in _ROW_COLUMNS]).order_by(
        subquery.c.idx, subquery.c.ts, subquery.c.created_at, subquery.c.lago_id
    )
    for row in conn.execute(ordered):
        rows.setdefault(row.idx, []).append(row)
    return rows
