"""Dashboard catalogue pages: plans and billable metrics, listed, shown and created by form."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from fastapi import Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy.orm import Session

from meterly.api.http import clock, unit_of_work
from meterly.domain.errors import NotFound, ValidationFailed
from meterly.domain.money import currency as find_currency
from meterly.services.catalog import billable_metrics as metric_service
from meterly.services.catalog import plans as plan_service
from meterly.store.tables import BillableMetricRow
from meterly.web import auth
from meterly.web.dashboard.common import (
    _int,
    _login_redirect,
    _not_found,
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
        return _page(request, who, "dashboard/plans.html", plans=rows, total=total, counts=counts)


def _metrics(session: Session, who: auth.Operator) -> list[BillableMetricRow]:
    rows, _ = metric_service.list_page(
        session, organization_id=who.organization_id, page=1, per_page=500
    )
    return rows


@router.get("/plans/new")
def plan_form(request: Request) -> Response:
    who = auth.operator(request)
    if who is None:
        return _login_redirect(request)
    with unit_of_work(request) as session:
        return _page(
            request,
            who,
            "dashboard/plan_form.html",
            metrics=_metrics(session, who),
            intervals=INTERVALS,
            errors={},
            values={"interval": "monthly", "currency": "USD", "charge_model": "standard"},
        )


def _cents(text: str, code: str) -> int:
    exponent = find_currency(code or "USD").exponent
    try:
        value = Decimal(text.strip() or "0")
    except InvalidOperation:
        raise ValidationFailed.field("amount", "value_is_invalid") from None
    return int((value * (Decimal(10) ** exponent)).to_integral_value())


def _plan_input(data: dict[str, str], metric_ids: dict[str, str]) -> plan_service.PlanInput:
    cur = (data.get("currency") or "USD").upper()
    charges: list[plan_service.ChargeInput] = []
    metric_code = data.get("metric_code", "")
    if metric_code:
        if metric_code not in metric_ids:
            raise ValidationFailed.field("metric_code", "value_is_invalid")
        model = data.get("charge_model") or "standard"
        price = data.get("unit_price") or "0"
        properties: dict[str, Any] = {"amount": price}
        if model == "package":
            properties = {
                "amount": price,
                "package_size": _int(data.get("package_size"), 1),
                "free_units": 0,
            }
        charges.append(
            plan_service.ChargeInput(
                billable_metric_id=metric_ids[metric_code],
                charge_model=model,
                properties=properties,
            )
        )
    return plan_service.PlanInput(
        name=data.get("name") or None,
        code=data.get("code") or None,
        interval=data.get("interval") or None,
        amount_cents=_cents(data.get("amount", "0"), cur),
        amount_currency=cur,
        pay_in_advance=data.get("pay_in_advance") == "on",
        description=data.get("description") or None,
        charges=tuple(charges),
    )


@router.post("/plans/new")
async def create_plan(request: Request) -> Response:
    who = auth.operator(request)
    if who is None:
        return _login_redirect(request)
    data = await auth.form(request)
    if not auth.csrf_ok(who, data):
        return Response("Invalid form token", status_code=400)
    try:
        with unit_of_work(request) as session:
            metrics = _metrics(session, who)
            row = plan_service.create(
                session,
                organization_id=who.organization_id,
                data=_plan_input(data, {m.code: m.id for m in metrics}),
                clock=clock(request),
            )
            code = row.code
    except ValidationFailed as exc:
        with unit_of_work(request) as session:
            return _page(
                request,
                who,
                "dashboard/plan_form.html",
                status_code=422,
                metrics=_metrics(session, who),
                intervals=INTERVALS,
                errors=exc.details,
                values=data,
            )
    return RedirectResponse(f"/dashboard/plans/{code}", status_code=303)


@router.get("/plans/{code}")
def plan(code: str, request: Request) -> Response:
    who = auth.operator(request)
    if who is None:
        return _login_redirect(request)
    with unit_of_work(request) as session:
        try:
            row = plan_service.find(session, organization_id=who.organization_id, code=code)
        except NotFound:
            return _not_found(request, who, "plan")
        return _page(
            request,
            who,
            "dashboard/plan.html",
            plan=row,
            counts=plan_service.counters(session, row.id),
        )


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
