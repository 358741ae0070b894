"""Signed links the web pages hand out (invoice documents)."""

from __future__ import annotations

from meterly.api.schemas.invoices import document_url
from meterly.config import Settings


def invoice_pdf_url(config: Settings, invoice_id: str) -> str:
    """The signed link that opens one invoice's PDF without an API key."""
    return document_url(config, invoice_id, "pdf")
