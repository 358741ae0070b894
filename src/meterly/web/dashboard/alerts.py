"""Usage alerts of a subscription: tell the customer's systems when usage crosses a line.

The forms go through `spend_control.alerts`, the rules of the API's
/subscriptions/{external_id}/alerts (a code used once per subscription, distinct threshold
values, one recurring at most, a metric for the per-metric kinds). Amount thresholds are
typed in the plan's currency and stored in minor units, as the API takes them. The worker
checks alerts and sends `alert.triggered` webhooks. Admins manage them; all may read.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import Request, Response
from fastapi.responses import RedirectResponse

from meterly.api.http import clock, unit_of_work
from meterly.domain.errors import DomainError, NotFound, ValidationFailed
from meterly.services import subscriptions as subscription_service
from meterly.services.catalog import billable_metrics as metric_service
from meterly.services.spend_control import alerts as alert_service
from meterly.web import auth
from meterly.web.dashboard import messages
from meterly.web.dashboard.common import _page, section_router
from meterly.web.dashboard.plan_forms import major_units, minor_units

router = section_router()

ALERT_TYPES = {
    "current_usage_amount": "Usage amount this period",
    "billable_metric_current_usage_amount": "One metric's amount this period",
    "billable_metric_current_usage_units": "One metric's units this period",
    "lifetime_usage_amount": "Usage amount since the subscription started",
    "billable_metric_lifetime_usage_units": "One metric's units since the start",
}
assert set(ALERT_TYPES) == set(alert_service.SUBSCRIPTION_TYPES)
THRESHOLD_ROWS = 3


def _is_amount(alert_type: str) -> bool:
    return alert_type.endswith("_amount")


def _thresholds(data: dict[str, str], alert_type: str, currency: str) -> list[dict[str, Any]]:
    rows = []
    for k in range(THRESHOLD_ROWS):
        value = data.get(f"threshold{k}_value", "").strip()
        if not value:
            continue
        stored: object = (
            minor_units(value, currency, "thresholds") if _is_amount(alert_type) else value
        )
        rows.append(
            {
                "value": stored,
                "code": data.get(f"threshold{k}_code", "").strip() or None,
                "recurring": data.get(f"threshold{k}_recurring") == "on",
            }
        )
    return rows


def _alerts_page(
    request: Request,
    who: auth.Operator,
    *,
    external_id: str,
    status: int = 200,
    errors: list[str] | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    with unit_of_work(request) as session:
        subs, _ = subscription_service.list_page(
            session, organization_id=who.organization_id, page=1, per_page=500
        )
        chosen = next((s for s in subs if s.external_id == external_id), None)
        if chosen is None and subs and not external_id:
            chosen = subs[0]
        rows = (
            alert_service.list_for(
                session,
                organization_id=who.organization_id,
                external_subscription_id=chosen.external_id,
            )
            if chosen
            else []
        )
        metrics, _ = metric_service.list_page(
            session, organization_id=who.organization_id, page=1, per_page=500
        )
        currency = chosen.plan.amount_currency if chosen else "USD"
        shown = [
            {
                "alert": row,
                "metric": alert_service.metric_code(session, row),
                "thresholds": [
                    {
                        **t,
                        "shown": major_units(int(t["value"]), currency) + f" {currency}"
                        if _is_amount(row.alert_type)
                        else f"{t['value']} units",
                    }
                    for t in row.thresholds
                ],
            }
            for row in rows
        ]
        return _page(
            request,
            who,
            "dashboard/alerts.html",
            status_code=status,
            subscriptions=subs,
            chosen=chosen,
            currency=currency,
            alerts=shown,
            metrics=metrics,
            alert_types=ALERT_TYPES,
            threshold_rows=THRESHOLD_ROWS,
            errors=errors or [],
            values=values or {"alert_type": "current_usage_amount"},
            message=request.query_params.get("message"),
        )


def _back(external_id: str, message: str) -> Response:
    query = urlencode({"subscription": external_id, "message": message})
    return RedirectResponse(f"/dashboard/alerts?{query}", status_code=303)


@router.get("/alerts")
def alerts(request: Request) -> Response:
    who = auth.operator(request)
    assert who is not None  # auth.authorize signed the request in
    return _alerts_page(request, who, external_id=request.query_params.get("subscription", ""))


@router.post("/alerts/new")
async def create_alert(request: Request) -> Response:
    who = auth.operator(request)
    assert who is not None
    data = await auth.form(request)
    if not auth.csrf_ok(who, data):
        return Response("Invalid form token", status_code=400)
    external_id = data.get("subscription", "")
    alert_type = data.get("alert_type", "")
    try:
        with unit_of_work(request) as session:
            sub = subscription_service.find(
                session, organization_id=who.organization_id, external_id=external_id
            )
            thresholds = _thresholds(data, alert_type, sub.plan.amount_currency)
            if not thresholds:
                raise ValidationFailed.field("thresholds", "value_is_mandatory")
            alert_service.create(
                session,
                organization_id=who.organization_id,
                data=alert_service.AlertInput(
                    alert_type=alert_type or None,
                    code=data.get("code", "").strip() or None,
                    name=data.get("name", "").strip() or None,
                    billable_metric_code=data.get("billable_metric_code") or None,
                    thresholds=thresholds,
                ),
                clock=clock(request),
                external_subscription_id=sub.external_id,
            )
    except DomainError as exc:
        return _alerts_page(
            request,
            who,
            external_id=external_id,
            status=422,
            errors=messages.describe(exc),
            values=data,
        )
    return _back(external_id, f"Alert {data.get('code', '')} created.")


@router.post("/alerts/{external_id}/{code}/delete")
async def delete_alert(external_id: str, code: str, request: Request) -> Response:
    who = auth.operator(request)
    assert who is not None
    data = await auth.form(request)
    if not auth.csrf_ok(who, data):
        return Response("Invalid form token", status_code=400)
    try:
        with unit_of_work(request) as session:
            row = alert_service.find(
                session,
                organization_id=who.organization_id,
                code=code,
                external_subscription_id=external_id,
            )
            alert_service.delete(session, alert=row, clock=clock(request))
    except NotFound:
        return _alerts_page(
            request, who, external_id=external_id, status=404, errors=["No such alert."]
        )
    return _back(external_id, f"Alert {code} deleted.")
