"""The dashboard's event explorer: stored events, filtered and paged, each with its billing fate.

The fate comes from the one classifier the events API and the reconciliation report use
(`services.reconciliation`), computed in SQL, so the "will not be billed" filter finds
every such event, on every page, not only among the latest ones.
"""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import Request, Response
from sqlalchemy import select

from meterly.api.http import unit_of_work
from meterly.services import reconciliation
from meterly.store.tables import Customer, Subscription
from meterly.web import auth
from meterly.web.dashboard.common import PER_PAGE, _login_redirect, _page, section_router

router = section_router()


def _page_number(raw: str | None) -> int:
    try:
        return max(int(raw or 1), 1)
    except ValueError:
        return 1


@router.get("/events")
def events(request: Request) -> Response:
    who = auth.operator(request)
    if who is None:
        return _login_redirect(request)
    params = request.query_params
    customer_id = params.get("customer", "").strip()
    sub_id = params.get("subscription", "").strip()
    code = params.get("code", "").strip()
    transaction_id = params.get("transaction_id", "").strip()
    only_problems = params.get("problems") == "1"
    reason = params.get("reason", "").strip()
    if reason not in reconciliation.REASONS:
        reason = ""
    page = _page_number(params.get("page"))
    with unit_of_work(request) as session:
        subscriptions: list[str] | None = None
        if customer_id:
            subscriptions = list(
                session.scalars(
                    select(Subscription.external_id)
                    .join(Customer, Customer.id == Subscription.customer_id)
                    .where(
                        Customer.organization_id == who.organization_id,
                        Customer.external_id == customer_id,
                    )
                    .distinct()
                )
            )
        if sub_id:
            subscriptions = [s for s in subscriptions or [sub_id] if s == sub_id]
        rows, total = reconciliation.events_with_fates(
            session,
            organization_id=who.organization_id,
            page=page,
            per_page=PER_PAGE,
            only_unbilled=only_problems,
            reason=reason or None,
            code=code or None,
            external_subscription_ids=subscriptions,
            transaction_id=transaction_id or None,
        )
        filters = {
            "customer": customer_id,
            "subscription": sub_id,
            "code": code,
            "transaction_id": transaction_id,
            "problems": only_problems,
            "reason": reason,
        }
        query = {k: ("1" if v is True else v) for k, v in filters.items() if v}
        return _page(
            request,
            who,
            "dashboard/events.html",
            events=rows,
            total=total,
            page=page,
            pages=max((total + PER_PAGE - 1) // PER_PAGE, 1),
            query=urlencode(query),
            reasons=reconciliation.REASONS,
            filters=filters,
        )
