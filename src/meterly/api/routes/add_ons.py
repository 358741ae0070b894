"""/api/v1/add_ons"""

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
    root,
    unit_of_work,
)
from meterly.api.openapi import wire_body
from meterly.api.schemas.add_ons import AddOnIn, add_on
from meterly.services.catalog import add_ons
from meterly.store.tables_coupons import AddOnRow

router = APIRouter(prefix="/add_ons", tags=["add_ons"])


def _input(body: Any) -> add_ons.AddOnInput:
    raw = root(body, "add_on")
    data = parse(AddOnIn, raw)
    fields = data.model_dump(exclude_unset=True)
    if data.tax_codes is not None:
        fields["tax_codes"] = tuple(data.tax_codes)
    return add_ons.AddOnInput(**fields, sent=frozenset(raw))


def _render(session: Session, row: AddOnRow) -> dict[str, Any]:
    return add_on(row, add_ons.taxes_of(session, row))


@router.post("", openapi_extra=wire_body("add_on", AddOnIn))
def create(
    request: Request, org: str = Depends(organization_id), body: Any = Depends(json_body)
) -> Response:
    data = _input(body)
    with unit_of_work(request) as session:
        row = add_ons.create(session, organization_id=org, data=data, clock=clock(request))
        return envelope("add_on", _render(session, row))


@router.get("")
def index(request: Request, org: str = Depends(organization_id)) -> Response:
    page, per_page = page_params(request)
    with unit_of_work(request) as session:
        rows, total = add_ons.list_page(session, organization_id=org, page=page, per_page=per_page)
        items = [_render(session, r) for r in rows]
    return listing("add_ons", items, page=page, per_page=per_page, total=total)


@router.get("/{code}")
def show(code: str, request: Request, org: str = Depends(organization_id)) -> Response:
    with unit_of_work(request) as session:
        row = add_ons.find(session, organization_id=org, code=code)
        return envelope("add_on", _render(session, row))


@router.put("/{code}", openapi_extra=wire_body("add_on", AddOnIn))
def update(
    code: str, request: Request, org: str = Depends(organization_id), body: Any = Depends(json_body)
) -> Response:
    data = _input(body)
    with unit_of_work(request) as session:
        row = add_ons.find(session, organization_id=org, code=code)
        add_ons.update(session, row=row, data=data, clock=clock(request))
        return envelope("add_on", _render(session, row))


@router.delete("/{code}")
def destroy(code: str, request: Request, org: str = Depends(organization_id)) -> Response:
    with unit_of_work(request) as session:
        row = add_ons.find(session, organization_id=org, code=code)
        add_ons.delete(session, row=row, clock=clock(request))
        return envelope("add_on", _render(session, row))
