"""Manual payments (bank transfer, cheque) and payment receipts, on SQLite and PostgreSQL.

The invoice is one add-on of 100.00 EUR with no tax: it owes 10000 cents.
"""

from __future__ import annotations

from typing import Any

from meterly.store.tables import Organization


def unpaid_invoice(api: Any) -> dict[str, Any]:
    add_on = {"name": "Setup", "code": "setup", "amount_cents": 10000, "amount_currency": "EUR"}
    assert api.post("add_ons", {"add_on": add_on}).status_code == 200
    assert (
        api.post("customers", {"customer": {"external_id": "acme", "currency": "EUR"}}).status_code
        == 200
    )
    body = {"external_customer_id": "acme", "currency": "EUR", "fees": [{"add_on_code": "setup"}]}
    invoice: dict[str, Any] = api.post("invoices", {"invoice": body}).json()["invoice"]
    assert invoice["total_amount_cents"] == 10000 and invoice["payment_status"] == "pending"
    return invoice


def pay(api: Any, invoice_id: str, amount: int, reference: str) -> Any:
    payment = {"invoice_id": invoice_id, "amount_cents": amount, "reference": reference}
    return api.post("payments", {"payment": payment})


def test_partial_then_full_payment_with_receipts(api: Any) -> None:
    invoice = unpaid_invoice(api)
    first = pay(api, invoice["lago_id"], 4000, "wire-1")
    assert first.status_code == 200, first.text
    payment = first.json()["payment"]
    assert payment["type"] == "manual" and payment["payment_status"] == "succeeded"
    assert payment["amount_cents"] == 4000 and payment["amount_currency"] == "EUR"
    assert payment["invoice_ids"] == [invoice["lago_id"]] and payment["reference"] == "wire-1"
    # 4000 of 10000 paid: still pending, 6000 left.
    state = api.get(f"invoices/{invoice['lago_id']}").json()["invoice"]
    assert state["payment_status"] == "pending" and state["total_paid_amount_cents"] == 4000

    # 7000 > the 6000 left: refused, and nothing recorded.
    over = pay(api, invoice["lago_id"], 7000, "wire-2")
    assert over.status_code == 422
    assert over.json()["error_details"] == {"amount_cents": ["invalid_amount"]}
    assert len(api.get("payments").json()["payments"]) == 1

    second = pay(api, invoice["lago_id"], 6000, "wire-2")
    assert second.status_code == 200
    state = api.get(f"invoices/{invoice['lago_id']}").json()["invoice"]
    # 4000 + 6000 = 10000: fully paid.
    assert state["payment_status"] == "succeeded" and state["total_paid_amount_cents"] == 10000
    # Nothing is left to pay: any further payment is refused.
    assert pay(api, invoice["lago_id"], 1, "wire-3").status_code == 422

    shown = api.get(f"payments/{payment['lago_id']}").json()["payment"]
    assert shown["reference"] == "wire-1"
    assert api.get("payments/00000000-0000-0000-0000-000000000000").status_code == 404
    listed = api.get("customers/acme/payments").json()
    assert sorted(p["amount_cents"] for p in listed["payments"]) == [4000, 6000]
    assert listed["meta"]["total_count"] == 2

    with api.database.unit_of_work() as session:
        prefix = session.get(Organization, api.org_id).document_number_prefix
    receipts = api.get("payment_receipts").json()["payment_receipts"]
    # One receipt per payment, numbered 1 then 2 (newest first).
    assert [r["number"] for r in receipts] == [f"{prefix}-RCPT-000002", f"{prefix}-RCPT-000001"]
    assert receipts[1]["payment"]["lago_id"] == payment["lago_id"]
    one = api.get(f"payment_receipts/{receipts[0]['lago_id']}").json()["payment_receipt"]
    assert one["payment"]["amount_cents"] == 6000


def test_bad_manual_payments_change_nothing(api: Any) -> None:
    invoice = unpaid_invoice(api)
    assert pay(api, invoice["lago_id"], 0, "zero").status_code == 422
    assert pay(api, invoice["lago_id"], 100, "  ").status_code == 422
    assert pay(api, "00000000-0000-0000-0000-000000000000", 100, "x").status_code == 404
    assert api.post("payments", {"payment": {"amount_cents": 100}}).status_code == 422
    assert api.post("payments", {}).status_code == 400
    assert api.get("payments").json()["payments"] == []
    assert api.get("payment_receipts").json()["payment_receipts"] == []


def test_receipt_pdf_opens(api: Any, tmp_path: Any, monkeypatch: Any) -> None:
    import io

    from pypdf import PdfReader

    monkeypatch.setenv("METERLY_FILES_DIR", str(tmp_path))
    invoice = unpaid_invoice(api)
    assert pay(api, invoice["lago_id"], 2500, "cheque-77").status_code == 200
    [receipt] = api.get("payment_receipts").json()["payment_receipts"]
    response = api.get(f"payment_receipts/{receipt['lago_id']}/pdf")
    assert response.status_code == 200 and response.headers["content-type"] == "application/pdf"
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(response.content)).pages)
    assert receipt["number"] in text and "cheque-77" in text
    # 2500 paid of 10000: 25.00 paid, 75.00 still due.
    assert "25.00 EUR" in text and "75.00 EUR" in text


def test_receipt_webhook_renders_lagos_payment_receipt(api: Any) -> None:
    import orjson
    from sqlalchemy import select

    from meterly.jobs import webhooks
    from meterly.store.tables import Webhook

    endpoint = {"webhook_url": "https://hooks.example.com/meterly", "signature_algo": "hmac"}
    assert api.post("webhook_endpoints", {"webhook_endpoint": endpoint}).status_code == 200
    invoice = unpaid_invoice(api)
    payment = pay(api, invoice["lago_id"], 10000, "wire-full").json()["payment"]
    with api.database.unit_of_work() as session:
        row = session.scalars(
            select(Webhook).where(Webhook.webhook_type == "payment_receipt.created")
        ).one()
        body = orjson.loads(webhooks.render(session, row))
    assert body["object_type"] == "payment_receipt"
    assert body["payment_receipt"]["payment"]["lago_id"] == payment["lago_id"]
    assert body["payment_receipt"]["payment"]["amount_cents"] == 10000
