"""/api/v1/test_clocks: frozen instants for testing billing over time (Meterly extension)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from meterly.api.http import (
    clock,
    database,
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
from meterly.api.schemas.test_clocks import TestClockAdvanceIn, TestClockIn, clock_body
from meterly.services import test_clocks
from meterly.store.tables import TestClock

router = APIRouter(prefix="/test_clocks", tags=["test_clocks"])


def _body(session: Any, row: TestClock) -> dict[str, Any]:
    return clock_body(row, test_clocks.customers_count(session, [row.id])[row.id])


@router.post("", openapi_extra=wire_body("test_clock", TestClockIn))
def create(
    request: Request, org: str = Depends(organization_id), body: Any = Depends(json_body)
) -> Response:
    data = parse(TestClockIn, root(body, "test_clock"))
    with unit_of_work(request) as session:
        row = test_clocks.create(
            session,
            organization_id=org,
            name=data.name,
            frozen_time=data.frozen_time,
            clock=clock(request),
        )
        return envelope("test_clock", clock_body(row, 0))


@router.get("")
def index(request: Request, org: str = Depends(organization_id)) -> Response:
    page, per_page = page_params(request)
    with unit_of_work(request) as session:
        rows, total = test_clocks.list_page(
            session, organization_id=org, page=page, per_page=per_page
        )
        counts = test_clocks.customers_count(session, [r.id for r in rows])
        items = [clock_body(r, counts[r.id]) for r in rows]
    return listing("test_clocks", items, page=page, per_page=per_page, total=total)


@router.get("/{clock_id}")
def show(clock_id: str, request: Request, org: str = Depends(organization_id)) -> Response:
    with unit_of_work(request) as session:
        row = test_clocks.find(session, organization_id=org, clock_id=clock_id)
        return envelope("test_clock", _body(session, row))


@router.delete("/{clock_id}")
def destroy(clock_id: str, request: Request, org: str = Depends(organization_id)) -> Response:
    """Deletes the clock with its customers and everything theirs, in this one transaction."""
    with unit_of_work(request) as session:
        row = test_clocks.find(session, organization_id=org, clock_id=clock_id)
        answer = _body(session, row)
        test_clocks.delete(session, row=row)
    return envelope("test_clock", answer)


@router.post("/{clock_id}/advance", openapi_extra=wire_body("test_clock", TestClockAdvanceIn))
def advance(
    clock_id: str,
    request: Request,
    org: str = Depends(organization_id),
    body: Any = Depends(json_body),
) -> Response:
    """Runs every step up to the new time before answering (a year takes seconds)."""
    data = parse(TestClockAdvanceIn, root(body, "test_clock"))
    db = database(request)
    test_clocks.advance(
        db,
        organization_id=org,
        clock_id=clock_id,
        frozen_time=data.frozen_time,
        wall_clock=clock(request),
    )
    with db.unit_of_work() as session:
        row = test_clocks.find(session, organization_id=org, clock_id=clock_id)
        return envelope("test_clock", _body(session, row))
