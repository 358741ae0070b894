"""Credit notes over HTTP, on SQLite and PostgreSQL.

The invoice comes from the billing engine: a monthly 100.00 EUR plan in arrears with
20 % VAT, one January period → fee 10000, VAT 2000, invoice 12000.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from meterly.services import runs
from meterly.services.common import FrozenClock
from meterly.services.credits import credit_notes as credit_note_service
from meterly.services.documents import build_credit_note_document, credit_note_pdf
from meterly.store.tables import Fee, Invoice, Webhook
from meterly.store.tables_credit_notes import CreditNote, CreditNoteItem
from tests.conftest import ApiClient

JAN = datetime(2024, 1, 1, tzinfo=UTC)
FEB = datetime(2024, 2, 1, 1, tzinfo=UTC)

REQUIRED = (
    "currency",
    "total_amount_cents",
    "credit_amount_cents",
    "balance_amount_cents",
    "refund_amount_cents",
    "offset_amount_cents",
    "taxes_amount_cents",
    "taxes_rate",
    "sub_total_excluding_taxes_amount_cents",
    "coupons_adjustment_amount_cents",
)
REQUIRED_ESTIMATE = (
    "lago_invoice_id",
    "invoice_number",
    "currency",
    "max_creditable_amount_cents",
    "max_refundable_amount_cents",
    "max_offsettable_amount_cents",
    "taxes_amount_cents",
    "taxes_rate",
    "sub_total_excluding_taxes_amount_cents",
    "coupons_adjustment_amount_cents",
    "items",
    "applied_taxes",
)


def billed_invoice(
    api: ApiClient, *, currency: str = "EUR", amount: int = 10000, tax: bool = True
) -> tuple[str, str, str]:
    """(invoice id, invoice number, subscription fee id) of a finalized January invoice."""
    if tax:
        vat = {"tax": {"name": "VAT", "code": "vat", "rate": 20.0}}
        assert post(api, "taxes", vat).status_code == 200
    plan: dict[str, Any] = {
        "name": "Plan",
        "code": "plan",
        "interval": "monthly",
        "amount_cents": amount,
        "amount_currency": currency,
        "pay_in_advance": False,
        "charges": [],
    }
    if tax:
        plan["tax_codes"] = ["vat"]
    response: Any = api.post("plans", {"plan": plan})
    assert response.status_code == 200, response.text
    customer = {"external_id": "cust", "name": "Customer", "currency": currency}
    assert api.post("customers", {"customer": customer}).status_code == 200  # type: ignore[attr-defined]
    response = api.post(
        "subscriptions",
        {
            "subscription": {
                "external_customer_id": "cust",
                "plan_code": "plan",
                "external_id": "sub",
                "billing_time": "calendar",
                "subscription_at": JAN.isoformat(),
            }
        },
    )
    assert response.status_code == 200, response.text
    report = runs.run(api.database, as_of=FEB, clock=FrozenClock(FEB))  # type: ignore[arg-type]
    assert report.errors == [] and len(report.invoices) == 1
    with api.database.unit_of_work() as session:  # type: ignore[attr-defined]
        invoice = session.get(Invoice, report.invoices[0])
        assert invoice is not None and invoice.status == "finalized"
        fee = session.scalar(
            select(Fee).where(Fee.invoice_id == invoice.id, Fee.fee_type == "subscription")
        )
        assert fee is not None and fee.amount_cents == amount
        return invoice.id, str(invoice.number), fee.id


def body(invoice_id: str, fee_id: str, amount: int, **kw: Any) -> dict[str, Any]:
    return {
        "credit_note": {
            "invoice_id": invoice_id,
            "reason": kw.pop("reason", "other"),
            "items": [{"fee_id": fee_id, "amount_cents": amount}],
            **kw,
        }
    }


def post(api: ApiClient, path: str, payload: Any) -> Any:
    return api.post(path, payload)


def count_notes(api: ApiClient) -> int:
    with api.database.unit_of_work() as session:  # type: ignore[attr-defined]
        return int(session.scalar(select(func.count()).select_from(CreditNote)) or 0)


def mark_paid(api: ApiClient, invoice_id: str) -> None:
    response: Any = api.put(f"invoices/{invoice_id}", {"invoice": {"payment_status": "succeeded"}})
    assert response.status_code == 200, response.text


# --- create, find, list ------------------------------------------------------------------------


def test_create_a_credit_note_for_part_of_a_fee(api: ApiClient) -> None:
    invoice_id, number, fee_id = billed_invoice(api)
    response = post(
        api,
        "credit_notes",
        body(
            invoice_id,
            fee_id,
            5000,
            credit_amount_cents=6000,
            reason="duplicated_charge",
            description="Billed twice",
            metadata={"ticket": "T-1"},
        ),
    )
    assert response.status_code == 200, response.text
    note = response.json()["credit_note"]
    for key in REQUIRED:
        assert note[key] is not None, key
    # 5000 + 20 % = 6000, credited in full
    assert (
        note["sub_total_excluding_taxes_amount_cents"],
        note["taxes_amount_cents"],
        note["total_amount_cents"],
    ) == (5000, 1000, 6000)
    assert note["credit_amount_cents"] == note["balance_amount_cents"] == 6000
    assert note["refund_amount_cents"] == note["offset_amount_cents"] == 0
    assert note["credit_status"] == "available" and note["refund_status"] is None
    assert note["number"] == f"{number}-CN001" and note["sequential_id"] == 1
    assert note["invoice_number"] == number and note["lago_invoice_id"] == invoice_id
    assert note["reason"] == "duplicated_charge" and note["description"] == "Billed twice"
    assert note["currency"] == "EUR" and note["taxes_rate"] == 20.0
    assert Decimal(note["precise_total_amount_cents"]) == 6000
    assert note["metadata"] == {"ticket": "T-1"}
    assert note["customer"]["external_id"] == "cust"
    (item,) = note["items"]
    assert item["amount_cents"] == 5000 and item["fee"]["lago_id"] == fee_id
    (tax,) = note["applied_taxes"]
    assert (tax["tax_code"], tax["amount_cents"], tax["base_amount_cents"]) == ("vat", 1000, 5000)
    assert tax["lago_tax_id"] is not None


def test_numbers_follow_the_invoice(api: ApiClient) -> None:
    invoice_id, number, fee_id = billed_invoice(api)
    for expected in ("CN001", "CN002"):
        response = post(
            api, "credit_notes", body(invoice_id, fee_id, 1000, credit_amount_cents=1200)
        )
        assert response.json()["credit_note"]["number"] == f"{number}-{expected}"


def test_find_and_list(api: ApiClient) -> None:
    invoice_id, _, fee_id = billed_invoice(api)
    created = post(api, "credit_notes", body(invoice_id, fee_id, 1000, credit_amount_cents=1200))
    note_id = created.json()["credit_note"]["lago_id"]
    found: Any = api.get(f"credit_notes/{note_id}")
    assert found.status_code == 200 and found.json()["credit_note"]["lago_id"] == note_id
    listed: Any = api.get("credit_notes", params={"external_customer_id": "cust"})
    assert [n["lago_id"] for n in listed.json()["credit_notes"]] == [note_id]
    assert listed.json()["meta"]["total_count"] == 1
    other: Any = api.get("credit_notes", params={"external_customer_id": "nobody"})
    assert other.json()["credit_notes"] == []
    by_customer: Any = api.get("customers/cust/credit_notes")
    assert [n["lago_id"] for n in by_customer.json()["credit_notes"]] == [note_id]
    assert api.get("customers/nobody/credit_notes").status_code == 404  # type: ignore[attr-defined]
    missing: Any = api.get("credit_notes/00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404 and missing.json()["code"] == "credit_note_not_found"


def test_create_announces_credit_note_created(api: ApiClient) -> None:
    invoice_id, _, fee_id = billed_invoice(api)
    endpoint = {"webhook_endpoint": {"webhook_url": "https://example.test/hook"}}
    assert api.post("webhook_endpoints", endpoint).status_code == 200  # type: ignore[attr-defined]
    created = post(api, "credit_notes", body(invoice_id, fee_id, 1000, credit_amount_cents=1200))
    note_id = created.json()["credit_note"]["lago_id"]
    with api.database.unit_of_work() as session:  # type: ignore[attr-defined]
        types = {
            (w.webhook_type, w.object_type, w.object_id) for w in session.scalars(select(Webhook))
        }
    assert ("credit_note.created", "credit_note", note_id) in types


# --- validation --------------------------------------------------------------------------------


def assert_422(response: Any, field: str, code: str) -> None:
    assert response.status_code == 422, response.text
    payload = response.json()
    assert payload["code"] == "validation_errors"
    assert code in payload["error_details"][field], payload


def test_item_above_the_fee_is_refused_and_nothing_stored(api: ApiClient) -> None:
    invoice_id, _, fee_id = billed_invoice(api)
    response = post(api, "credit_notes", body(invoice_id, fee_id, 10001, credit_amount_cents=12001))
    assert_422(response, "amount_cents", "higher_than_remaining_fee_amount")
    assert count_notes(api) == 0


def test_item_above_what_earlier_credit_notes_left_is_refused(api: ApiClient) -> None:
    invoice_id, _, fee_id = billed_invoice(api)
    ok = post(api, "credit_notes", body(invoice_id, fee_id, 8000, credit_amount_cents=9600))
    assert ok.status_code == 200
    response = post(api, "credit_notes", body(invoice_id, fee_id, 2001, credit_amount_cents=2401))
    assert_422(response, "amount_cents", "higher_than_remaining_fee_amount")
    assert count_notes(api) == 1


def test_amounts_must_match_the_items(api: ApiClient) -> None:
    invoice_id, _, fee_id = billed_invoice(api)
    response = post(api, "credit_notes", body(invoice_id, fee_id, 5000, credit_amount_cents=5000))
    assert_422(response, "base", "does_not_match_item_amounts")
    assert count_notes(api) == 0


def test_zero_total_is_refused(api: ApiClient) -> None:
    invoice_id, _, fee_id = billed_invoice(api)
    response = post(api, "credit_notes", body(invoice_id, fee_id, 0))
    assert_422(response, "base", "total_amount_must_be_positive")


def test_refund_of_an_unpaid_invoice_is_refused(api: ApiClient) -> None:
    invoice_id, _, fee_id = billed_invoice(api)
    response = post(api, "credit_notes", body(invoice_id, fee_id, 5000, refund_amount_cents=6000))
    assert_422(response, "refund_amount_cents", "cannot_refund_unpaid_invoice")
    assert count_notes(api) == 0


def test_refund_of_a_paid_invoice_then_refund_status(api: ApiClient) -> None:
    invoice_id, _, fee_id = billed_invoice(api)
    mark_paid(api, invoice_id)
    response = post(api, "credit_notes", body(invoice_id, fee_id, 5000, refund_amount_cents=6000))
    assert response.status_code == 200, response.text
    note = response.json()["credit_note"]
    assert note["refund_amount_cents"] == 6000 and note["refund_status"] == "pending"
    assert note["credit_status"] is None and note["balance_amount_cents"] == 0
    updated: Any = api.put(
        f"credit_notes/{note['lago_id']}",
        {"credit_note": {"refund_status": "succeeded", "metadata": {"psp": "ref_1"}}},
    )
    assert updated.status_code == 200, updated.text
    assert updated.json()["credit_note"]["refund_status"] == "succeeded"
    assert updated.json()["credit_note"]["refunded_at"] is not None
    assert updated.json()["credit_note"]["metadata"] == {"psp": "ref_1"}
    bad: Any = api.put(f"credit_notes/{note['lago_id']}", {"credit_note": {"refund_status": "x"}})
    assert_422(bad, "refund_status", "value_is_invalid")


def test_refund_above_what_is_left_is_refused(api: ApiClient) -> None:
    invoice_id, _, fee_id = billed_invoice(api)
    mark_paid(api, invoice_id)
    first = post(api, "credit_notes", body(invoice_id, fee_id, 8000, credit_amount_cents=9600))
    assert first.status_code == 200
    # 12000 − 9600 = 2400 left to give back: 2401 is one unit too many to refund.
    response = post(api, "credit_notes", body(invoice_id, fee_id, 2000, refund_amount_cents=2401))
    assert_422(response, "refund_amount_cents", "higher_than_remaining_invoice_amount")
    assert count_notes(api) == 1
    exact = post(api, "credit_notes", body(invoice_id, fee_id, 2000, refund_amount_cents=2400))
    assert exact.status_code == 200, exact.text
    nothing_left = post(api, "credit_notes", body(invoice_id, fee_id, 1, refund_amount_cents=1))
    assert_422(nothing_left, "amount_cents", "higher_than_remaining_fee_amount")


def test_offset_reduces_the_invoice_due_amount(api: ApiClient) -> None:
    invoice_id, _, fee_id = billed_invoice(api)
    response = post(api, "credit_notes", body(invoice_id, fee_id, 5000, offset_amount_cents=6000))
    assert response.status_code == 200, response.text
    note = response.json()["credit_note"]
    assert note["offset_amount_cents"] == 6000 and note["credit_status"] is None
    with api.database.unit_of_work() as session:  # type: ignore[attr-defined]
        assert credit_note_service.offsetted_amount_cents(session, invoice_id=invoice_id) == 6000


def test_offset_of_a_paid_invoice_is_refused(api: ApiClient) -> None:
    invoice_id, _, fee_id = billed_invoice(api)
    mark_paid(api, invoice_id)
    response = post(api, "credit_notes", body(invoice_id, fee_id, 5000, offset_amount_cents=6000))
    assert_422(response, "offset_amount_cents", "higher_than_remaining_invoice_amount")
    assert count_notes(api) == 0


def test_mixed_credit_refund_and_offset(api: ApiClient) -> None:
    invoice_id, _, fee_id = billed_invoice(api)
    response = post(
        api,
        "credit_notes",
        body(invoice_id, fee_id, 5000, credit_amount_cents=4000, offset_amount_cents=2000),
    )
    assert response.status_code == 200, response.text
    note = response.json()["credit_note"]
    assert (note["credit_amount_cents"], note["offset_amount_cents"]) == (4000, 2000)
    assert note["balance_amount_cents"] == 4000


def test_unknown_invoice_and_fee_are_404(api: ApiClient) -> None:
    invoice_id, _, fee_id = billed_invoice(api)
    unknown = "00000000-0000-0000-0000-000000000000"
    response = post(api, "credit_notes", body(unknown, fee_id, 100, credit_amount_cents=120))
    assert response.status_code == 404 and response.json()["code"] == "invoice_not_found"
    response = post(api, "credit_notes", body(invoice_id, unknown, 100, credit_amount_cents=120))
    assert response.status_code == 404 and response.json()["code"] == "fee_not_found"
    assert count_notes(api) == 0


def test_bad_reason_and_bad_amount_types(api: ApiClient) -> None:
    invoice_id, _, fee_id = billed_invoice(api)
    response = post(
        api, "credit_notes", body(invoice_id, fee_id, 100, credit_amount_cents=120, reason="meh")
    )
    assert_422(response, "reason", "value_is_invalid")
    response = post(api, "credit_notes", body(invoice_id, fee_id, 100, credit_amount_cents="120"))
    assert response.status_code == 422
    missing_root = post(api, "credit_notes", {"invoice_id": invoice_id})
    assert missing_root.status_code == 400
    assert count_notes(api) == 0


def test_a_draft_invoice_cannot_be_credited(api: ApiClient) -> None:
    invoice_id, _, fee_id = billed_invoice(api)
    with api.database.unit_of_work() as session:  # type: ignore[attr-defined]
        invoice = session.get(Invoice, invoice_id)
        assert invoice is not None
        invoice.status = "draft"
    response = post(api, "credit_notes", body(invoice_id, fee_id, 100, credit_amount_cents=120))
    assert response.status_code == 405 and response.json()["code"] == "invalid_type_or_status"


# --- estimate ----------------------------------------------------------------------------------


def test_estimate_of_an_unpaid_invoice(api: ApiClient) -> None:
    invoice_id, number, fee_id = billed_invoice(api)
    response = post(api, "credit_notes/estimate", body(invoice_id, fee_id, 5000))
    assert response.status_code == 200, response.text
    estimate = response.json()["estimated_credit_note"]
    for key in REQUIRED_ESTIMATE:
        assert estimate[key] is not None, key
    assert estimate["invoice_number"] == number
    assert estimate["sub_total_excluding_taxes_amount_cents"] == 5000
    assert estimate["taxes_amount_cents"] == 1000
    # Nothing paid: nothing to refund; all of it can be credited or offset.
    assert estimate["max_creditable_amount_cents"] == 6000
    assert estimate["max_refundable_amount_cents"] == 0
    assert estimate["max_offsettable_amount_cents"] == 6000
    assert estimate["items"] == [{"lago_fee_id": fee_id, "amount_cents": 5000}]
    assert estimate["applied_taxes"][0]["amount_cents"] == 1000
    assert count_notes(api) == 0


def test_estimate_after_payment_and_an_earlier_credit_note(api: ApiClient) -> None:
    invoice_id, _, fee_id = billed_invoice(api)
    mark_paid(api, invoice_id)
    first = post(api, "credit_notes", body(invoice_id, fee_id, 7000, refund_amount_cents=8400))
    assert first.status_code == 200
    response = post(api, "credit_notes/estimate", body(invoice_id, fee_id, 3000))
    estimate = response.json()["estimated_credit_note"]
    # 3000 + 600 = 3600; 12000 − 8400 = 3600 left, paid 12000 − refunded 8400 = 3600
    assert estimate["max_creditable_amount_cents"] == 3600
    assert estimate["max_refundable_amount_cents"] == 3600
    assert estimate["max_offsettable_amount_cents"] == 0


def test_estimate_above_the_fee_is_422(api: ApiClient) -> None:
    invoice_id, _, fee_id = billed_invoice(api)
    response = post(api, "credit_notes/estimate", body(invoice_id, fee_id, 10001))
    assert_422(response, "amount_cents", "higher_than_remaining_fee_amount")


# --- void, download, metadata ------------------------------------------------------------------


def test_void_removes_the_remaining_balance(api: ApiClient) -> None:
    invoice_id, _, fee_id = billed_invoice(api)
    created = post(api, "credit_notes", body(invoice_id, fee_id, 5000, credit_amount_cents=6000))
    note_id = created.json()["credit_note"]["lago_id"]
    voided: Any = api.put(f"credit_notes/{note_id}/void")
    assert voided.status_code == 200, voided.text
    note = voided.json()["credit_note"]
    assert note["credit_status"] == "voided" and note["balance_amount_cents"] == 0
    assert note["credit_amount_cents"] == 6000 and note["voided_at"] is not None
    again: Any = api.put(f"credit_notes/{note_id}/void")
    assert again.status_code == 405 and again.json()["code"] == "no_voidable_amount"
    # The voided credit is not handed out again: 12000 − 6000 left.
    estimate = post(api, "credit_notes/estimate", body(invoice_id, fee_id, 5000))
    assert estimate.json()["estimated_credit_note"]["max_creditable_amount_cents"] == 6000


def test_download_renders_a_pdf_behind_a_signed_link(
    api: ApiClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("METERLY_FILES_DIR", str(tmp_path))
    invoice_id, _, fee_id = billed_invoice(api)
    created = post(api, "credit_notes", body(invoice_id, fee_id, 5000, credit_amount_cents=6000))
    note = created.json()["credit_note"]
    assert note["file_url"] is None
    response: Any = api.post(f"credit_notes/{note['lago_id']}/download")
    assert response.status_code == 200, response.text
    url = response.json()["credit_note"]["file_url"]
    assert url and "/api/v1/files/credit_notes/" in url
    path = url.split("://", 1)[1].split("/", 1)[1]
    pdf = api.client.get("/" + path)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert pdf.headers["content-type"] == "application/pdf"
    forged = api.client.get("/" + path.split("?")[0] + "?token=bad")
    assert forged.status_code == 404
    assert list(tmp_path.rglob("*.pdf"))


def test_metadata_calls(api: ApiClient) -> None:
    invoice_id, _, fee_id = billed_invoice(api)
    created = post(
        api,
        "credit_notes",
        body(invoice_id, fee_id, 100, credit_amount_cents=120, metadata={"a": "1"}),
    )
    note_id = created.json()["credit_note"]["lago_id"]
    replaced: Any = api.post(f"credit_notes/{note_id}/metadata", {"metadata": {"b": "2"}})
    assert replaced.status_code == 200 and replaced.json() == {"metadata": {"b": "2"}}
    merged: Any = api.client.patch(
        f"/api/v1/credit_notes/{note_id}/metadata",
        json={"metadata": {"c": "3"}},
        headers=api.headers,
    )
    assert merged.json() == {"metadata": {"b": "2", "c": "3"}}
    one: Any = api.delete(f"credit_notes/{note_id}/metadata/b")
    assert one.json() == {"metadata": {"c": "3"}}
    everything: Any = api.delete(f"credit_notes/{note_id}/metadata")
    assert everything.json() == {"metadata": {}}


# --- three-decimal currency --------------------------------------------------------------------


def test_three_decimal_currency(api: ApiClient) -> None:
    # 12.345 KWD a month, 20 % VAT; credit 1.234 KWD of it: tax 0.2468 → 0.247, total 1.481.
    invoice_id, _, fee_id = billed_invoice(api, currency="KWD", amount=12345)
    estimate = post(api, "credit_notes/estimate", body(invoice_id, fee_id, 1234))
    data = estimate.json()["estimated_credit_note"]
    assert (data["taxes_amount_cents"], data["max_creditable_amount_cents"]) == (247, 1481)
    assert data["currency"] == "KWD"
    created = post(api, "credit_notes", body(invoice_id, fee_id, 1234, credit_amount_cents=1481))
    assert created.status_code == 200, created.text
    note = created.json()["credit_note"]
    assert (note["total_amount_cents"], note["balance_amount_cents"]) == (1481, 1481)
    assert note["items"][0]["amount_currency"] == "KWD"
    with api.database.unit_of_work() as session:  # type: ignore[attr-defined]
        row = session.get(CreditNote, note["lago_id"])
        assert row is not None
        doc = build_credit_note_document(session, row)
        assert (doc.exponent, doc.total_cents) == (3, 1481)
        # Three places on the document: KWD 1.481.
        assert "KWD\xa01.481" in credit_note_pdf.credit_note_html(session, row)
        items = session.scalars(select(CreditNoteItem)).all()
        assert [i.amount_cents for i in items] == [1234]
