"""Dashboard customer pages: the searchable list, and one customer's subscriptions with
their current usage, invoices, wallets and portal link."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from meterly.api.http import clock, settings, unit_of_work
from meterly.api.schemas.usage import customer_usage
from meterly.domain.errors import NotAllowed, NotFound
from meterly.services.accounts import customers as customer_service
from meterly.services.analytics import portal
from meterly.services.billing import invoices as invoice_service
from meterly.services.payments import dunning, payment_requests
from meterly.store.tables import Customer, Subscription
from meterly.web import auth
from meterly.web.dashboard.common import (
    PER_PAGE,
    _int,
    _login_redirect,
    _not_found,
    _page,
    section_router,
)

router = section_router()


@router.get("/customers")
def customers(request: Request) -> Response:
    who = auth.operator(request)
    if who is None:
        return _login_redirect(request)
    q = request.query_params.get("q", "").strip()
    page = _int(request.query_params.get("page"))
    with unit_of_work(request) as session:
        rows, total = customer_service.list_page(
            session,
            organization_id=who.organization_id,
            page=page,
            per_page=PER_PAGE,
            search_term=q or None,
        )
        return _page(
            request,
            who,
            "dashboard/customers.html",
            customers=rows,
            total=total,
            q=q,
            page=page,
            pages=max((total + PER_PAGE - 1) // PER_PAGE, 1),
            message=request.query_params.get("message"),  # what a form just did (form_kit)
        )


def _customer_subscriptions(
    session: Session, customer: Customer, request: Request
) -> list[dict[str, Any]]:
    now = clock(request).now()
    rows = session.scalars(
        select(Subscription)
        .where(Subscription.customer_id == customer.id)
        .order_by(Subscription.created_at.desc())
    )
    result: list[dict[str, Any]] = []
    for sub in rows:
        usage: dict[str, Any] | None = None
        if sub.status == "active":
            try:
                found = portal.subscription_usage(
                    session, customer=customer, subscription=sub, now=now
                )
                usage = customer_usage(found.usage, ratio=found.ratio)
            except (NotAllowed, NotFound):
                usage = None
        result.append({"row": sub, "usage": usage})
    return result


@router.get("/customers/{external_id}")
def customer(external_id: str, request: Request) -> Response:
    who = auth.operator(request)
    if who is None:
        return _login_redirect(request)
    config = settings(request)
    with unit_of_work(request) as session:
        try:
            row = customer_service.find(
                session, organization_id=who.organization_id, external_id=external_id
            )
        except NotFound:
            return _not_found(request, who, "customer")
        invoices, _ = invoice_service.list_page(
            session,
            organization_id=who.organization_id,
            page=1,
            per_page=100,
            filters=invoice_service.InvoiceFilters(external_customer_id=external_id),
        )
        portal_link = portal.portal_url(
            session,
            organization_id=who.organization_id,
            external_customer_id=external_id,
            secret_key=config.signing_key,
            public_url=str(request.base_url),
            now=clock(request).now(),
        )
        return _page(
            request,
            who,
            "dashboard/customer.html",
            customer=row,
            subscriptions=_customer_subscriptions(session, row, request),
            invoices=invoices,
            wallets=portal.wallet_balances(session, row),
            dunning=_dunning_status(session, row),
            payment_requests=payment_requests.list_page(
                session,
                organization_id=who.organization_id,
                page=1,
                per_page=20,
                external_customer_id=external_id,
            )[0],
            portal_link=portal_link,
            message=request.query_params.get("message"),  # what a form just did (form_kit)
        )


def _dunning_status(session: Session, row: Customer) -> dict[str, Any]:
    """Where the customer stands in dunning: the campaign that applies and the attempts made."""
    state = dunning.state_of(session, row.id)
    campaign = dunning.campaign_for(session, state, row.organization_id)
    return {
        "campaign": campaign,
        "excluded": state is not None and state.excluded,
        "attempts": state.attempts if state else 0,
        "last_attempt_at": state.last_attempt_at if state else None,
        "finished": state is not None and state.finished,
    }
