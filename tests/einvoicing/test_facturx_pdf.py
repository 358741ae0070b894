"""The served PDF is a Factur-X / ZUGFeRD PDF/A-3 when the seller e-invoices, on SQLite and
PostgreSQL: downloaded through the API, its embedded CII XML is extracted with `factur-x`,
checked against the official EN 16931 XSD, and states the invoice's sums; pypdf finds the
PDF/A-3 markers (XMP `pdfaid`, the sRGB output intent, the `/AF` association).

The invoice is the one of tests/einvoicing/test_einvoicing_api.py (January 2024, 10.00 EUR
plan + 25 calls at 0.10, a 2.00 coupon, VAT 20 %, 3 free credits): sums worked there.
"""

from __future__ import annotations

import io
from typing import Any

import facturx
import pytest
from lxml import etree
from pypdf import PdfReader

from tests.einvoicing.test_einvoicing_api import (
    EXPECTED,
    RAM,
    billed_invoice,
    cii_sums,
    ok,
    seller,
    text,
)


@pytest.fixture(autouse=True)
def _files_dir(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("METERLY_FILES_DIR", str(tmp_path / "files"))


def served_pdf(api: Any, kind: str, lago_id: str) -> bytes:
    """POST .../download, then GET the signed `file_url`, as a customer's browser would."""
    envelope = "invoice" if kind == "invoices" else "credit_note"
    body = ok(api.post(f"{kind}/{lago_id}/download"))[envelope]
    url = body["file_url"]
    assert url, body
    response = api.client.get("/api/v1/" + url.split("/api/v1/", 1)[1])
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    content: bytes = response.content
    return content


def catalog(pdf: bytes) -> Any:
    return PdfReader(io.BytesIO(pdf)).trailer["/Root"]


def xmp(pdf: bytes) -> bytes:
    data: bytes = catalog(pdf)["/Metadata"].get_object().get_data()
    return data


def assert_pdf_a3_with_facturx(pdf: bytes) -> None:
    root = catalog(pdf)
    metadata = etree.fromstring(xmp(pdf))
    ns = {
        "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
        "pdfaid": "http://www.aiim.org/pdfa/ns/id/",
        "fx": "urn:factur-x:pdfa:CrossIndustryDocument:invoice:1p0#",
    }
    # PDF/A-3, conformance B, in the XMP identification schema.
    assert metadata.xpath("string(//@pdfaid:part | //pdfaid:part)", namespaces=ns) == "3"
    conformance = "string(//@pdfaid:conformance | //pdfaid:conformance)"
    assert metadata.xpath(conformance, namespaces=ns) == "B"
    # The Factur-X extension schema names the file and the EN 16931 profile.
    assert metadata.xpath("string(//fx:DocumentFileName)", namespaces=ns) == "factur-x.xml"
    assert metadata.xpath("string(//fx:ConformanceLevel)", namespaces=ns) == "EN 16931"
    # An output intent for PDF/A with its ICC profile (WeasyPrint's sRGB).
    (intent,) = [i.get_object() for i in root["/OutputIntents"]]
    assert intent["/S"] == "/GTS_PDFA1"
    assert "/DestOutputProfile" in intent
    # The XML is associated with the document (PDF/A-3 `/AF`) as its data.
    (spec,) = [s.get_object() for s in root["/AF"]]
    assert spec["/F"] == "factur-x.xml"
    assert spec["/AFRelationship"] == "/Data"


def test_invoice_pdf_is_factur_x_with_the_invoice_xml(api: Any) -> None:
    seller(api, "FR")
    invoice = billed_invoice(api)
    pdf = served_pdf(api, "invoices", invoice["lago_id"])
    assert_pdf_a3_with_facturx(pdf)
    filename, xml = facturx.get_xml_from_pdf(pdf, check_xsd=False)
    assert filename == "factur-x.xml"
    assert facturx.xml_check_xsd(xml, flavor="factur-x", level="en16931")
    root = etree.fromstring(xml)
    assert text(root, f".//{RAM}GuidelineSpecifiedDocumentContextParameter/{RAM}ID") == (
        "urn:cen.eu:en16931:2017"
    )
    assert text(root, f".//{{*}}ExchangedDocument/{RAM}ID") == invoice["number"]
    assert cii_sums(xml) == EXPECTED
    # The readable side prints the same total due: 9.60 EUR (English, the default).
    page_text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf)).pages)
    assert invoice["number"] in page_text and "€9.60" in page_text


def test_german_seller_embeds_the_en16931_profile_too(api: Any) -> None:
    """download_xml answers XRechnung for a German seller; the PDF carries ZUGFeRD's
    EN 16931 profile, the same XML as Factur-X's."""
    seller(api, "DE")
    invoice = billed_invoice(api)
    pdf = served_pdf(api, "invoices", invoice["lago_id"])
    assert_pdf_a3_with_facturx(pdf)
    _, xml = facturx.get_xml_from_pdf(pdf, check_xsd=True)
    guideline = f".//{RAM}GuidelineSpecifiedDocumentContextParameter/{RAM}ID"
    assert text(etree.fromstring(xml), guideline) == "urn:cen.eu:en16931:2017"
    assert cii_sums(xml) == EXPECTED


def test_credit_note_pdf_carries_its_own_xml(api: Any) -> None:
    seller(api, "FR")
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
    pdf = served_pdf(api, "credit_notes", note["lago_id"])
    assert_pdf_a3_with_facturx(pdf)
    _, xml = facturx.get_xml_from_pdf(pdf, check_xsd=True)
    root = etree.fromstring(xml)
    assert text(root, f".//{{*}}ExchangedDocument/{RAM}TypeCode") == "381"  # credit note
    # 500 of the fee less its 80 share of the coupon = 420; VAT 20 % = 84; 504 in all.
    sums = cii_sums(xml)
    assert (sums["tax_basis"], sums["tax"], sums["grand"]) == ("4.20", "0.84", "5.04")


def test_without_einvoicing_the_pdf_is_a_plain_pdf(api: Any) -> None:
    seller(api, "FR", einvoicing=False)
    invoice = billed_invoice(api)
    pdf = served_pdf(api, "invoices", invoice["lago_id"])
    root = catalog(pdf)
    assert "/AF" not in root and "/Names" not in root
    assert "/OutputIntents" not in root  # not rendered as PDF/A either
    # The library answers (False, False) when a PDF carries no e-invoice.
    assert facturx.get_xml_from_pdf(pdf, check_xsd=False) == (False, False)


def test_a_billing_entity_switches_einvoicing_for_its_own_invoices(api: Any) -> None:
    """The organization does not e-invoice; its entity `fr` does: the entity's customer
    gets a Factur-X PDF naming the entity as seller, the organization's own do not."""
    seller(api, "FR", einvoicing=False)
    entity = {
        "code": "fr",
        "name": "Meterly France SAS",
        "country": "FR",
        "address_line1": "3 quai d'Orsay",
        "city": "Paris",
        "zipcode": "75007",
        "tax_identification_number": "FR99123456789",
        "einvoicing": True,
    }
    created = ok(api.post("billing_entities", {"billing_entity": entity}))["billing_entity"]
    assert created["einvoicing"] is True
    shown = ok(api.get("billing_entities/default"))["billing_entity"]
    assert shown["einvoicing"] is False
    # The customer belongs to the entity before billing (its upsert below keeps the code).
    customer = {"external_id": "acme", "name": "ACME SARL", "billing_entity_code": "fr"}
    ok(api.post("customers", {"customer": customer}))
    invoice = billed_invoice(api)
    assert invoice["billing_entity_code"] == "fr"
    assert invoice["xml_url"] is not None
    pdf = served_pdf(api, "invoices", invoice["lago_id"])
    assert_pdf_a3_with_facturx(pdf)
    _, xml = facturx.get_xml_from_pdf(pdf, check_xsd=True)
    seller_name = f".//{RAM}SellerTradeParty/{RAM}Name"
    assert text(etree.fromstring(xml), seller_name) == "Meterly France SAS"
    assert cii_sums(xml) == EXPECTED
