"""The hosted payment page's calls: save a card (SetupIntent), pay an invoice with it.

Each call reads what it needs in one unit of work, talks to the provider with no
transaction open, and records the answer in a second one. The page is reached through a
signed, expiring link (web/links.py); these functions trust the ids the link carried.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from meterly.domain.errors import NotAllowed, NotFound
from meterly.services.billing import amount_due_cents
from meterly.services.common import Clock
from meterly.services.payments import connections, ledger, links
from meterly.services.payments.port import SUCCEEDED, ChargeResult, PaymentProvider
from meterly.store.tables import (
    Customer,
    Invoice,
    Payment,
    PaymentProviderConnection,
    ProviderCustomer,
)
from meterly.store.uow import Database

STRIPE_JS = "https://js.stripe.com/v3/"


@dataclass(frozen=True, slots=True)
class PageContext:
    """What the page shows and the provider objects it works on (no ORM rows)."""

    organization_id: str
    customer_id: str
    customer_name: str | None
    invoice_id: str | None
    invoice_number: str | None
    amount_cents: int
    currency: str | None
    paid: bool
    connection_id: str
    connection_code: str
    publishable_key: str
    script_url: str
    success_redirect_url: str | None
    provider: PaymentProvider
    provider_customer_id: str | None
    sync_with_provider: bool
    external_customer_id: str
    customer_email: str | None


def context(
    session: Session,
    *,
    organization_id: str,
    customer_id: str,
    invoice_id: str | None,
    keys: tuple[str, ...],
) -> PageContext:
    customer = session.get(Customer, customer_id)
    if customer is None or customer.organization_id != organization_id:
        raise NotFound("customer")
    link = session.get(ProviderCustomer, customer_id)
    if link is None:
        raise NotAllowed("missing_payment_provider")
    connection = session.get(PaymentProviderConnection, link.connection_id)
    assert connection is not None
    invoice = session.get(Invoice, invoice_id) if invoice_id else None
    if invoice_id and (invoice is None or invoice.customer_id != customer_id):
        raise NotFound("invoice")
    # Stripe.js comes from the provider's own host; a test server serves a stand-in.
    script = (
        f"{connection.api_base.rstrip('/')}/js.stripe.com/v3/" if connection.api_base else STRIPE_JS
    )
    return PageContext(
        organization_id=organization_id,
        customer_id=customer_id,
        customer_name=customer.name,
        invoice_id=invoice.id if invoice else None,
        invoice_number=invoice.number if invoice else None,
        amount_cents=amount_due_cents(session, invoice) if invoice else 0,
        currency=invoice.currency if invoice else customer.currency,
        paid=invoice is not None and invoice.payment_status == SUCCEEDED,
        connection_id=connection.id,
        connection_code=connection.code,
        publishable_key=connection.publishable_key or "pk_test_meterly",
        script_url=script,
        success_redirect_url=connection.success_redirect_url,
        provider=connections.adapter(connection, keys),
        provider_customer_id=link.provider_customer_id,
        sync_with_provider=link.sync_with_provider,
        external_customer_id=customer.external_id,
        customer_email=customer.email,
    )


def _provider_customer(database: Database, page: PageContext, clock: Clock) -> str:
    created = connections.ensure_provider_customer(
        page.provider,
        provider_customer_id=page.provider_customer_id,
        # The customer is here to pay: a provider customer is needed whatever the sync flag.
        sync_with_provider=True,
        customer_id=page.customer_id,
        external_id=page.external_customer_id,
        name=page.customer_name,
        email=page.customer_email,
    )
    assert created is not None
    if created != page.provider_customer_id:
        with database.unit_of_work() as session:
            link = session.get(ProviderCustomer, page.customer_id)
            assert link is not None
            connections.customer_created_at_provider(
                session, link=link, provider_customer_id=created, clock=clock
            )
    return created


def start_setup(database: Database, page: PageContext, *, nonce: str, clock: Clock) -> str:
    """The SetupIntent's client secret the page confirms with the card it collected."""
    customer_id = _provider_customer(database, page, clock)
    return page.provider.start_setup(
        provider_customer_id=customer_id,
        idempotency_key=f"meterly-setup-{page.customer_id}-{nonce}",
    )


def save_method(database: Database, page: PageContext, *, method_id: str, clock: Clock) -> None:
    customer_id = _provider_customer(database, page, clock)
    page.provider.save_method(provider_customer_id=customer_id, provider_method_id=method_id)


def pay_invoice(
    database: Database, page: PageContext, *, method_id: str, clock: Clock
) -> ChargeResult:
    """Save the card as the customer's default, then charge the invoice with it."""
    if page.invoice_id is None or page.paid or page.amount_cents <= 0:
        raise NotAllowed("invalid_status")
    customer_id = _provider_customer(database, page, clock)
    page.provider.save_method(provider_customer_id=customer_id, provider_method_id=method_id)
    result = page.provider.charge_with_method(
        provider_customer_id=customer_id,
        provider_method_id=method_id,
        amount_cents=page.amount_cents,
        currency=page.currency or "USD",
        idempotency_key=f"meterly-invoice-{page.invoice_id}-page-{method_id}",
        metadata={
            "lago_invoice_id": page.invoice_id,
            "lago_customer_id": page.customer_id,
            "invoice_type": "invoice",
        },
    )
    _record(database, page, result, customer_id, clock)
    return result


def sync_payment(
    database: Database, page: PageContext, *, provider_payment_id: str, clock: Clock
) -> ChargeResult:
    """After 3-D Secure on the page: the payment's state read back from the provider.

    Only a payment this invoice already started is read: a link to one invoice can never
    report another invoice's payment.
    """
    with database.unit_of_work() as session:
        known = session.scalars(
            select(Payment.id).where(
                Payment.organization_id == page.organization_id,
                Payment.invoice_id == page.invoice_id,
                Payment.provider_payment_id == provider_payment_id,
            )
        ).one_or_none()
    if known is None or page.invoice_id is None:
        raise NotFound("payment")
    result = page.provider.retrieve_payment(provider_payment_id)
    _record(database, page, result, page.provider_customer_id, clock)
    return result


def _record(
    database: Database,
    page: PageContext,
    result: ChargeResult,
    provider_customer_id: str | None,
    clock: Clock,
) -> None:
    assert page.invoice_id is not None
    with database.unit_of_work() as session:
        invoice = session.get(Invoice, page.invoice_id)
        assert invoice is not None
        ledger.apply_charge(
            session,
            invoice=invoice,
            result=result,
            connection_id=page.connection_id,
            provider_customer_id=provider_customer_id,
            provider_code=page.connection_code,
            clock=clock,
        )


@dataclass(frozen=True, slots=True)
class InvoiceLink:
    """A signed link to the hosted page for one invoice, and the provider it pays through."""

    url: str
    customer_id: str
    external_customer_id: str
    provider: str


def invoice_link(
    session: Session,
    *,
    invoice: Invoice,
    secret_key: str,
    public_url: str,
    clock: Clock,
) -> InvoiceLink:
    """The customer's link to pay `invoice` on the hosted page (signed, expiring).

    405 `invalid_status` for an invoice that is not finalized or already paid, and 405
    `missing_payment_provider` for a customer not linked to a provider (Lago's codes).
    """
    if invoice.status != "finalized" or invoice.payment_status == SUCCEEDED:
        raise NotAllowed("invalid_status")
    link = session.get(ProviderCustomer, invoice.customer_id)
    if link is None:
        raise NotAllowed("missing_payment_provider")
    connection = session.get(PaymentProviderConnection, link.connection_id)
    customer = session.get(Customer, invoice.customer_id)
    assert connection is not None and customer is not None
    token = links.issue(
        secret_key,
        organization_id=invoice.organization_id,
        customer_id=invoice.customer_id,
        invoice_id=invoice.id,
        now=clock.now(),
    )
    return InvoiceLink(
        url=links.page_url(public_url, token),
        customer_id=customer.id,
        external_customer_id=customer.external_id,
        provider=connection.provider,
    )
