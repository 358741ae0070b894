"""The credit note as a PDF document, stored under the files directory.

With e-invoicing on for the seller, a finalized credit note's PDF is a Factur-X PDF/A-3
carrying its CII XML (type code 381), as invoices are.
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy.orm import Session

from meterly.services.common import Clock
from meterly.services.documents import einvoice, render
from meterly.services.documents.einvoice.model import read_credit_note
from meterly.services.documents.invoice_pdf import files_dir, write_atomically
from meterly.services.documents.model import build_credit_note_document
from meterly.services.notifications import enqueue
from meterly.store.tables import CreditNote


def pdf_relative_path(note: CreditNote) -> str:
    return f"credit_notes/{note.organization_id}/{note.id}.pdf"


def stored_pdf(note: CreditNote, directory: str | os.PathLike[str] | None = None) -> Path | None:
    """The stored PDF of a credit note, if it exists on disk."""
    if not note.file_path:
        return None
    path = files_dir(directory) / note.file_path
    return path if path.is_file() else None


def credit_note_html(session: Session, note: CreditNote) -> str:
    return render.credit_note_html(build_credit_note_document(session, note))


def credit_note_pdf_bytes(session: Session, note: CreditNote) -> bytes:
    doc = build_credit_note_document(session, note)
    if note.status != "finalized" or not einvoice.einvoicing_on_credit_note(session, note):
        return render.credit_note_pdf_bytes(doc)
    pdf = render.credit_note_pdf_bytes(doc, variant=render.PDF_A3)
    return einvoice.hybrid_pdf(pdf, read_credit_note(session, note), lang=doc.locale)


def generate_pdf(
    session: Session,
    *,
    note: CreditNote,
    clock: Clock,
    directory: str | os.PathLike[str] | None = None,
) -> Path:
    """Render the credit note's PDF under the files directory and remember its path."""
    data = credit_note_pdf_bytes(session, note)
    relative = pdf_relative_path(note)
    target = files_dir(directory) / relative
    write_atomically(target, data)
    note.file_path = relative
    note.updated_at = clock.now()
    session.flush()
    enqueue(session, note.organization_id, "credit_note.generated", "credit_note", note.id, clock)
    return target
