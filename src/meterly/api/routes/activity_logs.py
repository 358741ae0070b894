"""/api/v1/activity_logs and /api/v1/api_logs: the audit logs, in Lago's shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from meterly.api.http import (
    envelope,
    listing,
    organization_id,
    page_params,
    query_list,
    unit_of_work,
)
from meterly.domain.errors import ValidationFailed
from meterly.services import activity
from meterly.store.tables import ActivityLog, ApiLog

router = APIRouter(tags=["activity_logs"])


def _instant(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def activity_log(row: ActivityLog) -> dict[str, Any]:
    return {
        "activity_id": row.id,
        "user_email": row.user_email,
        "activity_type": row.activity_type,
        "activity_source": row.activity_source,
        "activity_object": row.activity_object,
        "activity_object_changes": row.activity_object_changes,
        "external_customer_id": row.external_customer_id,
        "external_subscription_id": row.external_subscription_id,
        "resource_id": row.resource_id,
        "resource_type": row.resource_type,
        "organization_id": row.organization_id,
        # Meterly's addition: who, when the source alone does not say (the key or user id).
        "actor_type": row.actor_type,
        "actor_id": row.actor_id,
        "logged_at": _instant(row.logged_at),
        "created_at": _instant(row.created_at),
    }


def api_log(row: ApiLog) -> dict[str, Any]:
    return {
        "request_id": row.request_id,
        "api_version": row.api_version,
        "client": row.client,
        "http_method": row.http_method,
        "http_status": row.http_status,
        "request_origin": row.request_origin,
        "request_path": row.request_path,
        "request_body": row.request_body or "",
        # Responses are not kept (they can hold what the request's body redaction hid).
        "request_response": None,
        "api_key_id": row.api_key_id,
        "duration_ms": row.duration_ms,
        "logged_at": _instant(row.logged_at),
        "created_at": _instant(row.created_at),
    }


@router.get("/activity_logs")
def activity_index(request: Request, org: str = Depends(organization_id)) -> Response:
    page, per_page = page_params(request)
    q = request.query_params
    filters = activity.ActivityFilters(
        from_date=activity.parse_date("from_date", q.get("from_date")),
        to_date=activity.parse_date("to_date", q.get("to_date")),
        activity_types=query_list(request, "activity_types"),
        activity_sources=query_list(request, "activity_sources"),
        user_emails=query_list(request, "user_emails"),
        external_customer_id=q.get("external_customer_id") or None,
        external_subscription_id=q.get("external_subscription_id") or None,
        resource_ids=query_list(request, "resource_ids"),
        resource_types=query_list(request, "resource_types"),
    )
    with unit_of_work(request) as session:
        rows, total = activity.list_activity(
            session, organization_id=org, filters=filters, page=page, per_page=per_page
        )
        items = [activity_log(r) for r in rows]
    return listing("activity_logs", items, page=page, per_page=per_page, total=total)


@router.get("/activity_logs/{activity_id}")
def activity_show(
    activity_id: str, request: Request, org: str = Depends(organization_id)
) -> Response:
    with unit_of_work(request) as session:
        row = activity.find_activity(session, organization_id=org, activity_id=activity_id)
        return envelope("activity_log", activity_log(row))


def _statuses(request: Request) -> tuple[list[int], list[str]]:
    codes: list[int] = []
    outcomes: list[str] = []
    for value in query_list(request, "http_statuses"):
        if value in ("succeeded", "failed"):
            outcomes.append(value)
        elif value.isdigit() and 100 <= int(value) <= 599:
            codes.append(int(value))
        else:
            raise ValidationFailed.field("http_statuses", "value_is_invalid")
    return codes, outcomes


@router.get("/api_logs")
def api_index(request: Request, org: str = Depends(organization_id)) -> Response:
    page, per_page = page_params(request)
    q = request.query_params
    codes, outcomes = _statuses(request)
    filters = activity.ApiLogFilters(
        from_date=activity.parse_date("from_date", q.get("from_date")),
        to_date=activity.parse_date("to_date", q.get("to_date")),
        http_methods=query_list(request, "http_methods"),
        statuses=codes,
        outcomes=outcomes,
        api_version=q.get("api_version") or None,
        request_path=q.get("request_paths") or q.get("request_path") or None,
    )
    with unit_of_work(request) as session:
        rows, total = activity.list_api_logs(
            session, organization_id=org, filters=filters, page=page, per_page=per_page
        )
        items = [api_log(r) for r in rows]
    return listing("api_logs", items, page=page, per_page=per_page, total=total)


@router.get("/api_logs/{request_id}")
def api_show(request_id: str, request: Request, org: str = Depends(organization_id)) -> Response:
    with unit_of_work(request) as session:
        row = activity.find_api_log(session, organization_id=org, request_id=request_id)
        return envelope("api_log", api_log(row))
