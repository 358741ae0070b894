"""POST /billable_metrics/evaluate_expression: what a metric expression gives for an event.

Lets a team try an expression before putting it on a metric. It is evaluated exactly as
ingestion evaluates it (`services/metering/ingest.py`): the same parser, the same exact
decimal arithmetic, the event's timestamp in epoch seconds. Nothing is stored.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from meterly.api.errors import BadRequest
from meterly.api.http import clock, json_body, ok, organization_id
from meterly.api.openapi import EVENT, json_object
from meterly.domain.errors import ValidationFailed
from meterly.domain.expressions import EventContext, ExpressionError, parse_expression
from meterly.services.metering import ingest

router = APIRouter(prefix="/billable_metrics", tags=["billable_metrics"])


@router.post(
    "/evaluate_expression",
    openapi_extra=json_object(
        {"expression": {"type": "string"}, "event": EVENT}, required=("expression", "event")
    ),
)
def evaluate_expression(
    request: Request, org: str = Depends(organization_id), body: Any = Depends(json_body)
) -> Response:
    del org  # authenticated; an expression reads nothing of the organization
    if not isinstance(body, dict):
        raise BadRequest("param is missing or the value is empty or invalid: expression")
    source, event = body.get("expression"), body.get("event")
    if not isinstance(source, str) or not source.strip():
        raise ValidationFailed.field("expression", "value_is_mandatory")
    if not isinstance(event, dict):
        raise BadRequest("param is missing or the value is empty or invalid: event")
    properties = event.get("properties") or {}
    if not isinstance(properties, dict):
        raise ValidationFailed.field("event.properties", "value_is_invalid")
    when: datetime = clock(request).now()
    if event.get("timestamp") is not None:
        parsed = ingest.parse_timestamp(event["timestamp"])
        if parsed is None:
            raise ValidationFailed.field("event.timestamp", "invalid_format")
        when = parsed
    try:
        expression = parse_expression(source)
    except ExpressionError:
        raise ValidationFailed.field("expression", "invalid_expression") from None
    context = EventContext(
        code=str(event.get("code") or ""),
        timestamp=Decimal(str(when.timestamp())),
        properties=properties,
    )
    try:
        value = expression.evaluate(context)
    except ExpressionError:
        raise ValidationFailed.field("event.properties", "invalid_expression_evaluation") from None
    shown = format(value, "f") if isinstance(value, Decimal) else value
    return ok({"expression_result": {"value": shown}})
