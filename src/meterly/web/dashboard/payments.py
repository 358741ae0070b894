"""The dashboard's payments: the list (with receipts), and recording a manual payment."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from urllib.parse import urlencode

from fastapi import Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy import select

from meterly.api.http import clock, unit_of_work
from meterly.domain.errors import DomainError, NotFound
from meterly.domain.money import currency
from meterly.services.billing import invoices as invoice_service
from meterly.services.payments import ManualPayment, ledger
from meterly.store.tables import Customer, Invoice, PaymentReceipt
from meterly.web import auth
from meterly.web.dashboard.common import PER_PAGE, _int, _login_redirect, _page, section_router

router = section_router()


@router.get("/payments")
def payments(request: Request) -> Response:
    who = auth.operator(request)
    if who is None:
        return _login_redirect(request)
    page = _int(request.query_params.get("page"))
    invoice_id = request.query_params.get("invoice_id") or None
    with unit_of_work(request) as session:
        rows, total = ledger.list_payments(
            session,
            organization_id=who.organization_id,
            page=page,
            per_page=PER_PAGE,
            invoice_id=invoice_id,
        )
        ids = [r.id for r in rows]
        receipts = {
            r.payment_id: r
            for r in session.scalars(
                select(PaymentReceipt).where(PaymentReceipt.payment_id.in_(ids))
            )
        }
        invoices = {
            i.id: i
            for i in session.scalars(
                select(Invoice).where(Invoice.id.in_({r.invoice_id for r in rows}))
            )
        }
        customers = {
            c.id: c
            for c in session.scalars(
                select(Customer).where(Customer.id.in_({r.customer_id for r in rows}))
            )
        }
        return _page(
            request,
            who,
            "dashboard/payments.html",
            payments=rows,
            receipts=receipts,
            invoices=invoices,
            customers=customers,
            total=total,
            invoice_id=invoice_id,
        )


@router.post("/payments")
async def record_payment(request: Request) -> Response:
    who = auth.operator(request)
    if who is None:
        return _login_redirect(request)
    data = await auth.form(request)
    invoice_id = data.get("invoice_id", "")
    if not auth.csrf_ok(who, data) or not invoice_id:
        return Response("Invalid form", status_code=400)
    try:
        with unit_of_work(request) as session:
            invoice = invoice_service.find(
                session, organization_id=who.organization_id, invoice_id=invoice_id
            )
            exponent = currency(invoice.currency).exponent
            # The operator types major units ("12.50"); payments are kept in minor units.
            amount = Decimal(data.get("amount", "").strip().replace(",", "."))
            cents = amount.scaleb(exponent)
            if cents != cents.to_integral_value():
                raise InvalidOperation
            ledger.record_manual(
                session,
                organization_id=who.organization_id,
                data=ManualPayment(
                    invoice_id=invoice.id,
                    amount_cents=int(cents),
                    reference=data.get("reference", ""),
                ),
                clock=clock(request),
            )
        message = "Payment recorded."
    except NotFound:
        message = "Not done: no such invoice."
    except (InvalidOperation, ValueError):
        message = "Not done: the amount is not a number of the invoice's currency."
    except DomainError as exc:
        message = f"Not done: {exc}"
    query = urlencode({"message": message})
    return RedirectResponse(f"/dashboard/invoices/{invoice_id}?{query}", status_code=303)
