"""The unmodified lago-python-client against the real server: events and usage.

The "done when" scenario: metrics, a plan with a graduated charge (lago-api §7.4's three
tiers) and a package charge with a filter, a customer with a 20 % tax, a subscription
started 2024-01-01; single and batch events; then current and projected usage, whose
amounts are checked against Lago's rules computed by hand. The server's clock is frozen at
2024-01-15T12:00:00Z, i.e. on day 15 of the 31-day January period.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from lago_python_client.exceptions import LagoApiError
from lago_python_client.models import (
    BatchEvent,
    BillableMetric,
    Customer,
    Event,
    Plan,
    Subscription,
    Tax,
)

from tests.compat.conftest import LagoServer

GRADUATED_RANGES = [
    {"from_value": 0, "to_value": 1000, "per_unit_amount": "0", "flat_amount": "0"},
    {"from_value": 1001, "to_value": 10000, "per_unit_amount": "0.002", "flat_amount": "5"},
    {"from_value": 10001, "to_value": None, "per_unit_amount": "0.001", "flat_amount": "0"},
]
SINGLE_CALLS = 3
BATCHES_OF_CALLS = 12  # x 100 events: 1203 API calls in all.
STORAGE_EVENTS = [  # (gb, region) — the charge has one filter, region=eu.
    (150, "eu"),
    (75.5, "eu"),
    (1000, "us"),
    (300, "us"),
    (50, None),
]


@pytest.fixture(scope="module")
def lago_frozen_time() -> str:
    return "2024-01-15T12:00:00Z"


def epoch(iso: str) -> int:
    return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(UTC).timestamp())


@dataclass
class Scenario:
    customer_id: str
    subscription_id: str
    calls_code: str
    storage_code: str
    transfers_code: str
    charge_ids: dict[str, str]  # charge code -> lago_id
    storage_eu_filter_id: str
    first_tx: str


def usage_by_charge(usage: Any, scenario: Scenario) -> dict[str, Any]:
    codes = {lago_id: code for code, lago_id in scenario.charge_ids.items()}
    return {codes[row.charge.lago_id]: row for row in usage.charges_usage}


@pytest.fixture(scope="module")
def scenario(lago_server: LagoServer) -> Scenario:
    client = lago_server.client
    unique = lago_server.unique
    calls = client.billable_metrics.create(
        BillableMetric.parse_obj(
            {"name": "API calls", "code": unique("calls"), "aggregation_type": "count_agg"}
        )
    )
    storage = client.billable_metrics.create(
        BillableMetric.parse_obj(
            {
                "name": "Storage",
                "code": unique("storage"),
                "aggregation_type": "sum_agg",
                "field_name": "gb",
                "filters": [{"key": "region", "values": ["eu", "us"]}],
            }
        )
    )
    transfers = client.billable_metrics.create(
        BillableMetric.parse_obj(
            {
                "name": "Transfers",
                "code": unique("transfers"),
                "aggregation_type": "sum_agg",
                "field_name": "amount",
            }
        )
    )
    tax = client.taxes.create(Tax.parse_obj({"name": "VAT", "code": unique("vat"), "rate": 20.0}))
    plan = client.plans.create(
        Plan.parse_obj(
            {
                "name": "Usage",
                "code": unique("usage_plan"),
                "interval": "monthly",
                "amount_cents": 1000,
                "amount_currency": "USD",
                "pay_in_advance": False,
                "charges": [
                    {
                        "billable_metric_id": calls.lago_id,
                        "code": "calls",
                        "charge_model": "graduated",
                        "properties": {"graduated_ranges": GRADUATED_RANGES},
                    },
                    {
                        "billable_metric_id": storage.lago_id,
                        "code": "storage",
                        "charge_model": "package",
                        "properties": {"amount": "10", "package_size": 1000, "free_units": 100},
                        "filters": [
                            {
                                "invoice_display_name": "Storage EU",
                                "properties": {
                                    "amount": "2",
                                    "package_size": 100,
                                    "free_units": 0,
                                },
                                "values": {"region": ["eu"]},
                            }
                        ],
                    },
                    {
                        "billable_metric_id": transfers.lago_id,
                        "code": "transfers",
                        "charge_model": "standard",
                        "pay_in_advance": True,
                        "invoiceable": True,
                        "properties": {"amount": "0.5"},
                    },
                ],
            }
        )
    )
    customer = client.customers.create(
        Customer.parse_obj(
            {"external_id": unique("cust"), "name": "Usage Co", "currency": "USD"}
            | {"tax_codes": [tax.code]}
        )
    )
    subscription = client.subscriptions.create(
        Subscription.parse_obj(
            {
                "external_customer_id": customer.external_id,
                "plan_code": plan.code,
                "external_id": unique("sub"),
                "billing_time": "calendar",
                "subscription_at": "2024-01-01T00:00:00Z",
            }
        )
    )
    assert subscription.status == "active"
    charges = {c.code: c for c in plan.charges.__root__}
    [eu_filter] = charges["storage"].filters.__root__
    eu_filter_id = client.plans.find_all_charge_filters(plan.code, "storage")["filters"][0].lago_id
    assert eu_filter.values == {"region": ["eu"]}

    sub_id = subscription.external_id
    tx_prefix = unique("tx")
    # Single events (client.events.create), one per day from 2024-01-02.
    for n in range(SINGLE_CALLS):
        client.events.create(
            Event.parse_obj(
                {
                    "transaction_id": f"{tx_prefix}_single_{n}",
                    "external_subscription_id": sub_id,
                    "code": calls.code,
                    "timestamp": epoch(f"2024-01-0{n + 2}T10:00:00Z"),
                }
            )
        )
    # Batches of 100 (client.events.batch_create).
    for batch in range(BATCHES_OF_CALLS):
        client.events.batch_create(
            BatchEvent.parse_obj(
                {
                    "events": [
                        {
                            "transaction_id": f"{tx_prefix}_b{batch}_{n}",
                            "external_subscription_id": sub_id,
                            "code": calls.code,
                            "timestamp": epoch("2024-01-10T08:00:00Z") + n,
                            "properties": {"batch": batch},
                        }
                        for n in range(100)
                    ]
                }
            )
        )
    client.events.batch_create(
        BatchEvent.parse_obj(
            {
                "events": [
                    {
                        "transaction_id": f"{tx_prefix}_storage_{n}",
                        "external_subscription_id": sub_id,
                        "code": storage.code,
                        "timestamp": epoch("2024-01-12T00:00:00Z") + n,
                        "properties": {"gb": gb} | ({"region": region} if region else {}),
                    }
                    for n, (gb, region) in enumerate(STORAGE_EVENTS)
                ]
            }
        )
    )
    return Scenario(
        customer_id=customer.external_id,
        subscription_id=sub_id,
        calls_code=calls.code,
        storage_code=storage.code,
        transfers_code=transfers.code,
        charge_ids={code: c.lago_id for code, c in charges.items()},
        storage_eu_filter_id=eu_filter_id,
        first_tx=f"{tx_prefix}_single_0",
    )


def test_events_create_returns_the_event(lago_server: LagoServer, scenario: Scenario) -> None:
    tx = lago_server.unique("tx_single")
    created = lago_server.client.events.create(
        Event.parse_obj(
            {
                "transaction_id": tx,
                "external_subscription_id": scenario.subscription_id,
                # A code no plan charges for: it must not change the usage below.
                "code": lago_server.unique("unbilled"),
                "timestamp": epoch("2024-01-05T06:30:00Z"),
                "properties": {"gb": 12.5, "region": "eu"},
            }
        )
    )
    assert created is not None
    assert created.transaction_id == tx
    assert created.external_subscription_id == scenario.subscription_id
    assert created.timestamp.startswith("2024-01-05T06:30:00")
    assert created.timestamp.endswith("Z")
    assert created.properties == {"gb": 12.5, "region": "eu"}


def test_events_find_returns_a_stored_event(lago_server: LagoServer, scenario: Scenario) -> None:
    found = lago_server.client.events.find(scenario.first_tx)
    assert found.transaction_id == scenario.first_tx
    assert found.code == scenario.calls_code
    assert found.external_subscription_id == scenario.subscription_id
    assert found.timestamp.startswith("2024-01-02T10:00:00")
    assert found.lago_id


def test_events_find_unknown_is_404(lago_server: LagoServer, scenario: Scenario) -> None:
    with pytest.raises(LagoApiError) as raised:
        lago_server.client.events.find(lago_server.unique("missing_tx"))
    assert raised.value.status_code == 404
    assert raised.value.response["code"] == "event_not_found"


def test_current_usage_matches_lagos_rules(lago_server: LagoServer, scenario: Scenario) -> None:
    usage = lago_server.client.customers.current_usage(
        scenario.customer_id, scenario.subscription_id
    )
    assert usage.from_datetime == "2024-01-01T00:00:00Z"
    assert usage.to_datetime == "2024-01-31T23:59:59Z"
    assert usage.issuing_date == "2024-02-01"
    assert usage.currency == "USD"
    assert usage.lago_invoice_id is None
    rows = usage_by_charge(usage, scenario)
    assert set(rows) == {"calls", "storage", "transfers"}

    # Graduated, 1203 calls (3 single + 12 x 100 batch):
    #   tier 0..1000:     1000 units x 0      + flat 0 = 0
    #   tier 1001..10000: (1203 - 1001 + 1) = 203 units x 0.002 = 0.406 + flat 5 = 5.406
    #   => 5.406 USD = 540.6 cents, rounded to 541.
    calls = rows["calls"]
    assert (calls.units, calls.total_aggregated_units) == ("1203.0", "1203.0")
    assert (calls.events_count, calls.amount_cents, calls.amount_currency) == (1203, 541, "USD")
    assert calls.charge.charge_model == "graduated"
    assert calls.billable_metric.code == scenario.calls_code
    assert calls.billable_metric.aggregation_type == "count_agg"
    assert calls.filters == []

    # Package with a region=eu filter:
    #   eu filter (100 GB packages of 2 USD, no free units): 150 + 75.5 = 225.5 GB
    #     -> ceil(225.5 / 100) = 3 packages x 2 = 6 USD = 600 cents
    #   default bucket (us + no region; 1000 GB packages of 10 USD, 100 free):
    #     1000 + 300 + 50 = 1350 GB; paid 1350 - 100 = 1250 -> ceil(1250/1000) = 2 x 10
    #     = 20 USD = 2000 cents
    #   => 2600 cents, 1575.5 GB, 5 events.
    storage = rows["storage"]
    assert (storage.units, storage.events_count, storage.amount_cents) == ("1575.5", 5, 2600)
    assert storage.charge.charge_model == "package"
    assert storage.billable_metric.aggregation_type == "sum_agg"
    filters = {
        (f.values or {}).get("region", [None])[0]: (
            f.units,
            f.events_count,
            f.amount_cents,
            f.invoice_display_name,
        )
        for f in storage.filters
    }
    assert filters == {
        "eu": ("225.5", 2, 600, "Storage EU"),
        None: ("1350.0", 3, 2000, None),
    }

    # Pay-in-advance transfers: no event yet.
    transfers = rows["transfers"]
    assert (transfers.units, transfers.events_count, transfers.amount_cents) == ("0.0", 0, 0)

    # Totals: 541 + 2600 + 0 = 3141; VAT 20 %: 108.2 + 520 = 628.2 -> 628; total 3769.
    assert (usage.amount_cents, usage.taxes_amount_cents, usage.total_amount_cents) == (
        3141,
        628,
        3769,
    )


def test_current_usage_without_taxes(lago_server: LagoServer, scenario: Scenario) -> None:
    usage = lago_server.client.customers.current_usage(
        scenario.customer_id, scenario.subscription_id, apply_taxes="false"
    )
    assert (usage.amount_cents, usage.taxes_amount_cents, usage.total_amount_cents) == (
        3141,
        0,
        3141,
    )


def test_current_usage_of_one_charge(lago_server: LagoServer, scenario: Scenario) -> None:
    usage = lago_server.client.customers.current_usage(
        scenario.customer_id, scenario.subscription_id, charge_code="storage"
    )
    assert [row.charge.lago_id for row in usage.charges_usage] == [scenario.charge_ids["storage"]]
    assert usage.charges_usage[0].amount_cents == 2600


def test_current_usage_errors(lago_server: LagoServer, scenario: Scenario) -> None:
    client = lago_server.client
    with pytest.raises(LagoApiError) as raised:
        client.customers.current_usage(lago_server.unique("nobody"), scenario.subscription_id)
    assert raised.value.status_code == 404
    assert raised.value.response["code"] == "customer_not_found"
    with pytest.raises(LagoApiError) as raised:
        client.customers.current_usage(scenario.customer_id, lago_server.unique("no_sub"))
    assert raised.value.status_code == 405
    assert raised.value.response["code"] == "no_active_subscription"


def test_projected_usage_is_linear_over_the_period(
    lago_server: LagoServer, scenario: Scenario
) -> None:
    projected = lago_server.client.customers.projected_usage(
        scenario.customer_id, scenario.subscription_id
    )
    assert (projected.from_datetime, projected.to_datetime) == (
        "2024-01-01T00:00:00Z",
        "2024-01-31T23:59:59Z",
    )
    # Current amounts are those of current_usage.
    assert projected.amount_cents == 3141
    rows = usage_by_charge(projected, scenario)
    # Period ratio on 2024-01-15 = 15 elapsed days / 31 days; projected = units / ratio,
    # rounded to 2 decimals, then priced again.
    # calls: 1203 x 31 / 15 = 2486.2 -> tier 2: (2486.2 - 1001 + 1) x 0.002 + 5 = 7.9724
    #   -> 797 cents.
    calls = rows["calls"]
    assert (calls.units, calls.amount_cents) == ("1203.0", 541)
    assert (calls.projected_units, calls.projected_amount_cents) == ("2486.2", 797)
    # storage eu: 225.5 x 31 / 15 = 466.0333 -> 466.03 -> 5 packages x 2 = 1000 cents;
    # default: 1350 x 31 / 15 = 2790 -> paid 2690 -> 3 packages x 10 = 3000 cents.
    storage = rows["storage"]
    assert storage.projected_amount_cents == 4000
    by_region = {
        (f.values or {}).get("region", [None])[0]: (f.projected_units, f.projected_amount_cents)
        for f in storage.filters
    }
    assert by_region["eu"] == ("466.03", 1000)
    assert rows["transfers"].projected_amount_cents == 0
    # 797 + 4000 + 0.
    assert projected.projected_amount_cents == 4797


def test_estimate_fees_on_the_pay_in_advance_charge(
    lago_server: LagoServer, scenario: Scenario
) -> None:
    client = lago_server.client
    tx = lago_server.unique("estimate")
    result = client.events.estimate_fees(
        Event.parse_obj(
            {
                "transaction_id": tx,
                "external_subscription_id": scenario.subscription_id,
                "code": scenario.transfers_code,
                "timestamp": epoch("2024-01-15T11:00:00Z"),
                "properties": {"amount": 7},
            }
        )
    )
    # Standard in advance: 7 x 0.5 = 3.50 USD = 350 cents; VAT 20 % = 70; total 420.
    [fee] = result["fees"]
    assert fee.lago_charge_id == scenario.charge_ids["transfers"]
    assert fee.pay_in_advance is True
    assert (fee.amount_cents, fee.amount_currency, fee.units) == (350, "USD", "7.0")
    assert (fee.taxes_amount_cents, fee.taxes_rate, fee.total_amount_cents) == (70, 20.0, 420)
    assert fee.event_transaction_id == tx
    assert fee.external_subscription_id == scenario.subscription_id
    [applied] = fee.applied_taxes.__root__
    assert (applied.tax_rate, applied.amount_cents) == (20.0, 70)
    # Nothing is persisted: no event, and the usage of the charge is still zero.
    with pytest.raises(LagoApiError) as raised:
        client.events.find(tx)
    assert raised.value.status_code == 404
    usage = client.customers.current_usage(
        scenario.customer_id, scenario.subscription_id, charge_code="transfers"
    )
    assert [(row.events_count, row.amount_cents) for row in usage.charges_usage] == [(0, 0)]


def test_estimate_fees_on_an_arrears_charge_is_422(
    lago_server: LagoServer, scenario: Scenario
) -> None:
    with pytest.raises(LagoApiError) as raised:
        lago_server.client.events.estimate_fees(
            Event.parse_obj(
                {
                    "transaction_id": lago_server.unique("estimate"),
                    "external_subscription_id": scenario.subscription_id,
                    "code": scenario.calls_code,
                    "timestamp": epoch("2024-01-15T11:00:00Z"),
                }
            )
        )
    assert raised.value.status_code == 422
    assert raised.value.response["error_details"] == {"code": ["does_not_match_an_instant_charge"]}


def test_duplicate_transaction_id_is_422_value_already_exist(
    lago_server: LagoServer, scenario: Scenario
) -> None:
    client = lago_server.client
    duplicate = Event.parse_obj(
        {
            "transaction_id": scenario.first_tx,
            "external_subscription_id": scenario.subscription_id,
            "code": scenario.calls_code,
            "timestamp": epoch("2024-01-14T10:00:00Z"),
        }
    )
    with pytest.raises(LagoApiError) as raised:
        client.events.create(duplicate)
    assert raised.value.status_code == 422
    assert raised.value.response["code"] == "validation_errors"
    assert raised.value.response["error_details"] == {"transaction_id": ["value_already_exist"]}

    fresh_tx = lago_server.unique("fresh")
    fresh = duplicate.copy(update={"transaction_id": fresh_tx})
    with pytest.raises(LagoApiError) as raised:
        client.events.batch_create(BatchEvent(events=[fresh, duplicate]))
    assert raised.value.status_code == 422
    assert raised.value.response["error_details"] == {
        "1": {"transaction_id": ["value_already_exist"]}
    }
    # All or nothing: the valid event of the rejected batch is not stored.
    with pytest.raises(LagoApiError) as missing:
        client.events.find(fresh_tx)
    assert missing.value.status_code == 404
    # And the usage did not move.
    usage = client.customers.current_usage(
        scenario.customer_id, scenario.subscription_id, charge_code="calls"
    )
    assert [(row.events_count, row.amount_cents) for row in usage.charges_usage] == [(1203, 541)]


def test_event_without_timestamp_is_stamped_now(
    lago_server: LagoServer, scenario: Scenario
) -> None:
    # The client sends explicit nulls (timestamp, properties): null means "absent", and an
    # absent timestamp is the reception time (the frozen clock here).
    tx = lago_server.unique("now")
    created = lago_server.client.events.create(
        Event.parse_obj(
            {
                "transaction_id": tx,
                "external_subscription_id": scenario.subscription_id,
                "code": lago_server.unique("unbilled"),
            }
        )
    )
    assert created is not None
    assert created.timestamp.startswith("2024-01-15T12:00:00")
    assert lago_server.client.events.find(tx).timestamp.startswith("2024-01-15T12:00:00")


def test_event_with_a_non_numeric_timestamp_is_422(
    lago_server: LagoServer, scenario: Scenario
) -> None:
    with pytest.raises(LagoApiError) as raised:
        lago_server.client.events.create(
            Event.parse_obj(
                {
                    "transaction_id": lago_server.unique("bad_ts"),
                    "external_subscription_id": scenario.subscription_id,
                    "code": scenario.calls_code,
                    "timestamp": "yesterday",
                }
            )
        )
    assert raised.value.status_code == 422
    assert raised.value.response["error_details"] == {"timestamp": ["invalid_format"]}


def test_batch_of_more_than_100_events_is_422(lago_server: LagoServer, scenario: Scenario) -> None:
    prefix = lago_server.unique("big")
    with pytest.raises(LagoApiError) as raised:
        lago_server.client.events.batch_create(
            BatchEvent.parse_obj(
                {
                    "events": [
                        {
                            "transaction_id": f"{prefix}_{n}",
                            "external_subscription_id": scenario.subscription_id,
                            "code": scenario.calls_code,
                            "timestamp": epoch("2024-01-14T00:00:00Z"),
                        }
                        for n in range(101)
                    ]
                }
            )
        )
    assert raised.value.status_code == 422
    assert raised.value.response["error_details"] == {"events": ["too_many_events"]}
    with pytest.raises(LagoApiError) as missing:
        lago_server.client.events.find(f"{prefix}_0")
    assert missing.value.status_code == 404
