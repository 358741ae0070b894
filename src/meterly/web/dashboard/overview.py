"""The dashboard's home page: MRR, revenue, receivables, top customers and their charts."""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

from fastapi import Request, Response
from sqlalchemy.orm import Session

from meterly.api.http import clock, unit_of_work
from meterly.domain.money import currency as find_currency
from meterly.services import reconciliation
from meterly.services import subscriptions as subscription_service
from meterly.services.accounts import customers as customer_service
from meterly.services.analytics import revenue as analytics
from meterly.web import auth
from meterly.web.dashboard.common import _int, _login_redirect, _page, section_router

router = section_router()


def _scope(request: Request, session: Session, who: auth.Operator) -> analytics.Scope:
    from meterly.store.tables import Organization

    org = session.get(Organization, who.organization_id)
    wanted = (request.query_params.get("currency") or "").upper()
    cur = wanted if wanted else (org.default_currency if org else "USD")
    return analytics.Scope(
        organization_id=who.organization_id,
        now=clock(request).now(),
        currency=cur,
        months=min(_int(request.query_params.get("months"), 12), 36),
    )


def _chart_data(
    session: Session,
    scope: analytics.Scope,
    mrr: list[analytics.MonthRow],
    gross: list[analytics.MonthRow],
) -> dict[str, Any]:
    exponent = find_currency(scope.currency or "USD").exponent
    scale = Decimal(10) ** exponent
    months = [m.strftime("%Y-%m") for m in scope.month_range()]

    def major(cents: int) -> float:
        return float(Decimal(cents) / scale)

    usage_rows = analytics.invoiced_usage(session, scope)
    by_code: dict[str, dict[str, int]] = defaultdict(dict)
    units_by_code: dict[str, dict[str, float]] = defaultdict(dict)
    for row in usage_rows:
        key = row.month.strftime("%Y-%m")
        code = row.code or "—"
        by_code[code][key] = by_code[code].get(key, 0) + row.amount_cents
        units_by_code[code][key] = units_by_code[code].get(key, 0.0) + float(row.units)
    return {
        "currency": scope.currency,
        "months": months,
        "mrr": [major(r.amount_cents) for r in mrr],
        "gross_revenue": [major(r.amount_cents) for r in gross],
        "invoices_count": [r.invoices_count for r in gross],
        "invoiced_usage": [
            {"code": code, "values": [major(values.get(m, 0)) for m in months]}
            for code, values in sorted(by_code.items())
        ],
        "usage_trends": [
            {"code": code, "values": [values.get(m, 0.0) for m in months]}
            for code, values in sorted(units_by_code.items())
        ],
    }


@router.get("")
def overview(request: Request) -> Response:
    who = auth.operator(request)
    if who is None:
        return _login_redirect(request)
    with unit_of_work(request) as session:
        scope = _scope(request, session, who)
        all_mrr = analytics.mrr(session, scope)
        gross_rows = analytics.gross_revenue(session, scope)
        charts = _chart_data(session, scope, all_mrr, gross_rows)
        receivables = analytics.receivables(session, scope)
        top = analytics.top_customers(session, scope, limit=10)
        mrr_rows = [r for r in all_mrr if r.amount_cents] or [
            analytics.MonthRow(month=scope.month_range()[-1], currency=scope.currency or "USD")
        ]
        _, customers_total = customer_service.list_page(
            session, organization_id=who.organization_id, page=1, per_page=1
        )
        _, subs_total = subscription_service.list_page(
            session, organization_id=who.organization_id, page=1, per_page=1
        )
        return _page(
            request,
            who,
            "dashboard/overview.html",
            scope=scope,
            charts=charts,
            receivables=receivables,
            top=top,
            mrr_now=mrr_rows[-1].amount_cents,
            mrr_month=mrr_rows[-1].month,
            gross_total=sum(r.amount_cents for r in gross_rows),
            customers_total=customers_total,
            subscriptions_total=subs_total,
            # Stored events no invoice will ever count, per reason (the explorer lists them).
            unbilled=reconciliation.flagged_counts(session, organization_id=who.organization_id),
        )
