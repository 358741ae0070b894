"""POST /api/v1/invoices/preview: an invoice computed by the billing code and never stored.

The body is Lago's, unwrapped (no root key): `customer`, `plan_code`, `billing_time`,
`subscription_at`, `coupons`, `subscriptions {external_ids, plan_code}`. Null means absent.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from meterly.api.errors import BadRequest
from meterly.api.http import clock, database, envelope, json_body, organization_id
from meterly.api.openapi import PREVIEW
from meterly.api.schemas.invoices import InvoiceLinks, invoice
from meterly.domain.errors import ValidationFailed
from meterly.services import preview

router = APIRouter(prefix="/invoices", tags=["invoices"])

# Inline customer fields a preview may use to price a customer that does not exist yet.
_CUSTOMER_FIELDS = (
    "name",
    "currency",
    "timezone",
    "country",
    "address_line1",
    "address_line2",
    "city",
    "zipcode",
    "state",
    "tax_identification_number",
)


def _datetime(value: Any, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise ValidationFailed.field(name, "invalid_date") from None
    if parsed.tzinfo is None:
        raise ValidationFailed.field(name, "invalid_date")
    return parsed


def _request(body: Any) -> preview.PreviewRequest:
    if not isinstance(body, dict):
        raise BadRequest("param is missing or the value is empty or invalid: customer")
    customer = body.get("customer")
    if not isinstance(customer, dict):
        raise BadRequest("param is missing or the value is empty or invalid: customer")
    coupons = body.get("coupons")
    if coupons is not None and not isinstance(coupons, list):
        raise BadRequest("coupons_must_be_an_array")
    if coupons:
        # Supposed coupons are not priced yet: refuse rather than answer without them.
        raise ValidationFailed.field("coupons", "not_supported_in_preview")
    subs = body.get("subscriptions")
    if subs is not None and not isinstance(subs, dict):
        raise BadRequest("subscriptions_must_be_an_object")
    external_ids: tuple[str, ...] = ()
    subs_plan_code = None
    if subs is not None:
        ids = subs.get("external_ids")
        if not isinstance(ids, list) or not ids or not all(isinstance(i, str) for i in ids):
            raise ValidationFailed.field("subscriptions.external_ids", "value_is_invalid")
        external_ids = tuple(ids)
        subs_plan_code = subs.get("plan_code") or None
    plan_code = body.get("plan_code") or None
    if plan_code is not None and subs is not None:
        raise ValidationFailed.field("plan_code", "value_is_invalid")
    return preview.PreviewRequest(
        customer_external_id=customer.get("external_id") or None,
        customer_fields={
            key: customer[key] for key in _CUSTOMER_FIELDS if customer.get(key) is not None
        },
        plan_code=plan_code,
        billing_time=body.get("billing_time") or None,
        subscription_at=_datetime(body.get("subscription_at"), "subscription_at"),
        subscription_external_ids=external_ids,
        subscriptions_plan_code=subs_plan_code,
    )


@router.post("/preview", openapi_extra=PREVIEW)
def create_preview(
    request: Request, body: Any = Depends(json_body), org: str = Depends(organization_id)
) -> Response:
    wanted = _request(body)
    # A session that is never committed: whatever billing writes to price the preview
    # (the supposed subscription, the invoice, its fees, a number) is rolled back.
    with database(request).sessions() as session:
        try:
            row = preview.preview_invoice(
                session, organization_id=org, request=wanted, clock=clock(request)
            )
            session.flush()
            answer = invoice(session, row, include_fees=True, links=InvoiceLinks())
        finally:
            session.rollback()
    # Nothing of the preview exists: its id and number were never stored, it has no file.
    answer["file_url"] = None
    return envelope("invoice", answer)
