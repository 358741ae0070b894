"""/api/v1/invoice_custom_sections: text blocks printed at the foot of invoices."""

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
from meterly.api.schemas.invoice_custom_sections import (
    InvoiceCustomSectionIn,
    invoice_custom_section,
)
from meterly.services.documents import custom_sections

router = APIRouter(prefix="/invoice_custom_sections", tags=["invoice_custom_sections"])
_ROOT = "invoice_custom_section"


def _input(body: Any) -> custom_sections.SectionInput:
    raw = root(body, _ROOT)
    data = parse(InvoiceCustomSectionIn, raw)
    return custom_sections.SectionInput(**data.model_dump(exclude_unset=True), sent=frozenset(raw))


@router.post("", openapi_extra=wire_body(_ROOT, InvoiceCustomSectionIn))
def create(
    request: Request, org: str = Depends(organization_id), body: Any = Depends(json_body)
) -> Response:
    data = _input(body)
    with unit_of_work(request) as session:
        row = custom_sections.create(session, organization_id=org, data=data, clock=clock(request))
        return envelope(_ROOT, invoice_custom_section(row))


@router.get("")
def index(request: Request, org: str = Depends(organization_id)) -> Response:
    page, per_page = page_params(request)
    with unit_of_work(request) as session:
        rows, total = custom_sections.list_page(
            session, organization_id=org, page=page, per_page=per_page
        )
        items = [invoice_custom_section(r) for r in rows]
    return listing("invoice_custom_sections", items, page=page, per_page=per_page, total=total)


@router.get("/{code}")
def show(code: str, request: Request, org: str = Depends(organization_id)) -> Response:
    with unit_of_work(request) as session:
        row = custom_sections.find(session, organization_id=org, code=code)
        return envelope(_ROOT, invoice_custom_section(row))


@router.put("/{code}", openapi_extra=wire_body(_ROOT, InvoiceCustomSectionIn))
def update(
    code: str, request: Request, org: str = Depends(organization_id), body: Any = Depends(json_body)
) -> Response:
    data = _input(body)
    with unit_of_work(request) as session:
        row = custom_sections.find(session, organization_id=org, code=code)
        custom_sections.update(session, row=row, data=data, clock=clock(request))
        return envelope(_ROOT, invoice_custom_section(row))


@router.delete("/{code}")
def destroy(code: str, request: Request, org: str = Depends(organization_id)) -> Response:
    with unit_of_work(request) as session:
        row = custom_sections.find(session, organization_id=org, code=code)
        answer = invoice_custom_section(row)
        custom_sections.delete_section(session, row=row)
        return envelope(_ROOT, answer)
