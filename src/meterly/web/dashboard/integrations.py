"""Webhook endpoints and API keys: how other systems hear from and talk to Meterly.

Endpoints are created and deleted through `notifications.webhooks`, the API's own rules (an
http(s) URL, no private address, `hmac` or `jwt` signatures, at most ten). API keys are
created, rotated and revoked through `accounts.organizations`: a new key's secret is shown
once, on the answer to the form (never stored, never cached), and only its prefix after.
Everyone may read the endpoints; only admins see or manage keys (web/auth.py).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy.orm import Session

from meterly.api.http import clock, unit_of_work
from meterly.domain.errors import DomainError, NotFound
from meterly.services import operators
from meterly.services.accounts import create_api_key, organizations, revoke_api_key
from meterly.services.notifications import webhooks
from meterly.store.tables import ApiKey
from meterly.web import auth
from meterly.web.dashboard import messages
from meterly.web.dashboard.common import _not_found, _page, section_router

router = section_router()

SIGNATURES = {
    "hmac": "HMAC-SHA256 with the organization's key (X-Lago-Signature)",
    "jwt": "JWT signed with Meterly's RSA key (X-Lago-Signature, RS256)",
}


def _redirect(path: str, message: str) -> Response:
    return RedirectResponse(f"{path}?{urlencode({'message': message})}", status_code=303)


# --- webhook endpoints ---------------------------------------------------------------------


def _endpoints_page(
    request: Request,
    who: auth.Operator,
    *,
    status: int = 200,
    errors: list[str] | None = None,
    values: dict[str, str] | None = None,
) -> Response:
    with unit_of_work(request) as session:
        rows, total = webhooks.list_page(
            session, organization_id=who.organization_id, page=1, per_page=100
        )
        return _page(
            request,
            who,
            "dashboard/webhook_endpoints.html",
            status_code=status,
            endpoints=rows,
            total=total,
            signatures=SIGNATURES,
            errors=errors or [],
            values=values or {"signature_algo": "hmac"},
            message=request.query_params.get("message"),
        )


@router.get("/webhook_endpoints")
def endpoints(request: Request) -> Response:
    who = auth.operator(request)
    assert who is not None  # auth.authorize signed the request in
    return _endpoints_page(request, who)


@router.post("/webhook_endpoints/new")
async def create_endpoint(request: Request) -> Response:
    who = auth.operator(request)
    assert who is not None
    data = await auth.form(request)
    if not auth.csrf_ok(who, data):
        return Response("Invalid form token", status_code=400)
    fields: dict[str, Any] = {
        "webhook_url": data.get("webhook_url", "").strip() or None,
        "name": data.get("name", "").strip() or None,
        "signature_algo": data.get("signature_algo") or None,
    }
    try:
        with unit_of_work(request) as session:
            webhooks.create(
                session,
                organization_id=who.organization_id,
                data=webhooks.EndpointInput(**fields, sent=frozenset(fields)),
                clock=clock(request),
            )
    except DomainError as exc:
        return _endpoints_page(request, who, status=422, errors=messages.describe(exc), values=data)
    return _redirect("/dashboard/webhook_endpoints", f"Endpoint {fields['webhook_url']} added.")


@router.post("/webhook_endpoints/{endpoint_id}/delete")
async def delete_endpoint(endpoint_id: str, request: Request) -> Response:
    who = auth.operator(request)
    assert who is not None
    data = await auth.form(request)
    if not auth.csrf_ok(who, data):
        return Response("Invalid form token", status_code=400)
    try:
        with unit_of_work(request) as session:
            row = webhooks.find(
                session, organization_id=who.organization_id, endpoint_id=endpoint_id
            )
            url = row.webhook_url
            webhooks.delete(session, row=row)
    except NotFound:
        return _not_found(request, who, "webhook endpoint")
    return _redirect("/dashboard/webhook_endpoints", f"Endpoint {url} deleted.")


# --- API keys ------------------------------------------------------------------------------


def _keys_page(
    request: Request,
    who: auth.Operator,
    *,
    status: int = 200,
    issued: str | None = None,
    errors: list[str] | None = None,
) -> Response:
    with unit_of_work(request) as session:
        keys = organizations.list_api_keys(session, organization_id=who.organization_id)
        response = _page(
            request,
            who,
            "dashboard/api_keys.html",
            status_code=status,
            keys=keys,
            issued=issued,
            errors=errors or [],
            message=request.query_params.get("message"),
        )
    # A page with a secret on it is never kept by the browser or a proxy.
    response.headers["cache-control"] = "no-store"
    return response


def _own_key(session: Session, who: auth.Operator, key_id: str) -> ApiKey:
    """A key of the signed-in organization (another's is as unknown as a missing one)."""
    for key in organizations.list_api_keys(session, organization_id=who.organization_id):
        if key.id == key_id:
            return key
    raise NotFound("api_key")


@router.get("/api_keys")
@auth.requires(operators.ADMIN)
def api_keys(request: Request) -> Response:
    who = auth.operator(request)
    assert who is not None  # auth.authorize let only a signed-in admin through
    return _keys_page(request, who)


@router.post("/api_keys/new")
async def new_api_key(request: Request) -> Response:
    who = auth.operator(request)
    assert who is not None
    data = await auth.form(request)
    if not auth.csrf_ok(who, data):
        return Response("Invalid form token", status_code=400)
    name = data.get("name", "").strip()
    if not name:
        return _keys_page(request, who, status=422, errors=["Name is required."])
    with unit_of_work(request) as session:
        issued = create_api_key(
            session, organization_id=who.organization_id, clock=clock(request), name=name
        )
    return _keys_page(request, who, issued=issued.secret)


@router.post("/api_keys/{key_id}/{action}")
async def key_action(key_id: str, action: str, request: Request) -> Response:
    who = auth.operator(request)
    assert who is not None
    data = await auth.form(request)
    if not auth.csrf_ok(who, data) or action not in ("rotate", "revoke"):
        return Response("Invalid form", status_code=400)
    try:
        with unit_of_work(request) as session:
            key = _own_key(session, who, key_id)
            if key.revoked_at is not None:
                return _keys_page(request, who, status=422, errors=["This key is already revoked."])
            label = key.name or key.key_prefix
            issued = None
            if action == "rotate":
                # The new key takes the old one's name; the old one stops working now.
                issued = create_api_key(
                    session,
                    organization_id=who.organization_id,
                    clock=clock(request),
                    name=key.name,
                )
            revoke_api_key(session, key_id=key.id, clock=clock(request))
    except NotFound:
        return _not_found(request, who, "API key")
    if key_id == who.api_key_id:
        # This session was opened with the key just revoked: it ends with it.
        return RedirectResponse("/dashboard/login", status_code=303)
    if issued is not None:
        return _keys_page(request, who, issued=issued.secret)
    return _redirect("/dashboard/api_keys", f"Key {label} revoked.")
