"""The customer portal: /portal/{token} (HTML) and /portal/{token}/usage.json (polled).

The portal speaks the customer's document language (its own `document_locale`, else its
billing entity's, else the organization's), as its invoices do: labels, amounts, numbers
and dates are formatted here with the documents' Babel formatter, and usage.json carries
the formatted texts, so the page's live updates read the same as the first render.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy.orm import Session

from meterly.api.http import clock, listing, ok, page_params, settings, unit_of_work
from meterly.api.schemas.events import event
from meterly.api.schemas.usage import customer_usage
from meterly.domain.errors import NotAllowed, NotFound
from meterly.domain.money import currency
from meterly.services import invoicing, reconciliation
from meterly.services.accounts import find_organization
from meterly.services.analytics import portal
from meterly.services.documents import Formatter
from meterly.store.tables import Customer, Fee, Invoice
from meterly.web.links import invoice_pdf_url
from meterly.web.templating import render

router = APIRouter(prefix="/portal", include_in_schema=False)

POLL_SECONDS = 3
_GONE = b'{"status":404,"error":"Not Found","code":"customer_not_found"}'


def _not_found() -> Response:
    return render("portal/not_found.html", status_code=404)


def _customer(request: Request, session: Session, token: str) -> Customer:
    return portal.open_portal(
        session,
        secret_keys=settings(request).verification_keys,
        token=token,
        now=clock(request).now(),
    )


def _formatter(session: Session, customer: Customer) -> Formatter:
    org = find_organization(session, customer.organization_id)
    code = customer.currency or org.default_currency
    locale = invoicing.snapshot.document_locale(session, customer)
    return Formatter(locale, code, currency(code).exponent)


def _texts(i: int, body: dict[str, Any], plan_cents: int, f: Formatter) -> dict[str, str]:
    """The displayed text of every live figure of subscription `i`, by element id."""
    code = str(body["currency"])

    def money(cents: Any) -> str:
        return f.money_in(int(cents or 0), code)

    def units(value: Any) -> str:
        return "—" if value is None else f.number(Decimal(str(value)))

    texts = {
        f"sub-{i}-amount": money(body["amount_cents"]),
        f"sub-{i}-total": money(body["total_amount_cents"]),
        f"sub-{i}-projected": money(body["projected_amount_cents"]),
        f"sub-{i}-projected-bill": money(plan_cents + int(body["projected_amount_cents"] or 0)),
    }
    for j, charge in enumerate(body["charges_usage"]):
        rows = [(f"sub-{i}-charge-{j}", charge)]
        rows += [(f"sub-{i}-charge-{j}-filter-{k}", x) for k, x in enumerate(charge["filters"])]
        for prefix, row in rows:
            texts[f"{prefix}-units"] = units(row.get("units"))
            texts[f"{prefix}-amount"] = money(row.get("amount_cents"))
            texts[f"{prefix}-projected-units"] = units(row.get("projected_units"))
            texts[f"{prefix}-projected-amount"] = money(row.get("projected_amount_cents"))
    return texts


def _subscription_views(
    session: Session, customer: Customer, now: datetime, f: Formatter
) -> list[dict[str, Any]]:
    views: list[dict[str, Any]] = []
    for sub in portal.active_subscriptions(session, customer):
        try:
            usage = portal.subscription_usage(session, customer=customer, subscription=sub, now=now)
        except (NotAllowed, NotFound):
            continue
        body = customer_usage(usage.usage, ratio=usage.ratio)
        daily = portal.daily_usage(session, usage=usage, now=now)
        # A subscription that started in this period had no previous one: events sent
        # before its start belong to nobody's period and draw no "previous period" line.
        started = sub.started_at or sub.subscription_at
        had_previous = started < usage.usage.window.start
        window = usage.usage.window
        views.append(
            {
                "external_id": sub.external_id,
                "name": sub.name or sub.plan.name,
                "plan": {"code": sub.plan.code, "name": sub.plan.name},
                "elapsed_ratio": float(usage.ratio),
                "had_previous": had_previous,
                "exponent": usage.usage.currency.exponent,
                "plan_amount_cents": sub.plan.amount_cents,
                "usage": body,
                # Local dates of the customer's timezone, in its language.
                "period": {
                    "from": f.date(window.first_day),
                    "to": f.date(window.last_day),
                    "timezone": window.timezone,
                },
                "texts": _texts(len(views), body, sub.plan.amount_cents, f),
                "daily": [
                    {
                        "code": s.code,
                        "name": s.name,
                        "measure": s.measure,
                        "days": [d.isoformat() for d in s.current_days],
                        "current": s.current,
                        "previous": s.previous if had_previous else None,
                    }
                    for s in daily
                ],
            }
        )
    return views


_STATUS_LABELS = ("draft", "finalized", "voided", "pending", "succeeded", "failed")


def _status(f: Formatter, value: str) -> str:
    """An invoice or payment status in the customer's language (as stored when unknown)."""
    return f.t(value).lower() if value in _STATUS_LABELS else value


def _invoice_rows(request: Request, invoices: list[Invoice], f: Formatter) -> list[dict[str, Any]]:
    config = settings(request)
    return [
        {
            "id": inv.id,
            "number": inv.number,
            "issuing_date": inv.issuing_date,
            "status": inv.status,
            "status_label": _status(f, inv.status),
            "payment_status": inv.payment_status,
            "payment_status_label": _status(f, inv.payment_status),
            "total_amount_cents": inv.total_amount_cents,
            "currency": inv.currency,
            "pdf_url": invoice_pdf_url(config, inv.id),
        }
        for inv in invoices
    ]


@router.get("/{token}")
def portal_page(token: str, request: Request) -> Response:
    now = clock(request).now()
    with unit_of_work(request) as session:
        try:
            customer = _customer(request, session, token)
        except NotFound:
            return _not_found()
        # The portal speaks the customer's document language, as its invoices do.
        f = _formatter(session, customer)
        subscriptions = _subscription_views(session, customer, now, f)
        invoices = _invoice_rows(request, portal.invoices(session, customer), f)
        wallets = portal.wallet_balances(session, customer)
        return render(
            "portal/index.html",
            f=f,
            customer=customer,
            subscriptions=subscriptions,
            invoices=invoices,
            wallets=wallets,
            token=token,
            poll_seconds=POLL_SECONDS,
            now=now,
        )


@router.get("/{token}/usage.json")
def portal_usage(token: str, request: Request) -> Response:
    now = clock(request).now()
    with unit_of_work(request) as session:
        try:
            customer = _customer(request, session, token)
        except NotFound:
            return Response(_GONE, status_code=404, media_type="application/json")
        return ok(
            {
                "customer": {"external_id": customer.external_id, "name": customer.name},
                "at": now.isoformat(),
                "subscriptions": _subscription_views(
                    session, customer, now, _formatter(session, customer)
                ),
            }
        )


def _own_invoice(session: Session, customer: Customer, invoice_id: str | None) -> Invoice | None:
    """An issued invoice of this customer (what the portal lists), else None."""
    invoice = session.get(Invoice, invoice_id) if invoice_id else None
    if (
        invoice is None
        or invoice.customer_id != customer.id
        or invoice.status not in portal.VISIBLE_INVOICES
    ):
        return None
    return invoice


@router.get("/{token}/invoices/{invoice_id}/explain")
def portal_explain(token: str, invoice_id: str, request: Request) -> Response:
    """Why each line of one of the customer's invoices is this amount (issue 18's explain,
    from the figures stored at issue), in the customer's language."""
    with unit_of_work(request) as session:
        try:
            customer = _customer(request, session, token)
        except NotFound:
            return _not_found()
        invoice = _own_invoice(session, customer, invoice_id)
        if invoice is None:
            return _not_found()
        explanation = reconciliation.explain_invoice(
            session, organization_id=customer.organization_id, invoice_id=invoice.id
        )
        return render(
            "portal/invoice_explain.html",
            f=_formatter(session, customer),
            customer=customer,
            invoice=invoice,
            explanation=explanation,
            token=token,
        )


@router.get("/{token}/fees/{fee_id}/events")
def portal_fee_events(token: str, fee_id: str, request: Request) -> Response:
    """The events behind one of the customer's invoice lines, oldest first, paginated."""
    page, per_page = page_params(request)
    with unit_of_work(request) as session:
        try:
            customer = _customer(request, session, token)
        except NotFound:
            return Response(_GONE, status_code=404, media_type="application/json")
        fee = session.get(Fee, fee_id)
        if fee is None or _own_invoice(session, customer, fee.invoice_id) is None:
            gone = b'{"status":404,"error":"Not Found","code":"fee_not_found"}'
            return Response(gone, status_code=404, media_type="application/json")
        rows, total = reconciliation.fee_events(
            session,
            organization_id=customer.organization_id,
            fee_id=fee.id,
            page=page,
            per_page=per_page,
        )
    return listing("events", [event(r) for r in rows], page=page, per_page=per_page, total=total)
