"""Invoice documents: one model, drawn as PDF (WeasyPrint) and HTML (Jinja2)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from pypdf import PdfReader

from meterly.api.schemas.invoices import document_url, sign
from meterly.config import Settings
from meterly.services.accounts import create_organization
from meterly.services.common import FrozenClock
from meterly.services.documents import InvoiceDocument, invoice_document, render
from meterly.services.documents import invoice_pdf as documents
from meterly.store.engine import create_engine
from meterly.store.schema import upgrade
from meterly.store.tables import Invoice
from meterly.store.uow import Database
from tests.e2e.test_invoices_api import make_invoice

CLOCK = FrozenClock(datetime(2024, 2, 10, tzinfo=UTC))


@pytest.fixture
def database(db_url: str) -> Iterator[Database]:
    db = Database(create_engine(db_url))
    upgrade(db.engine)
    yield db
    db.engine.dispose()


@pytest.fixture
def invoice_id(database: Database) -> str:
    with database.unit_of_work() as session:
        org, _ = create_organization(session, name="Seller Ltd", clock=CLOCK)
        org.profile = {"address_line1": "9 Rue Haute", "city": "Lyon", "email": "ar@seller.test"}
        row = make_invoice(session, org.id, status="finalized", prepaid_cents=300)
        row.number = "SEL-001-001"
        return row.id


def document(database: Database, invoice_id: str) -> InvoiceDocument:
    with database.sessions() as session:
        return invoice_document(session, invoice_id)


def pdf_lines(data: bytes) -> list[str]:
    """The text of every page, line by line, Babel's no-break spaces as plain spaces."""
    assert data.startswith(b"%PDF-")
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)
    return text.replace("\u202f", " ").replace("\xa0", " ").splitlines()


# --- model and documents ----------------------------------------------------------------------


def test_model_holds_every_line(database: Database, invoice_id: str) -> None:
    doc = document(database, invoice_id)
    assert doc.number == "SEL-001-001"
    # Drafts and invoices issued before snapshots existed read the current rows.
    assert (doc.seller.name, doc.seller.city) == ("Seller Ltd", "Lyon")
    assert doc.buyer.name == "Acme Inc"
    (group,) = doc.groups
    assert [line.amount_cents for line in group.lines] == [1000, 1300]
    tiers = group.lines[1].tiers
    assert [t.label for t in tiers] == ["0 – 1,000", "1,001 and above"]
    assert tiers[1].display_unit_price == Decimal("0.002")
    assert tiers[1].flat_amount == Decimal("5.00")
    # VAT 20 % of 23.00 = 4.60; 27.60 - 3.00 prepaid = 24.60 due.
    assert [(t.name, t.base_cents, t.amount_cents) for t in doc.taxes] == [("VAT 20%", 2300, 460)]
    assert [(d.kind, d.amount_cents) for d in doc.deductions] == [("prepaid_credit", 300)]
    assert doc.totals.sub_total_including_taxes_cents == 2760
    assert doc.totals.due_cents == 2460
    assert group.period_from == date(2024, 1, 1)


def test_pdf_shows_number_fees_tiers_taxes_and_totals(database: Database, invoice_id: str) -> None:
    text = "\n".join(pdf_lines(render.invoice_pdf_bytes(document(database, invoice_id))))
    for expected in (
        "Number SEL-001-001",
        "Seller Ltd",
        "Acme Inc",
        "Feb 1, 2024",
        "Mar 2, 2024",
        "API calls 5,000 $0.0026 $13.00",
        "0 – 1,000 1,000 $0.00 $0.00",
        "1,001 and above 4,000 $0.002 + $5.00 flat fee $13.00",
        "VAT 20% 20 % on $23.00 $4.60",
        "Prepaid credits Main wallet -$3.00",
        "Subtotal incl. tax $27.60",
        "Total due $24.60",
    ):
        assert expected in text, expected


def test_unicode_names_print_as_they_are(database: Database, invoice_id: str) -> None:
    doc = document(database, invoice_id)
    buyer = replace(doc.buyer, name="Zoë – Ünïcode ✓")
    text = "\n".join(pdf_lines(render.invoice_pdf_bytes(replace(doc, buyer=buyer))))
    assert "Zoë – Ünïcode ✓" in text


def test_html_uses_the_same_model(database: Database, invoice_id: str) -> None:
    doc = document(database, invoice_id)
    html = render.invoice_html(replace(doc, buyer=replace(doc.buyer, name="<script>Zoë</script>")))
    assert "&lt;script&gt;Zoë&lt;/script&gt;" in html
    for line in doc.all_lines:
        assert line.name in html
    assert "1,001 and above" in html and "$13.00" in html
    assert "VAT 20% 20 % on $23.00" in html
    assert "$24.60" in html


def test_generate_pdf_stores_the_file(database: Database, invoice_id: str, tmp_path: Path) -> None:
    with database.unit_of_work() as session:
        row = session.get(Invoice, invoice_id)
        assert row is not None
        path = documents.generate_pdf(session, invoice=row, clock=CLOCK, directory=tmp_path)
        assert row.file_path == documents.pdf_relative_path(row)
    assert path == tmp_path / documents.pdf_relative_path(row)
    assert path.read_bytes().startswith(b"%PDF")
    assert documents.stored_pdf(row, tmp_path) == path
    assert list(tmp_path.rglob("*.tmp")) == []


def test_files_dir_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("METERLY_FILES_DIR", "/srv/meterly/files")
    assert documents.files_dir() == Path("/srv/meterly/files")
    monkeypatch.delenv("METERLY_FILES_DIR")
    assert documents.files_dir() == Path("var/files")


def test_links_are_signed_per_invoice() -> None:
    settings = Settings(public_url="https://billing.example/", secret_key="s3cret")
    url = document_url(settings, "inv-1", "pdf")
    token = sign(settings, "inv-1")
    assert url == f"https://billing.example/api/v1/files/invoices/inv-1.pdf?token={token}"
    assert sign(settings, "inv-1") != sign(settings, "inv-2")
    other = Settings(public_url="https://billing.example/", secret_key="other")
    assert sign(settings, "inv-1") != sign(other, "inv-1")
