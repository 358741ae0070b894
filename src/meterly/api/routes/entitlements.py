"""Plan and subscription entitlements (Lago's routes), and Meterly's access check:
`GET /subscriptions/{external_id}/entitlements/{feature_code}/check`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy.orm import Session

from meterly.api.errors import BadRequest
from meterly.api.http import clock, envelope, json_body, ok, organization_id, unit_of_work
from meterly.api.openapi import ENTITLEMENTS
from meterly.api.schemas.entitlements import (
    access_check,
    plan_entitlement,
    subscription_entitlement,
)
from meterly.services.accounts import subscriptions
from meterly.services.catalog import plans
from meterly.services.entitlements import access, grants
from meterly.store.tables import Plan, Subscription

plans_router = APIRouter(prefix="/plans/{code}/entitlements", tags=["entitlements"])
subscriptions_router = APIRouter(
    prefix="/subscriptions/{external_id}/entitlements", tags=["entitlements"]
)


def _requested(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict) or not isinstance(body.get("entitlements"), dict):
        raise BadRequest("param is missing or the value is empty or invalid: entitlements")
    requested: dict[str, Any] = body["entitlements"]
    return requested


def _plan(session: Session, org: str, code: str) -> Plan:
    return plans.find(session, organization_id=org, code=code)


def _plan_listing(session: Session, plan: Plan) -> Response:
    return ok({"entitlements": [plan_entitlement(g) for g in grants.plan_grants(session, plan)]})


@plans_router.get("")
def plan_index(code: str, request: Request, org: str = Depends(organization_id)) -> Response:
    with unit_of_work(request) as session:
        return _plan_listing(session, _plan(session, org, code))


def _set_plan(request: Request, org: str, code: str, body: Any, *, replace: bool) -> Response:
    requested = _requested(body)
    with unit_of_work(request) as session:
        plan = _plan(session, org, code)
        grants.set_plan_grants(
            session, plan=plan, requested=requested, replace=replace, clock=clock(request)
        )
        return _plan_listing(session, plan)


@plans_router.post("", openapi_extra=ENTITLEMENTS)
def plan_create(
    code: str, request: Request, org: str = Depends(organization_id), body: Any = Depends(json_body)
) -> Response:
    return _set_plan(request, org, code, body, replace=True)


@plans_router.patch("", openapi_extra=ENTITLEMENTS)
def plan_update(
    code: str, request: Request, org: str = Depends(organization_id), body: Any = Depends(json_body)
) -> Response:
    return _set_plan(request, org, code, body, replace=False)


@plans_router.get("/{feature_code}")
def plan_show(
    code: str, feature_code: str, request: Request, org: str = Depends(organization_id)
) -> Response:
    with unit_of_work(request) as session:
        grant = grants.plan_grant(session, _plan(session, org, code), feature_code)
        return envelope("entitlement", plan_entitlement(grant))


@plans_router.delete("/{feature_code}")
def plan_destroy(
    code: str, feature_code: str, request: Request, org: str = Depends(organization_id)
) -> Response:
    with unit_of_work(request) as session:
        grant = grants.remove_plan_grant(
            session, plan=_plan(session, org, code), feature_code=feature_code
        )
        return envelope("entitlement", plan_entitlement(grant))


@plans_router.delete("/{feature_code}/privileges/{privilege_code}")
def plan_destroy_privilege(
    code: str,
    feature_code: str,
    privilege_code: str,
    request: Request,
    org: str = Depends(organization_id),
) -> Response:
    with unit_of_work(request) as session:
        grant = grants.remove_plan_privilege(
            session,
            plan=_plan(session, org, code),
            feature_code=feature_code,
            privilege_code=privilege_code,
            clock=clock(request),
        )
        return envelope("entitlement", plan_entitlement(grant))


# --- subscriptions ---------------------------------------------------------------------


def _subscription(session: Session, request: Request, org: str, external_id: str) -> Subscription:
    return subscriptions.find(
        session,
        organization_id=org,
        external_id=external_id,
        status=request.query_params.get("subscription_status"),
    )


def _subscription_listing(session: Session, sub: Subscription) -> Response:
    items = [subscription_entitlement(g) for g in grants.subscription_grants(session, sub)]
    return ok({"entitlements": items})


@subscriptions_router.get("")
def subscription_index(
    external_id: str, request: Request, org: str = Depends(organization_id)
) -> Response:
    with unit_of_work(request) as session:
        return _subscription_listing(session, _subscription(session, request, org, external_id))


@subscriptions_router.patch("", openapi_extra=ENTITLEMENTS)
def subscription_update(
    external_id: str,
    request: Request,
    org: str = Depends(organization_id),
    body: Any = Depends(json_body),
) -> Response:
    requested = _requested(body)
    with unit_of_work(request) as session:
        sub = _subscription(session, request, org, external_id)
        grants.patch_subscription(session, sub=sub, requested=requested, clock=clock(request))
        return _subscription_listing(session, sub)


@subscriptions_router.delete("/{feature_code}")
def subscription_destroy(
    external_id: str, feature_code: str, request: Request, org: str = Depends(organization_id)
) -> Response:
    with unit_of_work(request) as session:
        grant = grants.remove_from_subscription(
            session,
            sub=_subscription(session, request, org, external_id),
            feature_code=feature_code,
            clock=clock(request),
        )
        return envelope("entitlement", subscription_entitlement(grant))


@subscriptions_router.delete("/{feature_code}/privileges/{privilege_code}")
def subscription_destroy_privilege(
    external_id: str,
    feature_code: str,
    privilege_code: str,
    request: Request,
    org: str = Depends(organization_id),
) -> Response:
    with unit_of_work(request) as session:
        grant = grants.remove_subscription_override(
            session,
            sub=_subscription(session, request, org, external_id),
            feature_code=feature_code,
            privilege_code=privilege_code,
            clock=clock(request),
        )
        return envelope("entitlement", subscription_entitlement(grant))


@subscriptions_router.get("/{feature_code}/check")
def check(
    external_id: str, feature_code: str, request: Request, org: str = Depends(organization_id)
) -> Response:
    """Meterly's extension: may the customer use the feature now (entitlement, usage
    limits, and the prepaid balance with `?require_prepaid_balance=true`)?"""
    wants_balance = request.query_params.get("require_prepaid_balance", "").lower() == "true"
    with unit_of_work(request) as session:
        result = access.check(
            session,
            organization_id=org,
            external_subscription_id=external_id,
            feature_code=feature_code,
            at=clock(request).now(),
            require_prepaid_balance=wants_balance,
        )
        return envelope("entitlement_check", access_check(result))
