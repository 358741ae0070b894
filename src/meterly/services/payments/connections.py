"""An organization's provider connections and the customers linked to them.

A customer is linked through Lago's `billing_configuration` (`payment_provider`,
`payment_provider_code`, `provider_customer_id`, `sync_with_provider`). Without a
`provider_customer_id` the provider customer is created on demand, by the worker or the
hosted page, never inside the API request that links it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from meterly.domain.errors import NotFound, ValidationFailed
from meterly.services import notifications
from meterly.services.common import Clock, new_id
from meterly.services.payments import secrets
from meterly.services.payments.port import PaymentProvider
from meterly.services.payments.stripe_adapter import StripeProvider
from meterly.store.tables import Customer, PaymentProviderConnection, ProviderCustomer


def _stripe(connection: PaymentProviderConnection, keys: tuple[str, ...]) -> PaymentProvider:
    webhook_secret = connection.webhook_secret_encrypted
    return StripeProvider(
        secret_key=secrets.decrypt(connection.secret_key_encrypted, keys=keys),
        webhook_secret=secrets.decrypt(webhook_secret, keys=keys) if webhook_secret else None,
        api_base=connection.api_base,
    )


# provider name -> the adapter built from a connection. A new provider is one entry here.
ADAPTERS: dict[str, Callable[[PaymentProviderConnection, tuple[str, ...]], PaymentProvider]] = {
    "stripe": _stripe,
}


@dataclass(frozen=True, slots=True)
class ConnectionInput:
    provider: str
    code: str
    secret_key: str | None
    name: str | None = None
    webhook_secret: str | None = None
    api_base: str | None = None
    publishable_key: str | None = None
    success_redirect_url: str | None = None


def connect(
    session: Session,
    *,
    organization_id: str,
    data: ConnectionInput,
    keys: tuple[str, ...],
    clock: Clock,
) -> PaymentProviderConnection:
    """Create or update (by code) a connection; secrets are encrypted before they are kept."""
    errors: dict[str, list[str]] = {}
    if data.provider not in ADAPTERS:
        errors["provider"] = ["value_is_invalid"]
    if not data.code.strip():
        errors["code"] = ["value_is_mandatory"]
    if data.api_base is not None and not data.api_base.startswith(("http://", "https://")):
        errors["api_base"] = ["value_is_invalid"]
    if errors:
        raise ValidationFailed(errors)
    now = clock.now()
    row = session.scalars(
        select(PaymentProviderConnection).where(
            PaymentProviderConnection.organization_id == organization_id,
            PaymentProviderConnection.code == data.code,
        )
    ).one_or_none()
    if row is None:
        if not data.secret_key:
            raise ValidationFailed.field("secret_key", "value_is_mandatory")
        row = PaymentProviderConnection(
            id=new_id(),
            organization_id=organization_id,
            provider=data.provider,
            code=data.code,
            created_at=now,
        )
        session.add(row)
    row.name = data.name or row.name
    if data.secret_key:
        row.secret_key_encrypted = secrets.encrypt(data.secret_key, keys=keys)
    if data.webhook_secret:
        row.webhook_secret_encrypted = secrets.encrypt(data.webhook_secret, keys=keys)
    if data.api_base is not None:
        row.api_base = data.api_base or None
    if data.publishable_key is not None:
        row.publishable_key = data.publishable_key or None
    if data.success_redirect_url is not None:
        row.success_redirect_url = data.success_redirect_url or None
    row.updated_at = now
    session.flush()
    return row


def list_connections(session: Session, *, organization_id: str) -> list[PaymentProviderConnection]:
    return list(
        session.scalars(
            select(PaymentProviderConnection)
            .where(PaymentProviderConnection.organization_id == organization_id)
            .order_by(PaymentProviderConnection.created_at, PaymentProviderConnection.code)
        )
    )


def find_connection(
    session: Session, *, organization_id: str, provider: str, code: str | None
) -> PaymentProviderConnection:
    """The connection named by `code`, or the organization's only one for the provider."""
    query = select(PaymentProviderConnection).where(
        PaymentProviderConnection.organization_id == organization_id,
        PaymentProviderConnection.provider == provider,
    )
    if code:
        query = query.where(PaymentProviderConnection.code == code)
    rows = list(session.scalars(query.order_by(PaymentProviderConnection.created_at)))
    if not rows:
        raise NotFound("payment_provider")
    return rows[0]


def adapter(connection: PaymentProviderConnection, keys: tuple[str, ...]) -> PaymentProvider:
    return ADAPTERS[connection.provider](connection, keys)


# --- linked customers ------------------------------------------------------------------


def link_customer(session: Session, *, customer: Customer, clock: Clock) -> ProviderCustomer | None:
    """Apply the customer's `billing_configuration` to its provider link (create/update)."""
    billing = customer.billing_configuration or {}
    provider = billing.get("payment_provider")
    link = session.get(ProviderCustomer, customer.id)
    if not provider:
        return link
    if provider not in ADAPTERS:
        raise ValidationFailed.field("billing_configuration.payment_provider", "value_is_invalid")
    try:
        connection = find_connection(
            session,
            organization_id=customer.organization_id,
            provider=str(provider),
            code=billing.get("payment_provider_code"),
        )
    except NotFound:
        raise ValidationFailed.field(
            "billing_configuration.payment_provider_code", "payment_provider_not_found"
        ) from None
    now = clock.now()
    if link is None:
        link = ProviderCustomer(
            customer_id=customer.id,
            organization_id=customer.organization_id,
            created_at=now,
        )
        session.add(link)
    link.connection_id = connection.id
    given = billing.get("provider_customer_id")
    if given:
        link.provider_customer_id = str(given)
    sync = billing.get("sync_with_provider")
    link.sync_with_provider = True if sync is None else bool(sync)
    link.updated_at = now
    if billing.get("payment_provider_code") != connection.code:
        customer.billing_configuration = {**billing, "payment_provider_code": connection.code}
    session.flush()
    return link


def find_link(session: Session, *, customer_id: str) -> ProviderCustomer | None:
    return session.get(ProviderCustomer, customer_id)


def customer_created_at_provider(
    session: Session, *, link: ProviderCustomer, provider_customer_id: str, clock: Clock
) -> None:
    """Keep the id of a provider customer created on demand, and tell the organization."""
    if link.provider_customer_id == provider_customer_id:
        return
    link.provider_customer_id = provider_customer_id
    link.updated_at = clock.now()
    customer = session.get(Customer, link.customer_id)
    if customer is not None:
        customer.billing_configuration = {
            **(customer.billing_configuration or {}),
            "provider_customer_id": provider_customer_id,
        }
    session.flush()
    notifications.enqueue(
        session,
        link.organization_id,
        "customer.payment_provider_created",
        "customer",
        link.customer_id,
        clock,
    )


def ensure_provider_customer(
    provider: PaymentProvider,
    *,
    provider_customer_id: str | None,
    sync_with_provider: bool,
    customer_id: str,
    external_id: str,
    name: str | None,
    email: str | None,
) -> str | None:
    """The provider customer's id, created now (outside any transaction) when missing."""
    if provider_customer_id:
        return provider_customer_id
    if not sync_with_provider:
        return None
    return provider.create_customer(
        name=name,
        email=email,
        metadata={"lago_customer_id": customer_id, "customer_id": external_id},
    )
