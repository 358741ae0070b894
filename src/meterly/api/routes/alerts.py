"""/api/v1/subscriptions/{external_id}/alerts and /lifetime_usage."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy.orm import Session

from meterly.api.errors import BadRequest
from meterly.api.http import (
    clock,
    envelope,
    json_body,
    listing,
    ok,
    organization_id,
    parse,
    root,
    unit_of_work,
)
from meterly.api.schemas.alerts import AlertIn, alert, lifetime_usage
from meterly.services import alerts as alert_service
from meterly.services import progressive_billing as progressive
from meterly.services import subscriptions as subs
from meterly.store.tables import Subscription

router = APIRouter(prefix="/subscriptions", tags=["alerts"])


def _subscription(session: Session, org: str, external_id: str) -> Subscription:
    return subs.find(session, organization_id=org, external_id=external_id)


def _input(raw: dict[str, Any]) -> alert_service.AlertInput:
    data = parse(AlertIn, raw)
    return alert_service.AlertInput(**data.model_dump(exclude_unset=True))


@router.post("/{external_id}/alerts")
def create(
    external_id: str,
    request: Request,
    org: str = Depends(organization_id),
    body: Any = Depends(json_body),
) -> Response:
    """One alert (`{"alert": {...}}`) or several at once (`{"alerts": [...]}`, all or nothing)."""
    batch = isinstance(body, dict) and isinstance(body.get("alerts"), list)
    items = body["alerts"] if batch else [root(body, "alert")]
    if batch and not all(isinstance(i, dict) for i in items):
        raise BadRequest("param is missing or the value is empty or invalid: alerts")
    with unit_of_work(request) as session:
        sub = _subscription(session, org, external_id)
        rows = [
            alert_service.create(
                session,
                organization_id=org,
                data=_input(item),
                clock=clock(request),
                external_subscription_id=sub.external_id,
            )
            for item in items
        ]
        bodies = [alert(session, r) for r in rows]
    return ok({"alerts": bodies}) if batch else envelope("alert", bodies[0])


@router.get("/{external_id}/alerts")
def index(external_id: str, request: Request, org: str = Depends(organization_id)) -> Response:
    with unit_of_work(request) as session:
        sub = _subscription(session, org, external_id)
        rows = alert_service.list_for(
            session, organization_id=org, external_subscription_id=sub.external_id
        )
        items = [alert(session, r) for r in rows]
    return listing("alerts", items, page=1, per_page=max(len(items), 1), total=len(items))


@router.delete("/{external_id}/alerts")
def destroy_all(
    external_id: str, request: Request, org: str = Depends(organization_id)
) -> Response:
    with unit_of_work(request) as session:
        sub = _subscription(session, org, external_id)
        for row in alert_service.list_for(
            session, organization_id=org, external_subscription_id=sub.external_id
        ):
            alert_service.delete(session, alert=row, clock=clock(request))
    return ok({})


def _find(session: Session, org: str, external_id: str, code: str) -> Any:
    sub = _subscription(session, org, external_id)
    return alert_service.find(
        session, organization_id=org, code=code, external_subscription_id=sub.external_id
    )


@router.get("/{external_id}/alerts/{code}")
def show(
    external_id: str, code: str, request: Request, org: str = Depends(organization_id)
) -> Response:
    with unit_of_work(request) as session:
        return envelope("alert", alert(session, _find(session, org, external_id, code)))


@router.put("/{external_id}/alerts/{code}")
def update(
    external_id: str,
    code: str,
    request: Request,
    org: str = Depends(organization_id),
    body: Any = Depends(json_body),
) -> Response:
    data = _input(root(body, "alert"))
    with unit_of_work(request) as session:
        row = _find(session, org, external_id, code)
        alert_service.update(session, alert=row, data=data, clock=clock(request))
        return envelope("alert", alert(session, row))


@router.delete("/{external_id}/alerts/{code}")
def destroy(
    external_id: str, code: str, request: Request, org: str = Depends(organization_id)
) -> Response:
    with unit_of_work(request) as session:
        row = _find(session, org, external_id, code)
        alert_service.delete(session, alert=row, clock=clock(request))
        return envelope("alert", alert(session, row))


def _lifetime(session: Session, sub: Subscription, request: Request) -> dict[str, Any]:
    usage = progressive.lifetime_usage(session, sub=sub, at=clock(request).now())
    thresholds = progressive.completion(
        progressive.thresholds_of(sub), usage.total_cents, progressive.reached_at(session, sub)
    )
    return lifetime_usage(
        sub,
        record_id=usage.record.id,
        historical=usage.historical_cents,
        invoiced=usage.invoiced_cents,
        current=usage.current_cents,
        thresholds=thresholds,
    )


@router.get("/{external_id}/lifetime_usage")
def show_lifetime_usage(
    external_id: str, request: Request, org: str = Depends(organization_id)
) -> Response:
    with unit_of_work(request) as session:
        sub = _subscription(session, org, external_id)
        return envelope("lifetime_usage", _lifetime(session, sub, request))


@router.put("/{external_id}/lifetime_usage")
def update_lifetime_usage(
    external_id: str,
    request: Request,
    org: str = Depends(organization_id),
    body: Any = Depends(json_body),
) -> Response:
    raw = root(body, "lifetime_usage")
    with unit_of_work(request) as session:
        sub = _subscription(session, org, external_id)
        progressive.set_historical_usage(
            session,
            sub=sub,
            amount_cents=raw.get("external_historical_usage_amount_cents"),
            clock=clock(request),
        )
        return envelope("lifetime_usage", _lifetime(session, sub, request))


# --- wallet alerts: /customers/{external_customer_id}/wallets/{wallet_code}/alerts --------

wallets_router = APIRouter(prefix="/customers", tags=["alerts"])


def _wallet_id(session: Session, org: str, external_customer_id: str, code: str) -> str:
    from meterly.services import wallets

    wallet = wallets.find_by_code(
        session, organization_id=org, external_customer_id=external_customer_id, code=code
    )
    return wallet.id


@wallets_router.post("/{external_customer_id}/wallets/{wallet_code}/alerts")
def create_wallet_alerts(
    external_customer_id: str,
    wallet_code: str,
    request: Request,
    org: str = Depends(organization_id),
    body: Any = Depends(json_body),
) -> Response:
    batch = isinstance(body, dict) and isinstance(body.get("alerts"), list)
    items = body["alerts"] if batch else [root(body, "alert")]
    if batch and not all(isinstance(i, dict) for i in items):
        raise BadRequest("param is missing or the value is empty or invalid: alerts")
    with unit_of_work(request) as session:
        wallet_id = _wallet_id(session, org, external_customer_id, wallet_code)
        rows = [
            alert_service.create(
                session,
                organization_id=org,
                data=_input(item),
                clock=clock(request),
                wallet_id=wallet_id,
            )
            for item in items
        ]
        bodies = [alert(session, r) for r in rows]
    return ok({"alerts": bodies}) if batch else envelope("alert", bodies[0])


@wallets_router.get("/{external_customer_id}/wallets/{wallet_code}/alerts")
def index_wallet_alerts(
    external_customer_id: str,
    wallet_code: str,
    request: Request,
    org: str = Depends(organization_id),
) -> Response:
    with unit_of_work(request) as session:
        wallet_id = _wallet_id(session, org, external_customer_id, wallet_code)
        items = [
            alert(session, r)
            for r in alert_service.list_for(session, organization_id=org, wallet_id=wallet_id)
        ]
    return listing("alerts", items, page=1, per_page=max(len(items), 1), total=len(items))


@wallets_router.delete("/{external_customer_id}/wallets/{wallet_code}/alerts")
def destroy_wallet_alerts(
    external_customer_id: str,
    wallet_code: str,
    request: Request,
    org: str = Depends(organization_id),
) -> Response:
    with unit_of_work(request) as session:
        wallet_id = _wallet_id(session, org, external_customer_id, wallet_code)
        for row in alert_service.list_for(session, organization_id=org, wallet_id=wallet_id):
            alert_service.delete(session, alert=row, clock=clock(request))
    return ok({})


def _wallet_alert(
    session: Session, org: str, external_customer_id: str, wallet_code: str, code: str
) -> Any:
    wallet_id = _wallet_id(session, org, external_customer_id, wallet_code)
    return alert_service.find(session, organization_id=org, code=code, wallet_id=wallet_id)


@wallets_router.get("/{external_customer_id}/wallets/{wallet_code}/alerts/{code}")
def show_wallet_alert(
    external_customer_id: str,
    wallet_code: str,
    code: str,
    request: Request,
    org: str = Depends(organization_id),
) -> Response:
    with unit_of_work(request) as session:
        row = _wallet_alert(session, org, external_customer_id, wallet_code, code)
        return envelope("alert", alert(session, row))


@wallets_router.put("/{external_customer_id}/wallets/{wallet_code}/alerts/{code}")
def update_wallet_alert(
    external_customer_id: str,
    wallet_code: str,
    code: str,
    request: Request,
    org: str = Depends(organization_id),
    body: Any = Depends(json_body),
) -> Response:
    data = _input(root(body, "alert"))
    with unit_of_work(request) as session:
        row = _wallet_alert(session, org, external_customer_id, wallet_code, code)
        alert_service.update(session, alert=row, data=data, clock=clock(request))
        return envelope("alert", alert(session, row))


@wallets_router.delete("/{external_customer_id}/wallets/{wallet_code}/alerts/{code}")
def destroy_wallet_alert(
    external_customer_id: str,
    wallet_code: str,
    code: str,
    request: Request,
    org: str = Depends(organization_id),
) -> Response:
    with unit_of_work(request) as session:
        row = _wallet_alert(session, org, external_customer_id, wallet_code, code)
        alert_service.delete(session, alert=row, clock=clock(request))
        return envelope("alert", alert(session, row))
