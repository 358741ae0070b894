"""/api/v1/taxes"""

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
from meterly.api.schemas.taxes import TaxIn, tax
from meterly.services.catalog import taxes

router = APIRouter(prefix="/taxes", tags=["taxes"])


def _input(body: Any) -> taxes.TaxInput:
    raw = root(body, "tax")
    data = parse(TaxIn, raw)
    return taxes.TaxInput(**data.model_dump(exclude_unset=True), sent=frozenset(raw))


@router.post("", openapi_extra=wire_body("tax", TaxIn))
def create(
    request: Request, org: str = Depends(organization_id), body: Any = Depends(json_body)
) -> Response:
    data = _input(body)
    with unit_of_work(request) as session:
        row = taxes.create(session, organization_id=org, data=data, clock=clock(request))
        return envelope("tax", tax(row))


@router.get("")
def index(request: Request, org: str = Depends(organization_id)) -> Response:
    page, per_page = page_params(request)
    with unit_of_work(request) as session:
        rows, total = taxes.list_page(session, organization_id=org, page=page, per_page=per_page)
        items = [tax(r) for r in rows]
    return listing("taxes", items, page=page, per_page=per_page, total=total)


@router.get("/{code}")
def show(code: str, request: Request, org: str = Depends(organization_id)) -> Response:
    with unit_of_work(request) as session:
        return envelope("tax", tax(taxes.find(session, organization_id=org, code=code)))


@router.put("/{code}", openapi_extra=wire_body("tax", TaxIn))
def update(
    code: str, request: Request, org: str = Depends(organization_id), body: Any = Depends(json_body)
) -> Response:
    data = _input(body)
    with unit_of_work(request) as session:
        row = taxes.find(session, organization_id=org, code=code)
        taxes.update(session, row=row, data=data, clock=clock(request))
        return envelope("tax", tax(row))


@router.delete("/{code}")
def destroy(code: str, request: Request, org: str = Depends(organization_id)) -> Response:
    with unit_of_work(request) as session:
        row = taxes.find(session, organization_id=org, code=code)
        answer = tax(row)
        taxes.delete(session, row=row)
        return envelope("tax", answer)
