"""Lago's wire shapes for payments, payment receipts and payment methods."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session

from meterly.api.http import Payload
from meterly.api.wire import iso
from meterly.services.payments import PaymentMethod
from meterly.store.tables import (
    Customer,
    Invoice,
    Payment,
    PaymentProviderConnection,
    PaymentReceipt,
)

# Stable ids for payment methods Meterly does not store (they live at the provider).
_METHOD_NAMESPACE = uuid.UUID("6f1c2a8e-3b7d-4c55-9a0e-5d2b8f4e7c31")


class PaymentIn(Payload):
    invoice_id: str
    amount_cents: int
    reference: str
    paid_at: date | datetime | None = None


class ConnectionIn(Payload):
    """Meterly's own: an organization's provider account (Lago sets these in its UI)."""

    code: str
    name: str | None = None
    secret_key: str | None = None
    webhook_secret: str | None = None
    api_base: str | None = None
    publishable_key: str | None = None
    success_redirect_url: str | None = None


def payment(session: Session, row: Payment) -> dict[str, Any]:
    customer = session.get(Customer, row.customer_id)
    invoice = session.get(Invoice, row.invoice_id)
    connection = (
        session.get(PaymentProviderConnection, row.connection_id) if row.connection_id else None
    )
    return {
        "lago_id": row.id,
        "lago_customer_id": row.customer_id,
        "external_customer_id": customer.external_id if customer else None,
        "invoice_ids": [row.invoice_id],
        "invoice_numbers": [invoice.number] if invoice and invoice.number else [],
        "lago_payable_id": row.invoice_id,
        "payable_type": "Invoice",
        "amount_cents": row.amount_cents,
        "amount_currency": row.currency,
        "status": row.status,
        "payment_status": row.payment_status,
        "type": row.payment_type,
        # The Lago client reads a string here; a provider payment has no reference of its own.
        "reference": row.reference or "",
        "payment_provider_code": connection.code if connection else None,
        "payment_provider_type": connection.provider if connection else None,
        "external_payment_id": row.provider_payment_id,
        "provider_payment_id": row.provider_payment_id,
        "provider_customer_id": row.provider_customer_id,
        "payment_method_id": None,
        "next_action": row.next_action or {},
        "created_at": iso(row.created_at),
    }


def payment_receipt(session: Session, row: PaymentReceipt) -> dict[str, Any]:
    paid = session.get(Payment, row.payment_id)
    assert paid is not None
    return {
        "lago_id": row.id,
        "number": row.number,
        "created_at": iso(row.created_at),
        "payment": payment(session, paid),
    }


def payment_method_id(connection: PaymentProviderConnection, provider_method_id: str) -> str:
    """The stable Lago id of a method stored at the provider (derived, never stored)."""
    return str(uuid.uuid5(_METHOD_NAMESPACE, f"{connection.id}:{provider_method_id}"))


def payment_method(
    method: PaymentMethod, connection: PaymentProviderConnection, created_at: datetime
) -> dict[str, Any]:
    return {
        "lago_id": payment_method_id(connection, method.provider_method_id),
        "is_default": method.is_default,
        "payment_provider_code": connection.code,
        "payment_provider_name": connection.name or connection.provider.capitalize(),
        "payment_provider_type": connection.provider,
        "provider_method_id": method.provider_method_id,
        "details": {
            "type": method.kind,
            "brand": method.brand,
            "last4": method.last4,
            "expiration_month": method.expiration_month,
            "expiration_year": method.expiration_year,
        },
        "created_at": iso(created_at),
    }


def connection(row: PaymentProviderConnection) -> dict[str, Any]:
    """A connection as answered: never its secrets, only whether they are set."""
    return {
        "lago_id": row.id,
        "code": row.code,
        "name": row.name,
        "payment_provider_type": row.provider,
        "api_base": row.api_base,
        "publishable_key": row.publishable_key,
        "success_redirect_url": row.success_redirect_url,
        "has_secret_key": bool(row.secret_key_encrypted),
        "has_webhook_secret": bool(row.webhook_secret_encrypted),
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
    }
