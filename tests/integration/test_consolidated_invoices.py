"""One invoice per customer per billing boundary, and one invoice per plan change.

lago-semantics.md item 14, "Consolidation": a customer's subscriptions billed on the same
boundary share one invoice (the coupon spreads over all their fees, taxes per fee with each
fee's own plan); `consolidate_invoice: false` bills a subscription alone; an upgrade or a
downgrade bills the old subscription's end and the new one's first fees on one invoice.
Billing runs with a frozen clock that moves, on SQLite and PostgreSQL; every figure is
worked by hand in the comments.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from meterly.services import runs
from meterly.services.common import FrozenClock
from meterly.store.tables import Invoice, InvoiceSubscription


def at(year: int, month: int, day: int, hour: int = 0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


def plan(
    api: Any,
    code: str,
    amount: int,
    *,
    pay_in_advance: bool = False,
    taxes: list[str] | None = None,
) -> None:
    body: dict[str, Any] = {
        "name": code,
        "code": code,
        "interval": "monthly",
        "amount_cents": amount,
        "amount_currency": "EUR",
        "pay_in_advance": pay_in_advance,
        "charges": [],
    }
    if taxes:
        body["tax_codes"] = taxes
    response = api.post("plans", {"plan": body})
    assert response.status_code == 200, response.text


def subscribe(api: Any, plan_code: str, external_id: str, **extra: Any) -> dict[str, Any]:
    body = {
        "external_customer_id": "cust",
        "plan_code": plan_code,
        "external_id": external_id,
        **extra,
    }
    response = api.post("subscriptions", {"subscription": body})
    assert response.status_code == 200, response.text
    subscription: dict[str, Any] = response.json()["subscription"]
    return subscription


def run(api: Any, as_of: datetime) -> runs.RunReport:
    report = runs.run(api.database, as_of=as_of, clock=FrozenClock(as_of))
    assert report.errors == []
    return report


def invoices(api: Any) -> list[dict[str, Any]]:
    """Every invoice, oldest first, as the API shows it (with its fees)."""
    with api.database.unit_of_work() as session:
        ids = list(session.scalars(select(Invoice.id).order_by(Invoice.created_at, Invoice.id)))
    return [api.get(f"invoices/{invoice_id}").json()["invoice"] for invoice_id in ids]


def fees_by_subscription(invoice: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["external_subscription_id"]: f for f in invoice["fees"]}


def two_taxed_plans(api: Any) -> None:
    api.post("customers", {"customer": {"external_id": "cust", "name": "Customer"}})
    assert api.post("taxes", {"tax": {"name": "VAT", "code": "vat", "rate": 20.0}}).status_code
    assert api.post("taxes", {"tax": {"name": "Low", "code": "low", "rate": 10.0}}).status_code
    plan(api, "compute", 3000, taxes=["vat"])
    plan(api, "storage", 1000, taxes=["low"])


def test_two_subscriptions_share_one_invoice_and_the_coupon_spreads_over_both(api: Any) -> None:
    two_taxed_plans(api)
    start = "2024-01-01T00:00:00Z"
    subscribe(api, "compute", "sub-compute", subscription_at=start)
    subscribe(api, "storage", "sub-storage", subscription_at=start)
    coupon = {
        "name": "Ten",
        "code": "ten",
        "coupon_type": "fixed_amount",
        "amount_cents": 1000,
        "amount_currency": "EUR",
    }
    assert api.post("coupons", {"coupon": coupon}).status_code == 200
    applied = {"external_customer_id": "cust", "coupon_code": "ten"}
    assert api.post("applied_coupons", {"applied_coupon": applied}).status_code == 200

    report = run(api, at(2024, 2, 1, 1))

    assert len(report.invoices) == 1
    (invoice,) = invoices(api)
    assert sorted(s["external_id"] for s in invoice["subscriptions"]) == [
        "sub-compute",
        "sub-storage",
    ]
    # January in arrears, both calendar monthly plans from Jan 1: 3000 + 1000 = 4000.
    assert invoice["fees_amount_cents"] == 4000
    # The 1000 coupon spread pro rata over both fees: 1000 x 3000/4000 = 750 and
    # 1000 x 1000/4000 = 250.
    assert invoice["coupons_amount_cents"] == 1000
    fees = fees_by_subscription(invoice)
    assert float(fees["sub-compute"]["precise_coupons_amount_cents"]) == 750
    assert float(fees["sub-storage"]["precise_coupons_amount_cents"]) == 250
    # Taxes per fee, each with its own plan's tax: (3000 - 750) x 20 % = 450 and
    # (1000 - 250) x 10 % = 75; total 4000 - 1000 + 525 = 3525.
    assert fees["sub-compute"]["taxes_amount_cents"] == 450
    assert fees["sub-storage"]["taxes_amount_cents"] == 75
    assert invoice["taxes_amount_cents"] == 525
    assert invoice["total_amount_cents"] == 3525
    # Each subscription keeps its own exactly-once key on the invoice.
    with api.database.unit_of_work() as session:
        keys = session.execute(
            select(InvoiceSubscription.invoice_id, InvoiceSubscription.invoicing_reason)
        ).all()
    assert [(invoice_id, reason) for invoice_id, reason in keys] == [
        (invoice["lago_id"], "subscription_periodic")
    ] * 2
    # The next run at the same instant bills nothing again.
    assert run(api, at(2024, 2, 1, 1)).invoices == []


def test_a_wallet_pays_the_consolidated_invoice_once_on_its_total(api: Any) -> None:
    two_taxed_plans(api)
    start = "2024-01-01T00:00:00Z"
    subscribe(api, "compute", "sub-compute", subscription_at=start)
    subscribe(api, "storage", "sub-storage", subscription_at=start)
    body = {
        "external_customer_id": "cust",
        "rate_amount": "1",
        "currency": "EUR",
        "granted_credits": "20",
    }
    response = api.post("wallets", {"wallet": body})
    assert response.status_code == 200, response.text
    wallet_id = response.json()["wallet"]["lago_id"]

    run(api, at(2024, 2, 1, 1))

    (invoice,) = invoices(api)
    # Taxes included: 3000 + 600 + 1000 + 100 = 4700; the wallet's 20 credits at 1 EUR
    # (2000 cents) are applied once, on that total: 4700 - 2000 = 2700 left to pay.
    assert invoice["sub_total_including_taxes_amount_cents"] == 4700
    assert invoice["prepaid_credit_amount_cents"] == 2000
    assert invoice["total_amount_cents"] == 2700
    assert api.get(f"wallets/{wallet_id}").json()["wallet"]["balance_cents"] == 0


def test_a_draft_of_two_subscriptions_keeps_each_plan_tax_when_finalized(api: Any) -> None:
    two_taxed_plans(api)
    grace = {"organization": {"billing_configuration": {"invoice_grace_period": 3}}}
    assert api.put("organizations", grace).status_code == 200
    start = "2024-01-01T00:00:00Z"
    subscribe(api, "compute", "sub-compute", subscription_at=start)
    subscribe(api, "storage", "sub-storage", subscription_at=start)
    run(api, at(2024, 2, 1, 1))
    (draft,) = invoices(api)
    assert draft["status"] == "draft"
    run(api, at(2024, 2, 4, 1))  # Feb 1 + 3 days of grace: finalized, refreshed
    (final,) = invoices(api)
    assert final["status"] == "finalized"
    # 3000 x 20 % = 600 and 1000 x 10 % = 100: each fee with its own plan's tax.
    fees = fees_by_subscription(final)
    assert fees["sub-compute"]["taxes_amount_cents"] == 600
    assert fees["sub-storage"]["taxes_amount_cents"] == 100
    assert final["total_amount_cents"] == 4000 + 700


def test_consolidate_invoice_false_bills_the_subscription_on_its_own_invoice(api: Any) -> None:
    two_taxed_plans(api)
    start = "2024-01-01T00:00:00Z"
    subscribe(api, "compute", "sub-compute", subscription_at=start)
    alone = subscribe(
        api, "storage", "sub-storage", subscription_at=start, consolidate_invoice=False
    )
    assert alone["consolidate_invoice"] is False

    assert len(run(api, at(2024, 2, 1, 1)).invoices) == 2
    # One invoice each: 3000 + 20 % = 3600, and 1000 + 10 % = 1100.
    totals = sorted(
        (invoice["subscriptions"][0]["external_id"], invoice["total_amount_cents"])
        for invoice in invoices(api)
    )
    assert totals == [("sub-compute", 3600), ("sub-storage", 1100)]
    assert all(len(invoice["subscriptions"]) == 1 for invoice in invoices(api))

    # Opted back in: March's boundary (February billed) puts both on one invoice.
    updated = api.put("subscriptions/sub-storage", {"subscription": {"consolidate_invoice": True}})
    assert updated.status_code == 200, updated.text
    assert updated.json()["subscription"]["consolidate_invoice"] is True
    report = run(api, at(2024, 3, 1, 1))
    assert len(report.invoices) == 1
    assert invoices(api)[-1]["total_amount_cents"] == 3600 + 1100


def test_an_upgrade_issues_one_invoice_with_the_old_end_and_the_new_first_fee(
    api: Any,
) -> None:
    api.post("customers", {"customer": {"external_id": "cust", "name": "Customer"}})
    plan(api, "basic", 3100)
    plan(api, "premium", 6200, pay_in_advance=True)
    subscribe(api, "basic", "sub", subscription_at="2024-01-01T00:00:00Z")
    api.client.app.state.clock.set(at(2024, 1, 11, 9))

    upgraded = subscribe(api, "premium", "sub")

    assert upgraded["plan_code"] == "premium"
    (invoice,) = invoices(api)
    # The old and the new subscription, each with its own billing period.
    by_plan = {s["plan_code"]: s["lago_id"] for s in invoice["subscriptions"]}
    assert sorted(by_plan) == ["basic", "premium"]
    reasons = {p["lago_subscription_id"]: p["invoicing_reason"] for p in invoice["billing_periods"]}
    assert reasons == {
        by_plan["basic"]: "subscription_terminating",
        by_plan["premium"]: "subscription_starting",
    }
    amounts = sorted((f["lago_subscription_id"], f["amount_cents"]) for f in invoice["fees"])
    # The old plan in arrears, Jan 1..10 (the upgrade day goes to the new plan):
    # 10 days x 3100/31 = 1000. The new plan in advance, Jan 11..31: 21 x 6200/31 = 4200.
    assert amounts == sorted([(by_plan["basic"], 1000), (by_plan["premium"], 4200)])
    assert invoice["fees_amount_cents"] == 5200
    assert invoice["total_amount_cents"] == 5200

    # The run bills neither again: February in advance (6200) is the only new invoice.
    report = run(api, at(2024, 2, 1, 1))
    assert len(report.invoices) == 1
    assert [i["fees_amount_cents"] for i in invoices(api)] == [5200, 6200]


def test_an_upgrade_between_plans_paid_in_advance_issues_no_zero_fee_invoice(api: Any) -> None:
    api.post("customers", {"customer": {"external_id": "cust", "name": "Customer"}})
    plan(api, "basic", 3100, pay_in_advance=True)
    plan(api, "premium", 6200, pay_in_advance=True)
    subscribe(api, "basic", "sub", subscription_at="2024-01-01T00:00:00Z")
    run(api, at(2024, 1, 1, 1))  # January paid in advance: 3100
    api.client.app.state.clock.set(at(2024, 1, 11, 9))

    subscribe(api, "premium", "sub")

    first, change = invoices(api)
    assert first["fees_amount_cents"] == 3100
    # Before: a termination invoice with nothing on it (January was paid in advance, the
    # plan has no charges), then the new plan's fee. Now one invoice for both: the old
    # subscription's termination period and the new one's first fee, Jan 11..31 in
    # advance: 21 x 6200/31 = 4200.
    assert sorted(p["invoicing_reason"] for p in change["billing_periods"]) == [
        "subscription_starting",
        "subscription_terminating",
    ]
    assert change["fees_amount_cents"] == 4200


def test_a_downgrade_bills_the_old_end_and_the_new_start_on_one_invoice(api: Any) -> None:
    api.post("customers", {"customer": {"external_id": "cust", "name": "Customer"}})
    plan(api, "premium", 6200, pay_in_advance=True)
    plan(api, "basic", 3100, pay_in_advance=True)
    subscribe(api, "premium", "sub", subscription_at="2024-01-01T00:00:00Z")
    run(api, at(2024, 1, 1, 1))  # January in advance: 6200
    api.client.app.state.clock.set(at(2024, 1, 11))
    subscribe(api, "basic", "sub")  # a downgrade waits for Feb 1

    report = run(api, at(2024, 2, 1, 1))

    # Feb 1: the premium subscription ends (January already paid, no charges) and the
    # basic one starts, February in advance: 3100. One invoice, not a zero one and another.
    assert len(report.invoices) == 1
    first, change = invoices(api)
    assert first["fees_amount_cents"] == 6200
    assert change["fees_amount_cents"] == 3100
    assert sorted(p["invoicing_reason"] for p in change["billing_periods"]) == [
        "subscription_starting",
        "subscription_terminating",
    ]
    assert run(api, at(2024, 2, 1, 1)).invoices == []
