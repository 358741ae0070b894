"""/api/v1/webhook_endpoints (Lago) and /api/v1/webhooks (Meterly's delivery history)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from meterly.api.http import (
    clock,
    envelope,
    json_body,
    listing,
    ok,
    organization_id,
    page_params,
    parse,
    root,
    unit_of_work,
)
from meterly.api.openapi import wire_body
from meterly.api.schemas.webhooks import WebhookEndpointIn, webhook, webhook_endpoint
from meterly.services.notifications import webhooks as service

router = APIRouter(tags=["webhooks"])


def _input(body: Any) -> service.EndpointInput:
    raw = root(body, "webhook_endpoint")
    data = parse(WebhookEndpointIn, raw)
    return service.EndpointInput(**data.model_dump(exclude_unset=True), sent=frozenset(raw))


@router.post("/webhook_endpoints", openapi_extra=wire_body("webhook_endpoint", WebhookEndpointIn))
def create(
    request: Request, org: str = Depends(organization_id), body: Any = Depends(json_body)
) -> Response:
    data = _input(body)
    with unit_of_work(request) as session:
        row = service.create(session, organization_id=org, data=data, clock=clock(request))
        return envelope("webhook_endpoint", webhook_endpoint(row))


@router.get("/webhook_endpoints")
def index(request: Request, org: str = Depends(organization_id)) -> Response:
    page, per_page = page_params(request)
    with unit_of_work(request) as session:
        rows, total = service.list_page(session, organization_id=org, page=page, per_page=per_page)
        items = [webhook_endpoint(r) for r in rows]
    return listing("webhook_endpoints", items, page=page, per_page=per_page, total=total)


@router.get("/webhook_endpoints/{lago_id}")
def show(lago_id: str, request: Request, org: str = Depends(organization_id)) -> Response:
    with unit_of_work(request) as session:
        row = service.find(session, organization_id=org, endpoint_id=lago_id)
        return envelope("webhook_endpoint", webhook_endpoint(row))


@router.put(
    "/webhook_endpoints/{lago_id}", openapi_extra=wire_body("webhook_endpoint", WebhookEndpointIn)
)
def update(
    lago_id: str,
    request: Request,
    org: str = Depends(organization_id),
    body: Any = Depends(json_body),
) -> Response:
    data = _input(body)
    with unit_of_work(request) as session:
        row = service.find(session, organization_id=org, endpoint_id=lago_id)
        service.update(session, row=row, data=data, clock=clock(request))
        return envelope("webhook_endpoint", webhook_endpoint(row))


@router.delete("/webhook_endpoints/{lago_id}")
def destroy(lago_id: str, request: Request, org: str = Depends(organization_id)) -> Response:
    with unit_of_work(request) as session:
        row = service.find(session, organization_id=org, endpoint_id=lago_id)
        body = webhook_endpoint(row)
        service.delete(session, row=row)
    return envelope("webhook_endpoint", body)


# --- delivery history and public key ---------------------------------------------------


@router.get("/webhooks/json_public_key")
@router.get("/webhooks/public_key")
def public_key(request: Request, _: str = Depends(organization_id)) -> Response:
    """The public key that verifies JWT-signed webhooks (Base64 of its PEM, as Lago)."""
    from meterly.services.accounts import signing_keys

    with unit_of_work(request) as session:
        key = signing_keys.webhook_public_key_b64(session, clock=clock(request))
    return ok({"webhook": {"public_key": key}})


@router.get("/webhooks")
def deliveries(request: Request, org: str = Depends(organization_id)) -> Response:
    page, per_page = page_params(request)
    status = request.query_params.get("status") or None
    with unit_of_work(request) as session:
        rows, total = service.list_deliveries(
            session, organization_id=org, status=status, page=page, per_page=per_page
        )
        urls = service.endpoint_urls(session, {r.webhook_endpoint_id for r in rows})
        items = [webhook(r, webhook_url=urls.get(r.webhook_endpoint_id)) for r in rows]
    return listing("webhooks", items, page=page, per_page=per_page, total=total)


@router.get("/webhooks/{webhook_id}")
def delivery(webhook_id: str, request: Request, org: str = Depends(organization_id)) -> Response:
    with unit_of_work(request) as session:
        row = service.find_delivery(session, organization_id=org, webhook_id=webhook_id)
        urls = service.endpoint_urls(session, {row.webhook_endpoint_id})
        return envelope("webhook", webhook(row, webhook_url=urls.get(row.webhook_endpoint_id)))


@router.post("/webhooks/{webhook_id}/retry")
def retry(webhook_id: str, request: Request, org: str = Depends(organization_id)) -> Response:
    with unit_of_work(request) as session:
        row = service.retry(
            session, organization_id=org, webhook_id=webhook_id, clock=clock(request)
        )
        urls = service.endpoint_urls(session, {row.webhook_endpoint_id})
        return envelope("webhook", webhook(row, webhook_url=urls.get(row.webhook_endpoint_id)))
