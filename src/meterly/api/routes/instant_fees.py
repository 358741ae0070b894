"""POST /events/estimate_instant_fees and /events/batch_estimate_instant_fees.

Lago's lighter estimate of what pay-in-advance events would cost: the same fees that
`/events/estimate_fees` computes (as the billing run will, nothing stored), in Lago's
`FeeEstimateObject` shape: a fee that is not a fee yet, with no id and no invoice. The
batch form estimates each event on its own, as if it were the only one sent.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy.orm import Session

from meterly.api.errors import BadRequest
from meterly.api.http import clock, json_body, ok, organization_id, root, unit_of_work
from meterly.api.openapi import EVENT_BODY, EVENTS_BODY
from meterly.api.schemas.fees import fee as fee_body
from meterly.domain.errors import ValidationFailed
from meterly.services.billing import advance
from meterly.services.common import Clock
from meterly.services.metering import ingest

router = APIRouter(prefix="/events", tags=["events"])

# The fields of Lago's FeeEstimateObject, in its order.
ESTIMATE_FIELDS = (
    "lago_id",
    "lago_charge_id",
    "lago_charge_filter_id",
    "lago_invoice_id",
    "lago_true_up_fee_id",
    "lago_true_up_parent_fee_id",
    "lago_subscription_id",
    "lago_customer_id",
    "external_customer_id",
    "external_subscription_id",
    "amount_cents",
    "precise_amount",
    "precise_total_amount",
    "amount_currency",
    "taxes_amount_cents",
    "taxes_precise_amount",
    "taxes_rate",
    "units",
    "precise_unit_amount",
    "precise_coupons_amount_cents",
    "total_amount_cents",
    "total_amount_currency",
    "events_count",
    "pay_in_advance",
    "invoiceable",
    "payment_status",
    "created_at",
    "succeeded_at",
    "failed_at",
    "refunded_at",
    "amount_details",
    "item",
)


def _estimates(session: Session, org: str, raw: dict[str, Any], at: Clock) -> list[dict[str, Any]]:
    """The event's fees as estimates, then everything the estimate wrote is undone."""
    try:
        rows = advance.estimate_fees(session, organization_id=org, raw=raw, clock=at)
        estimates = []
        for row, sub in rows:
            wire = fee_body(
                row,
                with_taxes=True,
                external_customer_id=sub.customer.external_id,
                external_subscription_id=sub.external_id,
            )
            estimate = {name: wire.get(name) for name in ESTIMATE_FIELDS}
            estimate.update(lago_id=None, lago_invoice_id=None, created_at=None)
            estimate["event_transaction_id"] = raw.get("transaction_id")
            estimates.append(estimate)
        return estimates
    finally:
        session.rollback()


@router.post("/estimate_instant_fees", openapi_extra=EVENT_BODY)
def estimate_instant_fees(
    request: Request, org: str = Depends(organization_id), body: Any = Depends(json_body)
) -> Response:
    raw = root(body, "event")
    with unit_of_work(request) as session:
        fees = _estimates(session, org, raw, clock(request))
    return ok({"fees": fees})


@router.post("/batch_estimate_instant_fees", openapi_extra=EVENTS_BODY)
def batch_estimate_instant_fees(
    request: Request, org: str = Depends(organization_id), body: Any = Depends(json_body)
) -> Response:
    events = body.get("events") if isinstance(body, dict) else None
    if not isinstance(events, list) or not events or not all(isinstance(e, dict) for e in events):
        raise BadRequest("param is missing or the value is empty or invalid: events")
    if len(events) > ingest.MAX_BATCH:  # as POST /events/batch
        raise ValidationFailed.field("events", "too_many_events")
    fees: list[dict[str, Any]] = []
    for raw in events:  # one unit of work each, rolled back: each event as if alone
        with unit_of_work(request) as session:
            fees.extend(_estimates(session, org, raw, clock(request)))
    return ok({"fees": fees})
