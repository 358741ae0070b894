"""Charge filters and pricing groups: which events a charge prices, and how it splits them.

Charge filters (lago-features.md §5): a charge may declare filters such as
`{"region": ["eu", "us"], "cloud": ["__ALL_FILTER_VALUES__"]}`. An event matches a filter
when, for every key of the filter, the text of its property (`property_text`, so `1` and
`"1"` are the same) is one of the filter's values. `__ALL_FILTER_VALUES__` stands for the
values the metric declares for that key (Lago's `to_h_with_all_values`); when the metric
declares none, it means "the key is present with a non-null value".

Each event is priced by exactly one bucket, that of its most specific matching filter
(lago-semantics.md item 13, "Overlapping charge filters"). Filters are ranked, as Lago's
`filter_precedence` ranks them: the most keys first, then the fewest accepted values (after
`__ALL_FILTER_VALUES__` is expanded; "any non-null value" counts as more than any list),
then declaration order. So `{cloud: [aws]}` wins `cloud=aws` events over
`{cloud: [aws, gcp]}` whatever their order, and a filter that adds keys to another wins
over it. The ranking is total, so the buckets partition the events: an event goes to the
first filter in rank order that it matches, or to the default bucket (`None`, priced with
the charge's own properties) when it matches none. `exclusions_for` gives the SQL side the
same partition: a filter's bucket leaves out the events of every filter ranked before it.

Pricing groups (`pricing_group_keys`): events are split by the texts of the grouping
properties; an event lacking a key (or with null) goes to the group with `None` for it, as
Lago's `GROUP BY properties->>'key'` puts it in the NULL group.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from meterly.domain.aggregation import property_text
from meterly.domain.usage import MetricFilter, UsageEvent

ALL_FILTER_VALUES = "__ALL_FILTER_VALUES__"

GroupKey = tuple[str | None, ...]


@dataclass(frozen=True, slots=True)
class ChargeFilterSpec:
    """One charge filter: property key -> accepted values (may hold ALL_FILTER_VALUES)."""

    values: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


def resolve_values(
    values: Mapping[str, Sequence[str]], metric_filters: Sequence[MetricFilter] = ()
) -> dict[str, tuple[str, ...] | None]:
    """Each key's accepted values with ALL expanded; None means "any non-null value"."""
    declared = {f.key: f.values for f in metric_filters}
    resolved: dict[str, tuple[str, ...] | None] = {}
    for key, accepted in values.items():
        if ALL_FILTER_VALUES in accepted:
            resolved[key] = declared.get(key)
        else:
            resolved[key] = tuple(accepted)
    return resolved


def matches(
    properties: Mapping[str, object],
    values: Mapping[str, Sequence[str]],
    metric_filters: Sequence[MetricFilter] = (),
) -> bool:
    """Does an event with these properties match every key of `values`?"""
    for key, accepted in resolve_values(values, metric_filters).items():
        text = property_text(properties.get(key))
        if text is None or (accepted is not None and text not in accepted):
            return False
    return True


def precedence(
    spec: ChargeFilterSpec, metric_filters: Sequence[MetricFilter] = ()
) -> tuple[int, int, int]:
    """The sort key of a filter's rank (lowest first), before declaration order.

    Most keys first; then the fewest keys accepting any non-null value (the metric declares
    no values to expand `__ALL_FILTER_VALUES__` to: more values than any list); then the
    fewest accepted values. A filter whose values are subsets of another's on that one's
    keys, with at least those keys, never ranks after it.
    """
    resolved = resolve_values(spec.values, metric_filters)
    unbounded = sum(1 for accepted in resolved.values() if accepted is None)
    listed = sum(len(set(accepted)) for accepted in resolved.values() if accepted is not None)
    return (-len(resolved), unbounded, listed)


def ranking(
    filters: Sequence[ChargeFilterSpec], metric_filters: Sequence[MetricFilter] = ()
) -> list[int]:
    """Filter indexes from the most specific to the least (declaration order breaks ties)."""
    return sorted(range(len(filters)), key=lambda i: (precedence(filters[i], metric_filters), i))


def match_filter(
    properties: Mapping[str, object],
    filters: Sequence[ChargeFilterSpec],
    *,
    metric_filters: Sequence[MetricFilter] = (),
) -> int | None:
    """Index of the filter that prices the event (most specific wins), None for default."""
    for index in ranking(filters, metric_filters):
        if matches(properties, filters[index].values, metric_filters):
            return index
    return None


def exclusions_for(
    index: int | None,
    filters: Sequence[ChargeFilterSpec],
    *,
    metric_filters: Sequence[MetricFilter] = (),
) -> list[Mapping[str, tuple[str, ...]]]:
    """The filters whose events a bucket must leave out, for `exclude_filters` in SQL.

    Filter `index` keeps the events it matches minus those of every filter ranked before
    it (see `ranking`). The default bucket (None) leaves out the events of every filter.
    """
    if index is None:
        return [spec.values for spec in filters]
    order = ranking(filters, metric_filters)
    return [filters[other].values for other in order[: order.index(index)]]


def bucket_events(
    events: Sequence[UsageEvent],
    filters: Sequence[ChargeFilterSpec],
    *,
    metric_filters: Sequence[MetricFilter] = (),
) -> dict[int | None, list[UsageEvent]]:
    """Events per bucket; every filter index and None are keys, even when empty."""
    buckets: dict[int | None, list[UsageEvent]] = {i: [] for i in range(len(filters))}
    buckets[None] = []
    order = ranking(filters, metric_filters)
    for event in events:
        chosen = next(
            (i for i in order if matches(event.properties, filters[i].values, metric_filters)),
            None,
        )
        buckets[chosen].append(event)
    return buckets


def group_key(properties: Mapping[str, object], keys: Sequence[str]) -> GroupKey:
    return tuple(property_text(properties.get(key)) for key in keys)


def group_events(
    events: Sequence[UsageEvent], keys: Sequence[str]
) -> dict[GroupKey, list[UsageEvent]]:
    """Events split by the texts of their `pricing_group_keys` (None for a missing key)."""
    groups: dict[GroupKey, list[UsageEvent]] = {}
    for event in events:
        groups.setdefault(group_key(event.properties, keys), []).append(event)
    return groups
