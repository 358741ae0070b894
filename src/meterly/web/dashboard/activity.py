"""The audit logs in the dashboard: who changed what (activity) and the API writes (API logs)."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response

from meterly.api.http import unit_of_work
from meterly.domain.errors import ValidationFailed
from meterly.services import activity
from meterly.web import auth
from meterly.web.dashboard.common import PER_PAGE, _int, _page, section_router

router = section_router()

SOURCES = ("api", "front", "system")


@router.get("/activity")
def activity_page(request: Request) -> Response:
    who = auth.operator(request)
    assert who is not None  # auth.authorize let only a signed-in operator through
    q = request.query_params
    tab = "api" if q.get("tab") == "api" else "changes"
    page = _int(q.get("page"))
    search = q.get("q", "").strip()
    source = q.get("source", "")
    error = None
    # ActivityLog or ApiLog rows, by tab: the template reads each kind's own fields.
    rows: list[Any]
    with unit_of_work(request) as session:
        try:
            from_date = activity.parse_date("from_date", q.get("from_date"))
            to_date = activity.parse_date("to_date", q.get("to_date"))
        except ValidationFailed:
            from_date = to_date = None
            error = "Dates are written YYYY-MM-DD."
        if tab == "api":
            failed = q.get("outcome", "")
            rows, total = activity.list_api_logs(
                session,
                organization_id=who.organization_id,
                filters=activity.ApiLogFilters(
                    from_date=from_date,
                    to_date=to_date,
                    outcomes=(failed,) if failed in ("succeeded", "failed") else (),
                    request_path=search or None,
                ),
                page=page,
                per_page=PER_PAGE,
            )
        else:
            rows, total = activity.list_activity(
                session,
                organization_id=who.organization_id,
                filters=activity.ActivityFilters(
                    from_date=from_date,
                    to_date=to_date,
                    activity_sources=(source,) if source in SOURCES else (),
                    search=search or None,
                ),
                page=page,
                per_page=PER_PAGE,
            )
        return _page(
            request,
            who,
            "dashboard/activity.html",
            tab=tab,
            rows=rows,
            total=total,
            page=page,
            pages=max((total + PER_PAGE - 1) // PER_PAGE, 1),
            q=search,
            source=source,
            sources=SOURCES,
            outcome=q.get("outcome", ""),
            from_date=q.get("from_date", ""),
            to_date=q.get("to_date", ""),
            error=error,
            retention=activity.retention_days(),
        )
