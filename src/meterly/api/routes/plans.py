"""/api/v1/plans, with their metadata, charges and charge filters."""

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
    page_params,
    parse,
    root,
    unit_of_work,
)
from meterly.api.openapi import METADATA, wire_body
from meterly.api.schemas.plans import (
    ChargeFilterIn,
    ChargeIn,
    PlanIn,
    charge_filter,
    charge_input,
    charge_payload,
    filter_input,
    plan,
    plan_input,
    plan_payload,
    tax_codes_of,
)
from meterly.services.catalog import plans
from meterly.services.catalog import taxes as taxes_service
from meterly.services.notifications import enqueue
from meterly.store.tables import Charge

router = APIRouter(prefix="/plans", tags=["plans"])


# --- plans ---------------------------------------------------------------------------


@router.post("", openapi_extra=wire_body("plan", PlanIn))
def create(
    request: Request, org: str = Depends(organization_id), body: Any = Depends(json_body)
) -> Response:
    data = plan_input(parse(PlanIn, root(body, "plan")))
    with unit_of_work(request) as session:
        row = plans.create(session, organization_id=org, data=data, clock=clock(request))
        enqueue(session, org, "plan.created", "plan", row.id, clock(request))
        return envelope("plan", plan_payload(session, row))


@router.get("")
def index(request: Request, org: str = Depends(organization_id)) -> Response:
    page, per_page = page_params(request)
    with unit_of_work(request) as session:
        rows, total = plans.list_page(session, organization_id=org, page=page, per_page=per_page)
        taxes = taxes_service.lookup(session, org, tax_codes_of(rows))
        items = [plan(r, taxes=taxes, counters=plans.counters(session, r.id)) for r in rows]
    return listing("plans", items, page=page, per_page=per_page, total=total)


@router.get("/{code}")
def show(code: str, request: Request, org: str = Depends(organization_id)) -> Response:
    with unit_of_work(request) as session:
        row = plans.find(session, organization_id=org, code=code)
        return envelope("plan", plan_payload(session, row))


@router.put("/{code}", openapi_extra=wire_body("plan", PlanIn))
def update(
    code: str, request: Request, org: str = Depends(organization_id), body: Any = Depends(json_body)
) -> Response:
    data = plan_input(parse(PlanIn, root(body, "plan")))
    with unit_of_work(request) as session:
        row = plans.find(session, organization_id=org, code=code)
        plans.update(session, row=row, data=data, clock=clock(request))
        enqueue(session, org, "plan.updated", "plan", row.id, clock(request))
        return envelope("plan", plan_payload(session, row))


@router.delete("/{code}")
def destroy(code: str, request: Request, org: str = Depends(organization_id)) -> Response:
    with unit_of_work(request) as session:
        row = plans.find(session, organization_id=org, code=code)
        plans.delete(session, row=row, clock=clock(request))
        enqueue(session, org, "plan.deleted", "plan", row.id, clock(request))
        return envelope("plan", plan_payload(session, row))


# --- metadata ------------------------------------------------------------------------


def _metadata(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict) or not isinstance(body.get("metadata"), dict):
        raise BadRequest("param is missing or the value is empty or invalid: metadata")
    value: dict[str, Any] = body["metadata"]
    return value


@router.post("/{code}/metadata", openapi_extra=METADATA)
def replace_metadata(
    code: str, request: Request, org: str = Depends(organization_id), body: Any = Depends(json_body)
) -> Response:
    metadata = _metadata(body)
    with unit_of_work(request) as session:
        row = plans.find(session, organization_id=org, code=code)
        answer = plans.replace_metadata(row, metadata=metadata, clock=clock(request))
    return ok({"metadata": answer or None})


@router.patch("/{code}/metadata", openapi_extra=METADATA)
def merge_metadata(
    code: str, request: Request, org: str = Depends(organization_id), body: Any = Depends(json_body)
) -> Response:
    metadata = _metadata(body)
    with unit_of_work(request) as session:
        row = plans.find(session, organization_id=org, code=code)
        answer = plans.merge_metadata(row, metadata=metadata, clock=clock(request))
    return ok({"metadata": answer or None})


@router.delete("/{code}/metadata")
def delete_all_metadata(
    code: str, request: Request, org: str = Depends(organization_id)
) -> Response:
    with unit_of_work(request) as session:
        row = plans.find(session, organization_id=org, code=code)
        answer = plans.delete_metadata(row, key=None, clock=clock(request))
    return ok({"metadata": answer})


@router.delete("/{code}/metadata/{key}")
def delete_metadata_key(
    code: str, key: str, request: Request, org: str = Depends(organization_id)
) -> Response:
    with unit_of_work(request) as session:
        row = plans.find(session, organization_id=org, code=code)
        answer = plans.delete_metadata(row, key=key, clock=clock(request))
    return ok({"metadata": answer})


# --- charges -------------------------------------------------------------------------


def _charge(session: Session, org: str, code: str, charge_code: str) -> Charge:
    row = plans.find(session, organization_id=org, code=code)
    return plans.find_charge(session, plan=row, code=charge_code)


@router.get("/{code}/charges")
def charges_index(code: str, request: Request, org: str = Depends(organization_id)) -> Response:
    page, per_page = page_params(request)
    with unit_of_work(request) as session:
        row = plans.find(session, organization_id=org, code=code)
        rows, total = plans.list_charges_page(session, plan=row, page=page, per_page=per_page)
        items = [charge_payload(session, c) for c in rows]
    return listing("charges", items, page=page, per_page=per_page, total=total)


@router.post("/{code}/charges", openapi_extra=wire_body("charge", ChargeIn))
def charges_create(
    code: str, request: Request, org: str = Depends(organization_id), body: Any = Depends(json_body)
) -> Response:
    data = charge_input(parse(ChargeIn, root(body, "charge")))
    with unit_of_work(request) as session:
        row = plans.find(session, organization_id=org, code=code)
        created = plans.create_charge(session, plan=row, data=data, clock=clock(request))
        return envelope("charge", charge_payload(session, created))


@router.get("/{code}/charges/{charge_code}")
def charges_show(
    code: str, charge_code: str, request: Request, org: str = Depends(organization_id)
) -> Response:
    with unit_of_work(request) as session:
        row = _charge(session, org, code, charge_code)
        return envelope("charge", charge_payload(session, row))


@router.put("/{code}/charges/{charge_code}", openapi_extra=wire_body("charge", ChargeIn))
def charges_update(
    code: str,
    charge_code: str,
    request: Request,
    org: str = Depends(organization_id),
    body: Any = Depends(json_body),
) -> Response:
    data = charge_input(parse(ChargeIn, root(body, "charge")))
    with unit_of_work(request) as session:
        row = _charge(session, org, code, charge_code)
        plans.update_charge(session, charge=row, data=data, clock=clock(request))
        return envelope("charge", charge_payload(session, row))


@router.delete("/{code}/charges/{charge_code}")
def charges_destroy(
    code: str, charge_code: str, request: Request, org: str = Depends(organization_id)
) -> Response:
    with unit_of_work(request) as session:
        row = _charge(session, org, code, charge_code)
        answer = charge_payload(session, row)
        plans.delete_charge(session, charge=row, clock=clock(request))
        return envelope("charge", answer)


# --- charge filters ------------------------------------------------------------------


@router.get("/{code}/charges/{charge_code}/filters")
def filters_index(
    code: str, charge_code: str, request: Request, org: str = Depends(organization_id)
) -> Response:
    page, per_page = page_params(request)
    with unit_of_work(request) as session:
        row = _charge(session, org, code, charge_code)
        rows, total = plans.list_filters_page(session, charge=row, page=page, per_page=per_page)
        items = [charge_filter(f, charge_code=row.code) for f in rows]
    return listing("filters", items, page=page, per_page=per_page, total=total)


@router.post(
    "/{code}/charges/{charge_code}/filters", openapi_extra=wire_body("filter", ChargeFilterIn)
)
def filters_create(
    code: str,
    charge_code: str,
    request: Request,
    org: str = Depends(organization_id),
    body: Any = Depends(json_body),
) -> Response:
    data = filter_input(parse(ChargeFilterIn, root(body, "filter")))
    with unit_of_work(request) as session:
        row = _charge(session, org, code, charge_code)
        created = plans.create_filter(session, charge=row, data=data, clock=clock(request))
        return envelope("filter", charge_filter(created, charge_code=row.code))


@router.get("/{code}/charges/{charge_code}/filters/{filter_id}")
def filters_show(
    code: str,
    charge_code: str,
    filter_id: str,
    request: Request,
    org: str = Depends(organization_id),
) -> Response:
    with unit_of_work(request) as session:
        row = _charge(session, org, code, charge_code)
        found = plans.find_filter(session, charge=row, filter_id=filter_id)
        return envelope("filter", charge_filter(found, charge_code=row.code))


@router.put(
    "/{code}/charges/{charge_code}/filters/{filter_id}",
    openapi_extra=wire_body("filter", ChargeFilterIn),
)
def filters_update(
    code: str,
    charge_code: str,
    filter_id: str,
    request: Request,
    org: str = Depends(organization_id),
    body: Any = Depends(json_body),
) -> Response:
    data = filter_input(parse(ChargeFilterIn, root(body, "filter")))
    with unit_of_work(request) as session:
        row = _charge(session, org, code, charge_code)
        found = plans.find_filter(session, charge=row, filter_id=filter_id)
        plans.update_filter(session, charge=row, row=found, data=data, clock=clock(request))
        return envelope("filter", charge_filter(found, charge_code=row.code))


@router.delete("/{code}/charges/{charge_code}/filters/{filter_id}")
def filters_destroy(
    code: str,
    charge_code: str,
    filter_id: str,
    request: Request,
    org: str = Depends(organization_id),
) -> Response:
    with unit_of_work(request) as session:
        row = _charge(session, org, code, charge_code)
        found = plans.find_filter(session, charge=row, filter_id=filter_id)
        plans.delete_filter(session, row=found, clock=clock(request))
        return envelope("filter", charge_filter(found, charge_code=row.code))
