"""The unmodified lago-python-client against the real server: groups and overlapping filters.

One charge (standard, 1 USD/GB) grouped by `region`, with two overlapping filters:
`{cloud: [aws, gcp]}` at 2 USD/GB declared first, `{cloud: [aws]}` at 5 USD/GB second.
Events on 2024-01-05 (the server's clock is frozen at 2024-01-15):

    aws eu 10 GB   -> {cloud: [aws]} (the most specific filter), group eu: 10 x 5 = 50.00
    aws us  4 GB   -> {cloud: [aws]}, group us:                          4 x 5 = 20.00
    gcp eu 20 GB   -> {cloud: [aws, gcp]}, group eu:                    20 x 2 = 40.00
    no cloud, eu 7 -> default bucket, group eu:                           7 x 1 =  7.00

The filters declare no grouping keys of their own, so they are split like their charge
(lago-api.md §7.6). Total 117.00 USD. `group=` (sent as `group[region]=eu`) and the
deprecated `filter_by_group=` (JSON) restrict the charge to one region.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from lago_python_client.models import (
    BatchEvent,
    BillableMetric,
    Customer,
    Plan,
    Subscription,
)

from tests.compat.conftest import LagoServer


@pytest.fixture(scope="module")
def lago_frozen_time() -> str:
    return "2024-01-15T12:00:00Z"


@dataclass
class Grouped:
    customer_id: str
    subscription_id: str


@pytest.fixture(scope="module")
def grouped(lago_server: LagoServer) -> Grouped:
    client, unique = lago_server.client, lago_server.unique
    metric = client.billable_metrics.create(
        BillableMetric.parse_obj(
            {
                "name": "Storage",
                "code": unique("storage"),
                "aggregation_type": "sum_agg",
                "field_name": "gb",
                "filters": [{"key": "cloud", "values": ["aws", "gcp"]}],
            }
        )
    )
    plan = client.plans.create(
        Plan.parse_obj(
            {
                "name": "Grouped",
                "code": unique("grouped"),
                "interval": "monthly",
                "amount_cents": 0,
                "amount_currency": "USD",
                "charges": [
                    {
                        "billable_metric_id": metric.lago_id,
                        "charge_model": "standard",
                        "properties": {"amount": "1", "pricing_group_keys": ["region"]},
                        "filters": [
                            {
                                "invoice_display_name": "Any cloud",
                                "properties": {"amount": "2"},
                                "values": {"cloud": ["aws", "gcp"]},
                            },
                            {
                                "invoice_display_name": "AWS",
                                "properties": {"amount": "5"},
                                "values": {"cloud": ["aws"]},
                            },
                        ],
                    }
                ],
            }
        )
    )
    customer = client.customers.create(
        Customer.parse_obj({"external_id": unique("cust"), "name": "G", "currency": "USD"})
    )
    sub = client.subscriptions.create(
        Subscription.parse_obj(
            {
                "external_customer_id": customer.external_id,
                "plan_code": plan.code,
                "external_id": unique("sub"),
                "subscription_at": "2024-01-01T00:00:00Z",
            }
        )
    )
    when = int(datetime(2024, 1, 5, 12, tzinfo=UTC).timestamp())
    rows = [({"cloud": "aws", "region": "eu"}, 10), ({"cloud": "aws", "region": "us"}, 4)]
    rows += [({"cloud": "gcp", "region": "eu"}, 20), ({"region": "eu"}, 7)]
    client.events.batch_create(
        BatchEvent.parse_obj(
            {
                "events": [
                    {
                        "transaction_id": unique("tx"),
                        "external_subscription_id": sub.external_id,
                        "code": metric.code,
                        "timestamp": when,
                        "properties": {**props, "gb": gb},
                    }
                    for props, gb in rows
                ]
            }
        )
    )
    return Grouped(customer.external_id, sub.external_id)


def _filters(rows: Any) -> dict[str | None, int]:
    return {f.invoice_display_name: f.amount_cents for f in rows}


def test_each_event_counts_in_its_most_specific_filter_split_by_group(
    lago_server: LagoServer, grouped: Grouped
) -> None:
    usage = lago_server.client.customers.current_usage(grouped.customer_id, grouped.subscription_id)
    (charge,) = usage.charges_usage
    assert usage.amount_cents == 11700  # 50 + 20 + 40 + 7
    # Per filter, across regions: AWS 50 + 20, any cloud 40, default 7.
    assert _filters(charge.filters) == {"AWS": 7000, "Any cloud": 4000, None: 700}
    by_region = {g.grouped_by["region"]: g for g in charge.grouped_usage}
    assert by_region["eu"].amount_cents == 9700  # 50 + 40 + 7
    assert _filters(by_region["eu"].filters) == {"AWS": 5000, "Any cloud": 4000, None: 700}
    assert by_region["us"].units == "4.0"


def test_group_restricts_the_charge_to_one_region(
    lago_server: LagoServer, grouped: Grouped
) -> None:
    usage = lago_server.client.customers.current_usage(
        grouped.customer_id, grouped.subscription_id, group={"region": "eu"}
    )
    (charge,) = usage.charges_usage
    # Region eu only: 50 + 40 + 7 = 97.00 USD; the us group is gone.
    assert usage.amount_cents == 9700
    assert [g.grouped_by for g in charge.grouped_usage] == [{"region": "eu"}]


def test_the_deprecated_filter_by_group_restricts_too(
    lago_server: LagoServer, grouped: Grouped
) -> None:
    usage = lago_server.client.customers.current_usage(
        grouped.customer_id, grouped.subscription_id, filter_by_group={"region": "us"}
    )
    (charge,) = usage.charges_usage
    # Region us only: AWS 4 x 5 = 20.00 USD; the buckets left without events show their
    # zero group with a null region.
    assert usage.amount_cents == 2000
    us = [g for g in charge.grouped_usage if g.grouped_by == {"region": "us"}]
    assert [_filters(g.filters) for g in us] == [{"AWS": 2000}]
    assert all(
        g.amount_cents == 0 for g in charge.grouped_usage if g.grouped_by == {"region": None}
    )
