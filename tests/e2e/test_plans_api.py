"""Plans, their charges and charge filters through HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest

GRADUATED_RANGES = [
    {"from_value": 0, "to_value": 1000, "per_unit_amount": "0", "flat_amount": "0"},
    {"from_value": 1001, "to_value": 10000, "per_unit_amount": "0.002", "flat_amount": "5"},
    {"from_value": 10001, "to_value": None, "per_unit_amount": "0.001", "flat_amount": "0"},
]
VOLUME_RANGES = [
    {"from_value": 0, "to_value": 100, "per_unit_amount": "0.5", "flat_amount": "0"},
    {"from_value": 101, "to_value": None, "per_unit_amount": "0.25", "flat_amount": "0"},
]


# --- builders ----------------------------------------------------------------------


def make_metric(api: Any, code: str, aggregation: str = "sum_agg", **extra: Any) -> str:
    body: dict[str, Any] = {"name": code, "code": code, "aggregation_type": aggregation}
    if aggregation != "count_agg":
        body["field_name"] = "value"
    body.update(extra)
    response = api.post("billable_metrics", {"billable_metric": body})
    assert response.status_code == 200, response.text
    lago_id: str = response.json()["billable_metric"]["lago_id"]
    return lago_id


@pytest.fixture
def metrics(api: Any) -> dict[str, str]:
    return {
        "calls": make_metric(api, "calls", "count_agg"),
        "storage": make_metric(api, "storage", filters=[{"key": "region", "values": ["eu", "us"]}]),
        "seats": make_metric(api, "seats", "unique_count_agg", recurring=True),
        "peak": make_metric(api, "peak", "max_agg"),
        "last": make_metric(api, "last", "latest_agg"),
        "gb_seconds": make_metric(api, "gb_seconds", "weighted_sum_agg", recurring=True),
    }


def plan_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": "Startup",
        "code": "startup",
        "interval": "monthly",
        "amount_cents": 1000,
        "amount_currency": "USD",
        "pay_in_advance": False,
    }
    body.update(overrides)
    return {"plan": body}


def standard(metric_id: str, **overrides: Any) -> dict[str, Any]:
    charge: dict[str, Any] = {
        "billable_metric_id": metric_id,
        "charge_model": "standard",
        "properties": {"amount": "0.05"},
    }
    charge.update(overrides)
    return charge


def full_charges(metrics: dict[str, str]) -> list[dict[str, Any]]:
    return [
        standard(metrics["calls"], code="calls_standard"),
        {
            "billable_metric_id": metrics["calls"],
            "code": "calls_graduated",
            "charge_model": "graduated",
            "invoice_display_name": "API calls",
            "properties": {"graduated_ranges": GRADUATED_RANGES},
        },
        {
            "billable_metric_id": metrics["calls"],
            "code": "calls_package",
            "charge_model": "package",
            "properties": {"amount": "10", "package_size": 1000, "free_units": 100},
        },
        {
            "billable_metric_id": metrics["storage"],
            "code": "storage_percentage",
            "charge_model": "percentage",
            "pay_in_advance": True,
            "invoiceable": True,
            "properties": {"rate": "1.5", "fixed_amount": "0.25", "free_units_per_events": 3},
        },
        {
            "billable_metric_id": metrics["peak"],
            "code": "peak_volume",
            "charge_model": "volume",
            "properties": {"volume_ranges": VOLUME_RANGES},
        },
        standard(
            metrics["storage"],
            code="storage",
            properties={"amount": "0.05", "pricing_group_keys": ["bucket"]},
            filters=[
                {
                    "invoice_display_name": "Storage EU",
                    "properties": {"amount": "0.04"},
                    "values": {"region": ["eu"]},
                }
            ],
        ),
    ]


def create_plan(api: Any, **overrides: Any) -> dict[str, Any]:
    response = api.post("plans", plan_body(**overrides))
    assert response.status_code == 200, response.text
    plan: dict[str, Any] = response.json()["plan"]
    return plan


def error_details(response: Any) -> Any:
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "validation_errors"
    return response.json()["error_details"]


def assert_no_plan(api: Any) -> None:
    assert api.get("plans").json()["meta"]["total_count"] == 0


# --- plans -------------------------------------------------------------------------


def test_create_plan_with_every_charge_model(api: Any, metrics: dict[str, str]) -> None:
    plan = create_plan(api, charges=full_charges(metrics), trial_period=2.5)
    assert plan["code"] == "startup"
    assert plan["trial_period"] == 2.5
    assert plan["bill_charges_monthly"] is None
    assert plan["pending_deletion"] is False
    assert (plan["customers_count"], plan["active_subscriptions_count"]) == (0, 0)
    assert plan["usage_thresholds"] == [] and plan["taxes"] == []
    assert "minimum_commitment" not in plan and "metadata" not in plan
    charges = {c["code"]: c for c in plan["charges"]}
    assert list(charges) == [
        "calls_standard",
        "calls_graduated",
        "calls_package",
        "storage_percentage",
        "peak_volume",
        "storage",
    ]
    graduated = charges["calls_graduated"]
    assert graduated["properties"] == {"graduated_ranges": GRADUATED_RANGES}
    assert graduated["billable_metric_code"] == "calls"
    assert graduated["lago_billable_metric_id"] == metrics["calls"]
    assert graduated["invoice_display_name"] == "API calls"
    assert charges["calls_package"]["properties"] == {
        "amount": "10",
        "free_units": 100,
        "package_size": 1000,
    }
    assert charges["storage_percentage"]["pay_in_advance"] is True
    assert charges["peak_volume"]["properties"] == {"volume_ranges": VOLUME_RANGES}
    storage = charges["storage"]
    assert storage["properties"] == {
        "amount": "0.05",
        "pricing_group_keys": ["bucket"],
        "grouped_by": ["bucket"],
    }
    [only] = storage["filters"]
    assert only["charge_code"] == "storage"
    assert only["values"] == {"region": ["eu"]}
    assert only["properties"] == {"amount": "0.04"}
    assert only["invoice_display_name"] == "Storage EU"
    assert api.get("plans/startup").json()["plan"] == plan


def test_plan_with_taxes_commitment_thresholds_and_metadata(api: Any) -> None:
    api.post("taxes", {"tax": {"name": "VAT", "code": "vat_20", "rate": 20}})
    plan = create_plan(
        api,
        interval="yearly",
        bill_charges_monthly=True,
        tax_codes=["vat_20"],
        minimum_commitment={"amount_cents": 50000, "invoice_display_name": "Commit"},
        usage_thresholds=[
            {"amount_cents": 20000, "threshold_display_name": "second"},
            {"amount_cents": 10000, "threshold_display_name": "first"},
            {"amount_cents": 5000, "recurring": True},
        ],
        metadata={"team": "growth"},
    )
    assert plan["bill_charges_monthly"] is True
    assert [t["code"] for t in plan["taxes"]] == ["vat_20"]
    assert plan["taxes"][0]["rate"] == 20.0
    commitment = plan["minimum_commitment"]
    assert commitment["amount_cents"] == 50000
    assert commitment["interval"] == "yearly"
    assert commitment["plan_code"] == "startup"
    assert commitment["lago_id"] and commitment["taxes"] == []
    thresholds = plan["usage_thresholds"]
    assert [(t["amount_cents"], t["recurring"]) for t in thresholds] == [
        (10000, False),
        (20000, False),
        (5000, True),
    ]
    assert all(t["lago_id"] for t in thresholds)
    assert plan["applicable_usage_thresholds"] == thresholds
    assert plan["metadata"] == {"team": "growth"}


def test_bill_charges_monthly_is_dropped_for_monthly_plans(api: Any) -> None:
    assert create_plan(api, bill_charges_monthly=True)["bill_charges_monthly"] is None


@pytest.mark.parametrize(
    ("overrides", "details"),
    [
        ({"code": None}, {"code": ["value_is_mandatory"]}),
        ({"interval": "daily"}, {"interval": ["value_is_invalid"]}),
        ({"amount_cents": -1}, {"amount_cents": ["value_is_invalid"]}),
        ({"amount_currency": "XXX"}, {"amount_currency": ["value_is_invalid"]}),
        ({"trial_period": -1}, {"trial_period": ["value_is_invalid"]}),
        (
            {"usage_thresholds": [{"amount_cents": 100}, {"amount_cents": 100}]},
            {"amount_cents": ["value_already_exist"]},
        ),
        (
            {
                "usage_thresholds": [
                    {"amount_cents": 100, "recurring": True},
                    {"amount_cents": 200, "recurring": True},
                ]
            },
            {"recurring": ["value_already_exist"]},
        ),
    ],
)
def test_invalid_plan_is_rejected_and_changes_nothing(
    api: Any, overrides: dict[str, Any], details: dict[str, Any]
) -> None:
    assert error_details(api.post("plans", plan_body(**overrides))) == details
    assert_no_plan(api)


def test_duplicate_plan_code_is_rejected(api: Any) -> None:
    create_plan(api)
    assert error_details(api.post("plans", plan_body())) == {"code": ["value_already_exist"]}
    assert api.get("plans").json()["meta"]["total_count"] == 1


def test_unknown_plan_tax_is_404_and_changes_nothing(api: Any) -> None:
    response = api.post("plans", plan_body(tax_codes=["nope"]))
    assert response.status_code == 404
    assert response.json()["code"] == "tax_not_found"
    assert_no_plan(api)


def test_unknown_metric_is_404_and_changes_nothing(api: Any) -> None:
    response = api.post("plans", plan_body(charges=[standard("no-such-metric")]))
    assert response.status_code == 404
    assert response.json()["code"] == "billable_metrics_not_found"
    assert_no_plan(api)


def test_list_show_and_pagination(api: Any) -> None:
    for code in ("a", "b", "c"):
        create_plan(api, code=code)
    listed = api.get("plans", params={"per_page": 2}).json()
    assert len(listed["plans"]) == 2
    assert listed["meta"]["total_count"] == 3 and listed["meta"]["next_page"] == 2
    assert api.get("plans/b").json()["plan"]["code"] == "b"


def test_unknown_plan_is_404_everywhere(api: Any) -> None:
    for response in (
        api.get("plans/nope"),
        api.put("plans/nope", plan_body()),
        api.delete("plans/nope"),
        api.get("plans/nope/charges"),
        api.post("plans/nope/metadata", {"metadata": {"a": "b"}}),
    ):
        assert response.status_code == 404
        assert response.json() == {"status": 404, "error": "Not Found", "code": "plan_not_found"}


def test_delete_is_soft_and_frees_the_code(api: Any) -> None:
    plan = create_plan(api)
    deleted = api.delete("plans/startup")
    assert deleted.status_code == 200
    assert deleted.json()["plan"]["lago_id"] == plan["lago_id"]
    assert deleted.json()["plan"]["pending_deletion"] is True
    assert api.get("plans/startup").status_code == 404
    assert_no_plan(api)
    assert create_plan(api)["lago_id"] != plan["lago_id"]


def test_update_plan_fields(api: Any) -> None:
    create_plan(api)
    updated = api.put(
        "plans/startup",
        plan_body(name="Scale", code="scale", amount_cents=5000, description="Bigger"),
    )
    assert updated.status_code == 200, updated.text
    plan = updated.json()["plan"]
    assert (plan["name"], plan["code"], plan["amount_cents"]) == ("Scale", "scale", 5000)
    assert plan["description"] == "Bigger"
    assert api.get("plans/startup").status_code == 404


def test_update_replaces_charges(api: Any, metrics: dict[str, str]) -> None:
    plan = create_plan(
        api,
        charges=[
            standard(metrics["calls"], code="keep"),
            standard(metrics["storage"], code="drop"),
        ],
    )
    keep = next(c for c in plan["charges"] if c["code"] == "keep")
    updated = api.put(
        "plans/startup",
        {
            "plan": {
                "charges": [
                    {"id": keep["lago_id"], "properties": {"amount": "0.07"}},
                    standard(metrics["seats"], code="new_seats"),
                ]
            }
        },
    )
    assert updated.status_code == 200, updated.text
    charges = {c["code"]: c for c in updated.json()["plan"]["charges"]}
    assert set(charges) == {"keep", "new_seats"}
    assert charges["keep"]["lago_id"] == keep["lago_id"]
    assert charges["keep"]["properties"] == {"amount": "0.07"}
    assert api.get("plans/startup/charges/drop").json()["code"] == "charge_not_found"
    assert api.get("plans/startup/charges").json()["meta"]["total_count"] == 2


def test_update_without_charges_keeps_them(api: Any, metrics: dict[str, str]) -> None:
    create_plan(api, charges=[standard(metrics["calls"])])
    updated = api.put("plans/startup", {"plan": {"name": "Renamed"}})
    assert [c["code"] for c in updated.json()["plan"]["charges"]] == ["calls"]


def test_invalid_update_changes_nothing(api: Any, metrics: dict[str, str]) -> None:
    plan = create_plan(api, charges=[standard(metrics["calls"], code="keep")])
    response = api.put(
        "plans/startup",
        {
            "plan": {
                "name": "Renamed",
                "charges": [standard(metrics["peak"], pay_in_advance=True)],
            }
        },
    )
    assert error_details(response) == {
        "pay_in_advance": ["invalid_aggregation_type_or_charge_model"]
    }
    assert api.get("plans/startup").json()["plan"] == plan


def test_default_charge_code_is_the_metric_code_suffixed_when_taken(
    api: Any, metrics: dict[str, str]
) -> None:
    plan = create_plan(api, charges=[standard(metrics["calls"]), standard(metrics["calls"])])
    assert [c["code"] for c in plan["charges"]] == ["calls", "calls_2"]


def test_duplicate_charge_code_is_rejected(api: Any, metrics: dict[str, str]) -> None:
    charges = [standard(metrics["calls"], code="x"), standard(metrics["storage"], code="x")]
    assert error_details(api.post("plans", plan_body(charges=charges))) == {
        "code": ["value_already_exist"]
    }
    assert_no_plan(api)


# --- charge validation -------------------------------------------------------------


def charge_case(metric: str, **fields: Any) -> tuple[str, dict[str, Any]]:
    return metric, fields


CHARGE_RULES = [
    (
        charge_case("peak", pay_in_advance=True),
        {"pay_in_advance": ["invalid_aggregation_type_or_charge_model"]},
    ),
    (
        charge_case(
            "calls",
            pay_in_advance=True,
            charge_model="volume",
            properties={"volume_ranges": VOLUME_RANGES},
        ),
        {"pay_in_advance": ["invalid_aggregation_type_or_charge_model"]},
    ),
    (
        charge_case("calls", invoiceable=False),
        {"invoiceable": ["must_be_true_unless_pay_in_advance"]},
    ),
    (
        charge_case("calls", prorated=True),
        {"prorated": ["invalid_billable_metric_or_charge_model"]},
    ),
    (
        charge_case("gb_seconds", prorated=True),
        {"prorated": ["invalid_billable_metric_or_charge_model"]},
    ),
    (
        charge_case(
            "seats",
            prorated=True,
            pay_in_advance=True,
            charge_model="graduated",
            properties={"graduated_ranges": GRADUATED_RANGES},
        ),
        {"prorated": ["invalid_billable_metric_or_charge_model"]},
    ),
    (
        charge_case("calls", pay_in_advance=True, min_amount_cents=100),
        {"min_amount_cents": ["not_compatible_with_pay_in_advance"]},
    ),
    (
        charge_case("calls", charge_model="dynamic", properties={}),
        {"charge_model": ["invalid_aggregation_type_or_charge_model"]},
    ),
    (
        charge_case("last", charge_model="percentage", properties={"rate": "1"}),
        {"charge_model": ["invalid_aggregation_type_or_charge_model"]},
    ),
    (
        charge_case("calls", charge_model="unknown"),
        {"charge_model": ["value_is_invalid"]},
    ),
    (charge_case("calls", properties={"amount": 0.05}), {"properties": ["invalid_amount"]}),
    (
        charge_case(
            "calls",
            charge_model="package",
            properties={"amount": "1", "package_size": 0, "free_units": 0},
        ),
        {"properties": ["invalid_package_size"]},
    ),
    (
        charge_case("storage", filters=[{"properties": {"amount": "1"}, "values": {"x": ["y"]}}]),
        {"values": ["value_is_invalid"]},
    ),
    (
        charge_case(
            "storage", filters=[{"properties": {"amount": "1"}, "values": {"region": ["asia"]}}]
        ),
        {"values": ["value_is_invalid"]},
    ),
    (
        charge_case(
            "storage", filters=[{"properties": {"amount": 1}, "values": {"region": ["eu"]}}]
        ),
        {"properties": ["invalid_amount"]},
    ),
]


@pytest.mark.parametrize(("case", "details"), CHARGE_RULES)
def test_charge_rule_is_enforced_and_changes_nothing(
    api: Any, metrics: dict[str, str], case: tuple[str, dict[str, Any]], details: dict[str, Any]
) -> None:
    metric, fields = case
    response = api.post("plans", plan_body(charges=[standard(metrics[metric], **fields)]))
    assert error_details(response) == details
    assert_no_plan(api)


def test_rule_is_enforced_on_the_charges_endpoint_too(api: Any, metrics: dict[str, str]) -> None:
    create_plan(api)
    response = api.post(
        "plans/startup/charges", {"charge": standard(metrics["peak"], pay_in_advance=True)}
    )
    assert error_details(response) == {
        "pay_in_advance": ["invalid_aggregation_type_or_charge_model"]
    }
    assert api.get("plans/startup/charges").json()["meta"]["total_count"] == 0


@pytest.mark.parametrize(
    ("metric", "fields"),
    [
        ("seats", {"prorated": True}),
        ("seats", {"prorated": True, "pay_in_advance": True}),
        ("calls", {"pay_in_advance": True, "invoiceable": False}),
        (
            "calls",
            {"pay_in_advance": True, "invoiceable": False, "regroup_paid_fees": "invoice"},
        ),
        ("storage", {"charge_model": "dynamic", "properties": {}}),
        ("calls", {"min_amount_cents": 500}),
        ("storage", {"filters": [{"values": {"region": ["__ALL_FILTER_VALUES__"]}}]}),
    ],
)
def test_compatible_options_are_accepted(
    api: Any, metrics: dict[str, str], metric: str, fields: dict[str, Any]
) -> None:
    response = api.post("plans", plan_body(charges=[standard(metrics[metric], **fields)]))
    assert response.status_code == 200, response.text


def test_charge_without_properties_gets_lago_defaults(api: Any, metrics: dict[str, str]) -> None:
    charge = {"billable_metric_id": metrics["calls"], "charge_model": "graduated"}
    [created] = create_plan(api, charges=[charge])["charges"]
    assert created["properties"] == {
        "graduated_ranges": [
            {"from_value": 0, "to_value": None, "per_unit_amount": "0", "flat_amount": "0"}
        ]
    }


def test_charge_taxes_are_full_objects(api: Any, metrics: dict[str, str]) -> None:
    api.post("taxes", {"tax": {"name": "GST", "code": "gst", "rate": "5"}})
    [charge] = create_plan(api, charges=[standard(metrics["calls"], tax_codes=["gst"])])["charges"]
    [tax] = charge["taxes"]
    assert (tax["code"], tax["rate"], tax["name"]) == ("gst", 5.0, "GST")
    assert tax["lago_id"] and tax["created_at"]


def test_unknown_charge_tax_is_404(api: Any, metrics: dict[str, str]) -> None:
    response = api.post("plans", plan_body(charges=[standard(metrics["calls"], tax_codes=["x"])]))
    assert response.status_code == 404
    assert response.json()["code"] == "tax_not_found"
    assert_no_plan(api)


# --- charges endpoint --------------------------------------------------------------


def test_charges_crud(api: Any, metrics: dict[str, str]) -> None:
    create_plan(api, charges=[standard(metrics["calls"])])
    created = api.post(
        "plans/startup/charges",
        {"charge": standard(metrics["storage"], code="storage", invoice_display_name="Disk")},
    )
    assert created.status_code == 200, created.text
    charge = created.json()["charge"]
    assert charge["code"] == "storage" and charge["billable_metric_code"] == "storage"
    listed = api.get("plans/startup/charges").json()
    assert [c["code"] for c in listed["charges"]] == ["calls", "storage"]
    assert listed["meta"]["total_count"] == 2
    assert api.get("plans/startup/charges/storage").json()["charge"] == charge
    updated = api.put(
        "plans/startup/charges/storage",
        {
            "charge": {
                "charge_model": "package",
                "properties": {"amount": "3", "package_size": 10, "free_units": 0},
            }
        },
    )
    assert updated.status_code == 200, updated.text
    assert updated.json()["charge"]["charge_model"] == "package"
    assert updated.json()["charge"]["invoice_display_name"] == "Disk"
    deleted = api.delete("plans/startup/charges/storage")
    assert deleted.status_code == 200 and deleted.json()["charge"]["code"] == "storage"
    assert api.get("plans/startup/charges/storage").status_code == 404
    assert [c["code"] for c in api.get("plans/startup").json()["plan"]["charges"]] == ["calls"]


def test_invalid_charge_update_changes_nothing(api: Any, metrics: dict[str, str]) -> None:
    create_plan(api, charges=[standard(metrics["calls"])])
    before = api.get("plans/startup/charges/calls").json()["charge"]
    response = api.put(
        "plans/startup/charges/calls",
        {"charge": {"invoice_display_name": "New", "properties": {"amount": "x"}}},
    )
    assert error_details(response) == {"properties": ["invalid_amount"]}
    assert api.get("plans/startup/charges/calls").json()["charge"] == before


def test_unknown_metric_on_charges_endpoint_is_404(api: Any) -> None:
    create_plan(api)
    response = api.post("plans/startup/charges", {"charge": standard("nope")})
    assert response.status_code == 404
    assert response.json()["code"] == "billable_metric_not_found"


def test_unknown_charge_is_404(api: Any) -> None:
    create_plan(api)
    for response in (
        api.get("plans/startup/charges/nope"),
        api.put("plans/startup/charges/nope", {"charge": {}}),
        api.delete("plans/startup/charges/nope"),
        api.get("plans/startup/charges/nope/filters"),
    ):
        assert response.status_code == 404
        assert response.json()["code"] == "charge_not_found"


def test_update_with_unknown_charge_id_is_404(api: Any) -> None:
    create_plan(api)
    response = api.put("plans/startup", {"plan": {"charges": [{"id": "nope"}]}})
    assert response.status_code == 404
    assert response.json()["code"] == "charge_not_found"


# --- charge filters ----------------------------------------------------------------


def filtered_plan(api: Any, metrics: dict[str, str]) -> dict[str, Any]:
    return create_plan(api, charges=[standard(metrics["storage"], code="storage")])


def test_filters_crud(api: Any, metrics: dict[str, str]) -> None:
    filtered_plan(api, metrics)
    base = "plans/startup/charges/storage/filters"
    created = api.post(
        base,
        {
            "filter": {
                "invoice_display_name": "EU",
                "properties": {"amount": "0.04"},
                "values": {"region": ["eu"]},
            }
        },
    )
    assert created.status_code == 200, created.text
    item = created.json()["filter"]
    assert item["charge_code"] == "storage" and item["values"] == {"region": ["eu"]}
    listed = api.get(base).json()
    assert listed["filters"] == [item] and listed["meta"]["total_count"] == 1
    assert api.get(f"{base}/{item['lago_id']}").json()["filter"] == item
    updated = api.put(
        f"{base}/{item['lago_id']}",
        {"filter": {"properties": {"amount": "0.03"}, "values": {"region": ["eu", "us"]}}},
    )
    assert updated.status_code == 200, updated.text
    assert updated.json()["filter"]["properties"] == {"amount": "0.03"}
    assert updated.json()["filter"]["values"] == {"region": ["eu", "us"]}
    assert updated.json()["filter"]["invoice_display_name"] == "EU"
    [in_plan] = api.get("plans/startup").json()["plan"]["charges"][0]["filters"]
    assert in_plan == updated.json()["filter"]
    deleted = api.delete(f"{base}/{item['lago_id']}")
    assert deleted.status_code == 200 and deleted.json()["filter"]["lago_id"] == item["lago_id"]
    assert api.get(base).json()["meta"]["total_count"] == 0


def test_invalid_filter_changes_nothing(api: Any, metrics: dict[str, str]) -> None:
    filtered_plan(api, metrics)
    base = "plans/startup/charges/storage/filters"
    bad_value = {"filter": {"properties": {"amount": "1"}, "values": {"region": ["mars"]}}}
    assert error_details(api.post(base, bad_value)) == {"values": ["value_is_invalid"]}
    bad_amount = {"filter": {"properties": {"amount": 1}, "values": {"region": ["eu"]}}}
    assert error_details(api.post(base, bad_amount)) == {"properties": ["invalid_amount"]}
    assert api.get(base).json()["meta"]["total_count"] == 0


def test_unknown_filter_is_404(api: Any, metrics: dict[str, str]) -> None:
    filtered_plan(api, metrics)
    base = "plans/startup/charges/storage/filters/00000000-0000-0000-0000-000000000000"
    for response in (api.get(base), api.put(base, {"filter": {}}), api.delete(base)):
        assert response.status_code == 404
        assert response.json()["code"] == "charge_filter_not_found"


def test_plan_update_keeps_filters_matched_by_values(api: Any, metrics: dict[str, str]) -> None:
    plan = create_plan(api, charges=full_charges(metrics))
    storage = next(c for c in plan["charges"] if c["code"] == "storage")
    [eu] = storage["filters"]
    updated = api.put(
        "plans/startup",
        {
            "plan": {
                "charges": [
                    {
                        "id": storage["lago_id"],
                        "filters": [
                            {"properties": {"amount": "0.02"}, "values": {"region": ["eu"]}},
                            {"properties": {"amount": "0.01"}, "values": {"region": ["us"]}},
                        ],
                    }
                ]
            }
        },
    )
    assert updated.status_code == 200, updated.text
    [charge] = updated.json()["plan"]["charges"]
    filters = {f["values"]["region"][0]: f for f in charge["filters"]}
    assert filters["eu"]["lago_id"] == eu["lago_id"]
    assert filters["eu"]["properties"] == {"amount": "0.02"}
    assert filters["us"]["properties"] == {"amount": "0.01"}


# --- metadata ----------------------------------------------------------------------


def test_metadata_calls(api: Any) -> None:
    create_plan(api, metadata={"a": "1"})
    replaced = api.post("plans/startup/metadata", {"metadata": {"b": "2", "c": None}})
    assert replaced.status_code == 200, replaced.text
    assert replaced.json() == {"metadata": {"b": "2", "c": None}}
    merged = api.client.patch(
        "/api/v1/plans/startup/metadata", json={"metadata": {"d": "4"}}, headers=api.headers
    )
    assert merged.json() == {"metadata": {"b": "2", "c": None, "d": "4"}}
    one_gone = api.delete("plans/startup/metadata/b")
    assert one_gone.json() == {"metadata": {"c": None, "d": "4"}}
    assert api.get("plans/startup").json()["plan"]["metadata"] == {"c": None, "d": "4"}
    all_gone = api.delete("plans/startup/metadata")
    assert all_gone.status_code == 200 and all_gone.json() == {"metadata": None}
    assert "metadata" not in api.get("plans/startup").json()["plan"]


def test_nested_metadata_is_invalid(api: Any) -> None:
    create_plan(api)
    response = api.post("plans/startup/metadata", {"metadata": {"a": {"b": 1}}})
    assert error_details(response) == {"metadata": ["value_is_invalid"]}
    assert "metadata" not in api.get("plans/startup").json()["plan"]


# --- tenancy -----------------------------------------------------------------------


def test_another_organization_cannot_see_the_plan(api: Any, clock: Any) -> None:
    from meterly.services.accounts import create_organization

    create_plan(api)
    database = api.client.app.state.database
    with database.unit_of_work() as session:
        _, key = create_organization(session, name="Other", clock=clock)
    other = {"Authorization": f"Bearer {key.secret}"}
    response = api.client.get("/api/v1/plans/startup", headers=other)
    assert response.status_code == 404
    assert response.json()["code"] == "plan_not_found"
    listed = api.client.get("/api/v1/plans", headers=other).json()
    assert listed["meta"]["total_count"] == 0
