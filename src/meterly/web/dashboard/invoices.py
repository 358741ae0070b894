"""Dashboard invoice pages: the filtered list, one invoice, and finalizing or voiding it."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from meterly.api.http import clock, settings, unit_of_work
from meterly.domain.errors import DomainError, NotAllowed, NotFound
from meterly.services import billing, reconciliation
from meterly.services.billing import invoices as invoice_service
from meterly.store.tables import Customer, Invoice
from meterly.web import auth
from meterly.web.dashboard.common import (
    PER_PAGE,
    _int,
    _login_redirect,
    _not_found,
    _page,
    section_router,
)
from meterly.web.links import invoice_pdf_url

router = section_router()

INVOICE_STATUSES = ("draft", "finalized", "voided", "failed")


@router.get("/invoices")
def invoices(request: Request) -> Response:
    who = auth.operator(request)
    if who is None:
        return _login_redirect(request)
    status = request.query_params.get("status", "")
    customer_id = request.query_params.get("customer", "").strip()
    page = _int(request.query_params.get("page"))
    filters = invoice_service.InvoiceFilters(
        statuses=(status,) if status in INVOICE_STATUSES else (),
        external_customer_id=customer_id or None,
    )
    with unit_of_work(request) as session:
        rows, total = invoice_service.list_page(
            session,
            organization_id=who.organization_id,
            page=page,
            per_page=PER_PAGE,
            filters=filters,
        )
        names = _customer_names(session, rows)
        return _page(
            request,
            who,
            "dashboard/invoices.html",
            invoices=rows,
            names=names,
            total=total,
            status=status,
            statuses=INVOICE_STATUSES,
            customer=customer_id,
            page=page,
            pages=max((total + PER_PAGE - 1) // PER_PAGE, 1),
        )


def _customer_names(session: Session, rows: list[Invoice]) -> dict[str, Customer]:
    ids = {r.customer_id for r in rows}
    if not ids:
        return {}
    return {c.id: c for c in session.scalars(select(Customer).where(Customer.id.in_(ids)))}


def _invoice(session: Session, who: auth.Operator, invoice_id: str) -> Invoice:
    return invoice_service.find(session, organization_id=who.organization_id, invoice_id=invoice_id)


@router.get("/invoices/{invoice_id}")
def invoice(invoice_id: str, request: Request) -> Response:
    who = auth.operator(request)
    if who is None:
        return _login_redirect(request)
    with unit_of_work(request) as session:
        try:
            row = _invoice(session, who, invoice_id)
        except NotFound:
            return _not_found(request, who, "invoice")
        pdf_url = (
            invoice_pdf_url(settings(request), row.id)
            if row.status in ("finalized", "voided")
            else None
        )
        return _page(
            request,
            who,
            "dashboard/invoice.html",
            invoice=row,
            customer=session.get(Customer, row.customer_id),
            pdf_url=pdf_url,
            message=request.query_params.get("message"),
            # Each line's arithmetic and the waterfall (services/reconciliation/explain.py).
            explanation=reconciliation.explain_invoice(
                session, organization_id=who.organization_id, invoice_id=row.id
            ),
        )


@router.post("/invoices/{invoice_id}/{action}")
async def invoice_action(invoice_id: str, action: str, request: Request) -> Response:
    who = auth.operator(request)
    if who is None:
        return _login_redirect(request)
    data = await auth.form(request)
    if not auth.csrf_ok(who, data) or action not in ("finalize", "void"):
        return Response("Invalid form", status_code=400)
    message = {"finalize": "Invoice finalized.", "void": "Invoice voided."}[action]
    try:
        with unit_of_work(request) as session:
            row = _invoice(session, who, invoice_id)
            if action == "finalize":
                if row.status != "draft":
                    raise NotAllowed("invoice_not_draft")
                billing.refresh_draft(session, invoice=row, clock=clock(request))
                session.flush()
                session.refresh(row)
                billing.finalize(session, invoice=row, clock=clock(request))
            else:
                invoice_service.void(session, invoice=row, clock=clock(request))
    except NotFound:
        return _not_found(request, who, "invoice")
    except DomainError as exc:
        message = f"Not done: {exc}"
    query = urlencode({"message": message})
    return RedirectResponse(f"/dashboard/invoices/{invoice_id}?{query}", status_code=303)
