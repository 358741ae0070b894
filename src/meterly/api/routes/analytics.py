"""/api/v1/analytics/*: gross revenue, MRR, invoiced usage, collections, overdue balance,
usage per metric."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy.orm import Session

from meterly.api.http import clock, ok, organization_id, unit_of_work
from meterly.api.schemas import analytics as schema
from meterly.domain.errors import ValidationFailed
from meterly.domain.money import is_currency
from meterly.services.analytics import revenue as analytics
from meterly.services.analytics import usage_analytics

router = APIRouter(prefix="/analytics", tags=["analytics"])

Compute = Callable[[Session, analytics.Scope], list[analytics.MonthRow]]


def scope(request: Request, org: str) -> analytics.Scope:
    params = request.query_params
    currency = (params.get("currency") or "").upper() or None
    if currency is not None and not is_currency(currency):
        raise ValidationFailed.field("currency", "value_is_invalid")
    try:
        months = int(params.get("months") or analytics.DEFAULT_MONTHS)
    except ValueError:
        raise ValidationFailed.field("months", "value_is_invalid") from None
    if not 1 <= months <= 120:
        raise ValidationFailed.field("months", "value_is_invalid")
    return analytics.Scope(
        organization_id=org,
        now=clock(request).now(),
        currency=currency,
        months=months,
        external_customer_id=params.get("external_customer_id") or None,
    )


def _answer(
    request: Request,
    org: str,
    plural: str,
    compute: Compute,
    render: Callable[[analytics.MonthRow], dict[str, Any]],
) -> Response:
    asked = scope(request, org)
    with unit_of_work(request) as session:
        rows = compute(session, asked)
    return ok({plural: [render(r) for r in rows]})


@router.get("/gross_revenue")
def gross_revenue(request: Request, org: str = Depends(organization_id)) -> Response:
    return _answer(request, org, "gross_revenues", analytics.gross_revenue, schema.gross_revenue)


@router.get("/mrr")
def mrr(request: Request, org: str = Depends(organization_id)) -> Response:
    return _answer(request, org, "mrrs", analytics.mrr, schema.mrr)


@router.get("/invoiced_usage")
def invoiced_usage(request: Request, org: str = Depends(organization_id)) -> Response:
    return _answer(request, org, "invoiced_usages", analytics.invoiced_usage, schema.invoiced_usage)


@router.get("/invoice_collection")
def invoice_collection(request: Request, org: str = Depends(organization_id)) -> Response:
    return _answer(
        request,
        org,
        "invoice_collections",
        analytics.invoice_collection,
        schema.invoice_collection,
    )


@router.get("/overdue_balance")
def overdue_balance(request: Request, org: str = Depends(organization_id)) -> Response:
    return _answer(
        request, org, "overdue_balances", analytics.overdue_balance, schema.overdue_balance
    )


@router.get("/usage")
def usage(request: Request, org: str = Depends(organization_id)) -> Response:
    """Invoiced usage per billable metric, period and currency (services/analytics)."""
    params = request.query_params
    currency = (params.get("currency") or "").upper() or None
    if currency is not None and not is_currency(currency):
        raise ValidationFailed.field("currency", "value_is_invalid")
    recurring = params.get("is_billable_metric_recurring")
    if recurring is not None and recurring not in ("true", "false"):
        raise ValidationFailed.field("is_billable_metric_recurring", "value_is_invalid")
    query = usage_analytics.UsageQuery(
        organization_id=org,
        time_granularity=params.get("time_granularity") or "monthly",
        currency=currency,
        from_date=_day(params.get("from_date"), "from_date"),
        to_date=_day(params.get("to_date"), "to_date"),
        customer_type=params.get("customer_type") or None,
        external_customer_id=params.get("external_customer_id") or None,
        customer_country=params.get("customer_country") or None,
        external_subscription_id=params.get("external_subscription_id") or None,
        is_billable_metric_recurring=None if recurring is None else recurring == "true",
        plan_code=params.get("plan_code") or None,
        billable_metric_code=params.get("billable_metric_code") or None,
    )
    with unit_of_work(request) as session:
        rows = usage_analytics.usage(session, query)
    return ok({"usages": [schema.usage(org, r) for r in rows]})


def _day(raw: str | None, name: str) -> date | None:
    if not raw:
        return None
    try:
        return date.fromisoformat(raw[:10])
    except ValueError:
        raise ValidationFailed.field(name, "invalid_date") from None
