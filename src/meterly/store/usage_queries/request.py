"""What one aggregation asks for (`UsageRequest`), and which kinds of metric need what."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from meterly.domain.usage import AggregationType, BillableMetric

_NUMERIC_TYPES = frozenset(
    {
        AggregationType.SUM,
        AggregationType.MAX,
        AggregationType.LATEST,
        AggregationType.WEIGHTED_SUM,
    }
)
_RECURRING_TYPES = frozenset(
    {AggregationType.SUM, AggregationType.UNIQUE_COUNT, AggregationType.WEIGHTED_SUM}
)


@dataclass(frozen=True, slots=True)
class UsageRequest:
    """One aggregation of one metric for the subscription of a batch.

    `recurring_from`: lower bound of the events before the window that a recurring metric
    carries over (the subscription's start; None: every earlier event).
    `filter_values`: the charge filter's key -> values (ALL_FILTER_VALUES allowed).
    `exclude_filters`: filters whose events are left out (the default bucket leaves out
    every filter of the charge; see `meterly.domain.filters.exclusions_for`).
    `group_values`: only the events whose property texts equal these (None: missing/null).
    """

    metric: BillableMetric
    window_from: datetime
    window_to: datetime
    recurring_from: datetime | None = None
    filter_values: Mapping[str, Sequence[str]] | None = None
    exclude_filters: Sequence[Mapping[str, Sequence[str]]] = ()
    group_values: Mapping[str, str | None] | None = None
    prorated: bool = False
    timezone: str = "UTC"
    period_days: int | None = None
    with_event_values: bool = False

    @property
    def includes_prior(self) -> bool:
        return self.metric.recurring and self.metric.aggregation_type in _RECURRING_TYPES

    @property
    def needs_numeric_rows(self) -> bool:
        kind = self.metric.aggregation_type
        if kind not in _NUMERIC_TYPES:
            return False
        return self.with_event_values or (kind is AggregationType.SUM and self.prorated)

    @property
    def needs_operation_rows(self) -> bool:
        return self.metric.aggregation_type is AggregationType.UNIQUE_COUNT and self.prorated
