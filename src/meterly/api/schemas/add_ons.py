"""Add-ons on the wire (lago-api.md §7.10)."""

from __future__ import annotations

from typing import Any

from meterly.api.http import Payload
from meterly.api.schemas.taxes import tax
from meterly.api.wire import iso
from meterly.store.tables import Tax
from meterly.store.tables_coupons import AddOnRow


class AddOnIn(Payload):
    name: str | None = None
    code: str | None = None
    invoice_display_name: str | None = None
    description: str | None = None
    amount_cents: int | None = None
    amount_currency: str | None = None
    tax_codes: list[str] | None = None


def add_on(row: AddOnRow, taxes: list[Tax]) -> dict[str, Any]:
    return {
        "lago_id": row.id,
        "name": row.name,
        "invoice_display_name": row.invoice_display_name,
        "code": row.code,
        "amount_cents": row.amount_cents,
        "amount_currency": row.amount_currency,
        "description": row.description,
        "created_at": iso(row.created_at),
        "taxes": [tax(t) for t in taxes],
    }
