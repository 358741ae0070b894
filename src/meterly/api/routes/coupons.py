"""/api/v1/coupons, /api/v1/applied_coupons and /api/v1/customers/{ext}/applied_coupons."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy.orm import Session

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
from meterly.api.schemas.coupons import AppliedCouponIn, CouponIn, applied_coupon, coupon
from meterly.services.accounts import customers as customer_service
from meterly.services.credits import coupons
from meterly.store.tables import Customer
from meterly.store.tables_coupons import AppliedCouponRow, CouponRow

router = APIRouter(prefix="/coupons", tags=["coupons"])
applied_router = APIRouter(prefix="/applied_coupons", tags=["coupons"])
customers_router = APIRouter(prefix="/customers", tags=["coupons"])


def _input(body: Any) -> coupons.CouponInput:
    raw = root(body, "coupon")
    data = parse(CouponIn, raw)
    fields = data.model_dump(exclude_unset=True, exclude={"applies_to"})
    applies_to = data.applies_to
    return coupons.CouponInput(
        **fields,
        plan_codes=tuple(applies_to.plan_codes or ()) if applies_to else None,
        billable_metric_codes=tuple(applies_to.billable_metric_codes or ()) if applies_to else None,
        sent=frozenset(raw),
    )


@router.post("", openapi_extra=wire_body("coupon", CouponIn))
def create(
    request: Request, org: str = Depends(organization_id), body: Any = Depends(json_body)
) -> Response:
    data = _input(body)
    with unit_of_work(request) as session:
        row = coupons.create(session, organization_id=org, data=data, clock=clock(request))
        return envelope("coupon", coupon(row))


@router.get("")
def index(request: Request, org: str = Depends(organization_id)) -> Response:
    page, per_page = page_params(request)
    with unit_of_work(request) as session:
        rows, total = coupons.list_page(session, organization_id=org, page=page, per_page=per_page)
        items = [coupon(r) for r in rows]
    return listing("coupons", items, page=page, per_page=per_page, total=total)


@router.get("/{code}")
def show(code: str, request: Request, org: str = Depends(organization_id)) -> Response:
    with unit_of_work(request) as session:
        return envelope("coupon", coupon(coupons.find(session, organization_id=org, code=code)))


@router.put("/{code}", openapi_extra=wire_body("coupon", CouponIn))
def update(
    code: str, request: Request, org: str = Depends(organization_id), body: Any = Depends(json_body)
) -> Response:
    data = _input(body)
    with unit_of_work(request) as session:
        row = coupons.find(session, organization_id=org, code=code)
        coupons.update(session, row=row, data=data, clock=clock(request))
        return envelope("coupon", coupon(row))


@router.delete("/{code}")
def destroy(code: str, request: Request, org: str = Depends(organization_id)) -> Response:
    with unit_of_work(request) as session:
        row = coupons.find(session, organization_id=org, code=code)
        coupons.delete(session, row=row, clock=clock(request))
        return envelope("coupon", coupon(row))


# --- applied coupons -------------------------------------------------------------------


def _render(session: Session, row: AppliedCouponRow, *, with_credits: bool) -> dict[str, Any]:
    coupon_row = session.get(CouponRow, row.coupon_id)
    customer = session.get(Customer, row.customer_id)
    assert coupon_row is not None and customer is not None
    credits = coupons.credits_of(session, row.id) if with_credits else None
    return applied_coupon(row, coupon_row, customer, credits=credits)


def _listing(
    request: Request, session: Session, org: str, filters: coupons.AppliedCouponFilters
) -> Response:
    page, per_page = page_params(request)
    rows, total = coupons.list_applied(
        session, organization_id=org, filters=filters, page=page, per_page=per_page
    )
    items = [_render(session, r, with_credits=True) for r in rows]
    return listing("applied_coupons", items, page=page, per_page=per_page, total=total)


@applied_router.post("", openapi_extra=wire_body("applied_coupon", AppliedCouponIn))
def apply(
    request: Request, org: str = Depends(organization_id), body: Any = Depends(json_body)
) -> Response:
    data = parse(AppliedCouponIn, root(body, "applied_coupon"))
    with unit_of_work(request) as session:
        row = coupons.apply(
            session,
            organization_id=org,
            data=coupons.AppliedCouponInput(**data.model_dump(exclude_unset=True)),
            clock=clock(request),
        )
        return envelope("applied_coupon", _render(session, row, with_credits=False))


@applied_router.get("")
def applied_index(request: Request, org: str = Depends(organization_id)) -> Response:
    filters = coupons.AppliedCouponFilters(
        external_customer_id=request.query_params.get("external_customer_id") or None,
        status=request.query_params.get("status") or None,
        coupon_codes=tuple(query_list(request, "coupon_code")),
    )
    with unit_of_work(request) as session:
        return _listing(request, session, org, filters)


@customers_router.get("/{external_customer_id}/applied_coupons")
def customer_applied_index(
    external_customer_id: str, request: Request, org: str = Depends(organization_id)
) -> Response:
    with unit_of_work(request) as session:
        customer_service.find(session, organization_id=org, external_id=external_customer_id)
        filters = coupons.AppliedCouponFilters(
            external_customer_id=external_customer_id,
            status=request.query_params.get("status") or None,
            coupon_codes=tuple(query_list(request, "coupon_code")),
        )
        return _listing(request, session, org, filters)


@customers_router.delete("/{external_customer_id}/applied_coupons/{applied_coupon_id}")
def terminate(
    external_customer_id: str,
    applied_coupon_id: str,
    request: Request,
    org: str = Depends(organization_id),
) -> Response:
    with unit_of_work(request) as session:
        row = coupons.find_applied(
            session,
            organization_id=org,
            external_customer_id=external_customer_id,
            applied_coupon_id=applied_coupon_id,
        )
        coupons.terminate_applied(session, row=row, clock=clock(request))
        return envelope("applied_coupon", _render(session, row, with_credits=False))
