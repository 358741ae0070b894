"""Webhook endpoints (Lago's object) and Meterly's delivery history on the wire."""

from __future__ import annotations

from typing import Any

from meterly.api.http import Payload
from meterly.api.wire import iso
from meterly.store.tables import Webhook, WebhookEndpoint


class WebhookEndpointIn(Payload):
    webhook_url: str | None = None
    name: str | None = None
    signature_algo: str | None = None
    event_types: list[str] | None = None


def webhook_endpoint(row: WebhookEndpoint) -> dict[str, Any]:
    return {
        "lago_id": row.id,
        "lago_organization_id": row.organization_id,
        "webhook_url": row.webhook_url,
        "signature_algo": row.signature_algo,
        "name": row.name,
        "event_types": list(row.event_types) if row.event_types else None,
        "created_at": iso(row.created_at),
    }


def webhook(row: Webhook, *, webhook_url: str | None = None) -> dict[str, Any]:
    """One outbox row with its attempts: Meterly's view of a delivery (not in Lago's API)."""
    return {
        "lago_id": row.id,
        "lago_organization_id": row.organization_id,
        "lago_webhook_endpoint_id": row.webhook_endpoint_id,
        "webhook_url": webhook_url,
        "webhook_type": row.webhook_type,
        "object_type": row.object_type,
        "lago_object_id": row.object_id,
        "status": row.status,
        "retries": row.retries,
        "http_status": row.http_status,
        "response": row.response,
        "attempts": list(row.attempts or []),
        "next_attempt_at": iso(row.next_attempt_at) if row.status != "succeeded" else None,
        "last_attempt_at": iso(row.last_attempt_at),
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
    }
