"""UN/CEFACT Cross Industry Invoice (CII D16B) for Factur-X / ZUGFeRD (EN 16931) and XRechnung.

One writer, three guidelines: Factur-X and ZUGFeRD 2.x share the EN 16931 profile's
guideline identifier; XRechnung is the same syntax under the German CIUS identifier.
"""

from __future__ import annotations

from lxml import etree  # type: ignore[import-untyped]  # no stubs shipped

from meterly.services.documents.einvoice.model import (
    EXEMPTION_REASON,
    UNIT_CODE,
    EInvoice,
    Party,
    VatGroup,
)

RSM = "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100"
RAM = "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"
UDT = "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100"
QDT = "urn:un:unece:uncefact:data:standard:QualifiedDataType:100"
NSMAP = {"rsm": RSM, "ram": RAM, "udt": UDT, "qdt": QDT}

EN16931 = "urn:cen.eu:en16931:2017"
XRECHNUNG = "urn:cen.eu:en16931:2017#compliant#urn:xeinkauf.de:kosit:xrechnung_3.0"
# UNTDID 1001: 380 commercial invoice, 381 credit note.
TYPE_CODES = {"invoice": "380", "credit_note": "381"}


def _el(parent: etree._Element, ns: str, tag: str, text: str | None = None) -> etree._Element:
    child = etree.SubElement(parent, f"{{{ns}}}{tag}")
    if text is not None:
        child.text = text
    return child


def _ram(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    return _el(parent, RAM, tag, text)


def _date(parent: etree._Element, tag: str, value: str, ns: str = RAM) -> None:
    holder = _el(parent, ns, tag)
    when = _el(holder, UDT, "DateTimeString", value)
    when.set("format", "102")  # YYYYMMDD


def _party(parent: etree._Element, tag: str, who: Party) -> None:
    node = _ram(parent, tag)
    _ram(node, "Name", who.name)
    if who.legal_number:
        legal = _ram(node, "SpecifiedLegalOrganization")
        _ram(legal, "ID", who.legal_number)
    address = _ram(node, "PostalTradeAddress")
    if who.zipcode:
        _ram(address, "PostcodeCode", who.zipcode)
    if who.address_line1:
        _ram(address, "LineOne", who.address_line1)
    if who.address_line2:
        _ram(address, "LineTwo", who.address_line2)
    if who.city:
        _ram(address, "CityName", who.city)
    _ram(address, "CountryID", who.country)
    if who.state:
        _ram(address, "CountrySubDivisionName", who.state)
    if who.email:
        contact = _ram(node, "URIUniversalCommunication")
        _ram(contact, "URIID", who.email).set("schemeID", "EM")
    if who.tax_identification_number:
        tax = _ram(node, "SpecifiedTaxRegistration")
        _ram(tax, "ID", who.tax_identification_number).set("schemeID", "VA")


def _tax(parent: etree._Element, doc: EInvoice, group: VatGroup, *, totals: bool) -> None:
    tax = _ram(parent, "ApplicableTradeTax")
    if totals:
        _ram(tax, "CalculatedAmount", doc.amount(group.tax_cents))
    _ram(tax, "TypeCode", "VAT")
    if totals and group.category == "E":
        _ram(tax, "ExemptionReason", EXEMPTION_REASON)
    if totals:
        _ram(tax, "BasisAmount", doc.amount(group.base_cents))
    _ram(tax, "CategoryCode", group.category)
    _ram(tax, "RateApplicablePercent", f"{group.rate:f}")


def cii_xml(doc: EInvoice, *, guideline: str = EN16931) -> bytes:
    """The CII document of `doc` under `guideline` (EN16931 or XRECHNUNG)."""
    root = etree.Element(f"{{{RSM}}}CrossIndustryInvoice", nsmap=NSMAP)
    context = _el(root, RSM, "ExchangedDocumentContext")
    if guideline == XRECHNUNG:
        # XRechnung 3.0 wants the business process (BT-23) of Peppol billing.
        process = _ram(context, "BusinessProcessSpecifiedDocumentContextParameter")
        _ram(process, "ID", "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0")
    guide = _ram(context, "GuidelineSpecifiedDocumentContextParameter")
    _ram(guide, "ID", guideline)

    header = _el(root, RSM, "ExchangedDocument")
    _ram(header, "ID", doc.number)
    _ram(header, "TypeCode", TYPE_CODES[doc.kind])
    _date(header, "IssueDateTime", doc.issue_date.strftime("%Y%m%d"))

    transaction = _el(root, RSM, "SupplyChainTradeTransaction")
    groups = {(g.category, g.rate): g for g in doc.vat_groups}
    for line in doc.lines:
        item = _ram(transaction, "IncludedSupplyChainTradeLineItem")
        _ram(_ram(item, "AssociatedDocumentLineDocument"), "LineID", str(line.number))
        _ram(_ram(item, "SpecifiedTradeProduct"), "Name", line.name)
        agreement = _ram(item, "SpecifiedLineTradeAgreement")
        price = _ram(agreement, "NetPriceProductTradePrice")
        _ram(price, "ChargeAmount", f"{line.unit_price(doc.exponent):f}")
        quantity = line.quantity if line.quantity != 0 else 1
        delivery = _ram(item, "SpecifiedLineTradeDelivery")
        _ram(delivery, "BilledQuantity", f"{quantity:f}").set("unitCode", UNIT_CODE)
        settlement = _ram(item, "SpecifiedLineTradeSettlement")
        _tax(settlement, doc, groups[(line.vat_category, line.vat_rate)], totals=False)
        summation = _ram(settlement, "SpecifiedTradeSettlementLineMonetarySummation")
        _ram(summation, "LineTotalAmount", doc.amount(line.net_cents))

    agreement = _ram(transaction, "ApplicableHeaderTradeAgreement")
    if guideline == XRECHNUNG:
        _ram(agreement, "BuyerReference", doc.buyer.legal_number or doc.buyer.name)
    _party(agreement, "SellerTradeParty", doc.seller)
    _party(agreement, "BuyerTradeParty", doc.buyer)
    _ram(transaction, "ApplicableHeaderTradeDelivery")

    settlement = _ram(transaction, "ApplicableHeaderTradeSettlement")
    _ram(settlement, "InvoiceCurrencyCode", doc.currency)
    for group in doc.vat_groups:
        _tax(settlement, doc, group, totals=True)
    for group in doc.vat_groups:
        if group.allowance_cents == 0:
            continue
        allowance = _ram(settlement, "SpecifiedTradeAllowanceCharge")
        indicator = _ram(allowance, "ChargeIndicator")
        _el(indicator, UDT, "Indicator", "false")
        _ram(allowance, "ActualAmount", doc.amount(group.allowance_cents))
        _ram(allowance, "Reason", "Coupons and credits")
        category = _ram(allowance, "CategoryTradeTax")
        _ram(category, "TypeCode", "VAT")
        _ram(category, "CategoryCode", group.category)
        _ram(category, "RateApplicablePercent", f"{group.rate:f}")
    if doc.payment_terms or doc.due_date:
        terms = _ram(settlement, "SpecifiedTradePaymentTerms")
        if doc.payment_terms:
            _ram(terms, "Description", doc.payment_terms)
        if doc.due_date:
            _date(terms, "DueDateDateTime", doc.due_date.strftime("%Y%m%d"))
    sums = _ram(settlement, "SpecifiedTradeSettlementHeaderMonetarySummation")
    _ram(sums, "LineTotalAmount", doc.amount(doc.line_total_cents))
    _ram(sums, "AllowanceTotalAmount", doc.amount(doc.allowance_total_cents))
    _ram(sums, "TaxBasisTotalAmount", doc.amount(doc.tax_exclusive_cents))
    _ram(sums, "TaxTotalAmount", doc.amount(doc.tax_total_cents)).set("currencyID", doc.currency)
    _ram(sums, "GrandTotalAmount", doc.amount(doc.tax_inclusive_cents))
    _ram(sums, "TotalPrepaidAmount", doc.amount(doc.prepaid_cents))
    _ram(sums, "DuePayableAmount", doc.amount(doc.due_cents))
    if doc.preceding_number:
        reference = _ram(settlement, "InvoiceReferencedDocument")
        _ram(reference, "IssuerAssignedID", doc.preceding_number)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))
