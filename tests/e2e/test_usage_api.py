"""Customers, subscriptions and current usage through HTTP, on both backends.

Figures follow lago-api.md §7.6: graduated 5000 calls -> 13.00; storage EU filter
300 GB x 0.04 = 12.00, default bucket 900 GB x 0.05 = 45.00; VAT 20 % on 70.00.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest


def _ts(day: int, hour: int = 12) -> str:
    return str(int(datetime(2024, 1, day, hour, tzinfo=UTC).timestamp()))


@pytest.fixture
def priced(api: Any) -> Any:
    """A metric pair, a plan with graduated and filtered standard charges, a subscription."""
    api.post("taxes", {"tax": {"name": "VAT 20%", "code": "vat_20", "rate": 20.0}})
    calls = api.post(
        "billable_metrics",
        {
            "billable_metric": {
                "name": "API calls",
                "code": "api_calls",
                "aggregation_type": "count_agg",
            }
        },
    ).json()["billable_metric"]
    storage = api.post(
        "billable_metrics",
        {
            "billable_metric": {
                "name": "Storage",
                "code": "storage_gb",
                "aggregation_type": "sum_agg",
                "field_name": "gb",
                "filters": [{"key": "region", "values": ["eu", "us"]}],
            }
        },
    ).json()["billable_metric"]
    plan = api.post(
        "plans",
        {
            "plan": {
                "name": "Startup",
                "code": "startup",
                "interval": "monthly",
                "amount_cents": 1000,
                "amount_currency": "USD",
                "pay_in_advance": False,
                "tax_codes": ["vat_20"],
                "charges": [
                    {
                        "billable_metric_id": calls["lago_id"],
                        "code": "api_calls_graduated",
                        "charge_model": "graduated",
                        "properties": {
                            "graduated_ranges": [
                                {
                                    "from_value": 0,
                                    "to_value": 1000,
                                    "per_unit_amount": "0",
                                    "flat_amount": "0",
                                },
                                {
                                    "from_value": 1001,
                                    "to_value": 10000,
                                    "per_unit_amount": "0.002",
                                    "flat_amount": "5",
                                },
                                {
                                    "from_value": 10001,
                                    "to_value": None,
                                    "per_unit_amount": "0.001",
                                    "flat_amount": "0",
                                },
                            ]
                        },
                    },
                    {
                        "billable_metric_id": storage["lago_id"],
                        "code": "storage",
                        "charge_model": "standard",
                        "properties": {"amount": "0.05"},
                        "filters": [
                            {
                                "invoice_display_name": "Storage EU",
                                "properties": {"amount": "0.04"},
                                "values": {"region": ["eu"]},
                            }
                        ],
                    },
                ],
            }
        },
    )
    assert plan.status_code == 200, plan.text
    customer = api.post(
        "customers", {"customer": {"external_id": "cust_acme", "name": "Acme", "currency": "USD"}}
    )
    assert customer.status_code == 200, customer.text
    sub = api.post(
        "subscriptions",
        {
            "subscription": {
                "external_customer_id": "cust_acme",
                "plan_code": "startup",
                "external_id": "sub_acme",
                "subscription_at": "2024-01-01T00:00:00Z",
            }
        },
    )
    assert sub.status_code == 200, sub.text
    return api


def _send(api: Any, events: list[dict[str, Any]]) -> None:
    for start in range(0, len(events), 100):
        response = api.post("events/batch", {"events": events[start : start + 100]})
        assert response.status_code == 200, response.text


def test_subscription_is_active_with_its_current_period(priced: Any) -> None:
    sub = priced.get("subscriptions/sub_acme").json()["subscription"]
    assert sub["status"] == "active"
    assert sub["started_at"] == "2024-01-01T00:00:00.000Z"
    assert sub["current_billing_period_started_at"] == "2024-01-01T00:00:00Z"
    assert sub["current_billing_period_ending_at"] == "2024-01-31T23:59:59Z"
    assert sub["plan"]["code"] == "startup"


def test_current_usage_matches_the_rating_engine(priced: Any) -> None:
    events = [
        {
            "transaction_id": f"c{i}",
            "external_subscription_id": "sub_acme",
            "code": "api_calls",
            "timestamp": _ts(2 + i % 10),
        }
        for i in range(5000)
    ]
    events += [
        {
            "transaction_id": f"eu{i}",
            "external_subscription_id": "sub_acme",
            "code": "storage_gb",
            "timestamp": _ts(3),
            "properties": {"gb": 100, "region": "eu"},
        }
        for i in range(3)
    ]
    events += [
        {
            "transaction_id": f"us{i}",
            "external_subscription_id": "sub_acme",
            "code": "storage_gb",
            "timestamp": _ts(4),
            "properties": {"gb": "300", "region": "us"},
        }
        for i in range(3)
    ]
    # Outside the period: must not count.
    events.append(
        {
            "transaction_id": "late",
            "external_subscription_id": "sub_acme",
            "code": "storage_gb",
            "timestamp": str(int(datetime(2024, 2, 1, tzinfo=UTC).timestamp())),
            "properties": {"gb": 1000},
        }
    )
    _send(priced, events)
    response = priced.get(
        "customers/cust_acme/current_usage", params={"external_subscription_id": "sub_acme"}
    )
    assert response.status_code == 200, response.text
    usage = response.json()["customer_usage"]
    assert usage["from_datetime"] == "2024-01-01T00:00:00Z"
    assert usage["to_datetime"] == "2024-01-31T23:59:59Z"
    assert usage["issuing_date"] == "2024-02-01"
    assert usage["amount_cents"] == 7000
    assert usage["taxes_amount_cents"] == 1400
    assert usage["total_amount_cents"] == 8400
    by_code = {c["charge"]["code"]: c for c in usage["charges_usage"]}
    assert by_code["api_calls_graduated"]["amount_cents"] == 1300
    assert by_code["api_calls_graduated"]["events_count"] == 5000
    storage = by_code["storage"]
    assert storage["amount_cents"] == 5700
    assert storage["units"] == "1200.0"
    rows = {f["invoice_display_name"]: f for f in storage["filters"]}
    assert rows["Storage EU"]["amount_cents"] == 1200 and rows["Storage EU"]["values"] == {
        "region": ["eu"]
    }
    assert rows[None]["amount_cents"] == 4500 and rows[None]["values"] is None


def test_current_usage_without_taxes(priced: Any) -> None:
    usage = priced.get(
        "customers/cust_acme/current_usage",
        params={"external_subscription_id": "sub_acme", "apply_taxes": "false"},
    ).json()["customer_usage"]
    assert usage["taxes_amount_cents"] == 0
    assert usage["amount_cents"] == 0


def test_projected_usage_extrapolates_linearly(priced: Any) -> None:
    # The clock is at 2024-01-15 12:00 UTC: 15 of 31 days elapsed.
    _send(
        priced,
        [
            {
                "transaction_id": f"s{i}",
                "external_subscription_id": "sub_acme",
                "code": "storage_gb",
                "timestamp": _ts(5),
                "properties": {"gb": 15, "region": "us"},
            }
            for i in range(2)
        ],
    )
    usage = priced.get(
        "customers/cust_acme/projected_usage", params={"external_subscription_id": "sub_acme"}
    ).json()["customer_projected_usage"]
    storage = next(c for c in usage["charges_usage"] if c["charge"]["code"] == "storage")
    assert storage["amount_cents"] == 150
    assert storage["projected_units"] == "62.0"
    assert storage["projected_amount_cents"] == 310


def test_usage_errors(priced: Any) -> None:
    missing = priced.get(
        "customers/nobody/current_usage", params={"external_subscription_id": "sub_acme"}
    )
    assert missing.status_code == 404 and missing.json()["code"] == "customer_not_found"
    priced.post("customers", {"customer": {"external_id": "other"}})
    not_theirs = priced.get(
        "customers/other/current_usage", params={"external_subscription_id": "sub_acme"}
    )
    assert not_theirs.status_code == 405 and not_theirs.json()["code"] == "no_active_subscription"


def test_terminate_then_find_terminated(priced: Any) -> None:
    response = priced.delete("subscriptions/sub_acme")
    assert response.status_code == 200, response.text
    body = response.json()["subscription"]
    assert body["status"] == "terminated"
    assert body["terminated_at"] == "2024-01-15T12:00:00Z"
    assert priced.get("subscriptions").json()["meta"]["total_count"] == 0
    listed = priced.get("subscriptions", params={"status[]": ["terminated"]}).json()
    assert listed["meta"]["total_count"] == 1


def test_future_subscription_is_pending(priced: Any) -> None:
    response = priced.post(
        "subscriptions",
        {
            "subscription": {
                "external_customer_id": "new_cust",
                "plan_code": "startup",
                "external_id": "later",
                "subscription_at": "2024-03-01T00:00:00Z",
            }
        },
    )
    body = response.json()["subscription"]
    assert body["status"] == "pending"
    assert priced.get("customers/new_cust").status_code == 200


def test_unknown_plan_is_404(priced: Any) -> None:
    response = priced.post(
        "subscriptions",
        {
            "subscription": {
                "external_customer_id": "cust_acme",
                "plan_code": "nope",
                "external_id": "x",
            }
        },
    )
    assert response.status_code == 404 and response.json()["code"] == "plan_not_found"


def test_customer_scoped_lists_need_a_key_and_list_the_customer_s_objects(priced: Any) -> None:
    without_key = priced.client.get("/api/v1/customers/cust_acme/subscriptions")
    assert without_key.status_code == 401
    subs = priced.get("customers/cust_acme/subscriptions").json()
    assert [s["external_id"] for s in subs["subscriptions"]] == ["sub_acme"]
    priced.delete("subscriptions/sub_acme")
    invoices = priced.get("customers/cust_acme/invoices").json()
    assert invoices["meta"]["total_count"] == 1
    assert priced.get("customers/nobody/invoices").status_code == 404
