"""/api/v1/subscriptions/{external_id}/charges: a subscription's effective charges, its
own charge overrides and their filters (on its overridden plan)."""

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
from meterly.api.routes.fixed_charges import subscription_of
from meterly.api.schemas.plans import (
    ChargeFilterIn,
    ChargeIn,
    charge_filter,
    charge_input,
    charge_payload,
    filter_input,
)
from meterly.services import subscriptions as subs
from meterly.services.catalog import plans

router = APIRouter(prefix="/subscriptions", tags=["subscriptions"])


@router.get("/{external_id}/charges")
def index(external_id: str, request: Request, org: str = Depends(organization_id)) -> Response:
    page, per_page = page_params(request)
    with unit_of_work(request) as session:
        sub = subscription_of(session, request, org, external_id)
        rows = subs.overrides.charges(session, sub)
        items = [charge_payload(session, c) for c in rows[(page - 1) * per_page : page * per_page]]
    return listing("charges", items, page=page, per_page=per_page, total=len(rows))


@router.get("/{external_id}/charges/{charge_code}")
def show(
    external_id: str, charge_code: str, request: Request, org: str = Depends(organization_id)
) -> Response:
    with unit_of_work(request) as session:
        sub = subscription_of(session, request, org, external_id)
        row = subs.overrides.charge(session, sub, charge_code)
        return envelope("charge", charge_payload(session, row))


@router.put("/{external_id}/charges/{charge_code}", openapi_extra=wire_body("charge", ChargeIn))
def override(
    external_id: str,
    charge_code: str,
    request: Request,
    org: str = Depends(organization_id),
    body: Any = Depends(json_body),
) -> Response:
    data = charge_input(parse(ChargeIn, root(body, "charge")))
    with unit_of_work(request) as session:
        sub = subscription_of(session, request, org, external_id)
        row = subs.overrides.override_charge(
            session, sub=sub, code=charge_code, data=data, clock=clock(request)
        )
        return envelope("charge", charge_payload(session, row))


@router.get("/{external_id}/charges/{charge_code}/filters")
def filters_index(
    external_id: str, charge_code: str, request: Request, org: str = Depends(organization_id)
) -> Response:
    page, per_page = page_params(request)
    with unit_of_work(request) as session:
        sub = subscription_of(session, request, org, external_id)
        row = subs.overrides.charge(session, sub, charge_code)
        rows, total = plans.list_filters_page(session, charge=row, page=page, per_page=per_page)
        items = [charge_filter(f, charge_code=row.code) for f in rows]
    return listing("filters", items, page=page, per_page=per_page, total=total)


@router.post(
    "/{external_id}/charges/{charge_code}/filters",
    openapi_extra=wire_body("filter", ChargeFilterIn),
)
def filters_create(
    external_id: str,
    charge_code: str,
    request: Request,
    org: str = Depends(organization_id),
    body: Any = Depends(json_body),
) -> Response:
    data = filter_input(parse(ChargeFilterIn, root(body, "filter")))
    with unit_of_work(request) as session:
        sub = subscription_of(session, request, org, external_id)
        own, created = subs.overrides.create_filter(
            session, sub=sub, code=charge_code, data=data, clock=clock(request)
        )
        return envelope("filter", charge_filter(created, charge_code=own.code))


@router.get("/{external_id}/charges/{charge_code}/filters/{filter_id}")
def filters_show(
    external_id: str,
    charge_code: str,
    filter_id: str,
    request: Request,
    org: str = Depends(organization_id),
) -> Response:
    with unit_of_work(request) as session:
        sub = subscription_of(session, request, org, external_id)
        row = subs.overrides.charge(session, sub, charge_code)
        found = plans.find_filter(session, charge=row, filter_id=filter_id)
        return envelope("filter", charge_filter(found, charge_code=row.code))


@router.put(
    "/{external_id}/charges/{charge_code}/filters/{filter_id}",
    openapi_extra=wire_body("filter", ChargeFilterIn),
)
def filters_update(
    external_id: str,
    charge_code: str,
    filter_id: str,
    request: Request,
    org: str = Depends(organization_id),
    body: Any = Depends(json_body),
) -> Response:
    data = filter_input(parse(ChargeFilterIn, root(body, "filter")))
    with unit_of_work(request) as session:
        sub = subscription_of(session, request, org, external_id)
        own, found = subs.overrides.update_filter(
            session, sub=sub, code=charge_code, filter_id=filter_id, data=data, clock=clock(request)
        )
        return envelope("filter", charge_filter(found, charge_code=own.code))


@router.delete("/{external_id}/charges/{charge_code}/filters/{filter_id}")
def filters_destroy(
    external_id: str,
    charge_code: str,
    filter_id: str,
    request: Request,
    org: str = Depends(organization_id),
) -> Response:
    with unit_of_work(request) as session:
        sub = subscription_of(session, request, org, external_id)
        own, found = subs.overrides.delete_filter(
            session, sub=sub, code=charge_code, filter_id=filter_id, clock=clock(request)
        )
        return envelope("filter", charge_filter(found, charge_code=own.code))
