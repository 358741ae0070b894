"""Fixed charges and subscription-level charges through the unmodified lago-python-client
(1.55.0) against a real server, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from lago_python_client.exceptions import LagoApiError
from lago_python_client.models import (
    AddOn,
    BillableMetric,
    Charge,
    ChargeFilter,
    Plan,
    Subscription,
)
from lago_python_client.models.fixed_charge import FixedCharge

from tests.compat.conftest import LagoServer


@pytest.fixture(scope="module")
def lago_frozen_time() -> str:
    return "2024-01-15T12:00:00Z"


def setup(server: LagoServer) -> tuple[str, str]:
    """A plan with a seats fixed charge and a usage charge, and a subscription on it."""
    client = server.client
    seats = client.add_ons.create(
        AddOn(
            name="Seats",
            code=server.unique("seats"),
            amount_cents=0,
            amount_currency="USD",
        )
    )
    metric = client.billable_metrics.create(
        BillableMetric(
            name="Calls",
            code=server.unique("calls"),
            aggregation_type="count_agg",
            filters=[{"key": "region", "values": ["eu", "us"]}],
        )
    )
    plan_code = server.unique("hybrid")
    client.plans.create(
        Plan(
            name="Hybrid",
            code=plan_code,
            interval="monthly",
            amount_cents=0,
            amount_currency="USD",
            pay_in_advance=False,
            charges=[
                Charge(
                    billable_metric_id=metric.lago_id,
                    code="calls",
                    charge_model="standard",
                    properties={"amount": "2"},
                )
            ],
            fixed_charges=[
                FixedCharge(
                    add_on_id=seats.lago_id,
                    code="seats",
                    charge_model="standard",
                    units=5,
                    pay_in_advance=True,
                    properties={"amount": "10"},
                )
            ],
        )
    )
    external_id = server.unique("sub")
    client.subscriptions.create(
        Subscription(
            external_customer_id=server.unique("cust"),
            plan_code=plan_code,
            external_id=external_id,
            subscription_at="2024-01-01T00:00:00Z",
        )
    )
    return plan_code, external_id


def test_plan_fixed_charges_crud(lago_server: LagoServer) -> None:
    client = lago_server.client
    plan_code, _ = setup(lago_server)
    found = client.plan_fixed_charges.find(plan_code, "seats")
    assert (found.code, found.units, found.add_on_code.startswith("seats")) == ("seats", 5, True)
    assert [f.code for f in client.plans.find(plan_code).fixed_charges.__root__] == ["seats"]
    updated = client.plan_fixed_charges.update(
        plan_code, "seats", FixedCharge(units=7, properties={"amount": "11"})
    )
    assert (updated.units, updated.properties.amount) == (7, "11")
    created = client.plan_fixed_charges.create(
        plan_code,
        FixedCharge(
            add_on_code=found.add_on_code,
            code="seats_2",
            charge_model="volume",
            properties={
                "volume_ranges": [
                    {"from_value": 0, "to_value": None, "per_unit_amount": "1", "flat_amount": "0"}
                ]
            },
        ),
    )
    assert (created.code, created.charge_model) == ("seats_2", "volume")
    destroyed = client.plan_fixed_charges.destroy(plan_code, "seats_2")
    assert destroyed.lago_id == created.lago_id
    with pytest.raises(LagoApiError) as raised:
        client.plan_fixed_charges.find(plan_code, "seats_2")
    assert raised.value.status_code == 404


def test_find_all_children_sends_no_key_and_gets_401(lago_server: LagoServer) -> None:
    # Client quirk (reference §9.1): these find_all calls omit the Authorization header.
    plan_code, external_id = setup(lago_server)
    for call in (
        lambda: lago_server.client.plan_fixed_charges.find_all(plan_code),
        lambda: lago_server.client.subscription_fixed_charges.find_all(external_id),
        lambda: lago_server.client.subscription_charges.find_all(external_id),
    ):
        with pytest.raises(LagoApiError) as raised:
            call()
        assert raised.value.status_code == 401


def test_subscription_units_increase_bills_the_difference(lago_server: LagoServer) -> None:
    client = lago_server.client
    _, external_id = setup(lago_server)
    assert client.subscription_fixed_charges.find(external_id, "seats").units == 5
    updated = client.subscription_fixed_charges.update(
        external_id, "seats", FixedCharge(units=8, apply_units_immediately=True)
    )
    assert updated.units == 8
    sub = client.subscriptions.find(external_id)
    invoices = client.invoices.find_all({"external_customer_id": sub.external_customer_id})
    totals = sorted(i.fees_amount_cents for i in invoices["invoices"])
    # At the start 5 x 10.00 = 5000; the increase, not prorated: (8 - 5) x 10.00 = 3000.
    assert totals == [3000, 5000]


def test_subscription_charge_override_and_filters(lago_server: LagoServer) -> None:
    client = lago_server.client
    plan_code, external_id = setup(lago_server)
    assert client.subscription_charges.find(external_id, "calls").properties == {"amount": "2"}
    overridden = client.subscription_charges.update(
        external_id, "calls", Charge(properties={"amount": "1.5"})
    )
    assert overridden.properties == {"amount": "1.5"}
    assert client.plan_charges.find(plan_code, "calls").properties == {"amount": "2"}
    created = client.subscriptions.create_charge_filter(
        external_id,
        "calls",
        ChargeFilter(properties={"amount": "3"}, values={"region": ["eu"]}),
    )
    listed: Any = client.subscriptions.find_all_charge_filters(external_id, "calls")
    assert [f.lago_id for f in listed["filters"]] == [created.lago_id]
    found = client.subscriptions.find_charge_filter(external_id, "calls", created.lago_id)
    assert found.values == {"region": ["eu"]}
    updated = client.subscriptions.update_charge_filter(
        external_id, "calls", created.lago_id, ChargeFilter(properties={"amount": "4"})
    )
    assert updated.properties == {"amount": "4"}
    client.subscriptions.destroy_charge_filter(external_id, "calls", created.lago_id)
    assert client.subscriptions.find_all_charge_filters(external_id, "calls")["filters"] == []
