"""Credit-note rounding over HTTP, on SQLite and PostgreSQL (lago-semantics.md item 14,
"Credit-note taxes"): two full-refund notes on one invoice with two taxes give back
exactly the invoice, never a cent more.

The invoice is a one-off invoice of two add-ons, 68.33 and 68.34 EUR, each taxed with
VAT 20 % and a 5 % tax.
"""

from __future__ import annotations

from typing import Any

from tests.conftest import ApiClient


def two_fee_invoice(api: ApiClient) -> tuple[str, dict[int, str]]:
    for code, rate in (("vat", 20.0), ("low", 5.0)):
        tax = {"tax": {"name": code, "code": code, "rate": rate}}
        assert api.post("taxes", tax).status_code == 200
    for code, cents in (("one", 6833), ("two", 6834)):
        add_on = {"name": code, "code": code, "amount_cents": cents, "amount_currency": "EUR"}
        assert api.post("add_ons", {"add_on": add_on}).status_code == 200
    customer = {"external_id": "cust", "name": "Customer", "currency": "EUR"}
    assert api.post("customers", {"customer": customer}).status_code == 200
    fees = [{"add_on_code": code, "tax_codes": ["vat", "low"]} for code in ("one", "two")]
    response: Any = api.post(
        "invoices", {"invoice": {"external_customer_id": "cust", "currency": "EUR", "fees": fees}}
    )
    assert response.status_code == 200, response.text
    invoice = response.json()["invoice"]
    assert invoice["status"] == "finalized"
    # base 13667; VAT 2733.4 → 2733, 5 % 683.35 → 683 (one rounding per tax): 3416;
    # total 13667 + 3416 = 17083
    assert invoice["taxes_amount_cents"] == 3416
    assert invoice["total_amount_cents"] == 17083
    return invoice["lago_id"], {f["amount_cents"]: f["lago_id"] for f in invoice["fees"]}


def refund_fee(api: ApiClient, invoice_id: str, fee_id: str, amount: int) -> dict[str, Any]:
    items = [{"fee_id": fee_id, "amount_cents": amount}]
    estimate: Any = api.post(
        "credit_notes/estimate", {"credit_note": {"invoice_id": invoice_id, "items": items}}
    )
    assert estimate.status_code == 200, estimate.text
    total = estimate.json()["estimated_credit_note"]["max_creditable_amount_cents"]
    response: Any = api.post(
        "credit_notes",
        {
            "credit_note": {
                "invoice_id": invoice_id,
                "reason": "other",
                "credit_amount_cents": total,
                "items": items,
            }
        },
    )
    assert response.status_code == 200, response.text
    return dict(response.json()["credit_note"])


def test_two_full_notes_with_two_taxes_give_back_exactly_the_invoice(api: ApiClient) -> None:
    invoice_id, fee_ids = two_fee_invoice(api)

    first = refund_fee(api, invoice_id, fee_ids[6833], 6833)
    # 6833 × 20 % = 1366.6 and × 5 % = 341.65: the rounded sum of the precise amounts
    # 1708.25 → 1708 (not 1367 + 342 = 1709); total 6833 + 1708 = 8541
    assert first["taxes_amount_cents"] == 1708
    assert first["sub_total_excluding_taxes_amount_cents"] == 6833
    assert first["total_amount_cents"] == first["credit_amount_cents"] == 8541

    second = refund_fee(api, invoice_id, fee_ids[6834], 6834)
    # the note that credits everything left takes what remains: 17083 − 8541 = 8542, of
    # which taxes 3416 − 1708 = 1708 and sub-total 6834 (its own rounding, 1366.8 + 341.7
    # = 1708.5 plus the first note's 0.25, would have made 1709 and 8543)
    assert second["taxes_amount_cents"] == 1708
    assert second["sub_total_excluding_taxes_amount_cents"] == 6834
    assert second["total_amount_cents"] == second["credit_amount_cents"] == 8542
    # 8541 + 8542 = 17083: the invoice, to the cent
    assert first["total_amount_cents"] + second["total_amount_cents"] == 17083

    # nothing is left to credit: a further note on either fee is refused
    again: Any = api.post(
        "credit_notes",
        {
            "credit_note": {
                "invoice_id": invoice_id,
                "credit_amount_cents": 1,
                "items": [{"fee_id": fee_ids[6833], "amount_cents": 1}],
            }
        },
    )
    assert again.status_code == 422
