"""The billing run's grouped aggregation equals the per-subscription one, on every backend.

`billing_usage.aggregate_batch` answers the requests of many subscriptions with one
grouped statement per request; for every subscription of the batch (one without events
too) its results must equal `aggregate_subscription_usage` for that subscription alone,
over the same random events as the reference property (see test_usage_queries_property).
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from meterly.domain.filters import ChargeFilterSpec, exclusions_for
from meterly.domain.usage import AggregationType, BillableMetric
from meterly.store.billing_usage import aggregate_batch, supported
from meterly.store.usage_queries import aggregate_subscription_usage

from .test_usage_queries_property import (  # `engine`: SQLite, PostgreSQL and chdb
    ORG,
    SETTINGS,
    EventsAt,
    engine,  # noqa: F401  (the fixture)
    event_rows,
    filter_specs,
    load,
    metrics,
    options,
    request,
)

BATCH = ("sub-1", "sub-2", "sub-3", "sub-without-events")
OWNERS = st.lists(st.sampled_from([*BATCH[:3], "other-sub"]), min_size=25, max_size=25)


@pytest.mark.parametrize("kind", list(AggregationType))
def test_batch_equals_each_subscription_alone(
    engine: EventsAt,  # noqa: F811
    kind: AggregationType,
) -> None:
    @SETTINGS
    @given(
        rows=event_rows(),
        owners=OWNERS,
        metric=metrics(kind),
        filters=filter_specs,
        opts=options,
    )
    def check(
        rows: list[dict[str, Any]],
        owners: list[str],
        metric: BillableMetric,
        filters: list[ChargeFilterSpec],
        opts: dict[str, Any],
    ) -> None:
        for row, owner in zip(rows, owners, strict=False):
            row["external_subscription_id"] = owner
        load(engine, rows)
        indexes: list[int | None] = [*range(len(filters)), None]
        requests = [
            request(
                metric,
                opts,
                filter_values=None if i is None else filters[i].values,
                exclude_filters=exclusions_for(i, filters),
            )
            for i in indexes
        ]
        if not supported(requests):
            return  # prorated unique counts: aggregated one by one by the billing run
        with engine.connect() as conn:
            batch = aggregate_batch(
                conn, organization_id=ORG, external_subscription_ids=BATCH, requests=requests
            )
            for sid in BATCH:
                alone = aggregate_subscription_usage(
                    conn, organization_id=ORG, external_subscription_id=sid, requests=requests
                )
                assert batch[sid] == alone, sid

    check()


def test_prorated_unique_counts_are_left_to_the_per_subscription_path() -> None:
    metric = BillableMetric(code="m", aggregation_type=AggregationType.UNIQUE_COUNT, field_name="v")
    opts = {"prorated": True, "timezone": "UTC", "period_days": None, "with_event_values": False}
    assert not supported([request(metric, opts)])
    assert supported([request(metric, {**opts, "prorated": False})])
