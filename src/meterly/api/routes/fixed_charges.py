"""/api/v1/plans/{code}/fixed_charges and /api/v1/subscriptions/{external_id}/fixed_charges."""

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
    root,
    unit_of_work,
)
from meterly.api.openapi import wire_body
from meterly.api.schemas.fixed_charges import (
    FixedChargeIn,
    fixed_charge_input,
    fixed_charge_payload,
)
from meterly.services import subscriptions as subs
from meterly.services.billing import fixed_charge_fees
from meterly.services.catalog import fixed_charges, plans
from meterly.store.tables import FixedCharge, Subscription

plans_router = APIRouter(prefix="/plans", tags=["plans"])
subscriptions_router = APIRouter(prefix="/subscriptions", tags=["subscriptions"])


# --- plan fixed charges ----------------------------------------------------------------


def _fixed_charge(session: Session, org: str, code: str, fixed_code: str) -> FixedCharge:
    plan = plans.find(session, organization_id=org, code=code)
    return fixed_charges.find_fixed_charge(session, plan=plan, code=fixed_code)


@plans_router.get("/{code}/fixed_charges")
def plan_index(code: str, request: Request, org: str = Depends(organization_id)) -> Response:
    page, per_page = page_params(request)
    with unit_of_work(request) as session:
        plan = plans.find(session, organization_id=org, code=code)
        rows, total = fixed_charges.list_fixed_charges_page(
            session, plan=plan, page=page, per_page=per_page
        )
        items = [fixed_charge_payload(session, row) for row in rows]
    return listing("fixed_charges", items, page=page, per_page=per_page, total=total)


@plans_router.post("/{code}/fixed_charges", openapi_extra=wire_body("fixed_charge", FixedChargeIn))
def plan_create(
    code: str, request: Request, org: str = Depends(organization_id), body: Any = Depends(json_body)
) -> Response:
    data = fixed_charge_input(parse(FixedChargeIn, root(body, "fixed_charge")))
    with unit_of_work(request) as session:
        plan = plans.find(session, organization_id=org, code=code)
        row = fixed_charges.create_fixed_charge(session, plan=plan, data=data, clock=clock(request))
        return envelope("fixed_charge", fixed_charge_payload(session, row))


@plans_router.get("/{code}/fixed_charges/{fixed_charge_code}")
def plan_show(
    code: str, fixed_charge_code: str, request: Request, org: str = Depends(organization_id)
) -> Response:
    with unit_of_work(request) as session:
        row = _fixed_charge(session, org, code, fixed_charge_code)
        return envelope("fixed_charge", fixed_charge_payload(session, row))


@plans_router.put(
    "/{code}/fixed_charges/{fixed_charge_code}",
    openapi_extra=wire_body("fixed_charge", FixedChargeIn),
)
def plan_update(
    code: str,
    fixed_charge_code: str,
    request: Request,
    org: str = Depends(organization_id),
    body: Any = Depends(json_body),
) -> Response:
    data = fixed_charge_input(parse(FixedChargeIn, root(body, "fixed_charge")))
    with unit_of_work(request) as session:
        row = _fixed_charge(session, org, code, fixed_charge_code)
        previous = row.units
        fixed_charges.update_fixed_charge(session, row=row, data=data, clock=clock(request))
        fixed_charge_fees.plan_units_changed(
            session,
            fixed=row,
            previous=previous,
            apply_now=bool(data.apply_units_immediately),
            clock=clock(request),
        )
        return envelope("fixed_charge", fixed_charge_payload(session, row))


@plans_router.delete("/{code}/fixed_charges/{fixed_charge_code}")
def plan_destroy(
    code: str, fixed_charge_code: str, request: Request, org: str = Depends(organization_id)
) -> Response:
    with unit_of_work(request) as session:
        row = _fixed_charge(session, org, code, fixed_charge_code)
        answer = fixed_charge_payload(session, row)
        fixed_charges.delete_fixed_charge(session, row=row, clock=clock(request))
        return envelope("fixed_charge", answer)


# --- subscription fixed charges --------------------------------------------------------


def subscription_of(session: Session, request: Request, org: str, external_id: str) -> Subscription:
    """The subscription the route names; `subscription_status` picks among its versions."""
    return subs.find(
        session,
        organization_id=org,
        external_id=external_id,
        status=request.query_params.get("subscription_status"),
    )


@subscriptions_router.get("/{external_id}/fixed_charges")
def subscription_index(
    external_id: str, request: Request, org: str = Depends(organization_id)
) -> Response:
    page, per_page = page_params(request)
    with unit_of_work(request) as session:
        sub = subscription_of(session, request, org, external_id)
        rows = subs.overrides.effective_fixed_charges(session, sub)
        items = [
            fixed_charge_payload(session, row, units=units)
            for row, units in rows[(page - 1) * per_page : page * per_page]
        ]
    return listing("fixed_charges", items, page=page, per_page=per_page, total=len(rows))


@subscriptions_router.get("/{external_id}/fixed_charges/{fixed_charge_code}")
def subscription_show(
    external_id: str, fixed_charge_code: str, request: Request, org: str = Depends(organization_id)
) -> Response:
    with unit_of_work(request) as session:
        sub = subscription_of(session, request, org, external_id)
        row, units = subs.overrides.effective_fixed_charge(session, sub, fixed_charge_code)
        return envelope("fixed_charge", fixed_charge_payload(session, row, units=units))


@subscriptions_router.put(
    "/{external_id}/fixed_charges/{fixed_charge_code}",
    openapi_extra=wire_body("fixed_charge", FixedChargeIn),
)
def subscription_override(
    external_id: str,
    fixed_charge_code: str,
    request: Request,
    org: str = Depends(organization_id),
    body: Any = Depends(json_body),
) -> Response:
    data = fixed_charge_input(parse(FixedChargeIn, root(body, "fixed_charge")))
    with unit_of_work(request) as session:
        sub = subscription_of(session, request, org, external_id)
        row, units, _ = subs.overrides.override_fixed_charge(
            session, sub=sub, code=fixed_charge_code, data=data, clock=clock(request)
        )
        return envelope("fixed_charge", fixed_charge_payload(session, row, units=units))
