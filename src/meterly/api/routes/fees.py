"""/api/v1/fees"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Request, Response

from meterly.api.http import (
    clock,
    envelope,
    json_body,
    listing,
    organization_id,
    page_params,
    parse,
    query_list,
    root,
    unit_of_work,
)
from meterly.api.openapi import wire_body
from meterly.api.schemas.fees import FeeIn, fee
from meterly.config import parse_instant
from meterly.domain.errors import ValidationFailed
from meterly.services.billing import invoices as invoice_service

router = APIRouter(prefix="/fees", tags=["fees"])


def _instant(request: Request, name: str) -> datetime | None:
    raw = request.query_params.get(name)
    if not raw:
        return None
    try:
        return parse_instant(raw)
    except ValueError:
        raise ValidationFailed.field(name, "invalid_date") from None


def _filters(request: Request) -> invoice_service.FeeFilters:
    params = request.query_params
    return invoice_service.FeeFilters(
        fee_types=tuple(query_list(request, "fee_type")),
        payment_statuses=tuple(query_list(request, "payment_status")),
        external_subscription_id=params.get("external_subscription_id") or None,
        external_customer_id=params.get("external_customer_id") or None,
        billable_metric_code=params.get("billable_metric_code") or None,
        currency=params.get("currency") or None,
        event_transaction_id=params.get("event_transaction_id") or None,
        created_at_from=_instant(request, "created_at_from"),
        created_at_to=_instant(request, "created_at_to"),
    )


@router.get("")
def index(request: Request, org: str = Depends(organization_id)) -> Response:
    page, per_page = page_params(request)
    filters = _filters(request)
    with unit_of_work(request) as session:
        rows, total = invoice_service.list_fees(
            session, organization_id=org, page=page, per_page=per_page, filters=filters
        )
        items = [fee(r, with_taxes=True) for r in rows]
    return listing("fees", items, page=page, per_page=per_page, total=total)


@router.get("/{fee_id}")
def show(fee_id: str, request: Request, org: str = Depends(organization_id)) -> Response:
    with unit_of_work(request) as session:
        row = invoice_service.find_fee(session, organization_id=org, fee_id=fee_id)
        return envelope("fee", fee(row, with_taxes=True))


@router.put("/{fee_id}", openapi_extra=wire_body("fee", FeeIn))
def update(
    fee_id: str,
    request: Request,
    org: str = Depends(organization_id),
    body: object = Depends(json_body),
) -> Response:
    data = parse(FeeIn, root(body, "fee"))
    with unit_of_work(request) as session:
        row = invoice_service.find_fee(session, organization_id=org, fee_id=fee_id)
        invoice_service.update_fee(
            session, fee=row, payment_status=data.payment_status, clock=clock(request)
        )
        return envelope("fee", fee(row, with_taxes=True))


@router.delete("/{fee_id}")
def destroy(fee_id: str, request: Request, org: str = Depends(organization_id)) -> Response:
    with unit_of_work(request) as session:
        row = invoice_service.find_fee(session, organization_id=org, fee_id=fee_id)
        invoice_service.delete_fee(session, fee=row, clock=clock(request))
        return envelope("fee", fee(row, with_taxes=True))
