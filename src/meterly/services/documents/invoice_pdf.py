"""Invoice documents as files: the PDF rendered from the document model, stored on disk.

PDFs are stored under the files directory (`METERLY_FILES_DIR`, default `var/files`) the
first time they are asked for; what they print was frozen when the invoice was issued
(the document snapshot), so rendering later shows the same seller, buyer and sections.

When the seller has e-invoicing on, a finalized invoice's PDF is a Factur-X / ZUGFeRD
PDF/A-3 carrying its EN 16931 CII XML, so one file is both the readable and the
machine-readable invoice.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from sqlalchemy.orm import Session

from meterly.services.billing import invoices as invoice_service
from meterly.services.common import Clock
from meterly.services.documents import einvoice, render
from meterly.services.documents.einvoice.model import read_invoice
from meterly.services.documents.model import build_invoice_document
from meterly.store.tables import Invoice

TEMPLATES_DIR = render.TEMPLATES_DIR
FILES_DIR_ENV = "METERLY_FILES_DIR"
DEFAULT_FILES_DIR = "var/files"


def files_dir(override: str | os.PathLike[str] | None = None) -> Path:
    return Path(override or os.environ.get(FILES_DIR_ENV) or DEFAULT_FILES_DIR)


def write_atomically(target: Path, data: bytes) -> None:
    """Readers see the old file or the new one, never half of one."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def invoice_html(session: Session, invoice: Invoice) -> str:
    """The invoice as an HTML page, from the same model the PDF is drawn from."""
    return render.invoice_html(build_invoice_document(session, invoice))


def invoice_pdf_bytes(session: Session, invoice: Invoice) -> bytes:
    doc = build_invoice_document(session, invoice)
    if invoice.status != "finalized" or not einvoice.einvoicing_on_invoice(session, invoice):
        return render.invoice_pdf_bytes(doc)
    pdf = render.invoice_pdf_bytes(doc, variant=render.PDF_A3)
    return einvoice.hybrid_pdf(pdf, read_invoice(session, invoice), lang=doc.locale)


def pdf_relative_path(invoice: Invoice) -> str:
    return f"invoices/{invoice.organization_id}/{invoice.id}.pdf"


def stored_pdf(invoice: Invoice, directory: str | os.PathLike[str] | None = None) -> Path | None:
    """The stored PDF of an invoice, if it exists on disk."""
    if not invoice.file_path:
        return None
    path = files_dir(directory) / invoice.file_path
    return path if path.is_file() else None


def generate_pdf(
    session: Session,
    *,
    invoice: Invoice,
    clock: Clock,
    directory: str | os.PathLike[str] | None = None,
) -> Path:
    """Render the invoice's PDF, store it under the files directory, record its path."""
    data = invoice_pdf_bytes(session, invoice)
    relative = pdf_relative_path(invoice)
    target = files_dir(directory) / relative
    write_atomically(target, data)
    invoice_service.record_file(session, invoice=invoice, file_path=relative, clock=clock)
    return target
