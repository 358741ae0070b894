"""/api/v1/events: ingestion and look-up."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from meterly.api.http import (
    clock,
    envelope,
    json_body,
    listing,
    ok,
    organization_id,
    page_params,
    root,
    unit_of_work,
)
from meterly.api.openapi import EVENT_AMENDMENT, EVENT_BODY
from meterly.api.schemas.events import event
from meterly.api.wire import iso
from meterly.config import parse_instant
from meterly.domain.errors import ValidationFailed
from meterly.services import corrections, reconciliation
from meterly.services.metering import ingest

router = APIRouter(prefix="/events", tags=["events"])


# POST /events and /events/batch, the ingestion hot path, are answered before FastAPI's
# routing by api/ingestion.py; this module keeps the look-ups and the fee estimate.


@router.post("/estimate_fees", openapi_extra=EVENT_BODY)
def estimate_fees(
    request: Request, org: str = Depends(organization_id), body: Any = Depends(json_body)
) -> Response:
    """What a pay-in-advance event would cost, computed as the billing run will (not stored)."""
    from meterly.api.schemas.fees import fee as fee_body
    from meterly.services.billing import advance

    raw = root(body, "event")
    with unit_of_work(request) as session:
        rows = advance.estimate_fees(session, organization_id=org, raw=raw, clock=clock(request))
        fees = [
            fee_body(
                row,
                with_taxes=True,
                external_customer_id=sub.customer.external_id,
                external_subscription_id=sub.external_id,
            )
            for row, sub in rows
        ]
        session.rollback()
    return ok({"fees": fees})


@router.get("")
def index(request: Request, org: str = Depends(organization_id)) -> Response:
    page, per_page = page_params(request)
    params = request.query_params
    try:
        ts_from = parse_instant(params["timestamp_from"]) if params.get("timestamp_from") else None
        ts_to = parse_instant(params["timestamp_to"]) if params.get("timestamp_to") else None
    except ValueError:
        raise ValidationFailed.field("timestamp", "invalid_format") from None
    with unit_of_work(request) as session:
        rows, total = ingest.list_page(
            session,
            organization_id=org,
            page=page,
            per_page=per_page,
            code=params.get("code"),
            external_subscription_id=params.get("external_subscription_id"),
            timestamp_from=ts_from,
            timestamp_to=ts_to,
        )
        fates = reconciliation.fates(session, organization_id=org, keys=ingest.batch_keys(rows))
    return listing(
        "events",
        [_with_fate(event(r), fates, r) for r in rows],
        page=page,
        per_page=per_page,
        total=total,
    )


def _with_fate(
    body: dict[str, Any], fates: dict[tuple[str, str], str], row: dict[str, Any]
) -> dict[str, Any]:
    """Meterly's extra fields: whether billing counts the event, and why not when it never will
    (`billing_status`: billed | pending | not_billed; `not_billed_reason`: see
    docs/reconciliation.md)."""
    fate = fates.get((row["transaction_id"], row["external_subscription_id"]))
    reason = reconciliation.not_billed_reason(fate)
    body["billing_status"] = "not_billed" if reason else fate
    body["not_billed_reason"] = reason
    return body


@router.get("/{transaction_id}")
def show(transaction_id: str, request: Request, org: str = Depends(organization_id)) -> Response:
    with unit_of_work(request) as session:
        row = ingest.find(session, organization_id=org, transaction_id=transaction_id)
        fates = reconciliation.fates(session, organization_id=org, keys=ingest.batch_keys([row]))
    return envelope("event", _with_fate(event(row), fates, row))


# Corrections (Meterly; docs/corrections.md): the row is kept, marked, and recorded with who
# changed it; finalized invoices get correction documents at the next billing run.


@router.delete("/{transaction_id}")
def void(transaction_id: str, request: Request, org: str = Depends(organization_id)) -> Response:
    with unit_of_work(request) as session:
        row = corrections.void_event(
            session,
            organization_id=org,
            transaction_id=transaction_id,
            external_subscription_id=request.query_params.get("external_subscription_id"),
            clock=clock(request),
        )
    return envelope("event", _corrected(row))


@router.post("/{transaction_id}/amend", openapi_extra=EVENT_AMENDMENT)
def amend(
    transaction_id: str,
    request: Request,
    org: str = Depends(organization_id),
    body: Any = Depends(json_body),
) -> Response:
    raw = root(body, "event")
    with unit_of_work(request) as session:
        row = corrections.amend_event(
            session,
            organization_id=org,
            transaction_id=transaction_id,
            external_subscription_id=request.query_params.get("external_subscription_id"),
            raw=raw,
            clock=clock(request),
        )
    return envelope("event", _corrected(row))


def _corrected(row: dict[str, Any]) -> dict[str, Any]:
    body = event(row)
    body["voided_at"] = iso(row.get("voided_at"))
    body["amended_at"] = iso(row.get("amended_at"))
    return body
