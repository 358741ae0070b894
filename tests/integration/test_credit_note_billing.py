"""Credit notes in billing scenarios: balances consumed by later invoices, and the
automatic credit note when a pay-in-advance subscription ends. SQLite and PostgreSQL.

Every amount is worked out by hand from Lago's rules (lago-semantics.md, credit notes).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select

from meterly.services import runs
from meterly.services.common import FrozenClock
from meterly.services.credits import credit_notes as credit_note_service
from meterly.services.credits import termination_credits
from meterly.store.tables import Fee, Invoice, Subscription
from meterly.store.tables_credit_notes import CreditNote
from tests.conftest import ApiClient


def at(year: int, month: int, day: int, hour: int = 0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


def catalogue(
    api: ApiClient,
    *,
    interval: str = "monthly",
    amount: int = 10000,
    pay_in_advance: bool = False,
    currency: str = "EUR",
) -> None:
    response: Any = api.post("taxes", {"tax": {"name": "VAT", "code": "vat", "rate": 20.0}})
    assert response.status_code == 200, response.text
    plan = {
        "name": "Plan",
        "code": "plan",
        "interval": interval,
        "amount_cents": amount,
        "amount_currency": currency,
        "pay_in_advance": pay_in_advance,
        "tax_codes": ["vat"],
        "charges": [],
    }
    response = api.post("plans", {"plan": plan})
    assert response.status_code == 200, response.text


def subscribe(api: ApiClient, start: datetime, *, currency: str = "EUR") -> None:
    api.client.app.state.clock.instant = start  # type: ignore[attr-defined]
    customer = {"external_id": "cust", "name": "Customer", "currency": currency}
    assert api.post("customers", {"customer": customer}).status_code == 200  # type: ignore[attr-defined]
    response: Any = api.post(
        "subscriptions",
        {
            "subscription": {
                "external_customer_id": "cust",
                "plan_code": "plan",
                "external_id": "sub",
                "billing_time": "calendar",
                "subscription_at": start.isoformat(),
            }
        },
    )
    assert response.status_code == 200, response.text


def run(api: ApiClient, as_of: datetime) -> list[str]:
    report = runs.run(api.database, as_of=as_of, clock=FrozenClock(as_of))  # type: ignore[arg-type]
    assert report.errors == []
    return report.invoices


def invoice(api: ApiClient, invoice_id: str) -> Invoice:
    with api.database.unit_of_work() as session:  # type: ignore[attr-defined]
        row = session.get(Invoice, invoice_id)
        assert row is not None
        _ = row.fees
        return row


def note(api: ApiClient, note_id: str) -> CreditNote:
    with api.database.unit_of_work() as session:  # type: ignore[attr-defined]
        row = session.get(CreditNote, note_id)
        assert row is not None
        _ = row.items
        return row


def subscription_fee(row: Invoice) -> Fee:
    (fee,) = [f for f in row.fees if f.fee_type == "subscription"]
    return fee


def credit(api: ApiClient, invoice_id: str, fee_id: str, amount: int, total: int) -> str:
    response: Any = api.post(
        "credit_notes",
        {
            "credit_note": {
                "invoice_id": invoice_id,
                "reason": "other",
                "credit_amount_cents": total,
                "items": [{"fee_id": fee_id, "amount_cents": amount}],
            }
        },
    )
    assert response.status_code == 200, response.text
    return str(response.json()["credit_note"]["lago_id"])


# --- balances consumed by the next invoices ----------------------------------------------------


def test_credit_note_is_consumed_by_the_next_invoice_once(api: ApiClient) -> None:
    catalogue(api)
    subscribe(api, at(2024, 1, 1))
    (first,) = run(api, at(2024, 2, 1, 1))
    inv1 = invoice(api, first)
    assert inv1.total_amount_cents == 12000  # 10000 + 20 % VAT
    # Credit 5000 of the fee: 5000 + 1000 VAT = 6000 of balance.
    note_id = credit(api, first, subscription_fee(inv1).id, 5000, 6000)
    assert note(api, note_id).balance_amount_cents == 6000

    (second,) = run(api, at(2024, 3, 1, 1))
    inv2 = invoice(api, second)
    assert inv2.sub_total_including_taxes_amount_cents == 12000
    assert inv2.credit_notes_amount_cents == 6000
    assert inv2.total_amount_cents == 6000  # 12000 − 6000
    used = note(api, note_id)
    assert (used.balance_amount_cents, used.credit_status) == (0, "consumed")
    credits = inv2.breakdown["credits"]
    assert {"kind": "credit_note", "credit_note_id": note_id, "amount_cents": 6000} in [
        {k: c[k] for k in ("kind", "credit_note_id", "amount_cents") if k in c} for c in credits
    ]

    # The same run again bills nothing; the next period gets no credit.
    assert run(api, at(2024, 3, 1, 1)) == []
    (third,) = run(api, at(2024, 4, 1, 1))
    inv3 = invoice(api, third)
    assert (inv3.credit_notes_amount_cents, inv3.total_amount_cents) == (0, 12000)
    assert note(api, note_id).balance_amount_cents == 0


def test_oldest_credit_note_first_and_the_rest_stays_available(api: ApiClient) -> None:
    # 29.00 EUR a month in arrears: January 2900 + 580 VAT = 3480.
    catalogue(api, amount=2900)
    subscribe(api, at(2024, 1, 1))
    (first,) = run(api, at(2024, 2, 1, 1))
    fee = subscription_fee(invoice(api, first))
    older = credit(api, first, fee.id, 2100, 2520)
    newer = credit(api, first, fee.id, 500, 600)
    # Terminated 10 February: 10 of 29 days → 1000 + 200 VAT = 1200, all from the older note.
    terminate(api, at(2024, 2, 10, 12))
    with api.database.unit_of_work() as session:  # type: ignore[attr-defined]
        (last_id,) = session.scalars(select(Invoice.id).where(Invoice.id != first)).all()
    last = invoice(api, last_id)
    assert last.sub_total_including_taxes_amount_cents == 1200
    assert (last.credit_notes_amount_cents, last.total_amount_cents) == (1200, 0)
    assert (note(api, older).balance_amount_cents, note(api, older).credit_status) == (
        1320,
        "available",
    )
    assert note(api, newer).balance_amount_cents == 600


def test_voided_credit_note_is_not_applied(api: ApiClient) -> None:
    catalogue(api)
    subscribe(api, at(2024, 1, 1))
    (first,) = run(api, at(2024, 2, 1, 1))
    note_id = credit(api, first, subscription_fee(invoice(api, first)).id, 5000, 6000)
    assert api.put(f"credit_notes/{note_id}/void").status_code == 200  # type: ignore[attr-defined]
    (second,) = run(api, at(2024, 3, 1, 1))
    assert invoice(api, second).credit_notes_amount_cents == 0


def test_three_decimal_currency_balance(api: ApiClient) -> None:
    catalogue(api, amount=12345, currency="KWD")
    subscribe(api, at(2024, 1, 1), currency="KWD")
    (first,) = run(api, at(2024, 2, 1, 1))
    inv1 = invoice(api, first)
    assert inv1.total_amount_cents == 14814  # 12.345 + 2.469 VAT
    note_id = credit(api, first, subscription_fee(inv1).id, 1234, 1481)  # 1.234 + 0.247
    (second,) = run(api, at(2024, 3, 1, 1))
    assert invoice(api, second).total_amount_cents == 14814 - 1481
    assert note(api, note_id).balance_amount_cents == 0


# --- automatic credit note on termination ------------------------------------------------------


def terminate(api: ApiClient, when: datetime, *, mode: str | None = None) -> Subscription:
    with api.database.unit_of_work() as session:  # type: ignore[attr-defined]
        sub = session.scalar(select(Subscription).where(Subscription.external_id == "sub"))
        assert sub is not None
        sub.on_termination_credit_note = mode
    api.client.app.state.clock.instant = when  # type: ignore[attr-defined]
    response: Any = api.delete("subscriptions/sub")
    assert response.status_code == 200, response.text
    with api.database.unit_of_work() as session:  # type: ignore[attr-defined]
        sub = session.scalar(select(Subscription).where(Subscription.external_id == "sub"))
        assert sub is not None and sub.status == "terminated"
        return sub


def termination_note(api: ApiClient, sub_id: str, *, upgrading: bool = False) -> CreditNote | None:
    """What billing.terminate creates; calling it again is a no-op (idempotent)."""
    with api.database.unit_of_work() as session:  # type: ignore[attr-defined]
        sub = session.get(Subscription, sub_id)
        assert sub is not None
        row = termination_credits.credit_unused_subscription_fee(
            session, sub=sub, clock=FrozenClock(sub.terminated_at or at(2024, 1, 1)),
            upgrading=upgrading,
        )  # fmt: skip
        if row is None:
            return None
        _ = row.items
        return row


def count_notes(api: ApiClient) -> int:
    with api.database.unit_of_work() as session:  # type: ignore[attr-defined]
        return int(session.scalar(select(func.count()).select_from(CreditNote)) or 0)


def test_termination_credits_the_unused_days_of_a_monthly_plan(api: ApiClient) -> None:
    # 31.00 EUR a month paid on 1 January; terminated on 10 January: 11..31 = 21 days
    # unused at 3100 / 31 = 100 a day → 2100, + 20 % VAT 420 = 2520.
    catalogue(api, amount=3100, pay_in_advance=True)
    subscribe(api, at(2024, 1, 1))
    (paid,) = run(api, at(2024, 1, 1, 1))
    assert invoice(api, paid).total_amount_cents == 3720
    sub = terminate(api, at(2024, 1, 10, 12))
    row = termination_note(api, sub.id)
    assert row is not None
    assert row.invoice_id == paid and row.reason == "order_change"
    (item,) = row.items
    assert item.fee_id == subscription_fee(invoice(api, paid)).id
    assert (item.amount_cents, item.precise_amount_cents) == (2100, Decimal(2100))
    assert (row.taxes_amount_cents, row.total_amount_cents) == (420, 2520)
    assert (row.credit_amount_cents, row.balance_amount_cents) == (2520, 2520)
    assert row.credit_status == "available"
    # Called again (billing.terminate already did, or not): still one credit note.
    again = termination_note(api, sub.id)
    assert again is not None and again.id == row.id
    assert count_notes(api) == 1


def test_termination_credit_note_one_cent_rounding(api: ApiClient) -> None:
    # Weekly 100.00 EUR paid Monday 1 January; terminated Tuesday 2 January:
    # 3..7 January = 5 days at 10000 / 7 → 7142.857… → item 7143; VAT 1428.571… → 1429;
    # items + taxes = 8572 = total, while the precise total 8571.43 rounds to 8571.
    catalogue(api, interval="weekly", amount=10000, pay_in_advance=True)
    subscribe(api, at(2024, 1, 1))
    (paid,) = run(api, at(2024, 1, 1, 1))
    assert invoice(api, paid).total_amount_cents == 12000
    sub = terminate(api, at(2024, 1, 2, 12))
    row = termination_note(api, sub.id)
    assert row is not None
    (item,) = row.items
    assert item.amount_cents == 7143
    assert item.precise_amount_cents.quantize(Decimal("0.001")) == Decimal("7142.857")
    assert row.sub_total_excluding_taxes_amount_cents == 7143
    assert row.taxes_amount_cents == 1429
    assert row.total_amount_cents == 8572
    assert row.sub_total_excluding_taxes_amount_cents + row.taxes_amount_cents == (
        row.total_amount_cents
    )
    assert row.rounding_adjustment_cents == 1
    assert row.credit_amount_cents == 8572


def test_upgrade_counts_the_termination_day_as_unused(api: ApiClient) -> None:
    catalogue(api, amount=3100, pay_in_advance=True)
    subscribe(api, at(2024, 1, 1))
    run(api, at(2024, 1, 1, 1))
    sub = terminate(api, at(2024, 1, 10, 12), mode="skip")
    with api.database.unit_of_work() as session:  # type: ignore[attr-defined]
        row = session.get(Subscription, sub.id)
        assert row is not None
        unused = termination_credits.unused_subscription_fee(session, sub=row, upgrading=True)
        assert unused is not None
        # 10..31 January = 22 days at 100 a day.
        assert unused.unused_days == 22
        assert unused.precise_amount_cents == Decimal(2200)


def test_termination_credit_is_capped_by_earlier_credit_notes(api: ApiClient) -> None:
    catalogue(api, amount=3100, pay_in_advance=True)
    subscribe(api, at(2024, 1, 1))
    (paid,) = run(api, at(2024, 1, 1, 1))
    fee = subscription_fee(invoice(api, paid))
    credit(api, paid, fee.id, 2000, 2400)  # 1100 of the fee left
    sub = terminate(api, at(2024, 1, 10, 12))
    row = termination_note(api, sub.id)
    assert row is not None
    # 21 days × 100 = 2100, capped at 3100 − 2000 = 1100; + 220 VAT.
    assert (row.items[0].amount_cents, row.total_amount_cents) == (1100, 1320)


def test_termination_modes(api: ApiClient) -> None:
    catalogue(api, amount=3100, pay_in_advance=True)
    subscribe(api, at(2024, 1, 1))
    (paid,) = run(api, at(2024, 1, 1, 1))
    sub = terminate(api, at(2024, 1, 10, 12), mode="offset")
    row = termination_note(api, sub.id)
    assert row is not None
    # The invoice is unpaid: the whole 2520 offsets what it still asks.
    assert (row.offset_amount_cents, row.credit_amount_cents, row.credit_status) == (
        2520,
        0,
        None,
    )
    with api.database.unit_of_work() as session:  # type: ignore[attr-defined]
        assert credit_note_service.offsetted_amount_cents(session, invoice_id=paid) == 2520


def test_termination_refund_of_an_unpaid_invoice_falls_back_to_credit(api: ApiClient) -> None:
    catalogue(api, amount=3100, pay_in_advance=True)
    subscribe(api, at(2024, 1, 1))
    run(api, at(2024, 1, 1, 1))
    sub = terminate(api, at(2024, 1, 10, 12), mode="refund")
    row = termination_note(api, sub.id)
    assert row is not None
    assert (row.refund_amount_cents, row.credit_amount_cents) == (0, 2520)


def test_termination_refund_of_a_paid_invoice(api: ApiClient) -> None:
    catalogue(api, amount=3100, pay_in_advance=True)
    subscribe(api, at(2024, 1, 1))
    (paid,) = run(api, at(2024, 1, 1, 1))
    response: Any = api.put(f"invoices/{paid}", {"invoice": {"payment_status": "succeeded"}})
    assert response.status_code == 200, response.text
    sub = terminate(api, at(2024, 1, 10, 12), mode="refund")
    row = termination_note(api, sub.id)
    assert row is not None
    assert (row.refund_amount_cents, row.refund_status, row.credit_amount_cents) == (
        2520,
        "pending",
        0,
    )


def test_termination_skip_and_arrears_plans_make_no_credit_note(api: ApiClient) -> None:
    catalogue(api, amount=3100, pay_in_advance=False)
    subscribe(api, at(2024, 1, 1))
    sub = terminate(api, at(2024, 1, 10, 12))
    assert termination_note(api, sub.id) is None
    assert count_notes(api) == 0


def test_termination_with_skip_makes_no_credit_note(api: ApiClient) -> None:
    catalogue(api, amount=3100, pay_in_advance=True)
    subscribe(api, at(2024, 1, 1))
    run(api, at(2024, 1, 1, 1))
    sub = terminate(api, at(2024, 1, 10, 12), mode="skip")
    assert termination_note(api, sub.id) is None
    assert count_notes(api) == 0


def test_termination_credit_is_consumed_by_the_next_subscription_invoice(api: ApiClient) -> None:
    catalogue(api, amount=3100, pay_in_advance=True)
    subscribe(api, at(2024, 1, 1))
    run(api, at(2024, 1, 1, 1))
    sub = terminate(api, at(2024, 1, 10, 12))
    row = termination_note(api, sub.id)
    assert row is not None and row.balance_amount_cents == 2520
    # A new subscription of the same customer: its first invoice (3720) uses the 2520.
    response: Any = api.post(
        "subscriptions",
        {
            "subscription": {
                "external_customer_id": "cust",
                "plan_code": "plan",
                "external_id": "sub2",
                "billing_time": "calendar",
                "subscription_at": at(2024, 2, 1).isoformat(),
            }
        },
    )
    assert response.status_code == 200, response.text
    invoices = run(api, at(2024, 2, 1, 1))
    totals = {
        invoice(api, i).credit_notes_amount_cents: invoice(api, i).total_amount_cents
        for i in invoices
    }
    assert totals.get(2520) == 3720 - 2520
    assert note(api, row.id).credit_status == "consumed"
