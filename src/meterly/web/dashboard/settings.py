"""Organization settings: the seller's identity on documents and the billing defaults.

Seller legal name, address, tax id, logo and invoice footer; the invoice numbering scheme
and prefix; grace period, net payment term, default timezone and currency. The form goes
through `accounts.update_organization`, the API's PUT /organizations rules; a lower grace
period finalizes at once the drafts now due, as the API does. Everyone may read the page,
admins change it. The webhook HMAC key has its own page (`signing_key`).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import Request, Response
from fastapi.responses import RedirectResponse

from meterly.api.http import clock, unit_of_work
from meterly.domain.errors import DomainError, ValidationFailed
from meterly.services import billing
from meterly.services.accounts import ORGANIZATION_PROFILE_FIELDS, find_organization, organizations
from meterly.web import auth
from meterly.web.dashboard import messages
from meterly.web.dashboard.common import _page, section_router

router = section_router()

TEXT_FIELDS = ("name", *ORGANIZATION_PROFILE_FIELDS, "logo_url", "document_number_prefix")
NUMBERING = {
    "per_customer": "Per customer (each customer's own sequence)",
    "per_organization": "Per organization (one sequence for all)",
}
COMMON_TIMEZONES = (
    "UTC",
    "Europe/London",
    "Europe/Paris",
    "Europe/Berlin",
    "America/New_York",
    "America/Chicago",
    "America/Los_Angeles",
    "America/Sao_Paulo",
    "Asia/Tokyo",
    "Asia/Singapore",
    "Asia/Kolkata",
    "Australia/Sydney",
)


def _values(org: Any) -> dict[str, str]:
    profile = org.profile or {}
    billing_config = org.billing_configuration or {}
    values = {name: str(profile.get(name) or "") for name in TEXT_FIELDS}
    values.update(
        name=org.name,
        document_number_prefix=org.document_number_prefix,
        document_numbering=org.document_numbering,
        invoice_footer=str(billing_config.get("invoice_footer") or ""),
        invoice_grace_period=str(org.invoice_grace_period),
        net_payment_term=str(org.net_payment_term),
        timezone=org.timezone or "UTC",
        default_currency=org.default_currency,
    )
    return values


def _whole(data: dict[str, str], name: str) -> object:
    """A whole number of days; other text is passed on for the rules to refuse."""
    text = data.get(name, "").strip()
    try:
        return int(text)
    except ValueError:
        return text


def _changes(data: dict[str, str]) -> dict[str, Any]:
    changes: dict[str, Any] = {name: data.get(name, "").strip() for name in TEXT_FIELDS}
    if not changes["name"]:
        raise ValidationFailed.field("name", "value_is_mandatory")
    grace = _whole(data, "invoice_grace_period")
    # update_organization ignores a grace period that is not a whole number: refuse it here.
    if not isinstance(grace, int) or grace < 0:
        raise ValidationFailed.field("invoice_grace_period", "value_is_invalid")
    changes.update(
        document_numbering=data.get("document_numbering", ""),
        net_payment_term=_whole(data, "net_payment_term"),
        timezone=data.get("timezone", "").strip(),
        default_currency=data.get("default_currency", "").strip().upper(),
        billing_configuration={
            "invoice_footer": data.get("invoice_footer", "").strip() or None,
            "invoice_grace_period": grace,
        },
    )
    return changes


def _settings_page(
    request: Request,
    who: auth.Operator,
    *,
    status: int = 200,
    values: dict[str, str] | None = None,
    errors: list[str] | None = None,
) -> Response:
    with unit_of_work(request) as session:
        org = find_organization(session, who.organization_id)
        return _page(
            request,
            who,
            "dashboard/settings.html",
            status_code=status,
            values=values or _values(org),
            errors=errors or [],
            numbering=NUMBERING,
            timezones=COMMON_TIMEZONES,
            message=request.query_params.get("message"),
        )


@router.get("/settings")
def settings_page(request: Request) -> Response:
    who = auth.operator(request)
    assert who is not None  # auth.authorize signed the request in
    return _settings_page(request, who)


@router.post("/settings")
async def save_settings(request: Request) -> Response:
    who = auth.operator(request)
    assert who is not None
    data = await auth.form(request)
    if not auth.csrf_ok(who, data):
        return Response("Invalid form token", status_code=400)
    try:
        with unit_of_work(request) as session:
            org = find_organization(session, who.organization_id)
            organizations.update_organization(
                session, org, changes=_changes(data), clock=clock(request)
            )
            # A lower grace period finalizes at once the drafts now due (Lago).
            billing.apply_grace_period(
                session, organization_id=who.organization_id, clock=clock(request)
            )
    except DomainError as exc:
        return _settings_page(request, who, status=422, values=data, errors=messages.describe(exc))
    query = urlencode({"message": "Settings saved."})
    return RedirectResponse(f"/dashboard/settings?{query}", status_code=303)
