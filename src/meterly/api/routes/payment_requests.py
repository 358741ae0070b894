"""/api/v1/payment_requests and a customer's payment requests (Lago's routes)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from meterly.api.http import (
    clock,
    envelope,
    json_body,
    listing,
    organization_id,
    page_params,
    parse,
    root,
    unit_of_work,
)
from meterly.api.openapi import wire_body
from meterly.api.schemas.payment_requests import PaymentRequestIn, payment_request
from meterly.services.payments import payment_requests

router = APIRouter(tags=["payment_requests"])
customers_router = APIRouter(prefix="/customers", tags=["payment_requests"])


@router.post("/payment_requests", openapi_extra=wire_body("payment_request", PaymentRequestIn))
def create_payment_request(
    request: Request, org: str = Depends(organization_id), body: Any = Depends(json_body)
) -> Response:
    data = parse(PaymentRequestIn, root(body, "payment_request"))
    with unit_of_work(request) as session:
        row = payment_requests.create(
            session,
            organization_id=org,
            data=payment_requests.RequestInput(
                external_customer_id=data.external_customer_id,
                email=data.email,
                invoice_ids=data.lago_invoice_ids,
            ),
            clock=clock(request),
        )
        return envelope("payment_request", payment_request(session, row))


def _listing(request: Request, org: str, external_customer_id: str | None) -> Response:
    page, per_page = page_params(request)
    with unit_of_work(request) as session:
        rows, total = payment_requests.list_page(
            session,
            organization_id=org,
            page=page,
            per_page=per_page,
            external_customer_id=external_customer_id,
            payment_status=request.query_params.get("payment_status") or None,
            currency=request.query_params.get("currency") or None,
        )
        items = [payment_request(session, r) for r in rows]
    return listing("payment_requests", items, page=page, per_page=per_page, total=total)


@router.get("/payment_requests")
def list_payment_requests(request: Request, org: str = Depends(organization_id)) -> Response:
    return _listing(request, org, request.query_params.get("external_customer_id") or None)


@router.get("/payment_requests/{lago_id}")
def show_payment_request(
    lago_id: str, request: Request, org: str = Depends(organization_id)
) -> Response:
    with unit_of_work(request) as session:
        row = payment_requests.find(session, organization_id=org, request_id=lago_id)
        return envelope("payment_request", payment_request(session, row))


@customers_router.get("/{external_customer_id}/payment_requests")
def customer_payment_requests(
    external_customer_id: str, request: Request, org: str = Depends(organization_id)
) -> Response:
    return _listing(request, org, external_customer_id)
