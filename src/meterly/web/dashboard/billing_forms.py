"""Dashboard billing forms: add-ons (the catalogue of one-off items) and one-off invoices.

Role rule: add-ons are catalogue, an admin's work; a one-off invoice is an invoice, which
finance may issue (its path names `one_off_invoices`, see `auth.SECTION_PERMISSIONS`).
Both go through the services the API uses (`POST /add_ons`, `POST /invoices`).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import Request, Response
from sqlalchemy.orm import Session

from meterly.api.http import clock, unit_of_work
from meterly.domain.errors import DomainError, NotFound
from meterly.services.accounts import customers as customer_service
from meterly.services.billing import one_off_invoices
from meterly.services.catalog import add_ons as add_on_service
from meterly.services.catalog import taxes as tax_service
from meterly.store.tables import Customer, Tax
from meterly.store.tables_coupons import AddOnRow
from meterly.web import auth
from meterly.web.dashboard import form_kit
from meterly.web.dashboard.common import PER_PAGE, _int, _not_found, _page, section_router

router = section_router()

# A one-off invoice form offers this many fee lines; empty lines are ignored.
FEE_LINES = 3


def _taxes(session: Session, organization_id: str) -> list[Tax]:
    rows, _ = tax_service.list_page(session, organization_id=organization_id, page=1, per_page=500)
    return sorted(rows, key=lambda t: t.code)


# --- add-ons ------------------------------------------------------------------------------


def _add_ons_page(
    request: Request,
    who: auth.Operator,
    session: Session,
    *,
    values: dict[str, Any],
    errors: list[str],
) -> Response:
    page = _int(request.query_params.get("page"))
    q = request.query_params.get("q", "").strip().lower()
    rows, total = add_on_service.list_page(
        session, organization_id=who.organization_id, page=1, per_page=10_000
    )
    if q:  # the service pages without a search: searched here, on name and code
        rows = [r for r in rows if q in r.code.lower() or q in r.name.lower()]
    total = len(rows)
    return _page(
        request,
        who,
        "dashboard/add_ons.html",
        status_code=422 if errors else 200,
        add_ons=rows[(page - 1) * PER_PAGE : page * PER_PAGE],
        total=total,
        q=q,
        page=page,
        pages=form_kit.pages(total, PER_PAGE),
        taxes=_taxes(session, who.organization_id),
        values=values,
        errors=errors,
        message=request.query_params.get("message"),
    )


@router.get("/add_ons")
def add_ons(request: Request) -> Response:
    who = auth.operator(request)
    assert who is not None  # auth.authorize signed them in
    with unit_of_work(request) as session:
        return _add_ons_page(request, who, session, values={"amount_currency": "USD"}, errors=[])


def _add_on_input(data: dict[str, str], taxes: list[Tax]) -> add_on_service.AddOnInput:
    currency = (form_kit.text(data, "amount_currency") or "").upper() or None
    fields: dict[str, Any] = {
        "name": form_kit.text(data, "name"),
        "code": form_kit.text(data, "code"),
        "invoice_display_name": form_kit.text(data, "invoice_display_name"),
        "description": form_kit.text(data, "description"),
        "amount_currency": currency,
        "amount_cents": form_kit.cents(data, "amount", currency, field="amount_cents"),
        "tax_codes": tuple(t.code for t in taxes if data.get(f"tax:{t.code}") == "on"),
    }
    return add_on_service.AddOnInput(**fields, sent=frozenset(fields))


@router.post("/add_ons/new")
async def create_add_on(request: Request) -> Response:
    who = auth.operator(request)
    assert who is not None
    data = await auth.form(request)
    if not auth.csrf_ok(who, data):
        return Response("Invalid form token", status_code=400)
    try:
        with unit_of_work(request) as session:
            row = add_on_service.create(
                session,
                organization_id=who.organization_id,
                data=_add_on_input(data, _taxes(session, who.organization_id)),
                clock=clock(request),
            )
            message = f"Add-on {row.name} created."
    except DomainError as exc:
        with unit_of_work(request) as session:
            return _add_ons_page(
                request, who, session, values=form_kit.kept(data), errors=form_kit.sentences(exc)
            )
    return form_kit.to_page("/dashboard/add_ons", message)


# --- one-off invoices ---------------------------------------------------------------------


def _customer(session: Session, who: auth.Operator, external_id: str) -> Customer:
    return customer_service.find(
        session, organization_id=who.organization_id, external_id=external_id
    )


def _catalogue(session: Session, who: auth.Operator) -> list[AddOnRow]:
    rows, _ = add_on_service.list_page(
        session, organization_id=who.organization_id, page=1, per_page=500
    )
    return sorted(rows, key=lambda r: r.name.lower())


def _one_off_form(
    request: Request,
    who: auth.Operator,
    session: Session,
    customer: Customer,
    values: dict[str, Any],
    errors: list[str],
) -> Response:
    return _page(
        request,
        who,
        "dashboard/one_off_form.html",
        status_code=422 if errors else 200,
        customer=customer,
        add_ons=_catalogue(session, who),
        lines=range(FEE_LINES),
        values=values,
        errors=errors,
    )


@router.get("/customers/{external_id}/one_off_invoices/new")
@auth.requires("invoices")  # a form only they may send
def new_one_off(external_id: str, request: Request) -> Response:
    who = auth.operator(request)
    assert who is not None
    with unit_of_work(request) as session:
        try:
            customer = _customer(session, who, external_id)
        except NotFound:
            return _not_found(request, who, "customer")
        values = {"currency": customer.currency or "", "units_0": "1"}
        return _one_off_form(request, who, session, customer, values, [])


def _fees(
    data: dict[str, str], by_code: dict[str, AddOnRow], currency: str | None
) -> tuple[one_off_invoices.OneOffFeeInput, ...]:
    fees = []
    for i in range(FEE_LINES):
        code = form_kit.text(data, f"add_on_{i}")
        if code is None:
            continue
        add_on = by_code.get(code)
        price_currency = currency or (add_on.amount_currency if add_on else None)
        fees.append(
            one_off_invoices.OneOffFeeInput(
                add_on_code=code,
                units=form_kit.text(data, f"units_{i}") or "1",
                unit_amount_cents=form_kit.cents(
                    data, f"price_{i}", price_currency, field="unit_amount_cents"
                ),
                description=form_kit.text(data, f"description_{i}"),
            )
        )
    return tuple(fees)


@router.post("/customers/{external_id}/one_off_invoices/new")
async def create_one_off(external_id: str, request: Request) -> Response:
    who = auth.operator(request)
    assert who is not None
    data = await auth.form(request)
    if not auth.csrf_ok(who, data):
        return Response("Invalid form token", status_code=400)
    try:
        with unit_of_work(request) as session:
            customer = _customer(session, who, external_id)
            currency = (form_kit.text(data, "currency") or "").upper() or None
            by_code = {r.code: r for r in _catalogue(session, who)}
            invoice = one_off_invoices.create(
                session,
                organization_id=who.organization_id,
                data=one_off_invoices.OneOffInvoiceInput(
                    external_customer_id=customer.external_id,
                    currency=currency,
                    fees=_fees(data, by_code, currency),
                ),
                clock=clock(request),
            )
            invoice_id, number = invoice.id, invoice.number
    except NotFound as exc:
        if exc.resource == "customer":
            return _not_found(request, who, "customer")
        return _refused_one_off(request, who, external_id, data, exc)
    except DomainError as exc:
        return _refused_one_off(request, who, external_id, data, exc)
    return form_kit.to_page(
        f"/dashboard/invoices/{quote(invoice_id, safe='')}",
        f"One-off invoice {number} issued to {external_id}.",
    )


def _refused_one_off(
    request: Request, who: auth.Operator, external_id: str, data: dict[str, str], exc: DomainError
) -> Response:
    errors = form_kit.sentences(exc)
    if isinstance(exc, NotFound) and exc.resource == "fees":
        errors = ["Add at least one line: choose an add-on."]
    with unit_of_work(request) as session:
        customer = _customer(session, who, external_id)
        return _one_off_form(request, who, session, customer, form_kit.kept(data), errors)
