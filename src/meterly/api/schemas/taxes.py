"""Tax on the wire (Lago's tax object)."""

from __future__ import annotations

from typing import Any

from meterly.api.http import Payload
from meterly.api.wire import iso
from meterly.store.tables import Tax


class TaxIn(Payload):
    name: str | None = None
    code: str | None = None
    # A JSON number (the Lago client sends a float) or a numeric string; read as text.
    rate: int | float | str | None = None
    description: str | None = None
    applied_to_organization: bool | None = None


def tax(row: Tax) -> dict[str, Any]:
    return {
        "lago_id": row.id,
        "name": row.name,
        "code": row.code,
        # Lago's rate is a float column: a JSON number on the wire (only here).
        "rate": float(row.rate),
        "description": row.description,
        "applied_to_organization": row.applied_to_organization,
        "add_ons_count": 0,
        "customers_count": 0,
        "plans_count": 0,
        "charges_count": 0,
        "commitments_count": 0,
        "created_at": iso(row.created_at),
        "applied_to_billing_entities_codes": [],
    }
