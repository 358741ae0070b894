"""Charge filters and pricing groups (meterly.domain.filters)."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import count
from typing import Any

from meterly.domain.filters import (
    ALL_FILTER_VALUES,
    ChargeFilterSpec,
    bucket_events,
    exclusions_for,
    group_events,
    match_filter,
    matches,
)
from meterly.domain.usage import MetricFilter, UsageEvent

_ids = count()
DECLARED = (MetricFilter("region", ("eu", "us")), MetricFilter("cloud", ("aws", "gcp")))


def ev(**properties: Any) -> UsageEvent:
    return UsageEvent(
        transaction_id=f"tx-{next(_ids)}",
        code="m",
        timestamp=datetime(2024, 3, 2, tzinfo=UTC),
        properties=properties,
    )


def spec(**values: tuple[str, ...]) -> ChargeFilterSpec:
    return ChargeFilterSpec(values)


def test_an_event_matches_when_every_key_has_an_accepted_value() -> None:
    values = {"region": ("eu", "us"), "cloud": ("aws",)}
    assert matches({"region": "us", "cloud": "aws"}, values)
    assert not matches({"region": "us", "cloud": "gcp"}, values)
    assert not matches({"region": "us"}, values)


def test_numbers_match_their_text() -> None:
    assert matches({"tier": 1}, {"tier": ("1",)})
    assert not matches({"tier": 1.0}, {"tier": ("1",)})


def test_a_null_property_matches_nothing() -> None:
    assert not matches({"region": None}, {"region": (ALL_FILTER_VALUES,)})


def test_all_values_means_the_values_the_metric_declares() -> None:
    values = {"region": (ALL_FILTER_VALUES,)}
    assert matches({"region": "eu"}, values, DECLARED)
    assert not matches({"region": "asia"}, values, DECLARED)


def test_all_values_without_declared_values_means_any_value() -> None:
    values = {"region": (ALL_FILTER_VALUES,)}
    assert matches({"region": "asia"}, values)
    assert not matches({"cloud": "aws"}, values)


def test_the_most_specific_matching_filter_wins() -> None:
    filters = [spec(region=("eu",)), spec(region=("eu",), cloud=("aws",))]
    assert match_filter({"region": "eu", "cloud": "aws"}, filters) == 1
    assert match_filter({"region": "eu", "cloud": "gcp"}, filters) == 0


def test_all_values_filter_loses_to_a_more_specific_one() -> None:
    filters = [
        spec(region=(ALL_FILTER_VALUES,), cloud=("aws",), tier=("1",)),
        spec(region=(ALL_FILTER_VALUES,)),
    ]
    assert match_filter({"region": "us", "cloud": "aws", "tier": 1}, filters) == 0
    assert match_filter({"region": "us", "cloud": "aws"}, filters, metric_filters=DECLARED) == 1


def test_between_filters_with_as_many_keys_the_first_declared_wins() -> None:
    filters = [spec(cloud=("aws",)), spec(region=("eu",))]
    assert match_filter({"region": "eu", "cloud": "aws"}, filters) == 0


def test_an_event_matching_no_filter_goes_to_the_default_bucket() -> None:
    assert match_filter({"region": "asia"}, [spec(region=("eu",))]) is None
    assert match_filter({}, [spec(region=("eu",))]) is None


def test_bucket_events_lists_every_bucket_even_empty_ones() -> None:
    a, b, c = ev(region="eu"), ev(region="us", cloud="aws"), ev()
    filters = [spec(region=("eu",)), spec(region=("us",), cloud=("aws",)), spec(cloud=("gcp",))]
    assert bucket_events([a, b, c], filters) == {0: [a], 1: [b], 2: [], None: [c]}


def test_exclusions_are_the_filters_that_beat_a_bucket() -> None:
    # Rank: filter 1 (two keys), then filters 0 and 2 (one key, one value each: declared
    # order). Each bucket leaves out the filters ranked before it.
    filters = [spec(region=("eu",)), spec(region=("eu",), cloud=("aws",)), spec(cloud=("aws",))]
    assert exclusions_for(0, filters) == [filters[1].values]
    assert exclusions_for(1, filters) == []
    assert exclusions_for(2, filters) == [filters[1].values, filters[0].values]
    assert exclusions_for(None, filters) == [f.values for f in filters]


def test_buckets_equal_matching_minus_exclusions() -> None:
    filters = [spec(region=("eu",)), spec(region=("eu",), cloud=("aws",)), spec(cloud=("aws",))]
    events = [
        ev(region="eu"),
        ev(region="eu", cloud="aws"),
        ev(cloud="aws"),
        ev(region="us", cloud="aws"),
        ev(region="us"),
    ]
    buckets = bucket_events(events, filters)
    for index in [0, 1, 2, None]:
        chosen = [
            e
            for e in events
            if (index is None or matches(e.properties, filters[index].values))
            and not any(matches(e.properties, x) for x in exclusions_for(index, filters))
        ]
        assert chosen == buckets[index]


def test_groups_split_events_by_property_texts() -> None:
    a, b, c = ev(team="x", tier=1), ev(team="x", tier="1"), ev(team="y", tier=2)
    assert group_events([a, b, c], ["team", "tier"]) == {
        ("x", "1"): [a, b],
        ("y", "2"): [c],
    }


def test_events_lacking_a_group_key_go_to_its_null_group() -> None:
    a, b, c = ev(team="x"), ev(), ev(team=None)
    assert group_events([a, b, c], ["team"]) == {("x",): [a], (None,): [b, c]}
