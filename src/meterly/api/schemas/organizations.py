"""The organization object on the wire."""

from __future__ import annotations

from typing import Any

from meterly.api.http import Payload
from meterly.api.wire import iso
from meterly.services.accounts import ORGANIZATION_PROFILE_FIELDS
from meterly.store.tables import Organization


class OrganizationIn(Payload):
    name: str | None = None
    default_currency: str | None = None
    timezone: str | None = None
    net_payment_term: int | None = None
    document_numbering: str | None = None
    document_number_prefix: str | None = None
    finalize_zero_amount_invoice: bool | None = None
    # Meterly: events of an invoiced period feed corrections (docs/corrections.md).
    accept_late_events: bool | None = None
    webhook_url: str | None = None
    country: str | None = None
    address_line1: str | None = None
    address_line2: str | None = None
    state: str | None = None
    zipcode: str | None = None
    email: str | None = None
    city: str | None = None
    legal_name: str | None = None
    legal_number: str | None = None
    tax_identification_number: str | None = None
    billing_configuration: dict[str, Any] | None = None
    einvoicing: bool | None = None


def organization(org: Organization) -> dict[str, Any]:
    billing = {
        "invoice_footer": org.billing_configuration.get("invoice_footer"),
        "invoice_grace_period": org.invoice_grace_period,
        "document_locale": org.billing_configuration.get("document_locale", "en"),
    }
    return {
        "lago_id": org.id,
        "name": org.name,
        "slug": org.document_number_prefix.lower(),
        "default_currency": org.default_currency,
        "created_at": iso(org.created_at),
        "webhook_url": org.webhook_url,
        "webhook_urls": [org.webhook_url] if org.webhook_url else [],
        **{name: org.profile.get(name) for name in ORGANIZATION_PROFILE_FIELDS},
        "timezone": org.timezone,
        "net_payment_term": org.net_payment_term,
        "email_settings": [],
        "document_numbering": org.document_numbering,
        "document_number_prefix": org.document_number_prefix,
        "finalize_zero_amount_invoice": org.finalize_zero_amount_invoice,
        "billing_configuration": billing,
        "einvoicing": org.einvoicing,
        "accept_late_events": org.accept_late_events,
        "events_store": "postgres",
    }
