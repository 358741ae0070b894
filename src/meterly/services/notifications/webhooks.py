"""Webhooks: endpoints an organization registers, and the outbox of messages for them.

`enqueue` writes one outbox row per matching endpoint in the caller's transaction, so a
rollback takes the webhook with it. Delivery (`meterly.jobs.webhooks`) renders the body
from the object's current state when it sends, signs it and retries with backoff.

Signatures, as Lago: `hmac` (Base64 HMAC-SHA256 of the body with the organization's
`hmac_key`) or `jwt` (RS256 over `{"data": body, "iss": url}`, verified with the key from
`GET /webhooks/json_public_key`; see services/signing_keys.py). A missing
`signature_algo` means `hmac`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import delete as sql_delete
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from meterly.domain.errors import NotAllowed, NotFound, ValidationFailed
from meterly.services.accounts import billing_cache
from meterly.services.common import Clock, new_id
from meterly.services.notifications import url_guard
from meterly.store.tables import Webhook, WebhookEndpoint

MAX_ENDPOINTS_PER_ORGANIZATION = 10
SIGNATURE_ALGOS = ("hmac", "jwt")
STATUSES = ("pending", "retrying", "succeeded", "failed")

_TYPES_BY_OBJECT: dict[str, tuple[str, ...]] = {
    "alert": ("triggered",),
    "billable_metric": ("created", "updated", "deleted"),
    "customer": (
        "created",
        "updated",
        "accounting_provider_created",
        "accounting_provider_error",
        "crm_provider_created",
        "crm_provider_error",
        "payment_provider_created",
        "payment_provider_error",
        "checkout_url_generated",
        "tax_provider_error",
        "vies_check",
    ),
    "credit_note": ("created", "generated", "provider_refund_failure"),
    "dunning_campaign": ("finished",),
    "event": ("error",),
    "events": ("errors",),
    "feature": ("created", "updated", "deleted"),
    "fee": ("created", "tax_provider_error"),
    "invoice": (
        "created",
        "one_off_created",
        "paid_credit_added",
        "generated",
        "drafted",
        "ready_to_finalize",
        "voided",
        "deleted",
        "payment_dispute_lost",
        "payment_status_updated",
        "payment_overdue",
        "payment_failure",
        "resynced",
    ),
    "integration": ("provider_error",),
    "order": ("created", "executed"),
    "order_form": ("created", "signed", "expired", "voided"),
    "payment": ("succeeded", "requires_action"),
    "payment_provider": ("error",),
    "payment_receipt": ("created", "generated"),
    "payment_request": ("created", "payment_failure", "payment_status_updated"),
    "plan": ("created", "updated", "deleted"),
    "quote": ("created", "approved", "voided"),
    "subscription": (
        "canceled",
        "incomplete",
        "terminated",
        "started",
        "updated",
        "termination_alert",
        "trial_ended",
        "usage_threshold_reached",
    ),
    "wallet": ("created", "updated", "terminated", "depleted_ongoing_balance"),
    "wallet_transaction": ("created", "updated", "payment_failure"),
}

# Every webhook type Lago sends (its config/webhook_event_types.yml list).
EVENT_TYPES: frozenset[str] = frozenset(
    f"{obj}.{action}" for obj, actions in _TYPES_BY_OBJECT.items() for action in actions
)


@dataclass(frozen=True, slots=True)
class EndpointInput:
    """A create or update request; `sent` names the fields the caller sent."""

    webhook_url: str | None = None
    name: str | None = None
    signature_algo: str | None = None
    event_types: list[str] | None = None
    sent: frozenset[str] = field(default_factory=frozenset)


# --- the outbox ------------------------------------------------------------------------


def enqueue(
    session: Session,
    organization_id: str,
    webhook_type: str,
    object_type: str,
    object_id: str | None,
    clock: Clock,
    *,
    payload: dict[str, Any] | None = None,
) -> list[Webhook]:
    """One outbox row per endpoint listening to `webhook_type`; never commits.

    Without `payload` the body is rendered when delivered, from the object's state then
    (as Lago's asynchronous job does). `payload` is the object itself (what goes under the
    `<object_type>` key), for objects with no table of their own, such as `event_error`.
    """
    now = clock.now()
    rows: list[Webhook] = []
    for endpoint in billing_cache.webhook_endpoints(session, organization_id):
        if not listens_to(endpoint, webhook_type):
            continue
        row = Webhook(
            id=new_id(),
            organization_id=organization_id,
            webhook_endpoint_id=endpoint.id,
            webhook_type=webhook_type,
            object_type=object_type,
            object_id=object_id,
            payload=dict(payload) if payload is not None else {},
            status="pending",
            retries=0,
            attempts=[],
            next_attempt_at=now,
            created_at=now,
            updated_at=now,
        )
        session.add(row)
        rows.append(row)
    if rows:
        session.flush()
    return rows


def listens_to(endpoint: WebhookEndpoint | billing_cache.Endpoint, webhook_type: str) -> bool:
    return not endpoint.event_types or webhook_type in endpoint.event_types


def list_deliveries(
    session: Session,
    *,
    organization_id: str,
    status: str | None = None,
    page: int = 1,
    per_page: int = 100,
) -> tuple[list[Webhook], int]:
    """The organization's outbox, newest first, optionally of one status."""
    if status is not None and status not in STATUSES:
        raise ValidationFailed.field("status", "value_is_invalid")
    where = [Webhook.organization_id == organization_id]
    if status is not None:
        where.append(Webhook.status == status)
    total = session.scalar(select(func.count()).select_from(Webhook).where(*where)) or 0
    rows = session.scalars(
        select(Webhook)
        .where(*where)
        .order_by(Webhook.created_at.desc(), Webhook.id)
        .offset((page - 1) * per_page)
        .limit(per_page)
    )
    return list(rows), total


def find_delivery(session: Session, *, organization_id: str, webhook_id: str) -> Webhook:
    row = session.get(Webhook, webhook_id)
    if row is None or row.organization_id != organization_id:
        raise NotFound("webhook")
    return row


def retry(session: Session, *, organization_id: str, webhook_id: str, clock: Clock) -> Webhook:
    """Queue a failed delivery again, with a fresh round of attempts (history kept)."""
    row = find_delivery(session, organization_id=organization_id, webhook_id=webhook_id)
    if row.status != "failed":
        raise NotAllowed("webhook_not_failed", "only a failed webhook can be retried")
    now = clock.now()
    row.status = "pending"
    row.retries = 0
    row.next_attempt_at = now
    row.updated_at = now
    return row


# --- endpoints -------------------------------------------------------------------------


def find(session: Session, *, organization_id: str, endpoint_id: str) -> WebhookEndpoint:
    row = session.get(WebhookEndpoint, endpoint_id)
    if row is None or row.organization_id != organization_id:
        raise NotFound("webhook_endpoint")
    return row


def list_page(
    session: Session, *, organization_id: str, page: int, per_page: int
) -> tuple[list[WebhookEndpoint], int]:
    where = WebhookEndpoint.organization_id == organization_id
    total = session.scalar(select(func.count()).select_from(WebhookEndpoint).where(where)) or 0
    rows = session.scalars(
        select(WebhookEndpoint)
        .where(where)
        .order_by(WebhookEndpoint.created_at.desc(), WebhookEndpoint.id)
        .offset((page - 1) * per_page)
        .limit(per_page)
    )
    return list(rows), total


def endpoint_urls(session: Session, endpoint_ids: set[str]) -> dict[str, str]:
    if not endpoint_ids:
        return {}
    rows = session.execute(
        select(WebhookEndpoint.id, WebhookEndpoint.webhook_url).where(
            WebhookEndpoint.id.in_(endpoint_ids)
        )
    )
    return {row.id: row.webhook_url for row in rows}


def create(
    session: Session, *, organization_id: str, data: EndpointInput, clock: Clock
) -> WebhookEndpoint:
    errors = _check(data, creating=True)
    if errors:
        raise ValidationFailed(errors)
    assert data.webhook_url is not None
    url_guard.check_url(session, organization_id=organization_id, url=data.webhook_url)
    count = (
        session.scalar(
            select(func.count())
            .select_from(WebhookEndpoint)
            .where(WebhookEndpoint.organization_id == organization_id)
        )
        or 0
    )
    if count >= MAX_ENDPOINTS_PER_ORGANIZATION:
        raise ValidationFailed.field("base", "webhook_endpoint_limit_reached")
    _check_unique(session, organization_id=organization_id, url=data.webhook_url, exclude=None)
    now = clock.now()
    row = WebhookEndpoint(
        id=new_id(),
        organization_id=organization_id,
        webhook_url=data.webhook_url,
        name=data.name,
        signature_algo=data.signature_algo or "hmac",
        event_types=_event_types(data.event_types),
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    return row


def update(
    session: Session, *, row: WebhookEndpoint, data: EndpointInput, clock: Clock
) -> WebhookEndpoint:
    errors = _check(data, creating=False)
    if errors:
        raise ValidationFailed(errors)
    if data.webhook_url and data.webhook_url != row.webhook_url:
        url_guard.check_url(session, organization_id=row.organization_id, url=data.webhook_url)
        _check_unique(
            session, organization_id=row.organization_id, url=data.webhook_url, exclude=row.id
        )
        row.webhook_url = data.webhook_url
    if "name" in data.sent:
        row.name = data.name
    if data.signature_algo:
        row.signature_algo = data.signature_algo
    if "event_types" in data.sent:
        row.event_types = _event_types(data.event_types)
    row.updated_at = clock.now()
    session.flush()
    return row


def delete(session: Session, *, row: WebhookEndpoint) -> WebhookEndpoint:
    """Remove the endpoint and its delivery history (Lago deletes them with it)."""
    session.execute(sql_delete(Webhook).where(Webhook.webhook_endpoint_id == row.id))
    session.delete(row)
    session.flush()
    return row


def _check(data: EndpointInput, *, creating: bool) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if creating and not data.webhook_url:
        errors["webhook_url"] = ["value_is_mandatory"]
    elif data.webhook_url is not None and not valid_url(data.webhook_url):
        errors["webhook_url"] = ["url_is_invalid"]
    elif "webhook_url" in data.sent and not data.webhook_url:
        errors["webhook_url"] = ["value_is_mandatory"]
    if data.signature_algo is not None and data.signature_algo not in SIGNATURE_ALGOS:
        errors["signature_algo"] = ["value_is_invalid"]
    if data.event_types is not None:
        unknown = [t for t in data.event_types if t not in EVENT_TYPES]
        if unknown:
            errors["event_types"] = ["invalid_event_types"]
    return errors


def _check_unique(session: Session, *, organization_id: str, url: str, exclude: str | None) -> None:
    query = select(WebhookEndpoint.id).where(
        WebhookEndpoint.organization_id == organization_id,
        WebhookEndpoint.webhook_url == url,
    )
    if exclude is not None:
        query = query.where(WebhookEndpoint.id != exclude)
    if session.scalar(query) is not None:
        raise ValidationFailed.field("webhook_url", "value_already_exist")


def _event_types(values: list[str] | None) -> list[str] | None:
    """None or an empty list: every type (an endpoint that hears nothing is pointless)."""
    if not values:
        return None
    return sorted(set(values))


def valid_url(value: str) -> bool:
    """An absolute http(s) URL with a host, no spaces."""
    if not value or any(ch.isspace() for ch in value) or len(value) > 1024:
        return False
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)
