"""Overlapping charge filters: each event counts once, in its most specific filter.

lago-semantics.md item 13, "Overlapping charge filters": a filter whose value sets are
subsets of another's (with as many keys or more) wins that one's events; declaration order
decides only between filters that are equally specific. Lago ranks filters by their number
of keys, then by their number of accepted values, then by age (`filter_precedence`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import count
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from meterly.domain.filters import (
    ALL_FILTER_VALUES,
    ChargeFilterSpec,
    bucket_events,
    exclusions_for,
    match_filter,
    matches,
    ranking,
    resolve_values,
)
from meterly.domain.usage import MetricFilter, UsageEvent

_ids = count()
DECLARED = (MetricFilter("region", ("eu", "us", "asia")), MetricFilter("cloud", ("aws", "gcp")))


def ev(**properties: Any) -> UsageEvent:
    return UsageEvent(
        transaction_id=f"tx-{next(_ids)}",
        code="m",
        timestamp=datetime(2024, 3, 2, tzinfo=UTC),
        properties=properties,
    )


def spec(**values: tuple[str, ...]) -> ChargeFilterSpec:
    return ChargeFilterSpec(values)


def test_the_narrower_filter_wins_its_events_whatever_the_declaration_order() -> None:
    # {cloud: [aws]} accepts 1 value, {cloud: [aws, gcp]} 2: aws events go to the narrower
    # one, gcp events (which only the broader one accepts) to the broader one.
    broad, narrow = spec(cloud=("aws", "gcp")), spec(cloud=("aws",))
    for filters, narrow_index, broad_index in (([broad, narrow], 1, 0), ([narrow, broad], 0, 1)):
        assert match_filter({"cloud": "aws"}, filters) == narrow_index
        assert match_filter({"cloud": "gcp"}, filters) == broad_index


def test_all_values_counts_as_every_declared_value() -> None:
    # With the metric declaring cloud in {aws, gcp}, ALL means 2 values: {cloud: [aws]}
    # (1 value) wins aws events, ALL keeps gcp events.
    filters = [spec(cloud=(ALL_FILTER_VALUES,)), spec(cloud=("aws",))]
    assert match_filter({"cloud": "aws"}, filters, metric_filters=DECLARED) == 1
    assert match_filter({"cloud": "gcp"}, filters, metric_filters=DECLARED) == 0
    # Undeclared values: ALL means any non-null value, broader than any list.
    assert match_filter({"cloud": "aws"}, filters) == 1


def test_a_filter_with_more_keys_wins_over_one_it_refines() -> None:
    # {region: [eu], cloud: [aws, gcp]} narrows {region: [eu, us]} by a key: it wins
    # eu+aws events even though it accepts more values in total (3 against 2).
    filters = [spec(region=("eu", "us")), spec(region=("eu",), cloud=("aws", "gcp"))]
    assert match_filter({"region": "eu", "cloud": "aws"}, filters) == 1
    assert match_filter({"region": "eu"}, filters) == 0
    assert match_filter({"region": "us", "cloud": "aws"}, filters) == 0


def test_equally_specific_filters_go_by_declaration_order() -> None:
    filters = [spec(region=("eu", "us")), spec(cloud=("aws", "gcp"))]
    assert match_filter({"region": "eu", "cloud": "aws"}, filters) == 0
    assert match_filter({"region": "eu", "cloud": "aws"}, filters[::-1]) == 0


def test_the_broader_filter_leaves_out_the_narrower_one_s_events() -> None:
    broad, narrow = spec(cloud=("aws", "gcp")), spec(cloud=("aws",))
    assert exclusions_for(0, [broad, narrow]) == [narrow.values]
    assert exclusions_for(1, [broad, narrow]) == []
    a, g = ev(cloud="aws"), ev(cloud="gcp")
    assert bucket_events([a, g], [broad, narrow]) == {0: [g], 1: [a], None: []}


# --- properties -----------------------------------------------------------------------

VALUES = ["eu", "us", "asia", "aws", "gcp", "1", ALL_FILTER_VALUES]
filter_lists = st.lists(
    st.dictionaries(
        st.sampled_from(["region", "cloud", "tier"]),
        st.lists(st.sampled_from(VALUES), min_size=1, max_size=3, unique=True).map(tuple),
        min_size=1,
        max_size=3,
    ).map(ChargeFilterSpec),
    max_size=4,
)
property_sets = st.lists(
    st.dictionaries(
        st.sampled_from(["region", "cloud", "tier", "other"]),
        st.sampled_from(["eu", "us", "asia", "aws", "gcp", "1", None]) | st.integers(0, 2),
        max_size=4,
    ),
    max_size=12,
)
declared = st.sampled_from([(), DECLARED])


@settings(max_examples=300)
@given(filters=filter_lists, properties=property_sets, metric_filters=declared)
def test_filters_partition_events(
    filters: list[ChargeFilterSpec],
    properties: list[dict[str, Any]],
    metric_filters: tuple[MetricFilter, ...],
) -> None:
    """Each event is in exactly one bucket (a filter or the default), the one it matches
    first in rank order, and that bucket is "matches the filter and none ranked before"."""
    events = [ev(**p) for p in properties]
    buckets = bucket_events(events, filters, metric_filters=metric_filters)
    placed = [e.transaction_id for bucket in buckets.values() for e in bucket]
    assert sorted(placed) == sorted(e.transaction_id for e in events)
    for index, bucket in buckets.items():
        excluded = exclusions_for(index, filters, metric_filters=metric_filters)
        expected = [
            e
            for e in events
            if (index is None or matches(e.properties, filters[index].values, metric_filters))
            and not any(matches(e.properties, x, metric_filters) for x in excluded)
        ]
        assert bucket == expected
        for e in bucket:
            assert match_filter(e.properties, filters, metric_filters=metric_filters) == index


def _refines(
    a: ChargeFilterSpec, b: ChargeFilterSpec, metric_filters: tuple[MetricFilter, ...]
) -> bool:
    """`a` is strictly more specific than `b`: every key of `b`, each with a subset of
    its values (None: any value), and not the same filter."""
    ra, rb = resolve_values(a.values, metric_filters), resolve_values(b.values, metric_filters)
    if not set(rb) <= set(ra):
        return False
    for key, accepted in rb.items():
        mine = ra[key]
        if accepted is not None and (mine is None or not set(mine) <= set(accepted)):
            return False
    normalized = {k: None if v is None else frozenset(v) for k, v in ra.items()}
    return normalized != {k: None if v is None else frozenset(v) for k, v in rb.items()}


@settings(max_examples=300)
@given(filters=filter_lists, properties=property_sets, metric_filters=declared)
def test_a_more_specific_matching_filter_always_wins(
    filters: list[ChargeFilterSpec],
    properties: list[dict[str, Any]],
    metric_filters: tuple[MetricFilter, ...],
) -> None:
    for props in properties:
        chosen = match_filter(props, filters, metric_filters=metric_filters)
        if chosen is None:
            assert not any(matches(props, f.values, metric_filters) for f in filters)
            continue
        for other, spec_ in enumerate(filters):
            if other != chosen and matches(props, spec_.values, metric_filters):
                assert not _refines(spec_, filters[chosen], metric_filters)


@given(filters=filter_lists, metric_filters=declared)
def test_ranking_is_a_permutation_of_the_filters(
    filters: list[ChargeFilterSpec], metric_filters: tuple[MetricFilter, ...]
) -> None:
    assert sorted(ranking(filters, metric_filters)) == list(range(len(filters)))
