"""/api/v1/customers/{external_id}/current_usage and projected_usage."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from meterly.api.http import clock, envelope, organization_id, unit_of_work
from meterly.api.schemas.usage import customer_usage
from meterly.domain.errors import ValidationFailed
from meterly.services.accounts import customer_clock, customers
from meterly.services.common import FrozenClock
from meterly.services.metering import UsageGrouping
from meterly.services.metering import usage as usage_service

router = APIRouter(prefix="/customers", tags=["usage"])


def _compute(request: Request, org: str, external_customer_id: str) -> dict[str, Any]:
    params = request.query_params
    sub_id = params.get("external_subscription_id")
    if not sub_id:
        raise ValidationFailed.field("external_subscription_id", "value_is_mandatory")
    return {
        "organization_id": org,
        "external_customer_id": external_customer_id,
        "external_subscription_id": sub_id,
        "at": clock(request).now(),
        "apply_taxes": params.get("apply_taxes", "true").lower() != "false",
        "charge_code": params.get("charge_code") or params.get("filter_by_charge_code"),
        "charge_id": params.get("charge_id") or params.get("filter_by_charge_id"),
        "billable_metric_code": params.get("billable_metric_code"),
        "grouping": _grouping(request),
    }


def _presentation_filter(request: Request) -> frozenset[str] | None:
    """Lago's `filter_by_presentation`: a JSON array of presentation values (a bare string
    is one value); only breakdowns showing one of them are kept, `[]` drops them all."""
    raw = request.query_params.get("filter_by_presentation")
    if raw is None:
        return None
    try:
        values = json.loads(raw)
    except json.JSONDecodeError:
        values = [raw]
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise ValidationFailed.field("filter_by_presentation", "invalid_format")
    return frozenset(values)


def _keep_presentations(body: Any, allowed: frozenset[str] | None) -> Any:
    """The usage body with every breakdown list cut to the allowed presentation values."""
    if allowed is None:
        return body
    if isinstance(body, list):
        return [_keep_presentations(item, allowed) for item in body]
    if not isinstance(body, dict):
        return body
    kept: dict[str, Any] = {}
    for key, value in body.items():
        if key in ("presentation_breakdowns", "projected_presentation_breakdowns"):
            kept[key] = [b for b in value if set(b.get("presentation_by", {}).values()) & allowed]
        else:
            kept[key] = _keep_presentations(value, allowed)
    return kept


def _customer_now(session: Any, org: str, external_customer_id: str, at: datetime) -> datetime:
    """Now for this customer: a customer under a test clock lives at the clock's time."""
    customer = customers.find_optional(
        session, organization_id=org, external_id=external_customer_id
    )
    if customer is None:  # current_usage answers the 404
        return at
    return customer_clock(session, customer, FrozenClock(at)).now()


def _grouping(request: Request) -> UsageGrouping:
    """`group[key]=value` (the Lago client's `group=`), the deprecated `filter_by_group`
    (a JSON object) and `skip_grouping=true`."""
    params = request.query_params
    only: dict[str, str] = {}
    raw = params.get("filter_by_group")
    if raw:
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            raise ValidationFailed.field("filter_by_group", "invalid_format")
        for key, value in parsed.items():
            only[str(key)] = _group_value(value)
    for name, value in params.multi_items():
        if name.startswith("group[") and name.endswith("]") and len(name) > len("group[]"):
            only[name[len("group[") : -1]] = value
    skip = params.get("skip_grouping", "false").lower() == "true"
    return UsageGrouping(only=only, skip=skip)


def _group_value(value: object) -> str:
    """A group value as the text its events carry (`filter_by_group` may hold a 1-list)."""
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise ValidationFailed.field("filter_by_group", "invalid_format")


@router.get("/{external_customer_id}/current_usage")
def current_usage(
    external_customer_id: str, request: Request, org: str = Depends(organization_id)
) -> Response:
    args = _compute(request, org, external_customer_id)
    allowed = _presentation_filter(request)
    with unit_of_work(request) as session:
        args["at"] = _customer_now(session, org, external_customer_id, args["at"])
        usage, _customer = usage_service.current_usage(session, **args)
        return envelope("customer_usage", _keep_presentations(customer_usage(usage), allowed))


@router.get("/{external_customer_id}/projected_usage")
def projected_usage(
    external_customer_id: str, request: Request, org: str = Depends(organization_id)
) -> Response:
    args = _compute(request, org, external_customer_id)
    allowed = _presentation_filter(request)
    with unit_of_work(request) as session:
        args["at"] = _customer_now(session, org, external_customer_id, args["at"])
        usage, _customer = usage_service.current_usage(session, **args)
        ratio = usage_service.projection_ratio(usage.window, at=args["at"])
        body = _keep_presentations(customer_usage(usage, ratio=ratio), allowed)
        return envelope("customer_projected_usage", body)
