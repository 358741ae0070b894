"""Hourly event counts and sums of one subscription's metric: the portal's daily chart.

The database groups by UTC hour (a few hundred rows at most per period, whatever the
event volume); the service folds hours into days in the customer's timezone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy import Connection

from meterly.store.event_stores import usage as clickhouse_usage
from meterly.store.event_stores.clickhouse import ClickHouseEvents
from meterly.store.event_stores.config import for_source
from meterly.store.tables import events

_PG_PLAIN_NUMBER = r"^-?[0-9]+(\.[0-9]+)?$"


@dataclass(frozen=True, slots=True)
class HourlyUsage:
    hour: datetime  # start of the UTC hour
    events_count: int
    total: Decimal  # sum of the metric's field (0 when the metric has none)


def _hour(conn: Connection) -> sa.ColumnElement[str]:
    ts = events.c.timestamp
    if conn.dialect.name == "postgresql":
        return sa.func.to_char(sa.func.timezone("UTC", ts), "YYYY-MM-DD HH24")
    # SQLite keeps `YYYY-MM-DD HH:MM:SS.ffffff` in UTC.
    return sa.func.substr(ts, 1, 13)


def _field_sum(conn: Connection, field_name: str) -> sa.ColumnElement[Any]:
    props = events.c.properties
    if conn.dialect.name == "postgresql":
        text = props.op("->>", return_type=sa.Text())(sa.literal(field_name, sa.Text()))
        number = sa.case(
            (text.op("~")(sa.literal(_PG_PLAIN_NUMBER, sa.Text())), sa.cast(text, sa.Numeric())),
            else_=sa.null(),
        )
        return sa.func.sum(number)
    path = sa.literal('$."' + field_name.replace('"', "") + '"', sa.String())
    return sa.func.decimal_sum(props.op("->", return_type=sa.String())(path))


def hourly_usage(
    conn: Connection | ClickHouseEvents,
    *,
    organization_id: str,
    external_subscription_id: str,
    code: str,
    field_name: str | None,
    window_from: datetime,
    window_to: datetime,
) -> list[HourlyUsage]:
    """Events of one metric code in [window_from, window_to], counted (and summed) per hour."""
    store = for_source(conn)
    if store is not None:
        return [
            HourlyUsage(
                hour=datetime.strptime(hour, "%Y-%m-%d %H").replace(tzinfo=UTC),
                events_count=count,
                total=total if field_name and total is not None else Decimal(0),
            )
            for hour, count, total in clickhouse_usage.hourly_rows(
                store,
                organization_id=organization_id,
                external_subscription_id=external_subscription_id,
                code=code,
                field_name=field_name,
                window_from=window_from,
                window_to=window_to,
            )
        ]
    assert isinstance(conn, Connection)
    hour = _hour(conn).label("hour")
    columns: list[sa.ColumnElement[Any]] = [hour, sa.func.count().label("n")]
    if field_name:
        columns.append(_field_sum(conn, field_name).label("total"))
    query = (
        sa.select(*columns)
        .where(
            events.c.organization_id == organization_id,
            events.c.external_subscription_id == external_subscription_id,
            events.c.code == code,
            events.c.timestamp >= window_from,
            events.c.timestamp <= window_to,
            events.c.voided_at.is_(None),
        )
        .group_by(hour)
        .order_by(hour)
    )
    result: list[HourlyUsage] = []
    for row in conn.execute(query):
        moment = datetime.strptime(str(row[0]), "%Y-%m-%d %H").replace(tzinfo=UTC)
        total = Decimal(str(row[2])) if field_name and row[2] is not None else Decimal(0)
        result.append(HourlyUsage(hour=moment, events_count=int(row[1]), total=total))
    return result
