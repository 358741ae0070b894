"""Taxes: the rates plans, charges and customers refer to by code; created, edited, deleted.

The forms call `services.catalog.taxes`, the API's own rules (a rate between 0 and 100, a
code used once). Deleting a tax lets go of it everywhere it applied, as Lago does, so the
page asks first. Writes are admin-only (web/auth.py).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import Request, Response
from fastapi.responses import RedirectResponse

from meterly.api.http import clock, unit_of_work
from meterly.domain.errors import DomainError, NotFound
from meterly.services.catalog import taxes as tax_service
from meterly.web import auth
from meterly.web.dashboard import messages
from meterly.web.dashboard.common import _not_found, _page, section_router

router = section_router()


def _back(message: str) -> Response:
    return RedirectResponse(f"/dashboard/taxes?{urlencode({'message': message})}", status_code=303)


def _input(data: dict[str, str]) -> tax_service.TaxInput:
    fields: dict[str, Any] = {
        "name": data.get("name", "").strip() or None,
        "code": data.get("code", "").strip() or None,
        "rate": data.get("rate", "").strip() or None,
        "description": data.get("description", "").strip() or None,
        "applied_to_organization": data.get("applied_to_organization") == "on",
    }
    return tax_service.TaxInput(**fields, sent=frozenset(fields))


def _list(
    request: Request,
    who: auth.Operator,
    *,
    status: int = 200,
    errors: list[str] | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    with unit_of_work(request) as session:
        rows, total = tax_service.list_page(
            session, organization_id=who.organization_id, page=1, per_page=500
        )
        return _page(
            request,
            who,
            "dashboard/taxes.html",
            status_code=status,
            taxes=rows,
            total=total,
            errors=errors or [],
            values=values or {},
            message=request.query_params.get("message"),
        )


@router.get("/taxes")
def taxes(request: Request) -> Response:
    who = auth.operator(request)
    assert who is not None  # auth.authorize signed the request in
    return _list(request, who)


@router.post("/taxes/new")
async def create_tax(request: Request) -> Response:
    who = auth.operator(request)
    assert who is not None
    data = await auth.form(request)
    if not auth.csrf_ok(who, data):
        return Response("Invalid form token", status_code=400)
    try:
        with unit_of_work(request) as session:
            row = tax_service.create(
                session,
                organization_id=who.organization_id,
                data=_input(data),
                clock=clock(request),
            )
            name = row.name
    except DomainError as exc:
        return _list(request, who, status=422, errors=messages.describe(exc), values=data)
    return _back(f"Tax {name} created.")


@router.get("/taxes/{code}/edit")
def edit_tax(code: str, request: Request) -> Response:
    who = auth.operator(request)
    assert who is not None
    with unit_of_work(request) as session:
        try:
            row = tax_service.find(session, organization_id=who.organization_id, code=code)
        except NotFound:
            return _not_found(request, who, "tax")
        values = {
            "name": row.name,
            "code": row.code,
            "rate": format(row.rate.normalize(), "f"),
            "description": row.description or "",
            "applied_to_organization": "on" if row.applied_to_organization else "",
        }
        return _page(request, who, "dashboard/tax_form.html", tax=row, values=values, errors=[])


@router.post("/taxes/{code}/edit")
async def update_tax(code: str, request: Request) -> Response:
    who = auth.operator(request)
    assert who is not None
    data = await auth.form(request)
    if not auth.csrf_ok(who, data):
        return Response("Invalid form token", status_code=400)
    try:
        with unit_of_work(request) as session:
            row = tax_service.find(session, organization_id=who.organization_id, code=code)
            tax_service.update(session, row=row, data=_input(data), clock=clock(request))
            name = row.name
    except NotFound:
        return _not_found(request, who, "tax")
    except DomainError as exc:
        with unit_of_work(request) as session:
            row = tax_service.find(session, organization_id=who.organization_id, code=code)
            return _page(
                request,
                who,
                "dashboard/tax_form.html",
                status_code=422,
                tax=row,
                values=data,
                errors=messages.describe(exc),
            )
    return _back(f"Tax {name} saved.")


@router.post("/taxes/{code}/delete")
async def delete_tax(code: str, request: Request) -> Response:
    who = auth.operator(request)
    assert who is not None
    data = await auth.form(request)
    if not auth.csrf_ok(who, data):
        return Response("Invalid form token", status_code=400)
    try:
        with unit_of_work(request) as session:
            row = tax_service.find(session, organization_id=who.organization_id, code=code)
            tax_service.delete(session, row=row)
    except NotFound:
        return _not_found(request, who, "tax")
    return _back(f"Tax {code} deleted.")
