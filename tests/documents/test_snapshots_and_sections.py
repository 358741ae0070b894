"""Issued documents keep their seller, buyer and custom sections; the sections API.

An invoice's parties and sections are frozen when it is finalized: changing the
organization's address or a section afterwards changes only later invoices. Runs on
SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from meterly.services.documents import credit_note_document, invoice_document, render
from meterly.store.tables import Fee
from tests.conftest import ApiClient
from tests.documents.conftest import Scenario, ok, plain

JAN = datetime(2026, 1, 1, tzinfo=UTC)
FEB = datetime(2026, 2, 1, 0, 30, tzinfo=UTC)
MAR = datetime(2026, 3, 1, 0, 30, tzinfo=UTC)


def section(code: str, **extra: Any) -> dict[str, Any]:
    return {
        "invoice_custom_section": {
            "code": code,
            "name": f"Section {code}",
            "display_name": f"{code.upper()}:",
            "details": f"details of {code}",
            **extra,
        }
    }


def test_custom_sections_crud_and_errors(api: ApiClient) -> None:
    created = ok(api.post("invoice_custom_sections", section("bank", description="internal")))
    body = created["invoice_custom_section"]
    assert (body["code"], body["name"], body["display_name"]) == ("bank", "Section bank", "BANK:")
    assert (body["details"], body["description"]) == ("details of bank", "internal")
    assert body["applied_to_organization"] is False and body["lago_id"]
    ok(api.post("invoice_custom_sections", section("legal", applied_to_organization=True)))

    listed = ok(api.get("invoice_custom_sections"))
    assert {s["code"] for s in listed["invoice_custom_sections"]} == {"bank", "legal"}
    assert listed["meta"]["total_count"] == 2
    shown = ok(api.get("invoice_custom_sections/legal"))["invoice_custom_section"]
    assert shown["applied_to_organization"] is True

    update = {"invoice_custom_section": {"details": "IBAN FR76 0000", "display_name": None}}
    updated = ok(api.put("invoice_custom_sections/bank", update))["invoice_custom_section"]
    assert (updated["details"], updated["display_name"], updated["name"]) == (
        "IBAN FR76 0000",
        None,
        "Section bank",
    )

    # Bad input answers Lago's errors and changes nothing.
    missing: Any = api.post("invoice_custom_sections", {"invoice_custom_section": {"code": "x"}})
    assert missing.status_code == 422
    assert missing.json()["error_details"] == {"name": ["value_is_mandatory"]}
    taken: Any = api.post("invoice_custom_sections", section("bank"))
    assert taken.status_code == 422
    assert taken.json()["error_details"] == {"code": ["value_already_exist"]}
    unknown: Any = api.get("invoice_custom_sections/nope")
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "invoice_custom_section_not_found"
    assert ok(api.get("invoice_custom_sections"))["meta"]["total_count"] == 2

    deleted = ok(api.delete("invoice_custom_sections/bank"))["invoice_custom_section"]
    assert deleted["code"] == "bank"
    gone: Any = api.get("invoice_custom_sections/bank")
    assert gone.status_code == 404


def test_customer_selection_of_sections(api: ApiClient) -> None:
    ok(api.post("invoice_custom_sections", section("legal", applied_to_organization=True)))
    ok(api.post("invoice_custom_sections", section("bank")))
    customer = {"external_id": "c1", "name": "C1"}
    body = ok(api.post("customers", {"customer": customer}))["customer"]
    # No choice of its own: the organization's default.
    assert [s["code"] for s in body["applicable_invoice_custom_sections"]] == ["legal"]
    chosen = {**customer, "invoice_custom_section_codes": ["bank"]}
    body = ok(api.post("customers", {"customer": chosen}))["customer"]
    assert [s["code"] for s in body["applicable_invoice_custom_sections"]] == ["bank"]
    skipped = {**customer, "skip_invoice_custom_sections": True}
    body = ok(api.post("customers", {"customer": skipped}))["customer"]
    assert body["skip_invoice_custom_sections"] is True
    assert body["applicable_invoice_custom_sections"] == []
    unknown: Any = api.post(
        "customers", {"customer": {**customer, "invoice_custom_section_codes": ["nope"]}}
    )
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "invoice_custom_section_not_found"


def test_issued_invoice_keeps_its_seller_buyer_and_sections(api: ApiClient) -> None:
    api.client.app.state.clock.set(datetime(2025, 12, 20, tzinfo=UTC))
    address = {"address_line1": "1 Old Street", "city": "Lyon", "legal_name": "Acme SAS"}
    ok(api.put("organizations", {"organization": address}))
    ok(api.post("invoice_custom_sections", section("bank", applied_to_organization=True)))
    s = Scenario(api, customer={"address_line1": "5 Buyer Road", "city": "Nantes"})
    s.setup()
    s.subscribe("sub_a", JAN)
    (first,) = s.bill(FEB)

    # After issue: the seller moves, the buyer moves, the section changes.
    ok(api.put("organizations", {"organization": {"address_line1": "2 New Avenue"}}))
    moved = {"external_id": "cust", "address_line1": "9 Elsewhere"}
    ok(api.post("customers", {"customer": moved}))
    new_details = {"invoice_custom_section": {"details": "IBAN changed"}}
    ok(api.put("invoice_custom_sections/bank", new_details))
    (second,) = s.bill(MAR)

    with api.database.sessions() as session:  # type: ignore[attr-defined]
        old = invoice_document(session, first)
        new = invoice_document(session, second)
    assert old.seller.address_line1 == "1 Old Street" and old.seller.legal_name == "Acme SAS"
    assert old.buyer.address_line1 == "5 Buyer Road"
    assert [(c.display_name, c.details) for c in old.custom_sections] == [
        ("BANK:", "details of bank")
    ]
    assert new.seller.address_line1 == "2 New Avenue"
    assert new.buyer.address_line1 == "9 Elsewhere"
    assert [c.details for c in new.custom_sections] == ["IBAN changed"]
    html = render.invoice_html(old)
    assert "1 Old Street" in html and "2 New Avenue" not in html
    assert "details of bank" in html and "IBAN changed" not in html


def test_one_run_gives_each_customer_its_own_sections(api: ApiClient) -> None:
    """One billing batch reads the organization's sections once: a customer with its own
    choice, one with none (the defaults) and one that skips them still differ."""
    api.client.app.state.clock.set(datetime(2025, 12, 20, tzinfo=UTC))
    ok(api.post("invoice_custom_sections", section("legal", applied_to_organization=True)))
    ok(api.post("invoice_custom_sections", section("bank")))
    s = Scenario(api)
    s.setup()
    customers = {
        "chooser": {"invoice_custom_section_codes": ["bank"]},
        "default": {},
        "skipper": {"skip_invoice_custom_sections": True},
    }
    for external_id, extra in customers.items():
        body = {"external_id": external_id, "name": external_id, "currency": "EUR", **extra}
        ok(api.post("customers", {"customer": body}))
        sub = {
            "external_customer_id": external_id,
            "plan_code": "growth",
            "external_id": f"sub_{external_id}",
            "billing_time": "calendar",
            "subscription_at": JAN.isoformat(),
        }
        ok(api.post("subscriptions", {"subscription": sub}))
    invoices = s.bill(FEB)

    sections: dict[str, list[str]] = {}
    with api.database.sessions() as session:  # type: ignore[attr-defined]
        for invoice_id in invoices:
            document = invoice_document(session, invoice_id)
            sections[document.buyer.external_id] = [
                c.display_name for c in document.custom_sections
            ]
    assert sections == {"chooser": ["BANK:"], "default": ["LEGAL:"], "skipper": []}


def test_german_credit_note_document(api: ApiClient) -> None:
    api.client.app.state.clock.set(datetime(2025, 12, 20, tzinfo=UTC))
    s = Scenario(api, locale="de")
    s.setup()
    s.subscribe("sub_a", JAN)
    (invoice_id,) = s.bill(FEB)
    with api.database.sessions() as session:  # type: ignore[attr-defined]
        fee = session.query(Fee).filter(Fee.invoice_id == invoice_id).one()
        fee_id = fee.id
    api.client.app.state.clock.set(datetime(2026, 2, 3, tzinfo=UTC))
    note = {
        "invoice_id": invoice_id,
        "reason": "duplicated_charge",
        "credit_amount_cents": 600,
        "refund_amount_cents": 0,
        "items": [{"fee_id": fee_id, "amount_cents": 500}],
    }
    note_id = ok(api.post("credit_notes", {"credit_note": note}))["credit_note"]["lago_id"]
    with api.database.sessions() as session:  # type: ignore[attr-defined]
        doc = credit_note_document(session, note_id)
    # 5.00 of the 10.00 plan fee, VAT 20 % = 1.00, total 6.00, all credited.
    assert (doc.locale, doc.sub_total_excluding_taxes_cents, doc.taxes_cents) == ("de", 500, 100)
    assert (doc.total_cents, doc.credit_cents, doc.refund_cents) == (600, 600, 0)
    assert [(line.name, line.amount_cents) for line in doc.lines] == [("Growth", 500)]
    html = plain(render.credit_note_html(doc))
    for text in ("Gutschrift", "Doppelte Belastung", "6,00 €", "1,00 €", "Zur Rechnung"):
        assert text in html, text
