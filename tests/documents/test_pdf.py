"""PDFs drawn by WeasyPrint, read back with pypdf: lines, totals, page breaks, page x of n."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import UTC, datetime

from pypdf import PdfReader

from meterly.services.documents import SubscriptionGroup, invoice_document, render
from tests.conftest import ApiClient
from tests.documents.conftest import Scenario, plain

LADDER = [(0, 1000, "0", "0"), (1001, None, "0.01342", "2")]


def pages(data: bytes) -> list[str]:
    assert data.startswith(b"%PDF-")
    return [plain(page.extract_text()) for page in PdfReader(io.BytesIO(data)).pages]


def billed(api: ApiClient, locale: str) -> str:
    api.client.app.state.clock.set(datetime(2026, 11, 20, tzinfo=UTC))
    s = Scenario(api, timezone="Europe/Paris", locale=locale, ladder=LADDER)
    s.setup()
    s.subscribe("sub_a", datetime(2026, 11, 30, 23, tzinfo=UTC))
    s.usage("sub_a", datetime(2026, 12, 10, tzinfo=UTC), 1500, "e1")
    (invoice_id,) = s.bill(datetime(2027, 1, 1, 0, 30, tzinfo=UTC))
    return invoice_id


def test_pdf_lines_and_totals_in_english(api: ApiClient) -> None:
    invoice_id = billed(api, "en")
    with api.database.sessions() as session:  # type: ignore[attr-defined]
        doc = invoice_document(session, invoice_id)
    (text,) = pages(render.invoice_pdf_bytes(doc))
    lines = text.splitlines()
    # Every line of the table comes out whole: name, units, unit price, amount on one row.
    # 1500 units: 1000 free + 500 x 0.01342 + 2.00 = 8.71; per unit 8.71 / 1500 = 0.005807.
    assert "API calls 1,500 €0.005807 €8.71" in lines
    assert "1,001 and above 500 €0.01342 + €2.00 flat fee €8.71" in lines
    assert "Growth 1 €10.00 €10.00" in lines
    # Fees 18.71, VAT 20 % 3.74, total 22.45.
    assert "VAT 20 % on €18.71 €3.74" in lines
    assert "Total due €22.45" in lines
    assert "Dates in Europe/Paris" in lines
    assert any("Dec 1, 2026 – Dec 31, 2026" in line for line in lines)
    assert lines[-1].endswith("Page 1 of 1")


def test_pdf_in_french(api: ApiClient) -> None:
    invoice_id = billed(api, "fr")
    with api.database.sessions() as session:  # type: ignore[attr-defined]
        doc = invoice_document(session, invoice_id)
    (text,) = pages(render.invoice_pdf_bytes(doc))
    lines = text.splitlines()
    assert "API calls 1 500 0,005807 € 8,71 €" in lines
    assert "Net à payer 22,45 €" in lines
    assert lines[-1].endswith("Page 1 sur 1")


def test_long_invoice_breaks_pages_but_keeps_totals_together(api: ApiClient) -> None:
    invoice_id = billed(api, "en")
    with api.database.sessions() as session:  # type: ignore[attr-defined]
        doc = invoice_document(session, invoice_id)
    # The same subscription group 30 times over: a table of 30 x 4 rows spills onto
    # several pages (figures are not re-added: this tests layout, not arithmetic).
    (group,) = doc.groups
    many = tuple(
        SubscriptionGroup(
            external_id=f"{group.external_id}_{i}",
            name=f"Team {i:02d}",
            plan_name=group.plan_name,
            period_from=group.period_from,
            period_to=group.period_to,
            lines=group.lines,
        )
        for i in range(30)
    )
    texts = pages(render.invoice_pdf_bytes(replace(doc, groups=many)))
    count = len(texts)
    assert count >= 3
    for number, text in enumerate(texts, start=1):
        assert text.splitlines()[-1].endswith(f"Page {number} of {count}")
    # The totals box stays on one page: every total is on the page that holds "Total due".
    (last,) = [t for t in texts if "Total due" in t]
    for label in ("Fees €18.71", "Subtotal excl. tax", "VAT 20 % on", "Subtotal incl. tax"):
        assert label in last, label
    # No row is cut across pages: each team's header is on the page of its first line.
    for text in texts:
        rows = text.splitlines()
        for i, row in enumerate(rows):
            if row.startswith("Team ") and "·" in row:
                assert rows[i + 1].startswith("Growth 1 €10.00"), rows[i : i + 2]
