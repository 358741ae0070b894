"""Alerts of a subscription or of a wallet, and a subscription's lifetime usage.

/api/v1/subscriptions/{external_id}/alerts[/{code}]
/api/v1/customers/{external_customer_id}/wallets/{wallet_code}/alerts[/{code}]
/api/v1/subscriptions/{external_id}/lifetime_usage

Both kinds of alert share one set of handlers; only the owner lookup differs (an owner is
the keyword the alerts service scopes by: `external_subscription_id` or `wallet_id`).
"""

from __future__ import annotations

from collections.abc import Callable
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
from meterly.api.openapi import LIFETIME_USAGE, one_or_many, wire_body
from meterly.api.schemas.alerts import AlertIn, alert, lifetime_usage
from meterly.services import subscriptions as subs
from meterly.services.spend_control import alerts as alert_service
from meterly.services.spend_control import progressive_billing as progressive
from meterly.store.tables import Subscription

router = APIRouter(prefix="/subscriptions", tags=["alerts"])
wallets_router = APIRouter(prefix="/customers", tags=["alerts"])

Owner = Callable[[Session], dict[str, str]]


def _subscription(session: Session, org: str, external_id: str) -> Subscription:
    return subs.find(session, organization_id=org, external_id=external_id)


def _of_subscription(org: str, external_id: str) -> Owner:
    def owner(session: Session) -> dict[str, str]:
        sub = _subscription(session, org, external_id)
        return {"external_subscription_id": sub.external_id}

    return owner


def _of_wallet(org: str, external_customer_id: str, wallet_code: str) -> Owner:
    def owner(session: Session) -> dict[str, str]:
        from meterly.services.credits import wallets

        wallet = wallets.find_by_code(
            session,
            organization_id=org,
            external_customer_id=external_customer_id,
            code=wallet_code,
        )
        return {"wallet_id": wallet.id}

    return owner


def _input(raw: dict[str, Any]) -> alert_service.AlertInput:
    data = parse(AlertIn, raw)
    return alert_service.AlertInput(**data.model_dump(exclude_unset=True))


# --- shared handlers ---------------------------------------------------------------------


def _create(request: Request, org: str, body: Any, owner: Owner) -> Response:
    """One alert (`{"alert": {...}}`) or several at once (`{"alerts": [...]}`, all or nothing)."""
    batch = isinstance(body, dict) and isinstance(body.get("alerts"), list)
    items = body["alerts"] if batch else [root(body, "alert")]
    if batch and not all(isinstance(i, dict) for i in items):
        raise BadRequest("param is missing or the value is empty or invalid: alerts")
    with unit_of_work(request) as session:
        scope = owner(session)
        rows = [
            alert_service.create(
                session, organization_id=org, data=_input(item), clock=clock(request), **scope
            )
            for item in items
        ]
        bodies = [alert(session, r) for r in rows]
    return ok({"alerts": bodies}) if batch else envelope("alert", bodies[0])


def _index(request: Request, org: str, owner: Owner) -> Response:
    with unit_of_work(request) as session:
        rows = alert_service.list_for(session, organization_id=org, **owner(session))
        items = [alert(session, r) for r in rows]
    return listing("alerts", items, page=1, per_page=max(len(items), 1), total=len(items))


def _destroy_all(request: Request, org: str, owner: Owner) -> Response:
    with unit_of_work(request) as session:
        for row in alert_service.list_for(session, organization_id=org, **owner(session)):
            alert_service.delete(session, alert=row, clock=clock(request))
    return ok({})


def _show(request: Request, org: str, owner: Owner, code: str) -> Response:
    with unit_of_work(request) as session:
        row = alert_service.find(session, organization_id=org, code=code, **owner(session))
        return envelope("alert", alert(session, row))


def _update(request: Request, org: str, owner: Owner, code: str, body: Any) -> Response:
    data = _input(root(body, "alert"))
    with unit_of_work(request) as session:
        row = alert_service.find(session, organization_id=org, code=code, **owner(session))
        alert_service.update(session, alert=row, data=data, clock=clock(request))
        return envelope("alert", alert(session, row))


def _destroy(request: Request, org: str, owner: Owner, code: str) -> Response:
    with unit_of_work(request) as session:
        row = alert_service.find(session, organization_id=org, code=code, **owner(session))
        alert_service.delete(session, alert=row, clock=clock(request))
        return envelope("alert", alert(session, row))


# --- subscription alerts -----------------------------------------------------------------

SUB = "/{external_id}/alerts"


@router.post(SUB, openapi_extra=one_or_many("alert", "alerts", AlertIn))
def create(
    external_id: str,
    request: Request,
    org: str = Depends(organization_id),
    body: Any = Depends(json_body),
) -> Response:
    return _create(request, org, body, _of_subscription(org, external_id))


@router.get(SUB)
def index(external_id: str, request: Request, org: str = Depends(organization_id)) -> Response:
    return _index(request, org, _of_subscription(org, external_id))


@router.delete(SUB)
def destroy_all(
    external_id: str, request: Request, org: str = Depends(organization_id)
) -> Response:
    return _destroy_all(request, org, _of_subscription(org, external_id))


@router.get(SUB + "/{code}")
def show(
    external_id: str, code: str, request: Request, org: str = Depends(organization_id)
) -> Response:
    return _show(request, org, _of_subscription(org, external_id), code)


@router.put(SUB + "/{code}", openapi_extra=wire_body("alert", AlertIn))
def update(
    external_id: str,
    code: str,
    request: Request,
    org: str = Depends(organization_id),
    body: Any = Depends(json_body),
) -> Response:
    return _update(request, org, _of_subscription(org, external_id), code, body)


@router.delete(SUB + "/{code}")
def destroy(
    external_id: str, code: str, request: Request, org: str = Depends(organization_id)
) -> Response:
    return _destroy(request, org, _of_subscription(org, external_id), code)


# --- wallet alerts -----------------------------------------------------------------------

WALLET = "/{external_customer_id}/wallets/{wallet_code}/alerts"


@wallets_router.post(WALLET, openapi_extra=one_or_many("alert", "alerts", AlertIn))
def create_wallet_alerts(
    external_customer_id: str,
    wallet_code: str,
    request: Request,
    org: str = Depends(organization_id),
    body: Any = Depends(json_body),
) -> Response:
    return _create(request, org, body, _of_wallet(org, external_customer_id, wallet_code))


@wallets_router.get(WALLET)
def index_wallet_alerts(
    external_customer_id: str,
    wallet_code: str,
    request: Request,
    org: str = Depends(organization_id),
) -> Response:
    return _index(request, org, _of_wallet(org, external_customer_id, wallet_code))


@wallets_router.delete(WALLET)
def destroy_wallet_alerts(
    external_customer_id: str,
    wallet_code: str,
    request: Request,
    org: str = Depends(organization_id),
) -> Response:
    return _destroy_all(request, org, _of_wallet(org, external_customer_id, wallet_code))


@wallets_router.get(WALLET + "/{code}")
def show_wallet_alert(
    external_customer_id: str,
    wallet_code: str,
    code: str,
    request: Request,
    org: str = Depends(organization_id),
) -> Response:
    return _show(request, org, _of_wallet(org, external_customer_id, wallet_code), code)


@wallets_router.put(WALLET + "/{code}", openapi_extra=wire_body("alert", AlertIn))
def update_wallet_alert(
    external_customer_id: str,
    wallet_code: str,
    code: str,
    request: Request,
    org: str = Depends(organization_id),
    body: Any = Depends(json_body),
) -> Response:
    return _update(request, org, _of_wallet(org, external_customer_id, wallet_code), code, body)


@wallets_router.delete(WALLET + "/{code}")
def destroy_wallet_alert(
    external_customer_id: str,
    wallet_code: str,
    code: str,
    request: Request,
    org: str = Depends(organization_id),
) -> Response:
    return _destroy(request, org, _of_wallet(org, external_customer_id, wallet_code), code)


# --- lifetime usage ----------------------------------------------------------------------


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


@router.put("/{external_id}/lifetime_usage", openapi_extra=LIFETIME_USAGE)
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
