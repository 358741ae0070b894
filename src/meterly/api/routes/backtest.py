"""POST /api/v1/plans/{code}/backtest: what a candidate plan would have billed."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from meterly.api.http import clock, database, json_body, ok, organization_id
from meterly.api.openapi import json_object, model_schema
from meterly.api.schemas.backtest import candidate
from meterly.api.schemas.plans import PlanIn
from meterly.config import parse_instant
from meterly.domain.errors import ValidationFailed
from meterly.services import backtest

router = APIRouter(prefix="/plans", tags=["plans"])
_WHEN = {"type": "string", "format": "date-time"}
_CANDIDATE = json_object(
    {
        "plan": model_schema(PlanIn),
        "coupons": {"type": "array", "items": {"type": "object"}},
        "from": _WHEN,
        "to": _WHEN,
    },
    required=("plan", "from", "to"),
)


@router.post("/{code}/backtest", openapi_extra=_CANDIDATE)
def run(
    code: str, request: Request, org: str = Depends(organization_id), body: Any = Depends(json_body)
) -> Response:
    """Body: `{"plan": {...}, "coupons": [...], "from": ISO, "to": ISO}`. The answer is
    JSON, or the per-customer CSV with `?format=csv`. Nothing is stored."""
    plan, coupons = candidate(body)
    window = {}
    for name in ("from", "to"):
        value = body.get(name)
        if not isinstance(value, str):
            raise ValidationFailed.field(name, "value_is_mandatory")
        try:
            window[name] = parse_instant(value)
        except ValueError:
            raise ValidationFailed.field(name, "invalid_format") from None
    report = backtest.backtest(
        database(request),
        organization_id=org,
        plan_code=code,
        candidate=plan,
        coupons=coupons,
        window_from=window["from"],
        window_to=window["to"],
        clock=clock(request),
    )
    if request.query_params.get("format") == "csv":
        return Response(report.csv(), media_type="text/csv")
    return ok({"backtest": report.as_dict()})
