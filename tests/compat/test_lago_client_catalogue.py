"""The unmodified lago-python-client against the real server: the catalogue.

Taxes, plans (graduated, package, percentage, volume and standard-with-filters charges),
plan metadata, plan charges, charge filters, customers, subscriptions, and the error
shapes the client turns into `LagoApiError` (reference lago-api.md §3, §4.3-4.5, §7).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from lago_python_client.exceptions import LagoApiError
from lago_python_client.models import (
    BillableMetric,
    Charge,
    ChargeFilter,
    Customer,
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
VOLUME_RANGES = [
    {"from_value": 0, "to_value": 100, "per_unit_amount": "0.5", "flat_amount": "0"},
    {"from_value": 101, "to_value": None, "per_unit_amount": "0.25", "flat_amount": "10"},
]
PACKAGE = {"amount": "10", "package_size": 1000, "free_units": 100}
PERCENTAGE = {"rate": "1.5", "fixed_amount": "0.25", "free_units_per_events": 3}


@dataclass
class Metrics:
    calls_id: str
    calls_code: str
    storage_id: str
    storage_code: str


def api_error(raised: pytest.ExceptionInfo[LagoApiError]) -> tuple[int, dict[str, Any]]:
    response: dict[str, Any] = raised.value.response
    return raised.value.status_code, response


@pytest.fixture(scope="module")
def metrics(lago_server: LagoServer) -> Metrics:
    client = lago_server.client
    calls = client.billable_metrics.create(
        BillableMetric.parse_obj(
            {
                "name": "API calls",
                "code": lago_server.unique("calls"),
                "aggregation_type": "count_agg",
            }
        )
    )
    storage = client.billable_metrics.create(
        BillableMetric.parse_obj(
            {
                "name": "Storage",
                "code": lago_server.unique("storage"),
                "aggregation_type": "sum_agg",
                "field_name": "gb",
                "filters": [{"key": "region", "values": ["eu", "us"]}],
            }
        )
    )
    return Metrics(calls.lago_id, calls.code, storage.lago_id, storage.code)


def all_models_charges(metrics: Metrics) -> list[dict[str, Any]]:
    return [
        {
            "billable_metric_id": metrics.calls_id,
            "code": "calls_graduated",
            "charge_model": "graduated",
            "invoice_display_name": "API calls",
            "properties": {"graduated_ranges": GRADUATED_RANGES},
        },
        {
            "billable_metric_id": metrics.storage_id,
            "code": "storage_package",
            "charge_model": "package",
            "properties": PACKAGE,
        },
        {
            "billable_metric_id": metrics.storage_id,
            "code": "storage_percentage",
            "charge_model": "percentage",
            "properties": PERCENTAGE,
        },
        {
            "billable_metric_id": metrics.calls_id,
            "code": "calls_volume",
            "charge_model": "volume",
            "properties": {"volume_ranges": VOLUME_RANGES},
        },
        {
            "billable_metric_id": metrics.storage_id,
            "code": "storage_standard",
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
    ]


def create_plan(lago_server: LagoServer, metrics: Metrics, **overrides: Any) -> Any:
    values: dict[str, Any] = {
        "name": "Startup",
        "code": lago_server.unique("startup"),
        "interval": "monthly",
        "description": "Monthly plan with usage",
        "amount_cents": 1000,
        "amount_currency": "USD",
        "pay_in_advance": False,
        "charges": all_models_charges(metrics),
    }
    values.update(overrides)
    return lago_server.client.plans.create(Plan.parse_obj(values))


def charges_by_code(plan: Any) -> dict[str, Any]:
    return {charge.code: charge for charge in plan.charges.__root__}


# --- taxes ---------------------------------------------------------------------------


def test_tax_lifecycle(lago_server: LagoServer) -> None:
    client = lago_server.client
    code = lago_server.unique("vat")
    created = client.taxes.create(
        Tax.parse_obj({"name": "VAT 20%", "code": code, "rate": 20.0, "description": "EU VAT"})
    )
    assert (created.code, created.name, created.rate, created.description) == (
        code,
        "VAT 20%",
        20.0,
        "EU VAT",
    )
    assert created.lago_id
    assert created.created_at.endswith("Z")
    assert created.applied_to_organization is False

    found = client.taxes.find(code)
    assert (found.lago_id, found.rate) == (created.lago_id, 20.0)

    updated = client.taxes.update(Tax.parse_obj({"name": "VAT 19.6%", "rate": 19.6}), code)
    assert (updated.lago_id, updated.code, updated.name, updated.rate) == (
        created.lago_id,
        code,
        "VAT 19.6%",
        19.6,
    )
    assert client.taxes.find(code).rate == 19.6

    listed = client.taxes.find_all({"per_page": 100})
    assert {t.code: t.rate for t in listed["taxes"]}[code] == 19.6
    assert listed["meta"]["total_count"] >= 1

    destroyed = client.taxes.destroy(code)
    assert (destroyed.lago_id, destroyed.code) == (created.lago_id, code)
    with pytest.raises(LagoApiError) as raised:
        client.taxes.find(code)
    assert api_error(raised) == (
        404,
        {"status": 404, "error": "Not Found", "code": "tax_not_found"},
    )


# --- plans ---------------------------------------------------------------------------


def test_plan_create_echoes_every_charge_model(lago_server: LagoServer, metrics: Metrics) -> None:
    plan = create_plan(lago_server, metrics)
    assert plan.lago_id
    assert (plan.name, plan.interval, plan.amount_cents, plan.amount_currency) == (
        "Startup",
        "monthly",
        1000,
        "USD",
    )
    assert plan.pay_in_advance is False
    assert plan.description == "Monthly plan with usage"
    charges = charges_by_code(plan)
    assert set(charges) == {
        "calls_graduated",
        "storage_package",
        "storage_percentage",
        "calls_volume",
        "storage_standard",
    }
    graduated = charges["calls_graduated"]
    assert graduated.charge_model == "graduated"
    assert graduated.lago_billable_metric_id == metrics.calls_id
    assert graduated.billable_metric_code == metrics.calls_code
    assert graduated.invoice_display_name == "API calls"
    assert graduated.pay_in_advance is False
    assert graduated.invoiceable is True
    assert graduated.properties == {"graduated_ranges": GRADUATED_RANGES}
    assert charges["storage_package"].properties == PACKAGE
    assert charges["storage_percentage"].charge_model == "percentage"
    assert charges["storage_percentage"].properties == PERCENTAGE
    assert charges["calls_volume"].properties == {"volume_ranges": VOLUME_RANGES}
    standard = charges["storage_standard"]
    assert standard.properties == {"amount": "0.05"}
    [eu] = standard.filters.__root__
    assert (eu.invoice_display_name, eu.properties, eu.values) == (
        "Storage EU",
        {"amount": "0.04"},
        {"region": ["eu"]},
    )
    assert all(charge.lago_id for charge in charges.values())


def test_plan_find_and_find_all(lago_server: LagoServer, metrics: Metrics) -> None:
    plan = create_plan(lago_server, metrics)
    found = lago_server.client.plans.find(plan.code)
    assert found.lago_id == plan.lago_id
    assert {c.code: c.lago_id for c in found.charges.__root__} == {
        c.code: c.lago_id for c in plan.charges.__root__
    }
    listed = lago_server.client.plans.find_all({"per_page": 100})
    assert plan.code in {p.code for p in listed["plans"]}
    assert listed["meta"]["total_count"] == len(listed["plans"])


def test_plan_update_replaces_charges(lago_server: LagoServer, metrics: Metrics) -> None:
    client = lago_server.client
    plan = create_plan(lago_server, metrics)
    kept = charges_by_code(plan)["storage_standard"]
    updated = client.plans.update(
        Plan.parse_obj(
            {
                "name": "Startup v2",
                "amount_cents": 2500,
                "charges": [
                    {
                        "id": kept.lago_id,
                        "billable_metric_id": metrics.storage_id,
                        "code": "storage_standard",
                        "charge_model": "standard",
                        "properties": {"amount": "0.07"},
                    },
                    {
                        "billable_metric_id": metrics.calls_id,
                        "code": "calls_standard",
                        "charge_model": "standard",
                        "properties": {"amount": "0.001"},
                    },
                ],
            }
        ),
        plan.code,
    )
    assert (updated.lago_id, updated.code, updated.name, updated.amount_cents) == (
        plan.lago_id,
        plan.code,
        "Startup v2",
        2500,
    )
    charges = charges_by_code(updated)
    assert set(charges) == {"storage_standard", "calls_standard"}
    assert charges["storage_standard"].lago_id == kept.lago_id
    assert charges["storage_standard"].properties == {"amount": "0.07"}
    assert charges["calls_standard"].properties == {"amount": "0.001"}
    refound = charges_by_code(client.plans.find(plan.code))
    assert set(refound) == {"storage_standard", "calls_standard"}


def test_plan_destroy_then_find_is_404(lago_server: LagoServer, metrics: Metrics) -> None:
    client = lago_server.client
    plan = create_plan(lago_server, metrics)
    destroyed = client.plans.destroy(plan.code)
    assert (destroyed.lago_id, destroyed.code) == (plan.lago_id, plan.code)
    with pytest.raises(LagoApiError) as raised:
        client.plans.find(plan.code)
    assert api_error(raised) == (
        404,
        {"status": 404, "error": "Not Found", "code": "plan_not_found"},
    )
    assert plan.code not in {p.code for p in client.plans.find_all({"per_page": 100})["plans"]}


def test_plan_metadata_replace_merge_delete(lago_server: LagoServer, metrics: Metrics) -> None:
    client = lago_server.client
    plan = create_plan(lago_server, metrics, charges=[])
    assert client.plans.replace_metadata(plan.code, {"tier": "gold", "crm": "A-1"}) == {
        "tier": "gold",
        "crm": "A-1",
    }
    assert client.plans.find(plan.code).metadata == {"tier": "gold", "crm": "A-1"}
    # Replace drops keys that are not sent.
    assert client.plans.replace_metadata(plan.code, {"tier": "silver"}) == {"tier": "silver"}
    merged = client.plans.merge_metadata(plan.code, {"crm": "B-2", "note": None})
    assert merged == {"tier": "silver", "crm": "B-2", "note": None}
    assert client.plans.delete_metadata_key(plan.code, "tier") == {"crm": "B-2", "note": None}
    assert client.plans.find(plan.code).metadata == {"crm": "B-2", "note": None}
    assert not client.plans.delete_all_metadata(plan.code)
    assert client.plans.find(plan.code).metadata is None


# --- plan charges -------------------------------------------------------------------


def test_plan_charges_create_find_update_destroy(lago_server: LagoServer, metrics: Metrics) -> None:
    client = lago_server.client
    plan = create_plan(lago_server, metrics, charges=[])
    created = client.plan_charges.create(
        plan.code,
        Charge.parse_obj(
            {
                "billable_metric_id": metrics.calls_id,
                "code": "calls_package",
                "charge_model": "package",
                "invoice_display_name": "Calls",
                "properties": {"amount": "5", "package_size": 100, "free_units": 0},
            }
        ),
    )
    assert created.lago_id
    assert (created.code, created.charge_model, created.invoice_display_name) == (
        "calls_package",
        "package",
        "Calls",
    )
    assert created.lago_billable_metric_id == metrics.calls_id
    assert created.properties == {"amount": "5", "package_size": 100, "free_units": 0}

    found = client.plan_charges.find(plan.code, "calls_package")
    assert (found.lago_id, found.properties) == (created.lago_id, created.properties)
    assert [c.code for c in client.plans.find(plan.code).charges.__root__] == ["calls_package"]

    updated = client.plan_charges.update(
        plan.code,
        "calls_package",
        Charge.parse_obj(
            {
                "charge_model": "package",
                "invoice_display_name": "Calls (x100)",
                "properties": {"amount": "6", "package_size": 100, "free_units": 10},
            }
        ),
    )
    assert updated.lago_id == created.lago_id
    assert updated.invoice_display_name == "Calls (x100)"
    assert updated.properties == {"amount": "6", "package_size": 100, "free_units": 10}
    assert client.plan_charges.find(plan.code, "calls_package").properties["amount"] == "6"

    destroyed = client.plan_charges.destroy(plan.code, "calls_package")
    assert (destroyed.lago_id, destroyed.code) == (created.lago_id, "calls_package")
    with pytest.raises(LagoApiError) as raised:
        client.plan_charges.find(plan.code, "calls_package")
    assert api_error(raised) == (
        404,
        {"status": 404, "error": "Not Found", "code": "charge_not_found"},
    )
    assert not client.plans.find(plan.code).charges.__root__


def test_plan_charges_find_all_sends_no_key_and_gets_401(
    lago_server: LagoServer, metrics: Metrics
) -> None:
    # Client quirk (reference §9.1): FindAllChildrenCommandMixin omits the Authorization
    # header. Lago answers 401; so must a compatible server (auth is not weakened).
    plan = create_plan(lago_server, metrics)
    with pytest.raises(LagoApiError) as raised:
        lago_server.client.plan_charges.find_all(plan.code)
    assert api_error(raised) == (401, {"status": 401, "error": "Unauthorized"})


# --- charge filters -----------------------------------------------------------------


def test_charge_filters_lifecycle(lago_server: LagoServer, metrics: Metrics) -> None:
    client = lago_server.client
    plan = create_plan(lago_server, metrics)
    listed = client.plans.find_all_charge_filters(plan.code, "storage_standard")
    [eu] = listed["filters"]
    assert (eu.values, eu.properties) == ({"region": ["eu"]}, {"amount": "0.04"})
    assert listed["meta"]["total_count"] == 1

    created = client.plans.create_charge_filter(
        plan.code,
        "storage_standard",
        ChargeFilter.parse_obj(
            {
                "invoice_display_name": "Storage US",
                "properties": {"amount": "0.06"},
                "values": {"region": ["us"]},
            }
        ),
    )
    assert created.lago_id
    assert (created.invoice_display_name, created.properties, created.values) == (
        "Storage US",
        {"amount": "0.06"},
        {"region": ["us"]},
    )

    found = client.plans.find_charge_filter(plan.code, "storage_standard", created.lago_id)
    assert (found.lago_id, found.values) == (created.lago_id, {"region": ["us"]})

    updated = client.plans.update_charge_filter(
        plan.code,
        "storage_standard",
        created.lago_id,
        ChargeFilter.parse_obj(
            {"invoice_display_name": "Storage US (new)", "properties": {"amount": "0.065"}}
        ),
    )
    assert updated.lago_id == created.lago_id
    assert updated.invoice_display_name == "Storage US (new)"
    assert updated.properties == {"amount": "0.065"}
    assert updated.values == {"region": ["us"]}

    listed = client.plans.find_all_charge_filters(plan.code, "storage_standard")
    assert {f.lago_id: f.values for f in listed["filters"]} == {
        eu.lago_id: {"region": ["eu"]},
        created.lago_id: {"region": ["us"]},
    }
    assert listed["meta"]["total_count"] == 2

    destroyed = client.plans.destroy_charge_filter(plan.code, "storage_standard", created.lago_id)
    assert destroyed.lago_id == created.lago_id
    with pytest.raises(LagoApiError) as raised:
        client.plans.find_charge_filter(plan.code, "storage_standard", created.lago_id)
    assert api_error(raised) == (
        404,
        {"status": 404, "error": "Not Found", "code": "charge_filter_not_found"},
    )
    remaining = client.plans.find_all_charge_filters(plan.code, "storage_standard")["filters"]
    assert [f.lago_id for f in remaining] == [eu.lago_id]


# --- customers ----------------------------------------------------------------------


def customer(external_id: str, **overrides: Any) -> Customer:
    values: dict[str, Any] = {
        "external_id": external_id,
        "name": "Acme Inc.",
        "email": "billing@acme.test",
        "currency": "USD",
        "country": "US",
        "city": "Springfield",
        "net_payment_term": 30,
        "customer_type": "company",
    }
    values.update(overrides)
    return Customer.parse_obj(values)


def test_customer_create_is_an_upsert(lago_server: LagoServer) -> None:
    client = lago_server.client
    external_id = lago_server.unique("acme")
    first = client.customers.create(customer(external_id))
    assert first.lago_id
    assert (first.external_id, first.name, first.email, first.currency) == (
        external_id,
        "Acme Inc.",
        "billing@acme.test",
        "USD",
    )
    assert (first.country, first.city, first.net_payment_term, first.customer_type) == (
        "US",
        "Springfield",
        30,
        "company",
    )
    assert first.applicable_timezone
    assert first.created_at.endswith("Z")

    second = client.customers.create(
        customer(external_id, name="Acme Corporation", city="Shelbyville")
    )
    assert second.lago_id == first.lago_id
    assert (second.name, second.city, second.email) == (
        "Acme Corporation",
        "Shelbyville",
        "billing@acme.test",
    )
    assert second.created_at == first.created_at

    found = client.customers.find(external_id)
    assert (found.lago_id, found.name, found.city) == (
        first.lago_id,
        "Acme Corporation",
        "Shelbyville",
    )
    matching = client.customers.find_all({"per_page": 100})["customers"]
    assert [c.lago_id for c in matching if c.external_id == external_id] == [first.lago_id]


def test_customer_find_all_with_search_term(lago_server: LagoServer) -> None:
    client = lago_server.client
    marker = lago_server.unique("zebra")
    wanted = client.customers.create(customer(lago_server.unique("c"), name=f"Corp {marker}"))
    client.customers.create(customer(lago_server.unique("c"), name="Someone Else"))
    result = client.customers.find_all({"search_term": marker})
    assert [c.lago_id for c in result["customers"]] == [wanted.lago_id]
    assert result["meta"]["total_count"] == 1


def test_customer_destroy_then_find_is_404(lago_server: LagoServer) -> None:
    client = lago_server.client
    external_id = lago_server.unique("gone")
    created = client.customers.create(customer(external_id))
    destroyed = client.customers.destroy(external_id)
    assert (destroyed.lago_id, destroyed.external_id) == (created.lago_id, external_id)
    with pytest.raises(LagoApiError) as raised:
        client.customers.find(external_id)
    assert api_error(raised) == (
        404,
        {"status": 404, "error": "Not Found", "code": "customer_not_found"},
    )


# --- subscriptions ------------------------------------------------------------------


def test_subscription_create_find_update_find_all(
    lago_server: LagoServer, metrics: Metrics
) -> None:
    client = lago_server.client
    plan = create_plan(lago_server, metrics)
    cust = client.customers.create(customer(lago_server.unique("sub_owner")))
    external_id = lago_server.unique("sub")
    created = client.subscriptions.create(
        Subscription.parse_obj(
            {
                "external_customer_id": cust.external_id,
                "plan_code": plan.code,
                "external_id": external_id,
                "name": "Acme - Startup",
                "billing_time": "calendar",
            }
        )
    )
    assert created.lago_id
    assert (created.external_id, created.external_customer_id, created.plan_code) == (
        external_id,
        cust.external_id,
        plan.code,
    )
    assert (created.status, created.name, created.billing_time) == (
        "active",
        "Acme - Startup",
        "calendar",
    )
    assert created.lago_customer_id == cust.lago_id
    assert created.started_at
    assert created.ending_at is None and created.terminated_at is None

    found = client.subscriptions.find(external_id)
    assert (found.lago_id, found.status, found.plan_code) == (created.lago_id, "active", plan.code)

    updated = client.subscriptions.update(
        Subscription.parse_obj({"name": "Acme - Renamed", "ending_at": "2099-12-31T00:00:00Z"}),
        external_id,
    )
    assert updated.lago_id == created.lago_id
    assert updated.name == "Acme - Renamed"
    assert updated.ending_at == "2099-12-31T00:00:00Z"
    assert client.subscriptions.find(external_id).name == "Acme - Renamed"

    listed = client.subscriptions.find_all({"external_customer_id": cust.external_id})
    assert [s.external_id for s in listed["subscriptions"]] == [external_id]
    assert listed["meta"]["total_count"] == 1


def test_pending_subscription_destroy_cancels_it(lago_server: LagoServer, metrics: Metrics) -> None:
    client = lago_server.client
    plan = create_plan(lago_server, metrics)
    cust = client.customers.create(customer(lago_server.unique("future_owner")))
    external_id = lago_server.unique("future")
    created = client.subscriptions.create(
        Subscription.parse_obj(
            {
                "external_customer_id": cust.external_id,
                "plan_code": plan.code,
                "external_id": external_id,
                "subscription_at": "2099-01-01T00:00:00Z",
            }
        )
    )
    assert created.status == "pending"
    assert created.subscription_at == "2099-01-01T00:00:00Z"
    pending = client.subscriptions.find(external_id, {"status": "pending"})
    assert (pending.lago_id, pending.status) == (created.lago_id, "pending")

    canceled = client.subscriptions.destroy(external_id, {"status": "pending"})
    assert (canceled.lago_id, canceled.status) == (created.lago_id, "canceled")
    assert canceled.canceled_at
    assert canceled.terminated_at is None


# --- errors -------------------------------------------------------------------------


def test_unknown_plan_is_404_plan_not_found(lago_server: LagoServer) -> None:
    with pytest.raises(LagoApiError) as raised:
        lago_server.client.plans.find(lago_server.unique("nope"))
    assert api_error(raised) == (
        404,
        {"status": 404, "error": "Not Found", "code": "plan_not_found"},
    )


def test_duplicate_plan_code_is_422_validation_errors(
    lago_server: LagoServer, metrics: Metrics
) -> None:
    plan = create_plan(lago_server, metrics, charges=[])
    with pytest.raises(LagoApiError) as raised:
        create_plan(lago_server, metrics, charges=[], code=plan.code)
    status, body = api_error(raised)
    assert status == 422
    assert body == {
        "status": 422,
        "error": "Unprocessable Entity",
        "code": "validation_errors",
        "error_details": {"code": ["value_already_exist"]},
    }


def test_decimal_amount_as_number_is_422(lago_server: LagoServer, metrics: Metrics) -> None:
    # Lago requires decimal properties as strings (reference §7.4): a JSON number is invalid.
    charge = {
        "billable_metric_id": metrics.calls_id,
        "code": "calls_standard",
        "charge_model": "standard",
        "properties": {"amount": 0.05},
    }
    code = lago_server.unique("bad_plan")
    with pytest.raises(LagoApiError) as raised:
        create_plan(lago_server, metrics, code=code, charges=[charge])
    status, body = api_error(raised)
    assert (status, body["code"]) == (422, "validation_errors")
    assert "invalid_amount" in str(body["error_details"])
    with pytest.raises(LagoApiError) as missing:
        lago_server.client.plans.find(code)
    assert missing.value.status_code == 404


def test_wrong_api_key_is_401(lago_server: LagoServer) -> None:
    stranger = lago_server.new_client(api_key="wrong-key")
    with pytest.raises(LagoApiError) as raised:
        stranger.plans.find_all()
    assert api_error(raised) == (401, {"status": 401, "error": "Unauthorized"})
    with pytest.raises(LagoApiError) as raised:
        stranger.customers.create(customer(lago_server.unique("x")))
    assert raised.value.status_code == 401


def test_subscription_for_an_unknown_customer_creates_the_customer(
    lago_server: LagoServer, metrics: Metrics
) -> None:
    # Lago's subscription create does Customer.find_or_initialize_by(external_id).
    client = lago_server.client
    plan = create_plan(lago_server, metrics, charges=[])
    external_customer_id = lago_server.unique("implicit")
    created = client.subscriptions.create(
        Subscription.parse_obj(
            {
                "external_customer_id": external_customer_id,
                "plan_code": plan.code,
                "external_id": lago_server.unique("sub"),
            }
        )
    )
    assert created.status == "active"
    found = client.customers.find(external_customer_id)
    assert found.lago_id == created.lago_customer_id


def test_subscription_errors(lago_server: LagoServer, metrics: Metrics) -> None:
    client = lago_server.client
    cust = client.customers.create(customer(lago_server.unique("err_owner")))
    with pytest.raises(LagoApiError) as raised:
        client.subscriptions.create(
            Subscription.parse_obj(
                {
                    "external_customer_id": cust.external_id,
                    "plan_code": lago_server.unique("no_plan"),
                    "external_id": lago_server.unique("sub"),
                }
            )
        )
    assert api_error(raised) == (
        404,
        {"status": 404, "error": "Not Found", "code": "plan_not_found"},
    )
    plan = create_plan(lago_server, metrics, charges=[])
    with pytest.raises(LagoApiError) as raised:
        client.subscriptions.create(
            Subscription.parse_obj(
                {
                    "external_customer_id": cust.external_id,
                    "plan_code": plan.code,
                    "external_id": lago_server.unique("sub"),
                    "billing_time": "whenever",
                }
            )
        )
    status, body = api_error(raised)
    assert (status, body["code"]) == (422, "validation_errors")
    assert body["error_details"] == {"billing_time": ["value_is_invalid"]}
    with pytest.raises(LagoApiError) as raised:
        client.subscriptions.destroy(lago_server.unique("no_sub"))
    assert api_error(raised) == (
        404,
        {"status": 404, "error": "Not Found", "code": "subscription_not_found"},
    )


def test_plan_charge_on_an_unknown_metric_is_404(lago_server: LagoServer, metrics: Metrics) -> None:
    charge = {
        "billable_metric_id": "00000000-0000-4000-8000-000000000000",
        "code": "ghost",
        "charge_model": "standard",
        "properties": {"amount": "1"},
    }
    with pytest.raises(LagoApiError) as raised:
        create_plan(lago_server, metrics, charges=[charge])
    assert api_error(raised) == (
        404,
        {"status": 404, "error": "Not Found", "code": "billable_metrics_not_found"},
    )
