"""Choosing a customer's default card and removing one, at localstripe, on both backends."""

from __future__ import annotations

from typing import Any

import stripe

from tests.payments.test_payments_stripe import (
    TOTAL,
    collect,
    connect,
    invoice_for,
    linked_customer,
    payments_of,
)


def two_cards(client: stripe.StripeClient) -> tuple[str, str, str]:
    """A Stripe customer with a good card (its default) and a declined one."""
    customer = client.v1.customers.create(params={"name": "Two cards"})
    ids = []
    for number in ("4242424242424242", "4000000000000341"):
        method = client.v1.payment_methods.create(
            params={
                "type": "card",
                "card": {"number": number, "exp_month": 12, "exp_year": 2030, "cvc": "123"},
            }
        )
        client.v1.payment_methods.attach(method["id"], params={"customer": customer["id"]})
        ids.append(str(method["id"]))
    client.v1.customers.update(
        customer["id"], params={"invoice_settings": {"default_payment_method": ids[0]}}
    )
    return str(customer["id"]), ids[0], ids[1]


def methods(api: Any, external_id: str) -> dict[str, dict[str, Any]]:
    response = api.get(f"customers/{external_id}/payment_methods")
    assert response.status_code == 200, response.text
    return {m["provider_method_id"]: m for m in response.json()["payment_methods"]}


def test_set_as_default_changes_the_card_charged(
    api: Any, clock: Any, localstripe: str, stripe_client: stripe.StripeClient
) -> None:
    connect(api, localstripe)
    cus, good, declined = two_cards(stripe_client)
    linked_customer(api, "two", cus)
    before = methods(api, "two")
    assert before[good]["is_default"] is True and before[declined]["is_default"] is False

    answer = api.put(f"customers/two/payment_methods/{before[declined]['lago_id']}/set_as_default")
    assert answer.status_code == 200, answer.text
    shown = answer.json()["payment_method"]
    assert shown["lago_id"] == before[declined]["lago_id"] and shown["is_default"] is True
    after = methods(api, "two")
    assert after[declined]["is_default"] is True and after[good]["is_default"] is False
    customer = stripe_client.v1.customers.retrieve(cus)
    assert customer["invoice_settings"]["default_payment_method"] == declined

    # The next off-session charge uses the new default: declined.
    invoice = invoice_for(api, "two")
    collect(api, clock)
    [payment] = payments_of(api, invoice["lago_id"])
    assert payment["payment_status"] == "failed"


def test_deleting_the_default_card_detaches_it(
    api: Any, clock: Any, localstripe: str, stripe_client: stripe.StripeClient
) -> None:
    connect(api, localstripe)
    cus, good, declined = two_cards(stripe_client)
    linked_customer(api, "two", cus)
    listed = methods(api, "two")
    answer = api.delete(f"customers/two/payment_methods/{listed[good]['lago_id']}")
    assert answer.status_code == 200, answer.text
    assert answer.json()["payment_method"]["provider_method_id"] == good
    assert set(methods(api, "two")) == {declined}
    assert stripe_client.v1.payment_methods.retrieve(good)["customer"] is None
    # Deleting it again: it is no longer the customer's.
    again = api.delete(f"customers/two/payment_methods/{listed[good]['lago_id']}")
    assert again.status_code == 404 and again.json()["code"] == "payment_method_not_found"

    # Making the remaining card the default by its provider id works too, then it is charged.
    assert api.put(f"customers/two/payment_methods/{declined}/set_as_default").status_code == 200
    invoice = invoice_for(api, "two")
    collect(api, clock)
    [payment] = payments_of(api, invoice["lago_id"])
    assert payment["amount_cents"] == TOTAL and payment["payment_status"] == "failed"


def test_unknown_method_or_customer_is_not_found(
    api: Any, localstripe: str, stripe_client: stripe.StripeClient
) -> None:
    connect(api, localstripe)
    cus, _, _ = two_cards(stripe_client)
    linked_customer(api, "two", cus)
    other_cus, other_good, _ = two_cards(stripe_client)
    # Another Stripe customer's card is never touched through this customer.
    foreign = api.put(f"customers/two/payment_methods/{other_good}/set_as_default")
    assert foreign.status_code == 404
    assert (
        stripe_client.v1.customers.retrieve(other_cus)["invoice_settings"]["default_payment_method"]
        == other_good
    )
    assert api.delete("customers/ghost/payment_methods/x").status_code == 404
    plain = {"external_id": "plain", "currency": "USD"}
    assert api.post("customers", {"customer": plain}).status_code == 200
    assert api.delete("customers/plain/payment_methods/x").json()["code"] == (
        "payment_method_not_found"
    )
