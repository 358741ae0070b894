"""Documents drawn from the document model: HTML (Jinja2) and PDF (WeasyPrint).

WeasyPrint lays out the same HTML/CSS the browser shows, with real fonts (every
language's letters, the euro sign), tables whose rows never split, boxes kept together
across page breaks (`break-inside: avoid`) and CSS paged media for "page x of n".
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup
from weasyprint import HTML, URLFetcher

from meterly.services.documents.i18n import Formatter, label
from meterly.services.documents.model import CreditNoteDocument, InvoiceDocument

TEMPLATES_DIR = Path(__file__).parent / "templates"
_CSS = (TEMPLATES_DIR / "document.css").read_text(encoding="utf-8")

_environment = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
    autoescape=jinja2.select_autoescape(["html"]),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def _css_string(value: object) -> Markup:
    """A CSS string literal: quotes, backslashes, newlines and `<` escaped the CSS way."""
    escaped = (
        str(value)
        .replace("\\", "\\\\")
        .replace('"', '\\"')
        .replace("\n", "\\a ")
        .replace("<", "\\3c ")
    )
    return Markup(f'"{escaped}"')  # escaped above


_environment.filters["css_string"] = _css_string


def _page_of(locale: str) -> Markup:
    """`Page {page} of {pages}` in the document's language, as CSS counters."""
    text = label("page_of", locale)
    parts: list[str] = []
    for piece in re.split(r"(\{page\}|\{pages\})", text):
        if piece == "{page}":
            parts.append("counter(page)")
        elif piece == "{pages}":
            parts.append("counter(pages)")
        elif piece:
            parts.append(str(_css_string(piece)))
    return Markup(" ".join(parts))  # quoted literals and counters only


def _common(locale: str, currency: str, exponent: int) -> dict[str, Any]:
    return {
        "f": Formatter(locale, currency, exponent),
        "css": Markup(_CSS),  # our own stylesheet
        "page_of_css": _page_of(locale),
    }


def invoice_html(doc: InvoiceDocument) -> str:
    # The tax column only when lines carry different rates: otherwise the totals say it.
    rates = {line.taxes_rate for line in doc.all_lines}
    show_tax_rate = len(rates) > 1
    return _environment.get_template("invoice.html").render(
        doc=doc,
        show_tax_rate=show_tax_rate,
        columns=5 if show_tax_rate else 4,
        **_common(doc.locale, doc.currency, doc.exponent),
    )


def credit_note_html(doc: CreditNoteDocument) -> str:
    reasons = {f"reason_{r}" for r in _REASONS}
    return _environment.get_template("credit_note.html").render(
        doc=doc, reasons=reasons, **_common(doc.locale, doc.currency, doc.exponent)
    )


_REASONS = (
    "duplicated_charge",
    "product_unsatisfactory",
    "order_change",
    "order_cancellation",
    "fraudulent_charge",
    "other",
)


# Only inline images (data:) and web addresses: a logo URL never reads a file of this
# server (no file:, no ftp:), and a slow host cannot hold a rendering for long.
_FETCHER = URLFetcher(timeout=5, allowed_protocols=("data", "http", "https"))


# PDF/A-3b: the archival PDF that may carry attachments (Factur-X embeds its XML in one).
PDF_A3 = "pdf/a-3b"


def html_to_pdf(html: str, *, variant: str | None = None) -> bytes:
    """`variant`: WeasyPrint's PDF variant, e.g. `PDF_A3` (fonts embedded, an sRGB output
    intent, PDF/A identification in the XMP metadata)."""
    document = HTML(string=html, url_fetcher=_FETCHER)
    if variant is None:
        return bytes(document.write_pdf())
    return bytes(document.write_pdf(pdf_variant=variant))


def invoice_pdf_bytes(doc: InvoiceDocument, *, variant: str | None = None) -> bytes:
    return html_to_pdf(invoice_html(doc), variant=variant)


def credit_note_pdf_bytes(doc: CreditNoteDocument, *, variant: str | None = None) -> bytes:
    return html_to_pdf(credit_note_html(doc), variant=variant)
