"""Billable metric on the wire (Lago's billable_metric object)."""

from __future__ import annotations

from typing import Any

from meterly.api.http import Payload
from meterly.api.wire import iso
from meterly.store.tables import BillableMetricRow


class MetricFilterIn(Payload):
    key: str
    values: list[str]


class BillableMetricIn(Payload):
    name: str | None = None
    code: str | None = None
    description: str | None = None
    aggregation_type: str | None = None
    field_name: str | None = None
    recurring: bool | None = None
    rounding_function: str | None = None
    rounding_precision: int | None = None
    weighted_interval: str | None = None
    expression: str | None = None
    filters: list[MetricFilterIn] | None = None


def billable_metric(row: BillableMetricRow, *, counters: bool = True) -> dict[str, Any]:
    body: dict[str, Any] = {
        "lago_id": row.id,
        "name": row.name,
        "code": row.code,
        "description": row.description,
        "aggregation_type": row.aggregation_type,
        "weighted_interval": row.weighted_interval,
        "recurring": row.recurring,
        "rounding_function": row.rounding_function,
        "rounding_precision": row.rounding_precision,
        "created_at": iso(row.created_at),
        "field_name": row.field_name,
        "expression": row.expression,
        "filters": [{"key": f["key"], "values": f["values"]} for f in row.filters or ()],
    }
    if counters:
        # Deprecated counters Lago still sends (always 0 in its API).
        body |= {"active_subscriptions_count": 0, "draft_invoices_count": 0, "plans_count": 0}
    return body
