"""/api/v1/customers (usage endpoints live in routes/usage.py)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy import select
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
from meterly.api.schemas.customers import CustomerIn, customer
from meterly.domain.errors import ValidationFailed
from meterly.services import billing, mail, payments
from meterly.services.accounts import customers, find_organization
from meterly.services.documents import custom_sections
from meterly.services.notifications import enqueue
from meterly.store.tables import Customer, Tax

router = APIRouter(prefix="/customers", tags=["customers"])


def _taxes(session: Session, row: Customer) -> list[Tax]:
    if not row.tax_codes:
        return []
    query = select(Tax).where(
        Tax.organization_id == row.organization_id, Tax.code.in_(row.tax_codes)
    )
    return list(session.scalars(query))


def render(session: Session, row: Customer) -> dict[str, Any]:
    body = customer(row, find_organization(session, row.organization_id), _taxes(session, row))
    # The sections an invoice issued now would print (services/documents/custom_sections).
    body["skip_invoice_custom_sections"] = row.skip_invoice_custom_sections
    body["applicable_invoice_custom_sections"] = custom_sections.applicable(session, customer=row)
    # Meterly's own field (Lago has none): no automatic e-mail goes to this customer.
    body["email_opt_out"] = mail.opted_out(session, row.id)
    return body


def _section_choice(raw: dict[str, Any]) -> tuple[bool | None, list[str] | None]:
    """Lago's customer keys for custom sections, top level or under `invoice_custom_section`."""
    nested = raw.get("invoice_custom_section")
    source = {**raw, **nested} if isinstance(nested, dict) else raw
    skip = source.get("skip_invoice_custom_sections")
    codes = source.get("invoice_custom_section_codes")
    if skip is not None and not isinstance(skip, bool):
        raise ValidationFailed.field("skip_invoice_custom_sections", "value_is_invalid")
    if codes is not None and (
        not isinstance(codes, list) or not all(isinstance(c, str) for c in codes)
    ):
        raise ValidationFailed.field("invoice_custom_section_codes", "value_is_invalid")
    return skip, codes


@router.post("", openapi_extra=wire_body("customer", CustomerIn))
def create_or_update(
    request: Request, org: str = Depends(organization_id), body: Any = Depends(json_body)
) -> Response:
    raw = root(body, "customer")
    data = parse(CustomerIn, raw)
    fields = {k: v for k, v in data.model_dump(exclude_unset=True).items() if k != "external_id"}
    payload = customers.CustomerInput(external_id=data.external_id or "", fields=fields)
    skip_sections, section_codes = _section_choice(raw)
    opt_out = raw.get("email_opt_out")
    if opt_out is not None and not isinstance(opt_out, bool):
        raise ValidationFailed.field("email_opt_out", "value_is_invalid")
    with unit_of_work(request) as session:
        row, created = customers.upsert(
            session, organization_id=org, data=payload, clock=clock(request)
        )
        if skip_sections is not None or section_codes is not None:
            custom_sections.select_for_customer(
                session, customer=row, skip=skip_sections, codes=section_codes, clock=clock(request)
            )
        # billing_configuration.payment_provider links the customer to a provider customer.
        payments.connections.link_customer(session, customer=row, clock=clock(request))
        if opt_out is not None:
            mail.set_opt_out(session, customer=row, opted_out=opt_out, clock=clock(request))
        kind = "customer.created" if created else "customer.updated"
        enqueue(session, org, kind, "customer", row.id, clock(request))
        if "invoice_grace_period" in (raw.get("billing_configuration") or {}):
            # A lower grace period finalizes at once the drafts now due (Lago).
            billing.apply_grace_period(
                session, organization_id=org, customer_id=row.id, clock=clock(request)
            )
        return envelope("customer", render(session, row))


@router.get("")
def index(request: Request, org: str = Depends(organization_id)) -> Response:
    page, per_page = page_params(request)
    with unit_of_work(request) as session:
        rows, total = customers.list_page(
            session,
            organization_id=org,
            page=page,
            per_page=per_page,
            search_term=request.query_params.get("search_term"),
            currencies=query_list(request, "currencies"),
            countries=query_list(request, "countries"),
            external_id=request.query_params.get("external_id"),
        )
        items = [render(session, r) for r in rows]
    return listing("customers", items, page=page, per_page=per_page, total=total)


@router.get("/{external_id}")
def show(external_id: str, request: Request, org: str = Depends(organization_id)) -> Response:
    with unit_of_work(request) as session:
        row = customers.find(session, organization_id=org, external_id=external_id)
        return envelope("customer", render(session, row))


@router.delete("/{external_id}")
def destroy(external_id: str, request: Request, org: str = Depends(organization_id)) -> Response:
    with unit_of_work(request) as session:
        row = customers.find(session, organization_id=org, external_id=external_id)
        customers.delete(session, row=row, clock=clock(request))
        return envelope("customer", render(session, row))


# Customer-scoped lists. The Lago client calls these without an Authorization header
# (a client bug), so they answer 401 there as Lago does; with a key they work.


@router.get("/{external_id}/invoices")
def customer_invoices(
    external_id: str, request: Request, org: str = Depends(organization_id)
) -> Response:
    from meterly.api.schemas.invoices import invoice
    from meterly.services.billing import invoices

    page, per_page = page_params(request)
    with unit_of_work(request) as session:
        customers.find(session, organization_id=org, external_id=external_id)
        rows, total = invoices.list_page(
            session,
            organization_id=org,
            page=page,
            per_page=per_page,
            filters=invoices.InvoiceFilters(external_customer_id=external_id),
        )
        items = [invoice(session, r) for r in rows]
    return listing("invoices", items, page=page, per_page=per_page, total=total)


@router.get("/{external_id}/subscriptions")
def customer_subscriptions(
    external_id: str, request: Request, org: str = Depends(organization_id)
) -> Response:
    from meterly.api.routes.subscriptions import render
    from meterly.services import subscriptions

    page, per_page = page_params(request)
    with unit_of_work(request) as session:
        customers.find(session, organization_id=org, external_id=external_id)
        rows, total = subscriptions.list_page(
            session,
            organization_id=org,
            page=page,
            per_page=per_page,
            external_customer_id=external_id,
            statuses=query_list(request, "status"),
        )
        items = [render(session, r, clock(request), with_plan=False) for r in rows]
    return listing("subscriptions", items, page=page, per_page=per_page, total=total)
