"""The vocabulary of metering: usage events and billable metrics.

These are the shapes shared by the reference aggregations (domain/aggregation.py),
the SQL aggregations (store/usage_queries.py) and the charge models.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum


class AggregationType(StrEnum):
    COUNT = "count_agg"
    SUM = "sum_agg"
    MAX = "max_agg"
    UNIQUE_COUNT = "unique_count_agg"
    LATEST = "latest_agg"
    WEIGHTED_SUM = "weighted_sum_agg"


class RoundingFunction(StrEnum):
    ROUND = "round"
    CEIL = "ceil"
    FLOOR = "floor"


@dataclass(frozen=True, slots=True)
class MetricFilter:
    """A dimension a metric declares: the property `key` and its allowed values."""

    key: str
    values: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class BillableMetric:
    code: str
    aggregation_type: AggregationType
    field_name: str | None = None
    recurring: bool = False
    rounding_function: RoundingFunction | None = None
    rounding_precision: int | None = None
    weighted_interval: str | None = None
    filters: tuple[MetricFilter, ...] = ()


@dataclass(frozen=True, slots=True)
class UsageEvent:
    """One usage event as stored. `timestamp` is timezone-aware."""

    transaction_id: str
    code: str
    timestamp: datetime
    properties: Mapping[str, object] = field(default_factory=dict)
    precise_total_amount_cents: Decimal | None = None
