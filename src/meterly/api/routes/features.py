"""/api/v1/features: features and their privileges (Lago's entitlements, open edition)."""

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
from meterly.api.schemas.entitlements import FeatureIn, feature
from meterly.services import notifications
from meterly.services.common import Clock
from meterly.services.entitlements import FeatureInput, features
from meterly.store.tables import Feature

router = APIRouter(prefix="/features", tags=["features"])


def _input(body: Any) -> FeatureInput:
    raw = root(body, "feature")
    data = parse(FeatureIn, raw)
    return FeatureInput(**data.model_dump(exclude_unset=True), sent=frozenset(raw))


def _wire(session: Session, row: Feature) -> dict[str, Any]:
    return feature(row, features.privileges_of(session, [row.id])[row.id])


def _notify(session: Session, row: Feature, kind: str, body: dict[str, Any], at: Clock) -> None:
    # The object as it is now: a deleted feature can no longer be rendered at delivery.
    notifications.enqueue(
        session, row.organization_id, f"feature.{kind}", "feature", row.id, at, payload=body
    )


@router.post("", openapi_extra=wire_body("feature", FeatureIn))
def create(
    request: Request, org: str = Depends(organization_id), body: Any = Depends(json_body)
) -> Response:
    data = _input(body)
    with unit_of_work(request) as session:
        row = features.create(session, organization_id=org, data=data, clock=clock(request))
        answer = _wire(session, row)
        _notify(session, row, "created", answer, clock(request))
        return envelope("feature", answer)


@router.get("")
def index(request: Request, org: str = Depends(organization_id)) -> Response:
    page, per_page = page_params(request)
    with unit_of_work(request) as session:
        rows, total = features.list_page(
            session,
            organization_id=org,
            page=page,
            per_page=per_page,
            search=request.query_params.get("search_term"),
        )
        privileges = features.privileges_of(session, [r.id for r in rows])
        items = [feature(r, privileges[r.id]) for r in rows]
    return listing("features", items, page=page, per_page=per_page, total=total)


@router.get("/{code}")
def show(code: str, request: Request, org: str = Depends(organization_id)) -> Response:
    with unit_of_work(request) as session:
        return envelope(
            "feature", _wire(session, features.find(session, organization_id=org, code=code))
        )


@router.put("/{code}", openapi_extra=wire_body("feature", FeatureIn))
def update(
    code: str, request: Request, org: str = Depends(organization_id), body: Any = Depends(json_body)
) -> Response:
    data = _input(body)
    with unit_of_work(request) as session:
        row = features.find(session, organization_id=org, code=code)
        features.update(session, row=row, data=data, clock=clock(request))
        answer = _wire(session, row)
        _notify(session, row, "updated", answer, clock(request))
        return envelope("feature", answer)


@router.delete("/{code}")
def destroy(code: str, request: Request, org: str = Depends(organization_id)) -> Response:
    with unit_of_work(request) as session:
        row = features.find(session, organization_id=org, code=code)
        answer = _wire(session, row)
        _notify(session, row, "deleted", answer, clock(request))
        features.delete_feature(session, row=row)
        return envelope("feature", answer)


@router.delete("/{code}/privileges/{privilege_code}")
def destroy_privilege(
    code: str, privilege_code: str, request: Request, org: str = Depends(organization_id)
) -> Response:
    with unit_of_work(request) as session:
        row = features.find(session, organization_id=org, code=code)
        features.delete_privilege(
            session, row=row, privilege_code=privilege_code, clock=clock(request)
        )
        answer = _wire(session, row)
        _notify(session, row, "updated", answer, clock(request))
        return envelope("feature", answer)
