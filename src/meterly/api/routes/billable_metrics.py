"""/api/v1/billable_metrics"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from meterly.api.http import (
    clock,
    envelope,
    json_body,
    listing,
    organization_id,
    page_params,
    parse,
    root,
    unit_of_work,
)
from meterly.api.openapi import wire_body
from meterly.api.schemas.billable_metrics import BillableMetricIn, billable_metric
from meterly.services.catalog import billable_metrics as metrics
from meterly.services.notifications import enqueue

router = APIRouter(prefix="/billable_metrics", tags=["billable_metrics"])


def _input(body: Any) -> metrics.MetricInput:
    raw = root(body, "billable_metric")
    data = parse(BillableMetricIn, raw)
    fields = data.model_dump(exclude_unset=True)
    if data.filters is not None:
        fields["filters"] = [f.model_dump() for f in data.filters]
    return metrics.MetricInput(**fields, sent=frozenset(raw))


@router.post("", openapi_extra=wire_body("billable_metric", BillableMetricIn))
def create(
    request: Request, org: str = Depends(organization_id), body: Any = Depends(json_body)
) -> Response:
    data = _input(body)
    with unit_of_work(request) as session:
        row = metrics.create(session, organization_id=org, data=data, clock=clock(request))
        enqueue(session, org, "billable_metric.created", "billable_metric", row.id, clock(request))
        return envelope("billable_metric", billable_metric(row))


@router.get("")
def index(request: Request, org: str = Depends(organization_id)) -> Response:
    page, per_page = page_params(request)
    with unit_of_work(request) as session:
        rows, total = metrics.list_page(session, organization_id=org, page=page, per_page=per_page)
        items = [billable_metric(r) for r in rows]
    return listing("billable_metrics", items, page=page, per_page=per_page, total=total)


@router.get("/{code}")
def show(code: str, request: Request, org: str = Depends(organization_id)) -> Response:
    with unit_of_work(request) as session:
        row = metrics.find(session, organization_id=org, code=code)
        return envelope("billable_metric", billable_metric(row, counters=False))


@router.put("/{code}", openapi_extra=wire_body("billable_metric", BillableMetricIn))
def update(
    code: str, request: Request, org: str = Depends(organization_id), body: Any = Depends(json_body)
) -> Response:
    data = _input(body)
    with unit_of_work(request) as session:
        row = metrics.find(session, organization_id=org, code=code)
        metrics.update(session, row=row, data=data, clock=clock(request))
        enqueue(session, org, "billable_metric.updated", "billable_metric", row.id, clock(request))
        return envelope("billable_metric", billable_metric(row))


@router.delete("/{code}")
def destroy(code: str, request: Request, org: str = Depends(organization_id)) -> Response:
    with unit_of_work(request) as session:
        row = metrics.find(session, organization_id=org, code=code)
        metrics.delete(session, row=row, clock=clock(request))
        enqueue(session, org, "billable_metric.deleted", "billable_metric", row.id, clock(request))
        return envelope("billable_metric", billable_metric(row))
