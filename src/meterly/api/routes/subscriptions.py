"""/api/v1/subscriptions"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy.orm import Session

from meterly.api.http import (
    clock,
    envelope,
    json_body,
    listing,
    organization_id,
    page_params,
    parse,
    query_list,
    root,
    unit_of_work,
)
from meterly.api.openapi import wire_body
from meterly.api.schemas.subscriptions import SubscriptionIn, subscription
from meterly.services import subscriptions as subs
from meterly.services.common import Clock
from meterly.store.tables import Plan, Subscription

router = APIRouter(prefix="/subscriptions", tags=["subscriptions"])


def render(
    session: Session, row: Subscription, now_clock: Clock, *, with_plan: bool = True
) -> dict[str, Any]:
    previous_plan = None
    if row.previous_subscription_id:
        previous = session.get(Subscription, row.previous_subscription_id)
        previous_plan = session.get(Plan, previous.plan_id) if previous else None
    period = None
    if row.status == "active":
        period = subs.current_period(session, row, at=now_clock.now())
    plan_body = None
    if with_plan:
        from meterly.api.schemas.plans import plan_payload

        plan_body = plan_payload(session, row.plan, with_counters=False)
    return subscription(
        row,
        period=period,
        previous_plan=previous_plan,
        next_sub=subs.next_subscription(session, row),
        plan_body=plan_body,
    )


def _input(raw: dict[str, Any]) -> subs.SubscriptionInput:
    data = parse(SubscriptionIn, raw)
    return subs.SubscriptionInput(**data.model_dump(exclude_unset=True), sent=frozenset(raw))


@router.post("", openapi_extra=wire_body("subscription", SubscriptionIn))
def create(
    request: Request, org: str = Depends(organization_id), body: Any = Depends(json_body)
) -> Response:
    data = _input(root(body, "subscription"))
    with unit_of_work(request) as session:
        row = subs.create(session, organization_id=org, data=data, clock=clock(request))
        return envelope("subscription", render(session, row, clock(request)))


@router.get("")
def index(request: Request, org: str = Depends(organization_id)) -> Response:
    page, per_page = page_params(request)
    with unit_of_work(request) as session:
        rows, total = subs.list_page(
            session,
            organization_id=org,
            page=page,
            per_page=per_page,
            external_customer_id=request.query_params.get("external_customer_id"),
            plan_code=request.query_params.get("plan_code"),
            statuses=query_list(request, "status"),
        )
        items = [render(session, r, clock(request), with_plan=False) for r in rows]
    return listing("subscriptions", items, page=page, per_page=per_page, total=total)


@router.get("/{external_id}")
def show(external_id: str, request: Request, org: str = Depends(organization_id)) -> Response:
    with unit_of_work(request) as session:
        row = subs.find(
            session,
            organization_id=org,
            external_id=external_id,
            status=request.query_params.get("status"),
        )
        return envelope("subscription", render(session, row, clock(request)))


@router.put("/{external_id}", openapi_extra=wire_body("subscription", SubscriptionIn))
def update(
    external_id: str,
    request: Request,
    org: str = Depends(organization_id),
    body: Any = Depends(json_body),
) -> Response:
    data = _input(root(body, "subscription"))
    with unit_of_work(request) as session:
        row = subs.find(
            session,
            organization_id=org,
            external_id=external_id,
            status=request.query_params.get("status"),
        )
        subs.update(session, sub=row, data=data, clock=clock(request))
        return envelope("subscription", render(session, row, clock(request)))


@router.delete("/{external_id}")
def terminate(external_id: str, request: Request, org: str = Depends(organization_id)) -> Response:
    params = request.query_params
    with unit_of_work(request) as session:
        row = subs.find(
            session, organization_id=org, external_id=external_id, status=params.get("status")
        )
        subs.terminate(
            session,
            sub=row,
            clock=clock(request),
            on_termination_invoice=params.get("on_termination_invoice"),
            on_termination_credit_note=params.get("on_termination_credit_note"),
        )
        return envelope("subscription", render(session, row, clock(request)))
