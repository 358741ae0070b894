"""Dashboard customer forms: create, edit (billing details, timezone, currency, tax ids,
taxes) and delete after a confirmation page.

Role rule: changing customers is an admin's work (the paths name no finance section, so
`auth.required_permission` asks for `admin`); finance and viewers read them.
Each form goes through `services.accounts.customers`, as `POST /api/v1/customers` does,
and raises the same webhook.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import Request, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from meterly.api.http import clock, unit_of_work
from meterly.domain.errors import DomainError, NotFound, ValidationFailed
from meterly.services.accounts import customers as customer_service
from meterly.services.catalog import taxes as tax_service
from meterly.services.notifications import enqueue
from meterly.store.tables import Customer, Subscription, Tax
from meterly.web import auth
from meterly.web.dashboard import form_kit
from meterly.web.dashboard.common import _not_found, _page, section_router

router = section_router()

# Billing details kept in the customer's profile (Lago's customer fields).
PROFILE_FIELDS = (
    "legal_name",
    "legal_number",
    "tax_identification_number",
    "address_line1",
    "address_line2",
    "city",
    "zipcode",
    "state",
    "country",
)
_TOP_FIELDS = ("name", "email", "currency", "timezone")


def _taxes(session: Session, organization_id: str) -> list[Tax]:
    rows, _ = tax_service.list_page(session, organization_id=organization_id, page=1, per_page=500)
    return sorted(rows, key=lambda t: t.code)


def _fields(data: dict[str, str], taxes: list[Tax]) -> dict[str, Any]:
    """The form as the service's fields; an emptied box clears the field."""
    fields: dict[str, Any] = {name: form_kit.text(data, name) for name in _TOP_FIELDS}
    if fields["currency"]:
        fields["currency"] = fields["currency"].upper()
    for name in PROFILE_FIELDS:
        fields[name] = form_kit.text(data, name)
    if fields["country"]:
        fields["country"] = fields["country"].upper()
    fields["net_payment_term"] = form_kit.whole(data, "net_payment_term")
    fields["customer_type"] = form_kit.text(data, "customer_type")
    # One checkbox per tax of the organization: `tax:<code>`.
    fields["tax_codes"] = [t.code for t in taxes if data.get(f"tax:{t.code}") == "on"]
    return fields


def _values(row: Customer) -> dict[str, Any]:
    values: dict[str, Any] = {name: getattr(row, name) or "" for name in _TOP_FIELDS}
    values |= {name: row.profile.get(name) or "" for name in PROFILE_FIELDS}
    values["customer_type"] = row.profile.get("customer_type") or ""
    values["net_payment_term"] = "" if row.net_payment_term is None else row.net_payment_term
    values |= {f"tax:{code}": "on" for code in row.tax_codes or []}
    return values


def _form(
    request: Request,
    who: auth.Operator,
    *,
    customer: Customer | None,
    values: dict[str, Any],
    errors: list[str],
    taxes: list[Tax],
) -> Response:
    return _page(
        request,
        who,
        "dashboard/customer_form.html",
        status_code=422 if errors else 200,
        customer=customer,
        values=values,
        errors=errors,
        taxes=taxes,
    )


@router.get("/customers/new")
@auth.requires("admin")  # a form only they may send
def new_customer(request: Request) -> Response:
    who = auth.operator(request)
    assert who is not None  # auth.authorize signed them in
    with unit_of_work(request) as session:
        taxes = _taxes(session, who.organization_id)
    return _form(request, who, customer=None, values={}, errors=[], taxes=taxes)


@router.post("/customers/new")
async def create_customer(request: Request) -> Response:
    who = auth.operator(request)
    assert who is not None
    data = await auth.form(request)
    if not auth.csrf_ok(who, data):
        return Response("Invalid form token", status_code=400)
    external_id = form_kit.text(data, "external_id") or ""
    try:
        with unit_of_work(request) as session:
            taxes = _taxes(session, who.organization_id)
            existing = customer_service.find_optional(
                session, organization_id=who.organization_id, external_id=external_id
            )
            # The API's POST updates a customer it finds; a "new customer" form must not.
            if existing is not None:
                raise ValidationFailed.field("external_id", "value_already_exist")
            row, _ = customer_service.upsert(
                session,
                organization_id=who.organization_id,
                data=customer_service.CustomerInput(
                    external_id=external_id, fields=_fields(data, taxes)
                ),
                clock=clock(request),
            )
            enqueue(
                session, who.organization_id, "customer.created", "customer", row.id, clock(request)
            )
    except DomainError as exc:
        with unit_of_work(request) as session:
            taxes = _taxes(session, who.organization_id)
        return _form(
            request,
            who,
            customer=None,
            values=form_kit.kept(data),
            errors=form_kit.sentences(exc),
            taxes=taxes,
        )
    return form_kit.to_page(
        f"/dashboard/customers/{_quoted(external_id)}", f"Customer {external_id} created."
    )


def _quoted(external_id: str) -> str:
    return quote(external_id, safe="")


@router.get("/customers/{external_id}/edit")
@auth.requires("admin")  # a form only they may send
def edit_customer(external_id: str, request: Request) -> Response:
    who = auth.operator(request)
    assert who is not None
    with unit_of_work(request) as session:
        try:
            row = customer_service.find(
                session, organization_id=who.organization_id, external_id=external_id
            )
        except NotFound:
            return _not_found(request, who, "customer")
        taxes = _taxes(session, who.organization_id)
        return _form(request, who, customer=row, values=_values(row), errors=[], taxes=taxes)


@router.post("/customers/{external_id}/edit")
async def update_customer(external_id: str, request: Request) -> Response:
    who = auth.operator(request)
    assert who is not None
    data = await auth.form(request)
    if not auth.csrf_ok(who, data):
        return Response("Invalid form token", status_code=400)
    try:
        with unit_of_work(request) as session:
            row = customer_service.find(
                session, organization_id=who.organization_id, external_id=external_id
            )
            taxes = _taxes(session, who.organization_id)
            customer_service.upsert(
                session,
                organization_id=who.organization_id,
                data=customer_service.CustomerInput(
                    external_id=external_id, fields=_fields(data, taxes)
                ),
                clock=clock(request),
            )
            enqueue(
                session, who.organization_id, "customer.updated", "customer", row.id, clock(request)
            )
    except NotFound as exc:
        if exc.resource == "customer":
            return _not_found(request, who, "customer")
        return await _refused_edit(request, who, external_id, data, exc)
    except DomainError as exc:
        return await _refused_edit(request, who, external_id, data, exc)
    return form_kit.to_page(
        f"/dashboard/customers/{_quoted(external_id)}", "Customer details saved."
    )


async def _refused_edit(
    request: Request, who: auth.Operator, external_id: str, data: dict[str, str], exc: DomainError
) -> Response:
    with unit_of_work(request) as session:
        row = customer_service.find(
            session, organization_id=who.organization_id, external_id=external_id
        )
        taxes = _taxes(session, who.organization_id)
        return _form(
            request,
            who,
            customer=row,
            values=form_kit.kept(data),
            errors=form_kit.sentences(exc),
            taxes=taxes,
        )


def _live_subscriptions(session: Session, row: Customer) -> list[Subscription]:
    return list(
        session.scalars(
            select(Subscription)
            .where(
                Subscription.customer_id == row.id,
                Subscription.status.in_(("active", "pending")),
            )
            .order_by(Subscription.created_at)
        )
    )


@router.get("/customers/{external_id}/delete")
@auth.requires("admin")  # a form only they may send
def confirm_delete(external_id: str, request: Request) -> Response:
    who = auth.operator(request)
    assert who is not None
    with unit_of_work(request) as session:
        try:
            row = customer_service.find(
                session, organization_id=who.organization_id, external_id=external_id
            )
        except NotFound:
            return _not_found(request, who, "customer")
        return _page(
            request,
            who,
            "dashboard/customer_delete.html",
            customer=row,
            subscriptions=_live_subscriptions(session, row),
        )


@router.post("/customers/{external_id}/delete")
async def delete_customer(external_id: str, request: Request) -> Response:
    who = auth.operator(request)
    assert who is not None
    data = await auth.form(request)
    if not auth.csrf_ok(who, data):
        return Response("Invalid form token", status_code=400)
    with unit_of_work(request) as session:
        try:
            row = customer_service.find(
                session, organization_id=who.organization_id, external_id=external_id
            )
        except NotFound:
            return _not_found(request, who, "customer")
        customer_service.delete(session, row=row, clock=clock(request))
    return form_kit.to_page("/dashboard/customers", f"Customer {external_id} deleted.")
