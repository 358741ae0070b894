"""The credit note as a PDF document, stored under the files directory."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy.orm import Session

from meterly.services.common import Clock
from meterly.services.documents import render
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
    return render.credit_note_pdf_bytes(build_credit_note_document(session, note))


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
