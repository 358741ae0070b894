"""Fixed charges over HTTP: on plans, their own CRUD, and a subscription's units."""

from __future__ import annotations

from typing import Any

from tests.fixed_charges.helpers import JAN_1, add_on, plan, subscribe

# What the Lago client (1.55.0) requires non-null on a fixed charge.
REQUIRED = (
    "lago_id",
    "lago_add_on_id",
    "invoice_display_name",
    "add_on_code",
    "created_at",
    "charge_model",
    "pay_in_advance",
    "prorated",
)


def test_plan_create_carries_its_fixed_charges(api: Any) -> None:
    seats = add_on(api, "seats", "Seats")
    created = plan(
        api, [{"add_on_id": seats["lago_id"], "units": 3, "properties": {"amount": "5"}}]
    )
    (fixed,) = created["fixed_charges"]
    assert all(fixed[key] is not None for key in REQUIRED)
    assert fixed["code"] == "seats"  # the add-on's code when none is given
    assert fixed["invoice_display_name"] == "Seats"  # the add-on's name fills it
    assert (fixed["charge_model"], fixed["units"]) == ("standard", 3)
    assert fixed["properties"] == {"amount": "5"}
    assert api.get("plans/hybrid").json()["plan"]["fixed_charges"][0]["lago_id"] == fixed["lago_id"]


def test_plan_update_replaces_the_fixed_charges(api: Any) -> None:
    seats = add_on(api, "seats", "Seats")
    platform = add_on(api, "platform", "Platform")
    first = plan(api, [{"add_on_id": seats["lago_id"], "units": 3}])["fixed_charges"][0]
    body = {
        "plan": {
            "fixed_charges": [
                {"id": first["lago_id"], "units": 4},
                {"add_on_code": platform["code"], "pay_in_advance": True},
            ]
        }
    }
    response = api.put("plans/hybrid", body)
    assert response.status_code == 200, response.text
    fixed = response.json()["plan"]["fixed_charges"]
    assert [(f["code"], f["units"], f["pay_in_advance"]) for f in fixed] == [
        ("seats", 4, False),
        ("platform", 0, True),
    ]
    response = api.put("plans/hybrid", {"plan": {"fixed_charges": []}})
    assert response.json()["plan"]["fixed_charges"] == []


def test_unknown_add_on_is_not_found(api: Any) -> None:
    body = {
        "plan": {
            "name": "P",
            "code": "p",
            "interval": "monthly",
            "amount_cents": 0,
            "amount_currency": "USD",
            "fixed_charges": [{"add_on_code": "nope"}],
        }
    }
    response = api.post("plans", body)
    assert response.status_code == 404
    assert response.json()["code"] == "add_ons_not_found"
    assert api.get("plans/p").status_code == 404  # nothing was created


def test_fixed_charges_crud(api: Any) -> None:
    seats = add_on(api, "seats", "Seats")
    plan(api, [])
    body = {
        "fixed_charge": {
            "add_on_id": seats["lago_id"],
            "code": "seats_fc",
            "charge_model": "graduated",
            "invoice_display_name": "Team seats",
            "units": "2.5",
            "properties": {
                "graduated_ranges": [
                    {"from_value": 0, "to_value": None, "per_unit_amount": "3", "flat_amount": "1"}
                ]
            },
        }
    }
    created = api.post("plans/hybrid/fixed_charges", body)
    assert created.status_code == 200, created.text
    assert created.json()["fixed_charge"]["units"] == 2.5
    listed = api.get("plans/hybrid/fixed_charges").json()
    assert [f["code"] for f in listed["fixed_charges"]] == ["seats_fc"]
    assert listed["meta"]["total_count"] == 1
    shown = api.get("plans/hybrid/fixed_charges/seats_fc").json()["fixed_charge"]
    assert shown["invoice_display_name"] == "Team seats"
    update = {"fixed_charge": {"charge_model": "standard", "properties": {"amount": "7"}}}
    updated = api.put("plans/hybrid/fixed_charges/seats_fc", update).json()["fixed_charge"]
    assert (updated["charge_model"], updated["properties"]) == ("standard", {"amount": "7"})
    assert api.delete("plans/hybrid/fixed_charges/seats_fc").status_code == 200
    missing = api.get("plans/hybrid/fixed_charges/seats_fc")
    assert (missing.status_code, missing.json()["code"]) == (404, "fixed_charge_not_found")


def test_bad_fixed_charge_input_is_rejected_and_changes_nothing(api: Any) -> None:
    seats = add_on(api, "seats", "Seats")
    plan(api, [])
    for bad, field, code in (
        ({"charge_model": "percentage"}, "charge_model", "value_is_invalid"),
        ({"units": -1}, "units", "value_is_invalid"),
        ({"properties": {"amount": 5}}, "properties", "invalid_amount"),
    ):
        body = {"fixed_charge": {"add_on_id": seats["lago_id"], **bad}}
        response = api.post("plans/hybrid/fixed_charges", body)
        assert response.status_code == 422, response.text
        assert code in str(response.json()["error_details"].get(field)), response.text
    assert api.get("plans/hybrid/fixed_charges").json()["fixed_charges"] == []


def test_subscription_reads_show_its_own_units(api: Any) -> None:
    seats = add_on(api, "seats", "Seats")
    plan(api, [{"add_on_id": seats["lago_id"], "units": 3}])
    subscribe(api, JAN_1)
    listed = api.get("subscriptions/s/fixed_charges").json()["fixed_charges"]
    assert [f["units"] for f in listed] == [3]
    api.put("subscriptions/s/fixed_charges/seats", {"fixed_charge": {"units": 6}})
    assert api.get("subscriptions/s/fixed_charges/seats").json()["fixed_charge"]["units"] == 6
    # The plan keeps its own units.
    assert api.get("plans/hybrid/fixed_charges/seats").json()["fixed_charge"]["units"] == 3
    assert api.get("subscriptions/s/fixed_charges/nope").status_code == 404
    assert api.get("subscriptions/nope/fixed_charges").status_code == 404


def test_subscription_price_override_makes_a_plan_override(api: Any) -> None:
    seats = add_on(api, "seats", "Seats")
    plan(api, [{"add_on_id": seats["lago_id"], "units": 3, "properties": {"amount": "5"}}])
    subscribe(api, JAN_1)
    body = {"fixed_charge": {"properties": {"amount": "4"}, "invoice_display_name": "Seats (deal)"}}
    response = api.put("subscriptions/s/fixed_charges/seats", body)
    assert response.status_code == 200, response.text
    fixed = response.json()["fixed_charge"]
    assert (fixed["properties"], fixed["invoice_display_name"]) == ({"amount": "4"}, "Seats (deal)")
    assert api.get("plans/hybrid/fixed_charges/seats").json()["fixed_charge"]["properties"] == {
        "amount": "5"
    }
    sub = api.get("subscriptions/s").json()["subscription"]
    assert sub["plan"]["parent_id"] is not None
    assert sub["plan"]["fixed_charges"][0]["properties"] == {"amount": "4"}


def test_list_without_auth_is_refused(api: Any) -> None:
    plan(api, [])
    response = api.client.get("/api/v1/plans/hybrid/fixed_charges")
    assert response.status_code == 401


def test_plan_overrides_carry_the_fixed_charges(api: Any) -> None:
    seats = add_on(api, "seats", "Seats")
    fixed = plan(api, [{"add_on_id": seats["lago_id"], "units": 3}])["fixed_charges"][0]
    body = {
        "subscription": {
            "external_customer_id": "c",
            "plan_code": "hybrid",
            "external_id": "s",
            "subscription_at": JAN_1,
            "plan_overrides": {
                "amount_cents": 100,
                "fixed_charges": [{"id": fixed["lago_id"], "units": 9}],
            },
        }
    }
    response = api.post("subscriptions", body)
    assert response.status_code == 200, response.text
    overridden = response.json()["subscription"]["plan"]
    assert overridden["parent_id"] is not None
    assert [f["units"] for f in overridden["fixed_charges"]] == [9]
    assert api.get("subscriptions/s/fixed_charges/seats").json()["fixed_charge"]["units"] == 9
    assert api.get("plans/hybrid/fixed_charges/seats").json()["fixed_charge"]["units"] == 3
