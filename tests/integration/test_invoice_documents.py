"""Invoice documents: one context, drawn as PDF (fpdf2) and HTML (Jinja2)."""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from meterly.api.routes.files import render_html
from meterly.api.schemas.invoices import document_url, sign
from meterly.config import Settings
from meterly.services.accounts import create_organization
from meterly.services.common import FrozenClock
from meterly.services.documents import format_major, format_money, latin1, render_pdf
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


def context(database: Database, invoice_id: str) -> dict[str, object]:
    with database.sessions() as session:
        row = session.get(Invoice, invoice_id)
        assert row is not None
        return documents.invoice_context(session, row)


def pdf_text(data: bytes) -> str:
    """The text operators of an uncompressed PDF (fpdf2 writes core-font text as literals)."""
    return data.decode("latin-1")


# --- formatting -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cents", "code", "text"),
    [
        (123456, "USD", "1,234.56 USD"),
        (5, "EUR", "0.05 EUR"),
        (1000, "JPY", "1,000 JPY"),
        (1234, "KWD", "1.234 KWD"),
        (0, "KWD", "0.000 KWD"),
        (-250, "USD", "-2.50 USD"),
    ],
)
def test_money_uses_the_currency_exponent(cents: int, code: str, text: str) -> None:
    assert format_money(cents, code) == text


def test_unit_prices_keep_their_precision() -> None:
    assert format_major("0.002", "USD", precise=True) == "0.002 USD"
    assert format_major("5", "USD", precise=True) == "5.00 USD"
    assert format_major("0.5", "JPY", precise=True) == "0.5 JPY"
    assert format_major("0.005", "USD") == "0.01 USD"


def test_latin1_keeps_what_fits_and_replaces_the_rest() -> None:
    assert latin1("Zoë – Ünïcode ✓") == "Zoë - Ünïcode v"
    assert latin1("東京") == "??"
    assert latin1("Ŝ") == "S"
    latin1("€ “quoted” … ☃").encode("latin-1")


# --- context and documents --------------------------------------------------------------------


def test_context_holds_every_line(database: Database, invoice_id: str) -> None:
    ctx = context(database, invoice_id)
    assert ctx["invoice"]["number"] == "SEL-001-001"  # type: ignore[index]
    assert ctx["seller"]["name"] == "Seller Ltd"  # type: ignore[index]
    assert "Lyon" in ctx["seller"]["lines"]  # type: ignore[index]
    assert ctx["customer"]["name"] == "Acme Inc"  # type: ignore[index]
    fees = ctx["fees"]
    assert [f["amount"] for f in fees] == ["10.00 USD", "13.00 USD"]  # type: ignore[attr-defined]
    tiers = fees[1]["tiers"]  # type: ignore[index]
    assert [t["label"] for t in tiers] == ["0 – 1,000", "1,001 and above"]
    assert tiers[1]["unit_price"] == "0.002 USD"
    assert tiers[1]["flat_amount"] == "5.00 USD"
    assert ctx["taxes"] == [{"label": "VAT 20% (20 % on 23.00 USD)", "amount": "4.60 USD"}]
    assert ctx["prepaid"] == [{"label": "Main wallet", "amount": "-3.00 USD"}]
    totals = {t["label"]: t["amount"] for t in ctx["totals"]}  # type: ignore[attr-defined]
    assert totals["Subtotal (excl. tax)"] == "23.00 USD"
    assert totals["Subtotal (incl. tax)"] == "27.60 USD"
    assert totals["Prepaid credits"] == "-3.00 USD"
    assert ctx["total_due"] == "24.60 USD"
    assert ctx["periods"][0]["from"] == "2024-01-01"  # type: ignore[index]


def test_pdf_shows_number_fees_tiers_taxes_and_totals(database: Database, invoice_id: str) -> None:
    data = render_pdf(context(database, invoice_id), compress=False)
    assert data.startswith(b"%PDF-")
    text = pdf_text(data)
    for expected in (
        "Invoice SEL-001-001",
        "Seller Ltd",
        "Acme Inc",
        "2024-02-01",
        "2024-03-02",
        "API calls",
        "0 - 1,000",
        "1,001 and above",
        "0.002 USD + 5.00 USD flat",
        "VAT 20% \\(20 % on 23.00 USD\\)",
        "4.60 USD",
        "Main wallet",
        "27.60 USD",
        "24.60 USD",
    ):
        assert expected in text, expected


def test_compressed_pdf_is_smaller_and_still_a_pdf(database: Database, invoice_id: str) -> None:
    ctx = context(database, invoice_id)
    plain, packed = render_pdf(ctx, compress=False), render_pdf(ctx)
    assert packed.startswith(b"%PDF-") and len(packed) < len(plain)
    assert zlib  # compression is fpdf2's FlateDecode


def test_unicode_names_never_crash_the_pdf(database: Database, invoice_id: str) -> None:
    ctx = context(database, invoice_id)
    ctx["customer"]["name"] = "Zoë – Ünïcode ✓ 東京"  # type: ignore[index]
    text = pdf_text(render_pdf(ctx, compress=False))
    assert "Zo\xeb - \xdcn\xefcode v ??" in text


def test_html_uses_the_same_context(database: Database, invoice_id: str) -> None:
    ctx = context(database, invoice_id)
    ctx["customer"]["name"] = "<script>Zoë</script>"  # type: ignore[index]
    html = render_html(ctx)
    assert "&lt;script&gt;Zoë&lt;/script&gt;" in html
    for fee in ctx["fees"]:  # type: ignore[attr-defined]
        assert fee["name"] in html
        for tier in fee["tiers"]:
            assert tier["label"] in html and tier["amount"] in html
    assert "VAT 20% (20 % on 23.00 USD)" in html
    assert "24.60 USD" in html


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
