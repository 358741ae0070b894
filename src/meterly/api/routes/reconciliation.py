"""GET /api/v1/reconciliation: events accepted, stored, billed and never billed, per day."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response

from meterly.api.http import ok, organization_id, page_params, unit_of_work
from meterly.api.wire import pagination_meta
from meterly.config import parse_instant
from meterly.domain.errors import ValidationFailed
from meterly.services import reconciliation

router = APIRouter(prefix="/reconciliation", tags=["reconciliation"])


@router.get("")
def report(request: Request, org: str = Depends(organization_id)) -> Response:
    """Rows per customer, metric code and UTC day; `from`/`to` bound the events' timestamps
    (`to` excluded); `external_customer_id` and `code` narrow the rows."""
    page, per_page = page_params(request)
    params = request.query_params
    try:
        ts_from = parse_instant(params["from"]) if params.get("from") else None
        ts_to = parse_instant(params["to"]) if params.get("to") else None
    except ValueError:
        raise ValidationFailed.field("from", "invalid_format") from None
    if ts_from is not None and ts_to is not None and ts_to <= ts_from:
        raise ValidationFailed.field("to", "value_is_invalid")
    with unit_of_work(request) as session:
        rows = reconciliation.reconcile(
            session, organization_id=org, timestamp_from=ts_from, timestamp_to=ts_to
        )
    customer, code = params.get("external_customer_id"), params.get("code")
    if customer:
        rows = [r for r in rows if r.external_customer_id == customer]
    if code:
        rows = [r for r in rows if r.code == code]
    shown = rows[(page - 1) * per_page : page * per_page]
    return ok(
        {
            "reconciliation": [r.as_dict() for r in shown],
            "totals": reconciliation.totals(rows),
            "meta": pagination_meta(page=page, per_page=per_page, total_count=len(rows)),
        }
    )
