"""Inbound provider webhooks: verified, applied once per provider event id.

The event's signature is checked against each of the organization's connections for
the provider (bad or missing: `SignatureInvalid`, nothing written). The event id is then
inserted in `provider_events` in the same unit of work as its effect, so a delivery
repeated any number of times, even concurrently, changes state once.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from meterly.services.common import Clock
from meterly.services.payments import connections, ledger
from meterly.services.payments.port import ProviderWebhook, SignatureInvalid
from meterly.store.tables import Invoice, PaymentProviderConnection, ProviderCustomer, ProviderEvent


def receive(
    session: Session,
    *,
    organization_id: str,
    provider: str,
    body: bytes,
    signature: str | None,
    keys: tuple[str, ...],
    clock: Clock,
) -> str:
    """Apply one delivery: "applied", "duplicate" or "ignored" (an event Meterly does not use)."""
    candidates = list(
        session.scalars(
            select(PaymentProviderConnection).where(
                PaymentProviderConnection.organization_id == organization_id,
                PaymentProviderConnection.provider == provider,
            )
        )
    )
    verified: tuple[PaymentProviderConnection, ProviderWebhook] | None = None
    for connection in candidates:
        try:
            event = connections.adapter(connection, keys).parse_webhook(
                body=body, signature=signature
            )
        except SignatureInvalid:
            continue
        verified = (connection, event)
        break
    if verified is None:
        raise SignatureInvalid("no connection of the organization signed this event")
    connection, event = verified
    try:
        with session.begin_nested():
            session.add(
                ProviderEvent(
                    connection_id=connection.id,
                    event_id=event.event_id,
                    event_type=event.event_type,
                    received_at=clock.now(),
                )
            )
            session.flush()
    except IntegrityError:
        return "duplicate"
    invoice_id = event.metadata.get("lago_invoice_id")
    if event.charge is None or not invoice_id:
        return "ignored"
    invoice = session.get(Invoice, invoice_id)
    if invoice is None or invoice.organization_id != organization_id:
        return "ignored"
    link = session.get(ProviderCustomer, invoice.customer_id)
    ledger.apply_charge(
        session,
        invoice=invoice,
        result=event.charge,
        connection_id=connection.id,
        provider_customer_id=link.provider_customer_id if link else None,
        provider_code=connection.code,
        clock=clock,
    )
    return "applied"
