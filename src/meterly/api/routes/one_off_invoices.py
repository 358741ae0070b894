"""POST /api/v1/invoices: one-off invoices of add-on fees."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from meterly.api.http import Payload, clock, envelope, json_body, organization_id, parse, root
from meterly.api.http import unit_of_work as uow
from meterly.api.openapi import wire_body
from meterly.api.schemas.invoices import invoice
from meterly.services.billing import one_off_invoices

router = APIRouter(prefix="/invoices", tags=["invoices"])


class OneOffFeeIn(Payload):
    add_on_code: str | None = None
    unit_amount_cents: int | None = None
    # A JSON number (the Lago client sends a float) or a numeric string; read as text.
    units: Any = None
    description: str | None = None
    invoice_display_name: str | None = None
    from_datetime: datetime | None = None
    to_datetime: datetime | None = None
    tax_codes: list[str] | None = None


class OneOffInvoiceIn(Payload):
    external_customer_id: str | None = None
    currency: str | None = None
    fees: list[OneOffFeeIn] | None = None


@router.post("", openapi_extra=wire_body("invoice", OneOffInvoiceIn))
def create(
    request: Request, org: str = Depends(organization_id), body: Any = Depends(json_body)
) -> Response:
    data = parse(OneOffInvoiceIn, root(body, "invoice"))
    fees = tuple(
        one_off_invoices.OneOffFeeInput(
            **f.model_dump(exclude_unset=True, exclude={"tax_codes"}),
            tax_codes=tuple(f.tax_codes) if f.tax_codes is not None else None,
        )
        for f in data.fees or ()
    )
    command = one_off_invoices.OneOffInvoiceInput(
        external_customer_id=data.external_customer_id, currency=data.currency, fees=fees
    )
    with uow(request) as session:
        row = one_off_invoices.create(
            session, organization_id=org, data=command, clock=clock(request)
        )
        return envelope("invoice", invoice(session, row))
