"""The customer object on the wire."""

from __future__ import annotations

from typing import Any

from meterly.api.http import Payload
from meterly.api.wire import iso
from meterly.services.accounts import customers
from meterly.store.tables import Customer, Organization, Tax

_ADDRESS_KEYS = ("address_line1", "address_line2", "city", "zipcode", "state", "country")


class CustomerIn(Payload):
    external_id: str | None = None
    name: str | None = None
    firstname: str | None = None
    lastname: str | None = None
    customer_type: str | None = None
    account_type: str | None = None
    email: str | None = None
    phone: str | None = None
    url: str | None = None
    logo_url: str | None = None
    legal_name: str | None = None
    legal_number: str | None = None
    tax_identification_number: str | None = None
    address_line1: str | None = None
    address_line2: str | None = None
    city: str | None = None
    zipcode: str | None = None
    state: str | None = None
    country: str | None = None
    currency: str | None = None
    timezone: str | None = None
    net_payment_term: int | None = None
    finalize_zero_amount_invoice: str | None = None
    external_salesforce_id: str | None = None
    billing_entity_code: str | None = None
    tax_codes: list[str] | None = None
    metadata: list[dict[str, Any]] | None = None
    billing_configuration: dict[str, Any] | None = None
    shipping_address: dict[str, Any] | None = None
    # Meterly extension: the test clock a new customer lives under (docs/test-clocks.md).
    test_clock_id: str | None = None


def customer(row: Customer, org: Organization, taxes: list[Tax] | None = None) -> dict[str, Any]:
    from meterly.api.schemas.taxes import tax as tax_body

    profile = row.profile
    billing = row.billing_configuration
    shipping = profile.get("shipping_address") or {}
    return {
        "lago_id": row.id,
        "billing_entity_code": profile.get("billing_entity_code"),
        "external_id": row.external_id,
        "account_type": profile.get("account_type") or "customer",
        "name": row.name,
        **{
            k: profile.get(k)
            for k in customers.PROFILE_FIELDS
            if k not in ("shipping_address", "account_type", "billing_entity_code")
        },
        "sequential_id": row.sequential_id,
        "slug": row.slug,
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
        "email": row.email,
        "currency": row.currency,
        "timezone": row.timezone,
        "applicable_timezone": row.timezone or org.timezone or "UTC",
        "net_payment_term": row.net_payment_term,
        "finalize_zero_amount_invoice": row.finalize_zero_amount_invoice,
        "billing_configuration": {
            "invoice_grace_period": row.invoice_grace_period,
            "payment_provider": billing.get("payment_provider"),
            "payment_provider_code": billing.get("payment_provider_code"),
            "provider_customer_id": billing.get("provider_customer_id"),
            "document_locale": billing.get("document_locale"),
            "subscription_invoice_issuing_date_anchor": billing.get(
                "subscription_invoice_issuing_date_anchor"
            ),
            "subscription_invoice_issuing_date_adjustment": billing.get(
                "subscription_invoice_issuing_date_adjustment"
            ),
        },
        "shipping_address": {k: shipping.get(k) for k in _ADDRESS_KEYS},
        "skip_invoice_custom_sections": False,
        "metadata": [
            {
                "lago_id": m["lago_id"],
                "key": m["key"],
                "value": m.get("value"),
                "display_in_invoice": m.get("display_in_invoice", False),
                "created_at": m.get("created_at"),
            }
            for m in row.customer_metadata
        ],
        "taxes": [tax_body(t) for t in taxes or []],
        "integration_customers": [],
        "applicable_invoice_custom_sections": [],
        "error_details": [],
        # Meterly extension, only on customers under a test clock.
        **({"test_clock_id": row.test_clock_id} if row.test_clock_id else {}),
    }
