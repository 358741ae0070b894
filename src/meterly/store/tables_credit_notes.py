"""Credit notes at their old path, for its importers; the tables are in `tables.credit_notes`."""

from meterly.store.tables.credit_notes import CreditNote, CreditNoteItem

__all__ = ["CreditNote", "CreditNoteItem"]
