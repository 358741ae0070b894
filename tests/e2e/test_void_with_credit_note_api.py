"""POST /invoices/{id}/void with `generate_credit_note`, `refund_amount`, `credit_amount`
(Lago): the invoice is voided whatever its payment status; a credit note gives back what is
asked; what is not asked goes on a second note, voided at once. SQLite and PostgreSQL.

The invoice: a monthly 100.00 EUR plan with 20 % VAT, January → fee 10000, VAT 2000,
total 12000 cents (tests/e2e/test_credit_notes_api.py).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from meterly.domain.credit_notes import scaled_items
from meterly.store.tables import Invoice
from meterly.store.tables_credit_notes import CreditNote
from tests.conftest import ApiClient
from tests.e2e.test_credit_notes_api import billed_invoice


def note_figures(api: ApiClient, invoice_id: str) -> list[tuple[int, int, int, str]]:
    with api.database.unit_of_work() as session:  # type: ignore[attr-defined]
        rows = session.scalars(
            select(CreditNote)
            .where(CreditNote.invoice_id == invoice_id)
            .order_by(CreditNote.created_at, CreditNote.total_amount_cents.desc())
        )
        return [
            (
                n.total_amount_cents,
                n.credit_amount_cents,
                n.refund_amount_cents,
                n.credit_status or "",
            )
            for n in rows
        ]


def mark_paid(api: ApiClient, invoice_id: str) -> None:
    answer = api.put(f"invoices/{invoice_id}", {"invoice": {"payment_status": "succeeded"}})
    assert answer.status_code == 200, answer.text  # type: ignore[attr-defined]
    with api.database.unit_of_work() as session:  # type: ignore[attr-defined]
        invoice = session.get(Invoice, invoice_id)
        assert invoice is not None
        invoice.total_paid_amount_cents = invoice.total_amount_cents


def test_credit_for_everything(api: ApiClient) -> None:
    invoice_id, _, _ = billed_invoice(api)
    answer: Any = api.post(
        f"invoices/{invoice_id}/void", {"generate_credit_note": True, "credit_amount": 12000}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["invoice"]["status"] == "voided"
    # One note: 12000 = 10000 + 20 % VAT, all as credit.
    assert note_figures(api, invoice_id) == [(12000, 12000, 0, "available")]


def test_a_paid_invoice_refunds_part_and_writes_off_the_rest(api: ApiClient) -> None:
    invoice_id, _, _ = billed_invoice(api)
    mark_paid(api, invoice_id)
    # A paid invoice cannot be voided plainly.
    assert api.post(f"invoices/{invoice_id}/void").status_code == 405  # type: ignore[attr-defined]
    answer: Any = api.post(
        f"invoices/{invoice_id}/void",
        {"generate_credit_note": True, "refund_amount": 6000, "credit_amount": 1200},
    )
    assert answer.status_code == 200, answer.text
    # Asked 6000 + 1200 = 7200 of 12000 (60 %): items 10000 x 0.6 = 6000, VAT 1200,
    # total 7200. The rest, 4000 + VAT 800 = 4800, is credited then voided.
    assert note_figures(api, invoice_id) == [
        (7200, 1200, 6000, "available"),
        (4800, 4800, 0, "voided"),
    ]


def test_asking_more_than_the_invoice_changes_nothing(api: ApiClient) -> None:
    invoice_id, _, _ = billed_invoice(api)
    answer: Any = api.post(
        f"invoices/{invoice_id}/void", {"generate_credit_note": True, "credit_amount": 12001}
    )
    assert answer.status_code == 422, answer.text
    assert answer.json()["error_details"] == {"base": ["higher_than_remaining_invoice_amount"]}
    assert note_figures(api, invoice_id) == []
    assert api.get(f"invoices/{invoice_id}").json()["invoice"]["status"] == "finalized"  # type: ignore[attr-defined]
    refund_unpaid: Any = api.post(
        f"invoices/{invoice_id}/void", {"generate_credit_note": True, "refund_amount": 100}
    )
    assert refund_unpaid.status_code == 422
    assert note_figures(api, invoice_id) == []


def test_nothing_asked_writes_everything_off(api: ApiClient) -> None:
    invoice_id, _, _ = billed_invoice(api)
    answer: Any = api.post(f"invoices/{invoice_id}/void", {"generate_credit_note": True})
    assert answer.status_code == 200, answer.text
    assert note_figures(api, invoice_id) == [(12000, 12000, 0, "voided")]


@pytest.mark.parametrize(
    ("remaining", "share", "expected"),
    [
        # 100 x 1/3 = 33.33 -> 33; one fee keeps it all.
        ([("a", 100)], (1, 3), [("a", 33)]),
        # (50 + 50) x 1/2 = 50: 25 and 25.
        ([("a", 50), ("b", 50)], (1, 2), [("a", 25), ("b", 25)]),
        # (10 + 10 + 10) x 1/2 = 15: floors 5, 5, 5 = 15... each 10/2 = 5 exactly.
        ([("a", 10), ("b", 10), ("c", 10)], (1, 2), [("a", 5), ("b", 5), ("c", 5)]),
        # (3 + 3 + 3) x 1/2 = 4.5 -> 4: floors 1, 1, 1 = 3, one more unit to the first
        # of the tied fractions (0.5 each), in the order given.
        ([("a", 3), ("b", 3), ("c", 3)], (1, 2), [("a", 2), ("b", 1), ("c", 1)]),
    ],
)
def test_scaled_items_keep_the_whole_share(
    remaining: list[tuple[str, int]], share: tuple[int, int], expected: list[tuple[str, int]]
) -> None:
    items = scaled_items(remaining, numerator=share[0], denominator=share[1])
    assert [(i.fee_id, i.amount_cents) for i in items] == expected
    assert sum(i.amount_cents for i in items) == sum(a for _, a in remaining) * share[0] // share[1]
    assert Decimal(0) <= Decimal(share[0]) / Decimal(share[1]) <= 1
