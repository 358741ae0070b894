"""The dashboard's webhook delivery log, filtered by delivery status."""

from __future__ import annotations

from datetime import timedelta

from fastapi import Request, Response

from meterly.api.http import clock, unit_of_work
from meterly.domain.errors import ValidationFailed
from meterly.services.notifications import webhooks
from meterly.web import auth
from meterly.web.dashboard.common import PER_PAGE, _login_redirect, _page, section_router

router = section_router()


@router.get("/webhooks")
def webhook_deliveries(request: Request) -> Response:
    who = auth.operator(request)
    if who is None:
        return _login_redirect(request)
    status = request.query_params.get("status", "")
    with unit_of_work(request) as session:
        try:
            rows, total = webhooks.list_deliveries(
                session,
                organization_id=who.organization_id,
                status=status or None,
                page=1,
                per_page=PER_PAGE,
            )
        except ValidationFailed:
            rows, total, status = [], 0, ""
        urls = webhooks.endpoint_urls(session, {r.webhook_endpoint_id for r in rows})
        return _page(
            request,
            who,
            "dashboard/webhooks.html",
            deliveries=rows,
            total=total,
            status=status,
            statuses=webhooks.STATUSES,
            urls=urls,
            now=clock(request).now(),
            stale=timedelta(minutes=5),
        )
