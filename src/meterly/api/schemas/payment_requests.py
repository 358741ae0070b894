"""Lago's wire shapes for payment requests, and Meterly's own for dunning campaigns."""

from __future__ import annotations

from typing import Any

from pydantic import Field
from sqlalchemy.orm import Session

from meterly.api.http import Payload
from meterly.api.schemas.customers import customer as customer_body
from meterly.api.schemas.invoices import invoice as invoice_body
from meterly.api.wire import iso
from meterly.services.payments import payment_requests
from meterly.store.tables import (
    Customer,
    CustomerDunning,
    DunningCampaign,
    Organization,
    PaymentRequest,
)


class PaymentRequestIn(Payload):
    external_customer_id: str
    email: str | None = None
    lago_invoice_ids: list[str]


class ThresholdIn(Payload):
    currency: str
    amount_cents: int


class DunningCampaignIn(Payload):
    code: str
    name: str | None = None
    description: str | None = None
    applied_to_organization: bool | None = None
    days_between_attempts: int | None = Field(default=None, ge=1)
    max_attempts: int | None = Field(default=None, ge=1)
    thresholds: list[ThresholdIn] | None = None
    bcc_emails: list[str] | None = None


class CustomerDunningIn(Payload):
    applied_dunning_campaign_code: str | None = None
    exclude_from_dunning_campaign: bool = False


def payment_request(session: Session, row: PaymentRequest) -> dict[str, Any]:
    """Lago's PaymentRequestObject: the customer and its invoices (without their fees)."""
    customer = session.get(Customer, row.customer_id)
    org = session.get(Organization, row.organization_id)
    assert customer is not None and org is not None
    return {
        "lago_id": row.id,
        "email": row.email,
        "amount_cents": row.amount_cents,
        "amount_currency": row.currency,
        "payment_status": row.payment_status,
        "created_at": iso(row.created_at),
        "customer": customer_body(customer, org, None),
        "invoices": [
            invoice_body(session, i, include_fees=False)
            for i in payment_requests.invoices_of(session, row)
        ],
    }


def dunning_campaign(row: DunningCampaign) -> dict[str, Any]:
    return {
        "lago_id": row.id,
        "code": row.code,
        "name": row.name,
        "description": row.description,
        "applied_to_organization": row.applied_to_organization,
        "days_between_attempts": row.days_between_attempts,
        "max_attempts": row.max_attempts,
        "thresholds": list(row.thresholds or []),
        "bcc_emails": list(row.bcc_emails or []),
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
    }


def customer_dunning(
    customer: Customer, state: CustomerDunning | None, campaign: DunningCampaign | None
) -> dict[str, Any]:
    """Where a customer stands: Lago's customer fields for dunning, under their own names."""
    return {
        "lago_id": customer.id,
        "external_id": customer.external_id,
        "applied_dunning_campaign_code": campaign.code if campaign else None,
        "exclude_from_dunning_campaign": bool(state and state.excluded),
        "last_dunning_campaign_attempt": state.attempts if state else 0,
        "last_dunning_campaign_attempt_at": iso(state.last_attempt_at) if state else None,
        "dunning_campaign_completed": bool(state and state.finished),
    }
