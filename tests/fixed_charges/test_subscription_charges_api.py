"""Subscription-level charges over HTTP: a subscription's own prices and filters, on its
overridden plan, the plan itself untouched."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from meterly.store.tables import Fee
from tests.fixed_charges.helpers import JAN_1, at, run, subscribe


def setup(api: Any) -> None:
    metric = {
        "billable_metric": {
            "name": "Calls",
            "code": "calls",
            "aggregation_type": "count_agg",
            "filters": [{"key": "region", "values": ["eu", "us"]}],
        }
    }
    bm = api.post("billable_metrics", metric).json()["billable_metric"]
    body = {
        "plan": {
            "name": "Usage",
            "code": "usage",
            "interval": "monthly",
            "amount_cents": 0,
            "amount_currency": "USD",
            "charges": [
                {
                    "billable_metric_id": bm["lago_id"],
                    "code": "calls",
                    "charge_model": "standard",
                    "properties": {"amount": "2"},
                }
            ],
        }
    }
    assert api.post("plans", body).status_code == 200
    subscribe(api, JAN_1, plan_code="usage")


def call(api: Any, tx: str, region: str) -> None:
    event = {
        "transaction_id": tx,
        "external_subscription_id": "s",
        "code": "calls",
        "timestamp": str(int(at(1, 20).timestamp())),
        "properties": {"region": region},
    }
    assert api.post("events", {"event": event}).status_code == 200


def test_subscription_charges_list_the_plan_charges(api: Any) -> None:
    setup(api)
    listed = api.get("subscriptions/s/charges").json()
    assert [c["code"] for c in listed["charges"]] == ["calls"]
    assert api.get("subscriptions/s/charges/calls").json()["charge"]["properties"] == {
        "amount": "2"
    }
    assert api.get("subscriptions/s/charges/nope").status_code == 404


def test_override_changes_the_subscription_price_only(api: Any) -> None:
    setup(api)
    body = {"charge": {"properties": {"amount": "1.5"}, "invoice_display_name": "Calls (deal)"}}
    response = api.put("subscriptions/s/charges/calls", body)
    assert response.status_code == 200, response.text
    assert response.json()["charge"]["properties"] == {"amount": "1.5"}
    assert api.get("plans/usage/charges/calls").json()["charge"]["properties"] == {"amount": "2"}
    shown = api.get("subscriptions/s/charges/calls").json()["charge"]
    assert shown["invoice_display_name"] == "Calls (deal)"
    # A second override edits the same overridden plan (no new one).
    first_plan = api.get("subscriptions/s").json()["subscription"]["plan"]["lago_id"]
    api.put("subscriptions/s/charges/calls", {"charge": {"properties": {"amount": "1"}}})
    assert api.get("subscriptions/s").json()["subscription"]["plan"]["lago_id"] == first_plan
    call(api, "a", "eu")
    call(api, "b", "us")
    run(api, at(2, 1, 1))
    with api.database.unit_of_work() as session:
        amounts = list(session.scalars(select(Fee.amount_cents).where(Fee.fee_type == "charge")))
    # 2 calls at the overridden 1.00 = 200 cents (the plan's 2.00 would give 400).
    assert amounts == [200]


def test_override_ignores_fields_a_subscription_cannot_change(api: Any) -> None:
    setup(api)
    body = {"charge": {"charge_model": "package", "pay_in_advance": True}}
    response = api.put("subscriptions/s/charges/calls", body)
    assert response.status_code == 200, response.text
    charge = response.json()["charge"]
    assert (charge["charge_model"], charge["pay_in_advance"]) == ("standard", False)


def test_bad_override_is_rejected_and_changes_nothing(api: Any) -> None:
    setup(api)
    response = api.put("subscriptions/s/charges/calls", {"charge": {"properties": {"amount": 3}}})
    assert response.status_code == 422
    assert api.get("subscriptions/s").json()["subscription"]["plan"]["parent_id"] is None


def test_filters_crud_on_the_subscription(api: Any) -> None:
    setup(api)
    body = {"filter": {"properties": {"amount": "5"}, "values": {"region": ["eu"]}}}
    created = api.post("subscriptions/s/charges/calls/filters", body)
    assert created.status_code == 200, created.text
    filter_id = created.json()["filter"]["lago_id"]
    assert api.get("plans/usage/charges/calls/filters").json()["filters"] == []
    listed = api.get("subscriptions/s/charges/calls/filters").json()["filters"]
    assert [f["values"] for f in listed] == [{"region": ["eu"]}]
    update = {"filter": {"properties": {"amount": "6"}}}
    updated = api.put(f"subscriptions/s/charges/calls/filters/{filter_id}", update)
    assert updated.json()["filter"]["properties"] == {"amount": "6"}
    shown = api.get(f"subscriptions/s/charges/calls/filters/{filter_id}").json()["filter"]
    assert shown["properties"] == {"amount": "6"}
    call(api, "a", "eu")
    call(api, "b", "us")
    run(api, at(2, 1, 1))
    with api.database.unit_of_work() as session:
        amounts = sorted(session.scalars(select(Fee.amount_cents).where(Fee.fee_type == "charge")))
    # eu: 1 call x 6.00 (the filter) = 600; us: 1 call x 2.00 (the default) = 200.
    assert amounts == [200, 600]
    assert api.delete(f"subscriptions/s/charges/calls/filters/{filter_id}").status_code == 200
    assert api.get("subscriptions/s/charges/calls/filters").json()["filters"] == []
