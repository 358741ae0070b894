"""Several currencies per customer (Lago, July 2026): subscriptions, wallets and one-off
invoices in different currencies; an invoice never mixes them. SQLite and PostgreSQL.

Customer `c` (EUR by its first plan) subscribes to a 100.00 EUR plan and a 30.00 USD plan
on 1 January 2024, both monthly in arrears; the boundary of 1 February bills each
currency on its own invoice.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from meterly.services import runs
from meterly.services.common import FrozenClock
from meterly.store.tables import Invoice

FEB = datetime(2024, 2, 1, 1, tzinfo=UTC)


def plan(api: Any, code: str, amount: int, currency: str) -> None:
    body = {
        "name": code,
        "code": code,
        "interval": "monthly",
        "amount_cents": amount,
        "amount_currency": currency,
    }
    answer = api.post("plans", {"plan": body})
    assert answer.status_code == 200, answer.text


def subscribe(api: Any, plan_code: str, external_id: str) -> None:
    answer = api.post(
        "subscriptions",
        {
            "subscription": {
                "external_customer_id": "c",
                "plan_code": plan_code,
                "external_id": external_id,
                "subscription_at": "2024-01-01T00:00:00Z",
                "billing_time": "calendar",
            }
        },
    )
    assert answer.status_code == 200, answer.text


def invoices_by_currency(api: Any) -> dict[str, list[tuple[str, int]]]:
    found: dict[str, list[tuple[str, int]]] = {}
    with api.database.unit_of_work() as session:
        for inv in session.scalars(select(Invoice).order_by(Invoice.created_at, Invoice.id)):
            found.setdefault(inv.currency, []).append((inv.invoice_type, inv.total_amount_cents))
    return found


def test_each_currency_is_invoiced_on_its_own(api: Any) -> None:
    plan(api, "eur", 10000, "EUR")
    plan(api, "usd", 3000, "USD")
    api.post("customers", {"customer": {"external_id": "c", "name": "C"}})
    subscribe(api, "eur", "s_eur")
    subscribe(api, "usd", "s_usd")
    report = runs.run(api.database, as_of=FEB, clock=FrozenClock(FEB))
    assert report.errors == []
    # January in arrears: 100.00 EUR on one invoice, 30.00 USD on another.
    assert invoices_by_currency(api) == {
        "EUR": [("subscription", 10000)],
        "USD": [("subscription", 3000)],
    }
    assert report.amount_cents_by_currency == {"EUR": 10000, "USD": 3000}


def test_wallets_in_two_currencies_pay_their_own_invoices(api: Any) -> None:
    plan(api, "eur", 10000, "EUR")
    plan(api, "usd", 3000, "USD")
    api.post("customers", {"customer": {"external_id": "c", "name": "C", "currency": "EUR"}})
    for currency, code in (("EUR", "w_eur"), ("USD", "w_usd")):
        answer = api.post(
            "wallets",
            {
                "wallet": {
                    "external_customer_id": "c",
                    "code": code,
                    "rate_amount": "1",
                    "currency": currency,
                    "granted_credits": "10",
                }
            },
        )
        assert answer.status_code == 200, answer.text
    subscribe(api, "eur", "s_eur")
    subscribe(api, "usd", "s_usd")
    runs.run(api.database, as_of=FEB, clock=FrozenClock(FEB))
    # Each invoice takes 10 credits x 1.00 = 1000 cents from the wallet of its currency:
    # 10000 - 1000 = 9000 EUR cents; 3000 - 1000 = 2000 USD cents.
    totals = invoices_by_currency(api)
    assert totals["EUR"] == [("subscription", 9000)]
    assert totals["USD"] == [("subscription", 2000)]


def test_one_off_invoice_in_another_currency(api: Any) -> None:
    api.post("customers", {"customer": {"external_id": "c", "name": "C", "currency": "EUR"}})
    add_on = api.post(
        "add_ons",
        {
            "add_on": {
                "name": "Setup",
                "code": "setup",
                "amount_cents": 5000,
                "amount_currency": "USD",
            }
        },
    )
    assert add_on.status_code == 200, add_on.text
    answer = api.post(
        "invoices",
        {
            "invoice": {
                "external_customer_id": "c",
                "currency": "USD",
                "fees": [{"add_on_code": "setup"}],
            }
        },
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["invoice"]["currency"] == "USD"
    # The customer keeps its own currency.
    assert api.get("customers/c").json()["customer"]["currency"] == "EUR"
