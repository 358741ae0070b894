"""Dashboard catalogue pages: the plan list, and billable metrics listed and created by form.

A plan's own pages (show, create, edit, delete, its charges) are the plan editor's
(`plan_editor`, `plan_charges`).
"""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy.orm import Session

from meterly.api.http import clock, unit_of_work
from meterly.domain.errors import ValidationFailed
from meterly.services.catalog import billable_metrics as metric_service
from meterly.services.catalog import plans as plan_service
from meterly.store.tables import BillableMetricRow
from meterly.web import auth
from meterly.web.dashboard.common import (
    _login_redirect,
    _page,
    section_router,
)

router = section_router()

AGGREGATIONS = (
    "count_agg",
    "sum_agg",
    "max_agg",
    "unique_count_agg",
    "latest_agg",
    "weighted_sum_agg",
)
INTERVALS = plan_service.INTERVALS


@router.get("/plans")
def plans(request: Request) -> Response:
    who = auth.operator(request)
    if who is None:
        return _login_redirect(request)
    with unit_of_work(request) as session:
        rows, total = plan_service.list_page(
            session, organization_id=who.organization_id, page=1, per_page=200
        )
        counts = {r.id: plan_service.counters(session, r.id) for r in rows}
        return _page(
            request,
            who,
            "dashboard/plans.html",
            plans=rows,
            total=total,
            counts=counts,
            message=request.query_params.get("message"),
        )


def _metrics(session: Session, who: auth.Operator) -> list[BillableMetricRow]:
    rows, _ = metric_service.list_page(
        session, organization_id=who.organization_id, page=1, per_page=500
    )
    return rows


@router.get("/metrics")
def metrics(request: Request) -> Response:
    who = auth.operator(request)
    if who is None:
        return _login_redirect(request)
    with unit_of_work(request) as session:
        uses = metric_service.uses(session, organization_id=who.organization_id)
        return _page(
            request,
            who,
            "dashboard/metrics.html",
            metrics=_metrics(session, who),
            uses=uses,
            unused=metric_service.MetricUse(),
        )


@router.get("/metrics/new")
def metric_form(request: Request) -> Response:
    who = auth.operator(request)
    if who is None:
        return _login_redirect(request)
    return _page(
        request,
        who,
        "dashboard/metric_form.html",
        aggregations=AGGREGATIONS,
        errors={},
        values={"aggregation_type": "count_agg"},
    )


def _metric_input(data: dict[str, str]) -> metric_service.MetricInput:
    fields: dict[str, Any] = {
        "name": data.get("name") or None,
        "code": data.get("code") or None,
        "description": data.get("description") or None,
        "aggregation_type": data.get("aggregation_type") or None,
        "field_name": data.get("field_name") or None,
        "recurring": data.get("recurring") == "on",
    }
    return metric_service.MetricInput(**fields, sent=frozenset(fields))


@router.post("/metrics/new")
async def create_metric(request: Request) -> Response:
    who = auth.operator(request)
    if who is None:
        return _login_redirect(request)
    data = await auth.form(request)
    if not auth.csrf_ok(who, data):
        return Response("Invalid form token", status_code=400)
    try:
        with unit_of_work(request) as session:
            metric_service.create(
                session,
                organization_id=who.organization_id,
                data=_metric_input(data),
                clock=clock(request),
            )
    except ValidationFailed as exc:
        return _page(
            request,
            who,
            "dashboard/metric_form.html",
            status_code=422,
            aggregations=AGGREGATIONS,
            errors=exc.details,
            values=data,
        )
    return RedirectResponse("/dashboard/metrics", status_code=303)
