"""Invoice numbering and finalization: a draft becomes a numbered, finalized invoice.

Shared by every kind of invoice (subscription, one-off, progressive, and the credit
invoices of wallet top-ups), so it sits below the capabilities that issue them.
Document counters (invoice and credit-note numbers) are kept here too.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from meterly.domain.errors import NotAllowed, NotFound
from meterly.services import mail
from meterly.services.accounts import billing_entities
from meterly.services.common import Clock
from meterly.services.invoicing import snapshot
from meterly.services.notifications import enqueue
from meterly.store.sequences import next_value
from meterly.store.tables import Customer, Invoice, Organization

HIDDEN_STATUSES = ("deleted", "generating")


# --- webhooks ------------------------------------------------------------------------


def enqueue_webhook(session: Session, *, invoice: Invoice, webhook_type: str, clock: Clock) -> None:
    """Write an outbox row announcing `webhook_type` for the invoice, when webhooks exist."""
    enqueue(session, invoice.organization_id, webhook_type, "invoice", invoice.id, clock)


# --- finalize --------------------------------------------------------------------------


def finalize(session: Session, *, invoice: Invoice, clock: Clock) -> Invoice:
    """A draft becomes a numbered, finalized invoice (`invoice.created`)."""
    if invoice.status in ("finalized", "voided") or invoice.status in HIDDEN_STATUSES:
        raise NotAllowed("invalid_status", f"invoice is {invoice.status}")
    org = session.get(Organization, invoice.organization_id)
    customer = session.get(Customer, invoice.customer_id)
    if org is None or customer is None:
        raise NotFound("invoice")
    now = clock.now()
    # The counter touches no invoice: the invoice's pending changes (its totals) are
    # written with its number below, in one UPDATE.
    with session.no_autoflush:
        # The customer's seller numbers the invoice: the organization, or a billing entity.
        seller = billing_entities.seller_for(session, customer)
        invoice.billing_entity_code = None if seller.is_default else seller.code
        prefix = seller.document_number_prefix
        if seller.document_numbering == "per_billing_entity":
            month = invoice.issuing_date.strftime("%Y%m")
            scope = f"org:{month}" if seller.is_default else f"entity:{seller.lago_id}:{month}"
            n = next_sequence(session, organization_id=org.id, scope=scope)
            invoice.number = f"{prefix}-{month}-{n:03d}"
        else:
            n = next_sequence(session, organization_id=org.id, scope=f"customer:{customer.id}")
            invoice.number = f"{prefix}-{customer.sequential_id:03d}-{n:03d}"
    invoice.sequential_id = n
    invoice.document_snapshot = snapshot.take(
        session, organization_id=org.id, customer_id=customer.id
    )
    invoice.status = "finalized"
    invoice.finalized_at = now
    invoice.finalize_at = None
    invoice.updated_at = now
    if invoice.total_amount_cents == 0:
        invoice.payment_status = "succeeded"
    session.flush()
    # One-off invoices announce themselves as invoice.one_off_created instead (Lago).
    if invoice.invoice_type != "one_off":
        enqueue_webhook(session, invoice=invoice, webhook_type="invoice.created", clock=clock)
    mail.enqueue(
        session,
        organization_id=invoice.organization_id,
        customer_id=invoice.customer_id,
        kind="invoice",
        object_id=invoice.id,
        clock=clock,
    )
    return invoice


def next_sequence(session: Session, *, organization_id: str, scope: str) -> int:
    """Bump one document counter and return its new value, safe under concurrency."""
    return next_value(session, organization_id=organization_id, scope=scope)
