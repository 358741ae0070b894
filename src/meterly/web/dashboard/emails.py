"""The dashboard's e-mail log: every document and reminder queued, and what became of it."""

from __future__ import annotations

from fastapi import Request, Response

from meterly.api.http import unit_of_work
from meterly.domain.errors import ValidationFailed
from meterly.services import mail
from meterly.web import auth
from meterly.web.dashboard.common import PER_PAGE, _login_redirect, _page, section_router

router = section_router()


@router.get("/emails")
def email_log(request: Request) -> Response:
    who = auth.operator(request)
    if who is None:
        return _login_redirect(request)
    status = request.query_params.get("status", "")
    with unit_of_work(request) as session:
        try:
            rows, total = mail.list_emails(
                session,
                organization_id=who.organization_id,
                status=status or None,
                page=1,
                per_page=PER_PAGE,
            )
        except ValidationFailed:
            # An unknown status in the address shows everything rather than an error page.
            rows, total, status = [], 0, ""
        return _page(
            request,
            who,
            "dashboard/emails.html",
            emails=rows,
            total=total,
            status=status,
            statuses=mail.STATUSES,
            smtp_configured=mail.SmtpSettings.from_env().host is not None,
        )
