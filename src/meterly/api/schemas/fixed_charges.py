"""Fixed charges on the wire (Lago's fixed_charge object, on plans and subscriptions)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from meterly.api.http import Payload
from meterly.api.schemas.taxes import tax
from meterly.api.wire import iso
from meterly.services.catalog import fixed_charges as fixed_charges_service
from meterly.services.catalog import taxes as taxes_service
from meterly.store.tables import FixedCharge, Plan

# --- requests ------------------------------------------------------------------------


class FixedChargeIn(Payload):
    id: str | None = None
    add_on_id: str | None = None
    add_on_code: str | None = None
    code: str | None = None
    charge_model: str | None = None
    invoice_display_name: str | None = None
    # The client sends a JSON number, the OpenAPI a string: both read through their text.
    units: int | float | str | None = None
    pay_in_advance: bool | None = None
    prorated: bool | None = None
    properties: dict[str, Any] | None = None
    tax_codes: list[str] | None = None
    apply_units_immediately: bool | None = None
    cascade_updates: bool | None = None


def fixed_charge_input(data: FixedChargeIn) -> fixed_charges_service.FixedChargeInput:
    fields = data.model_dump(exclude_unset=True, exclude={"tax_codes", "cascade_updates"})
    if isinstance(fields.get("units"), float):
        # A JSON number arrives as a float: its shortest text is the number that was sent.
        fields["units"] = repr(fields["units"])
    return fixed_charges_service.FixedChargeInput(
        **fields,
        tax_codes=None if data.tax_codes is None else tuple(data.tax_codes),
        sent=frozenset(data.model_fields_set),
    )


# --- responses -----------------------------------------------------------------------


def fixed_charge_payload(
    session: Session, row: FixedCharge, *, units: Decimal | None = None
) -> dict[str, Any]:
    """Lago's fixed_charge; `units`: a subscription's own units, else the plan's."""
    add_on = fixed_charges_service.add_on_of(session, row)
    taxes = taxes_service.lookup(session, row.organization_id, row.tax_codes or ())
    return {
        "lago_id": row.id,
        "lago_add_on_id": add_on.id,
        "code": row.code,
        # The client requires a name: the add-on's when the charge has none of its own.
        "invoice_display_name": row.invoice_display_name
        or add_on.invoice_display_name
        or add_on.name,
        "add_on_code": add_on.code,
        "created_at": iso(row.created_at),
        "charge_model": row.charge_model,
        "pay_in_advance": row.pay_in_advance,
        "prorated": row.prorated,
        "properties": dict(row.properties or {}),
        # A JSON number, as Lago serializes its decimal column.
        "units": float(row.units if units is None else units),
        "lago_parent_id": None,
        "taxes": [tax(taxes[code]) for code in row.tax_codes or () if code in taxes],
    }


def plan_fixed_charges(row: Plan) -> list[dict[str, Any]]:
    """The plan's live fixed charges, read in the plan row's own session."""
    session = Session.object_session(row)
    if session is None:
        return []
    return [
        fixed_charge_payload(session, item)
        for item in fixed_charges_service.live_fixed_charges(session, row.id)
    ]
