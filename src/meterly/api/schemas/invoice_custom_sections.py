"""Invoice custom section on the wire (Lago's invoice_custom_section object)."""

from __future__ import annotations

from typing import Any

from meterly.api.http import Payload
from meterly.api.wire import iso
from meterly.store.tables import InvoiceCustomSection


class InvoiceCustomSectionIn(Payload):
    code: str | None = None
    name: str | None = None
    description: str | None = None
    details: str | None = None
    display_name: str | None = None
    applied_to_organization: bool | None = None


def invoice_custom_section(row: InvoiceCustomSection) -> dict[str, Any]:
    return {
        "lago_id": row.id,
        "code": row.code,
        "name": row.name,
        "description": row.description,
        "details": row.details,
        "display_name": row.display_name,
        "applied_to_organization": row.applied_to_organization,
        "organization_id": row.organization_id,
        "created_at": iso(row.created_at),
    }
