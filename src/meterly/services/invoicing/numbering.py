"""Invoice numbering and finalization: a draft becomes a numbered, finalized invoice.

Shared by every kind of invoice (subscription, one-off, progressive, and the credit
invoices of wallet top-ups), so it sits below the capabilities that issue them.
Document counters (invoice and credit-note numbers) are kept here too.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy.orm import Session

from meterly.domain.errors import NotAllowed, NotFound
from meterly.services import mail
from meterly.services.accounts import billing_entities
from meterly.services.common import Clock
from meterly.services.invoicing import snapshot
from meterly.services.notifications import enqueue
from meterly.store.sequences import next_value, next_values
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
    deferred: list[_Unnumbered] | None = session.info.get(_DEFERRED)
    # The counter touches no invoice: the invoice's pending changes (its totals) are
    # written with its number below, in one UPDATE (or, numbered together, one flush).
    with session.no_autoflush:
        # The customer's seller numbers the invoice: the organization, or a billing entity.
        seller = billing_entities.seller_for(session, customer)
        invoice.billing_entity_code = None if seller.is_default else seller.code
        prefix = seller.document_number_prefix
        if seller.document_numbering == "per_billing_entity":
            month = invoice.issuing_date.strftime("%Y%m")
            scope = f"org:{month}" if seller.is_default else f"entity:{seller.lago_id}:{month}"
            shape = f"{prefix}-{month}-{{:03d}}"
        else:
            scope = f"customer:{customer.id}"
            shape = f"{prefix}-{customer.sequential_id:03d}-{{:03d}}"
        if deferred is not None:
            deferred.append(_Unnumbered(invoice, org.id, scope, shape))
        else:
            _number(invoice, next_sequence(session, organization_id=org.id, scope=scope), shape)
    invoice.document_snapshot = snapshot.take(
        session, organization_id=org.id, customer_id=customer.id
    )
    invoice.status = "finalized"
    invoice.finalized_at = now
    invoice.finalize_at = None
    invoice.updated_at = now
    if invoice.total_amount_cents == 0:
        invoice.payment_status = "succeeded"
    if deferred is None:
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


def _number(invoice: Invoice, n: int, shape: str) -> None:
    invoice.sequential_id = n
    invoice.number = shape.format(n)


# --- numbers for many invoices at once ---------------------------------------------------

_DEFERRED = "numbering_deferred"


@dataclass(frozen=True, slots=True)
class _Unnumbered:
    invoice: Invoice
    organization_id: str
    scope: str
    shape: str


@contextmanager
def numbered_together(session: Session) -> Iterator[None]:
    """Invoices finalized inside get their numbers when the block ends, from one statement
    (`next_values`) instead of one per invoice, so the block's invoices, fees and keys can
    be written by one flush. Numbers are handed out in finalization order; the caller's
    transaction holds the counters until it commits, and a rollback gives them back, as
    one at a time. Nothing inside may read a finalized invoice's number."""
    deferred: list[_Unnumbered] = []
    session.info[_DEFERRED] = deferred
    try:
        yield
    finally:
        session.info.pop(_DEFERRED, None)
    wanted: dict[tuple[str, str], int] = {}
    for item in deferred:
        key = (item.organization_id, item.scope)
        wanted[key] = wanted.get(key, 0) + 1
    last = next_values(session, wanted)
    given: dict[tuple[str, str], int] = {}
    for item in deferred:
        key = (item.organization_id, item.scope)
        given[key] = given.get(key, 0) + 1
        _number(item.invoice, last[key] - wanted[key] + given[key], item.shape)
