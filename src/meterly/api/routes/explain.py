"""Explain an invoice or a fee, and list the exact events a fee counted."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response

from meterly.api.http import listing, ok, organization_id, page_params, unit_of_work
from meterly.api.schemas.events import event
from meterly.services import reconciliation

router = APIRouter(tags=["explain"])


@router.get("/invoices/{invoice_id}/explain")
def explain_invoice(
    invoice_id: str, request: Request, org: str = Depends(organization_id)
) -> Response:
    with unit_of_work(request) as session:
        body = reconciliation.explain_invoice(session, organization_id=org, invoice_id=invoice_id)
    return ok({"explanation": body})


@router.get("/fees/{fee_id}/explain")
def explain_fee(fee_id: str, request: Request, org: str = Depends(organization_id)) -> Response:
    with unit_of_work(request) as session:
        body = reconciliation.explain_fee(session, organization_id=org, fee_id=fee_id)
    return ok({"explanation": body})


@router.get("/fees/{fee_id}/events")
def fee_events(fee_id: str, request: Request, org: str = Depends(organization_id)) -> Response:
    """The events behind a usage fee, oldest first, paginated like every Lago list."""
    page, per_page = page_params(request)
    with unit_of_work(request) as session:
        rows, total = reconciliation.fee_events(
            session, organization_id=org, fee_id=fee_id, page=page, per_page=per_page
        )
    return listing("events", [event(r) for r in rows], page=page, per_page=per_page, total=total)
