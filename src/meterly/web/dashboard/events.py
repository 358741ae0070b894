"""The dashboard's event log: accepted usage events, filtered, with why any will not be billed."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from meterly.api.http import unit_of_work
from meterly.domain.errors import NotFound
from meterly.services.metering import ingest
from meterly.store.tables import BillableMetricRow, Customer, Subscription
from meterly.web import auth
from meterly.web.dashboard.common import PER_PAGE, _login_redirect, _page, section_router

router = section_router()


def _event_problems(
    session: Session, who: auth.Operator, rows: list[dict[str, Any]]
) -> dict[str, str]:
    """Why an accepted event will not be billed (Lago's "events with errors")."""
    codes = {r["code"] for r in rows}
    subs = {r["external_subscription_id"] for r in rows}
    metrics = {
        m.code: m
        for m in session.scalars(
            select(BillableMetricRow).where(
                BillableMetricRow.organization_id == who.organization_id,
                BillableMetricRow.code.in_(codes),
                BillableMetricRow.deleted_at.is_(None),
            )
        )
    }
    known_subs = set(
        session.scalars(
            select(Subscription.external_id).where(
                Subscription.organization_id == who.organization_id,
                Subscription.external_id.in_(subs),
            )
        )
    )
    problems: dict[str, str] = {}
    for r in rows:
        metric = metrics.get(r["code"])
        key = f"{r['transaction_id']}|{r['external_subscription_id']}"
        if metric is None:
            problems[key] = "no billable metric with this code"
        elif r["external_subscription_id"] not in known_subs:
            problems[key] = "no subscription with this external id"
        elif metric.field_name and metric.aggregation_type not in ("count_agg",):
            value = (r.get("properties") or {}).get(metric.field_name)
            if value is None:
                problems[key] = f"property '{metric.field_name}' is missing"
    return problems


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
    with unit_of_work(request) as session:
        rows: list[dict[str, Any]] = []
        if transaction_id:
            try:
                rows = [
                    ingest.find(
                        session, organization_id=who.organization_id, transaction_id=transaction_id
                    )
                ]
            except NotFound:
                rows = []
        elif customer_id:
            external_ids = list(
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
            for external_id in external_ids:
                if sub_id and external_id != sub_id:
                    continue
                found, _ = ingest.list_page(
                    session,
                    organization_id=who.organization_id,
                    page=1,
                    per_page=PER_PAGE,
                    code=code or None,
                    external_subscription_id=external_id,
                )
                rows.extend(found)
            rows.sort(key=lambda r: r["timestamp"], reverse=True)
            rows = rows[:PER_PAGE]
        else:
            rows, _ = ingest.list_page(
                session,
                organization_id=who.organization_id,
                page=1,
                per_page=PER_PAGE * (4 if only_problems else 1),
                code=code or None,
                external_subscription_id=sub_id or None,
            )
        problems = _event_problems(session, who, rows) if rows else {}
        if only_problems:
            rows = [
                r
                for r in rows
                if f"{r['transaction_id']}|{r['external_subscription_id']}" in problems
            ]
        return _page(
            request,
            who,
            "dashboard/events.html",
            events=rows,
            problems=problems,
            filters={
                "customer": customer_id,
                "subscription": sub_id,
                "code": code,
                "transaction_id": transaction_id,
                "problems": only_problems,
            },
        )
