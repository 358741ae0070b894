"""OASIS UBL 2.1 under Peppol BIS Billing 3.0: an Invoice, or a CreditNote."""

from __future__ import annotations

from lxml import etree  # type: ignore[import-untyped]  # no stubs shipped

from meterly.services.documents.einvoice.model import (
    EXEMPTION_REASON,
    UNIT_CODE,
    EInvoice,
    Party,
)

CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
CAC = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
ROOTS = {
    "invoice": "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2",
    "credit_note": "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2",
}
PEPPOL_CUSTOMIZATION = "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0"
PEPPOL_PROFILE = "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"


def _cbc(parent: etree._Element, tag: str, text: str) -> etree._Element:
    child = etree.SubElement(parent, f"{{{CBC}}}{tag}")
    child.text = text
    return child


def _cac(parent: etree._Element, tag: str) -> etree._Element:
    return etree.SubElement(parent, f"{{{CAC}}}{tag}")


def _money(parent: etree._Element, tag: str, doc: EInvoice, cents: int) -> None:
    _cbc(parent, tag, doc.amount(cents)).set("currencyID", doc.currency)


def _vat_scheme(parent: etree._Element) -> None:
    _cbc(_cac(parent, "TaxScheme"), "ID", "VAT")


def _party(parent: etree._Element, tag: str, who: Party) -> None:
    node = _cac(_cac(parent, tag), "Party")
    if who.email:
        # Peppol wants an electronic address; the e-mail one (EAS "EM") is what we know.
        _cbc(node, "EndpointID", who.email).set("schemeID", "EM")
    _cbc(_cac(node, "PartyName"), "Name", who.name)
    address = _cac(node, "PostalAddress")
    if who.address_line1:
        _cbc(address, "StreetName", who.address_line1)
    if who.address_line2:
        _cbc(address, "AdditionalStreetName", who.address_line2)
    if who.city:
        _cbc(address, "CityName", who.city)
    if who.zipcode:
        _cbc(address, "PostalZone", who.zipcode)
    if who.state:
        _cbc(address, "CountrySubentity", who.state)
    _cbc(_cac(address, "Country"), "IdentificationCode", who.country)
    if who.tax_identification_number:
        scheme = _cac(node, "PartyTaxScheme")
        _cbc(scheme, "CompanyID", who.tax_identification_number)
        _vat_scheme(scheme)
    legal = _cac(node, "PartyLegalEntity")
    _cbc(legal, "RegistrationName", who.name)
    if who.legal_number:
        _cbc(legal, "CompanyID", who.legal_number)


def _category(parent: etree._Element, tag: str, category: str, rate: str, *, reason: bool) -> None:
    node = _cac(parent, tag)
    _cbc(node, "ID", category)
    _cbc(node, "Percent", rate)
    if reason and category == "E":
        _cbc(node, "TaxExemptionReason", EXEMPTION_REASON)
    _vat_scheme(node)


def ubl_xml(doc: EInvoice) -> bytes:
    """The UBL 2.1 Invoice or CreditNote of `doc`, Peppol BIS Billing 3.0."""
    kind = "CreditNote" if doc.kind == "credit_note" else "Invoice"
    root = etree.Element(
        f"{{{ROOTS[doc.kind]}}}{kind}", nsmap={None: ROOTS[doc.kind], "cbc": CBC, "cac": CAC}
    )
    _cbc(root, "CustomizationID", PEPPOL_CUSTOMIZATION)
    _cbc(root, "ProfileID", PEPPOL_PROFILE)
    _cbc(root, "ID", doc.number)
    _cbc(root, "IssueDate", doc.issue_date.isoformat())
    if doc.kind == "invoice":
        if doc.due_date:
            _cbc(root, "DueDate", doc.due_date.isoformat())
        _cbc(root, "InvoiceTypeCode", "380")
    else:
        _cbc(root, "CreditNoteTypeCode", "381")
    _cbc(root, "DocumentCurrencyCode", doc.currency)
    _cbc(root, "BuyerReference", doc.buyer.legal_number or doc.buyer.name)
    if doc.preceding_number:
        reference = _cac(_cac(root, "BillingReference"), "InvoiceDocumentReference")
        _cbc(reference, "ID", doc.preceding_number)
    _party(root, "AccountingSupplierParty", doc.seller)
    _party(root, "AccountingCustomerParty", doc.buyer)
    if doc.payment_terms:
        _cbc(_cac(root, "PaymentTerms"), "Note", doc.payment_terms)
    for group in doc.vat_groups:
        if group.allowance_cents == 0:
            continue
        allowance = _cac(root, "AllowanceCharge")
        _cbc(allowance, "ChargeIndicator", "false")
        _cbc(allowance, "AllowanceChargeReason", "Coupons and credits")
        _money(allowance, "Amount", doc, group.allowance_cents)
        _category(allowance, "TaxCategory", group.category, f"{group.rate:f}", reason=False)
    tax_total = _cac(root, "TaxTotal")
    _money(tax_total, "TaxAmount", doc, doc.tax_total_cents)
    for group in doc.vat_groups:
        subtotal = _cac(tax_total, "TaxSubtotal")
        _money(subtotal, "TaxableAmount", doc, group.base_cents)
        _money(subtotal, "TaxAmount", doc, group.tax_cents)
        _category(subtotal, "TaxCategory", group.category, f"{group.rate:f}", reason=True)
    totals = _cac(root, "LegalMonetaryTotal")
    _money(totals, "LineExtensionAmount", doc, doc.line_total_cents)
    _money(totals, "TaxExclusiveAmount", doc, doc.tax_exclusive_cents)
    _money(totals, "TaxInclusiveAmount", doc, doc.tax_inclusive_cents)
    _money(totals, "AllowanceTotalAmount", doc, doc.allowance_total_cents)
    _money(totals, "PrepaidAmount", doc, doc.prepaid_cents)
    _money(totals, "PayableAmount", doc, doc.due_cents)
    for line in doc.lines:
        node = _cac(root, f"{kind}Line")
        _cbc(node, "ID", str(line.number))
        quantity = line.quantity if line.quantity != 0 else 1
        quantity_tag = "CreditedQuantity" if doc.kind == "credit_note" else "InvoicedQuantity"
        _cbc(node, quantity_tag, f"{quantity:f}").set("unitCode", UNIT_CODE)
        _money(node, "LineExtensionAmount", doc, line.net_cents)
        item = _cac(node, "Item")
        _cbc(item, "Name", line.name)
        _category(
            item, "ClassifiedTaxCategory", line.vat_category, f"{line.vat_rate:f}", reason=False
        )
        price = _cac(node, "Price")
        _cbc(price, "PriceAmount", f"{line.unit_price(doc.exponent):f}").set(
            "currencyID", doc.currency
        )
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))
