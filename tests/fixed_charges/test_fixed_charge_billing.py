"""The billing rules of fixed charges, each figure worked by hand from the rules
(docs/fixed-charges.md). The test clock stands at 2024-01-15 12:00 UTC; January has 31
days, February 2024 29; the customers' timezone is UTC."""

from __future__ import annotations

from typing import Any

from tests.fixed_charges.helpers import (
    JAN_1,
    JAN_15,
    add_on,
    at,
    fixed_fees,
    invoices_with_fixed_fees,
    plan,
    run,
    subscribe,
)


def seats_plan(api: Any, **fixed: Any) -> None:
    seats = add_on(api, "seats", "Seats")
    plan(api, [{"add_on_id": seats["lago_id"], "code": "seats", **fixed}])


def test_platform_fee_in_advance_is_billed_at_start_and_each_new_period(api: Any) -> None:
    platform = add_on(api, "platform", "Platform")
    plan(
        api,
        [
            {
                "add_on_id": platform["lago_id"],
                "charge_model": "standard",
                "units": 1,
                "pay_in_advance": True,
                "properties": {"amount": "49"},
            }
        ],
    )
    subscribe(api, JAN_15)
    # Started on the 15th, not prorated: 1 unit x 49.00 = 4900 cents, billed at once.
    assert fixed_fees(api) == [("platform", "2024-01-15", 4900)]
    run(api, at(2, 1, 1))
    # The February boundary bills February in advance, whole: 1 x 49.00 = 4900.
    assert fixed_fees(api) == [
        ("platform", "2024-01-15", 4900),
        ("platform", "2024-02-01", 4900),
    ]
    run(api, at(2, 1, 2))  # the same boundary again bills nothing twice
    assert len(fixed_fees(api)) == 2


def test_graduated_seats_in_arrears_are_prorated_for_a_mid_month_start(api: Any) -> None:
    seats_plan(
        api,
        charge_model="graduated",
        units=12,
        prorated=True,
        properties={
            "graduated_ranges": [
                {"from_value": 0, "to_value": 10, "per_unit_amount": "10", "flat_amount": "0"},
                {"from_value": 11, "to_value": None, "per_unit_amount": "8", "flat_amount": "0"},
            ]
        },
    )
    subscribe(api, JAN_15)
    assert fixed_fees(api) == []  # in arrears: nothing at the start
    run(api, at(2, 1, 1))
    # Jan 15..31 = 17 of 31 days: 12 x 17 / 31 = 6.580645... -> ceil(5) 6.58065 units,
    # all in the first tier: 6.58065 x 10 = 65.8065 -> 6581 cents.
    assert fixed_fees(api) == [("seats", "2024-01-15", 6581)]
    run(api, at(3, 1, 1))
    # February whole: 10 x 10 + 2 x 8 = 116.00 -> 11600 cents.
    assert fixed_fees(api)[1] == ("seats", "2024-02-01", 11600)


def test_units_increase_in_advance_bills_the_prorated_difference_now(api: Any) -> None:
    seats_plan(api, units=5, pay_in_advance=True, prorated=True, properties={"amount": "10"})
    subscribe(api, JAN_1)
    # From Jan 1: 5 x 31/31 = 5 units x 10.00 = 5000 cents.
    assert fixed_fees(api) == [("seats", "2024-01-01", 5000)]
    response = api.put(
        "subscriptions/s/fixed_charges/seats",
        {"fixed_charge": {"units": 8, "apply_units_immediately": True}},
    )
    assert response.status_code == 200, response.text
    assert response.json()["fixed_charge"]["units"] == 8
    # On Jan 15: 8 - 5 paid = 3 more units for Jan 15..31, 17 of 31 days:
    # 3 x 17 / 31 = 1.6451612... -> ceil(5) 1.64517 x 10 = 16.4517 -> 1645 cents.
    assert fixed_fees(api)[1] == ("seats", "2024-01-15", 1645)
    run(api, at(2, 1, 1))
    # February in advance for the new units: 8 x 10.00 = 8000 cents.
    assert fixed_fees(api)[2] == ("seats", "2024-02-01", 8000)


def test_a_second_increase_bills_only_the_units_not_yet_paid(api: Any) -> None:
    seats_plan(api, units=5, pay_in_advance=True, properties={"amount": "10"})
    subscribe(api, JAN_1)
    body = {"fixed_charge": {"units": 8, "apply_units_immediately": True}}
    api.put("subscriptions/s/fixed_charges/seats", body)
    body = {"fixed_charge": {"units": 9, "apply_units_immediately": True}}
    api.put("subscriptions/s/fixed_charges/seats", body)
    # Not prorated: 5 x 10 at the start, then (8 - 5) x 10, then (9 - 8) x 10.
    assert [fee[2] for fee in fixed_fees(api)] == [5000, 3000, 1000]


def test_units_decrease_takes_effect_at_the_next_period(api: Any) -> None:
    seats_plan(api, units=8, pay_in_advance=True, properties={"amount": "10"})
    subscribe(api, JAN_1)
    response = api.put("subscriptions/s/fixed_charges/seats", {"fixed_charge": {"units": 5}})
    assert response.status_code == 200, response.text
    assert response.json()["fixed_charge"]["units"] == 5
    # No refund, no fee now: 8 x 10 = 8000 paid for January stays.
    assert fixed_fees(api) == [("seats", "2024-01-01", 8000)]
    run(api, at(2, 1, 1))
    # February in advance with the new units: 5 x 10 = 5000 cents.
    assert fixed_fees(api)[1] == ("seats", "2024-02-01", 5000)


def test_deferred_change_leaves_the_current_arrears_period_alone(api: Any) -> None:
    seats_plan(api, units=8, properties={"amount": "10"})
    subscribe(api, JAN_1)
    api.put("subscriptions/s/fixed_charges/seats", {"fixed_charge": {"units": 5}})
    run(api, at(2, 1, 1))
    run(api, at(3, 1, 1))
    # January keeps 8 x 10 = 8000; February has the new 5 x 10 = 5000.
    assert fixed_fees(api) == [("seats", "2024-01-01", 8000), ("seats", "2024-02-01", 5000)]


def test_prorated_arrears_weigh_each_span_of_units_by_its_days(api: Any, clock: Any) -> None:
    seats_plan(api, units=5, prorated=True, properties={"amount": "10"})
    subscribe(api, JAN_1)
    clock.set(at(1, 16, 12))
    body = {"fixed_charge": {"units": 8, "apply_units_immediately": True}}
    assert api.put("subscriptions/s/fixed_charges/seats", body).status_code == 200
    run(api, at(2, 1, 1))
    # 5 units Jan 1..16 (16 days) and 8 units Jan 16..31 (16 days; Lago counts the day of
    # a change in both spans): (5 x 16 + 8 x 16) / 31 = 208 / 31 = 6.7096774...
    # -> ceil(5) 6.70968 x 10 = 67.0968 -> 6710 cents.
    assert fixed_fees(api) == [("seats", "2024-01-01", 6710)]


def test_volume_prices_every_unit_at_the_tier_reached(api: Any) -> None:
    seats_plan(
        api,
        charge_model="volume",
        units=12,
        properties={
            "volume_ranges": [
                {"from_value": 0, "to_value": 10, "per_unit_amount": "10", "flat_amount": "0"},
                {"from_value": 11, "to_value": None, "per_unit_amount": "8", "flat_amount": "5"},
            ]
        },
    )
    subscribe(api, JAN_1)
    run(api, at(2, 1, 1))
    # 12 units reach the second tier: 12 x 8 + 5 = 101.00 -> 10100 cents.
    assert fixed_fees(api) == [("seats", "2024-01-01", 10100)]


def test_fixed_charge_taxes_apply_to_its_fee(api: Any) -> None:
    tax = {"tax": {"name": "VAT", "code": "vat_20", "rate": "20"}}
    assert api.post("taxes", tax).status_code == 200
    platform = add_on(api, "platform", "Platform")
    plan(
        api,
        [
            {
                "add_on_id": platform["lago_id"],
                "units": 1,
                "pay_in_advance": True,
                "properties": {"amount": "49"},
                "tax_codes": ["vat_20"],
            }
        ],
    )
    subscribe(api, JAN_15)
    # 4900 cents + 20% = 980 cents of tax, 5880 in all.
    assert invoices_with_fixed_fees(api) == [(4900, 980, 5880)]


def test_termination_bills_the_arrears_fixed_charge_up_to_its_day(api: Any, clock: Any) -> None:
    seats_plan(api, units=3, prorated=True, properties={"amount": "31"})
    subscribe(api, JAN_1)
    clock.set(at(1, 10, 12))
    assert api.delete("subscriptions/s").status_code == 200
    # Jan 1..10 = 10 of 31 days: 3 x 10 / 31 = 0.967741... -> ceil(5) 0.96775 x 31
    # = 30.00025 -> 3000 cents.
    assert fixed_fees(api) == [("seats", "2024-01-01", 3000)]


def test_plan_units_change_reaches_running_subscriptions_next_period(api: Any) -> None:
    seats_plan(api, units=8, properties={"amount": "10"})
    subscribe(api, JAN_1)
    response = api.put("plans/hybrid/fixed_charges/seats", {"fixed_charge": {"units": 5}})
    assert response.status_code == 200, response.text
    run(api, at(2, 1, 1))
    run(api, at(3, 1, 1))
    # January keeps the 8 units it started with: 8 x 10 = 8000; February 5 x 10 = 5000.
    assert fixed_fees(api) == [("seats", "2024-01-01", 8000), ("seats", "2024-02-01", 5000)]


def test_plan_units_increase_applied_now_bills_the_difference(api: Any) -> None:
    seats_plan(api, units=5, pay_in_advance=True, properties={"amount": "10"})
    subscribe(api, JAN_1)
    body = {"fixed_charge": {"units": 7, "apply_units_immediately": True}}
    assert api.put("plans/hybrid/fixed_charges/seats", body).status_code == 200
    # 5 x 10 = 5000 at the start; then (7 - 5) x 10 = 2000 at once, not prorated.
    assert [fee[2] for fee in fixed_fees(api)] == [5000, 2000]
