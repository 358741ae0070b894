"""The customer portal: /portal/{token} (HTML) and /portal/{token}/usage.json (polled)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from sqlalchemy.orm import Session

from meterly.api.http import clock, ok, settings, unit_of_work
from meterly.api.schemas.usage import customer_usage
from meterly.domain.errors import NotAllowed, NotFound
from meterly.services import invoicing
from meterly.services.accounts import find_organization
from meterly.services.analytics import portal
from meterly.services.documents import Formatter
from meterly.store.tables import Customer, Invoice
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


def _subscription_views(
    session: Session, customer: Customer, now: datetime
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


def _invoice_rows(request: Request, invoices: list[Invoice]) -> list[dict[str, Any]]:
    config = settings(request)
    return [
        {
            "id": inv.id,
            "number": inv.number,
            "issuing_date": inv.issuing_date,
            "status": inv.status,
            "payment_status": inv.payment_status,
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
        subscriptions = _subscription_views(session, customer, now)
        invoices = _invoice_rows(request, portal.invoices(session, customer))
        wallets = portal.wallet_balances(session, customer)
        org = find_organization(session, customer.organization_id)
        # The portal speaks the customer's document language, as its invoices do.
        locale = invoicing.snapshot.document_locale(org, customer)
        return render(
            "portal/index.html",
            f=Formatter(locale, customer.currency or org.default_currency, 2),
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
                "subscriptions": _subscription_views(session, customer, now),
            }
        )
