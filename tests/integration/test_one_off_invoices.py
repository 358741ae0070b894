"""One-off invoices (`POST /invoices`): add-on fees, taxes per fee, finalized at once.

Amounts are worked out by hand from Lago's rules: amount = round(units × unit price),
taxes per fee on its amount, one rounding per tax.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from meterly.store.tables import Invoice, Webhook


def setup(api: Any, *, customer_tax: bool = False) -> None:
    for code, rate in (("vat", 20.0), ("reduced", 5.5), ("local", 10.0)):
        assert (
            api.post("taxes", {"tax": {"name": code, "code": code, "rate": rate}}).status_code
            == 200
        )
    add_ons = [
        {
            "name": "Setup",
            "code": "setup",
            "amount_cents": 50000,
            "amount_currency": "EUR",
            "tax_codes": ["vat"],
            "invoice_display_name": "Onboarding",
        },
        {"name": "Support", "code": "support", "amount_cents": 1999, "amount_currency": "EUR"},
    ]
    for add_on in add_ons:
        assert api.post("add_ons", {"add_on": add_on}).status_code == 200
    customer: dict[str, Any] = {"external_id": "cust", "name": "Customer", "currency": "EUR"}
    if customer_tax:
        customer["tax_codes"] = ["local"]
    assert api.post("customers", {"customer": customer}).status_code == 200


def one_off(api: Any, fees: list[dict[str, Any]], **fields: Any) -> Any:
    body = {"external_customer_id": "cust", "currency": "EUR", "fees": fees, **fields}
    return api.post("invoices", {"invoice": body})


def invoice_count(api: Any) -> int:
    with api.database.unit_of_work() as session:
        return int(session.scalar(select(func.count()).select_from(Invoice)) or 0)


def test_two_add_on_fees_with_two_tax_levels(api: Any) -> None:
    setup(api)
    response = one_off(
        api,
        [
            {"add_on_code": "setup"},  # 500.00, the add-on's VAT 20%
            # 3 × 19.99 = 59.97, the fee's own 5.5%: 329.835 -> 330
            {
                "add_on_code": "support",
                "units": 3,
                "tax_codes": ["reduced"],
                "description": "Premium support",
            },
        ],
    )
    assert response.status_code == 200, response.text
    body = response.json()["invoice"]
    assert body["invoice_type"] == "one_off" and body["status"] == "finalized"
    assert body["number"] and body["sequential_id"] == 1
    assert body["fees_amount_cents"] == 55997
    assert body["taxes_amount_cents"] == 10330
    assert body["sub_total_excluding_taxes_amount_cents"] == 55997
    assert body["sub_total_including_taxes_amount_cents"] == 66327
    assert body["total_amount_cents"] == 66327
    assert body["coupons_amount_cents"] == 0
    taxes = {t["tax_code"]: t["amount_cents"] for t in body["applied_taxes"]}
    assert taxes == {"vat": 10000, "reduced": 330}
    setup_fee, support_fee = body["fees"]
    assert setup_fee["item"]["type"] == "add_on" and setup_fee["item"]["code"] == "setup"
    assert setup_fee["item"]["invoice_display_name"] == "Onboarding"
    assert setup_fee["amount_cents"] == 50000 and setup_fee["taxes_amount_cents"] == 10000
    assert support_fee["units"] == "3.0" and support_fee["amount_cents"] == 5997
    assert support_fee["taxes_amount_cents"] == 330
    assert support_fee["description"] == "Premium support"


def test_fee_without_taxes_falls_back_to_the_customer(api: Any) -> None:
    setup(api, customer_tax=True)
    body = one_off(api, [{"add_on_code": "support", "units": 3}]).json()["invoice"]
    # 59.97 at the customer's 10%: 599.7 -> 600
    assert body["taxes_amount_cents"] == 600 and body["total_amount_cents"] == 6597


def test_add_on_taxes_win_over_the_customer(api: Any) -> None:
    setup(api, customer_tax=True)
    body = one_off(api, [{"add_on_code": "setup"}]).json()["invoice"]
    assert [t["tax_code"] for t in body["applied_taxes"]] == ["vat"]
    assert body["total_amount_cents"] == 60000


def test_fractional_units_and_price_override_round_half_up(api: Any) -> None:
    setup(api)
    body = one_off(
        api, [{"add_on_code": "support", "units": 2.5, "unit_amount_cents": 333}]
    ).json()["invoice"]
    # 2.5 × 3.33 = 8.325 -> 833 cents; no tax anywhere.
    assert body["fees_amount_cents"] == 833 and body["total_amount_cents"] == 833
    assert body["fees"][0]["precise_unit_amount"] == "3.33"


def test_coupons_do_not_reduce_one_off_invoices(api: Any) -> None:
    setup(api)
    coupon = {"name": "Ten", "code": "ten", "coupon_type": "percentage", "percentage_rate": 10}
    api.post("coupons", {"coupon": coupon})
    api.post(
        "applied_coupons",
        {"applied_coupon": {"external_customer_id": "cust", "coupon_code": "ten"}},
    )
    body = one_off(api, [{"add_on_code": "support"}]).json()["invoice"]
    assert body["coupons_amount_cents"] == 0 and body["total_amount_cents"] == 1999
    (applied,) = api.get("applied_coupons").json()["applied_coupons"]
    assert applied["status"] == "active" and applied["credits"] == []


def test_webhook_one_off_created_is_written(api: Any) -> None:
    setup(api)
    endpoint = {"webhook_endpoint": {"webhook_url": "https://example.test/hooks"}}
    assert api.post("webhook_endpoints", endpoint).status_code == 200
    lago_id = one_off(api, [{"add_on_code": "support"}]).json()["invoice"]["lago_id"]
    with api.database.unit_of_work() as session:
        types = list(
            session.scalars(select(Webhook.webhook_type).where(Webhook.object_id == lago_id))
        )
    assert "invoice.one_off_created" in types


def test_unknown_customer_add_on_tax_and_empty_fees(api: Any) -> None:
    setup(api)
    cases = [
        (
            one_off(api, [{"add_on_code": "setup"}], external_customer_id="ghost"),
            404,
            "customer_not_found",
        ),
        (one_off(api, [{"add_on_code": "nope"}]), 404, "add_on_not_found"),
        (one_off(api, [{"add_on_code": "setup", "tax_codes": ["nope"]}]), 404, "tax_not_found"),
        (one_off(api, []), 404, "fees_not_found"),
    ]
    for response, status, code in cases:
        assert response.status_code == status, response.text
        assert response.json()["code"] == code
    assert invoice_count(api) == 0


def test_currency_may_differ_from_the_customers_but_must_be_one(api: Any) -> None:
    setup(api)
    # Several currencies per customer (Lago, July 2026): a USD invoice for this customer.
    response = one_off(api, [{"add_on_code": "setup"}], currency="USD")
    assert response.status_code == 200, response.text
    assert response.json()["invoice"]["currency"] == "USD"
    unknown = one_off(api, [{"add_on_code": "setup"}], currency="XYZ1")
    assert unknown.status_code == 422
    assert unknown.json()["error_details"] == {"currency": ["value_is_invalid"]}
    invalid = one_off(api, [{"add_on_code": "setup", "units": "many"}])
    assert invalid.status_code == 422
    assert invalid.json()["error_details"] == {"units": ["value_is_invalid"]}
    assert invoice_count(api) == 1  # the USD invoice only


def test_missing_root_key_is_a_bad_request(api: Any) -> None:
    assert api.post("invoices", {"fees": []}).status_code == 400
