"""The payment-provider port: what Meterly asks of any provider, in its own words.

Billing never talks to a provider. The collection job and the hosted payment page call
these methods on the adapter of the organization's connection; a second provider is one
new module implementing `PaymentProvider` and one line in `connections.ADAPTERS`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

# Lago's normalized payment statuses.
PENDING = "pending"
PROCESSING = "processing"
SUCCEEDED = "succeeded"
FAILED = "failed"


@dataclass(frozen=True, slots=True)
class ChargeResult:
    """What the provider answered to a charge (or reported later in a webhook)."""

    # The provider's payment id (Stripe: the PaymentIntent); None when refused up front.
    provider_payment_id: str | None
    # The provider's own status word, kept as the payment's `status`.
    provider_status: str
    # pending | processing | succeeded | failed, plus "requires_action" (3-D Secure).
    outcome: str
    amount_cents: int
    currency: str
    next_action: dict[str, Any] = field(default_factory=dict)
    error_code: str | None = None
    error_message: str | None = None
    # The client secret the hosted page needs to confirm an on-session payment.
    client_secret: str | None = None


@dataclass(frozen=True, slots=True)
class ProviderWebhook:
    """An inbound provider event, its signature verified."""

    event_id: str
    event_type: str
    # A payment update carried by the event, or None for events Meterly does not use.
    charge: ChargeResult | None
    # The Meterly ids the payment was created with (its metadata).
    metadata: dict[str, str]


@dataclass(frozen=True, slots=True)
class PaymentMethod:
    provider_method_id: str
    kind: str
    brand: str | None
    last4: str | None
    expiration_month: int | None
    expiration_year: int | None
    is_default: bool


class ProviderError(Exception):
    """The provider could not be reached or refused the request for a reason not a decline."""


class SignatureInvalid(Exception):
    """An inbound webhook whose signature is missing or does not verify."""


class PaymentProvider(Protocol):
    name: str

    def create_customer(
        self, *, name: str | None, email: str | None, metadata: dict[str, str]
    ) -> str:
        """A new customer at the provider; its id."""
        ...

    def charge_off_session(
        self,
        *,
        provider_customer_id: str,
        amount_cents: int,
        currency: str,
        idempotency_key: str,
        metadata: dict[str, str],
    ) -> ChargeResult:
        """Charge the customer's default payment method without them present."""
        ...

    def save_method(self, *, provider_customer_id: str, provider_method_id: str) -> None:
        """Attach a payment method to the customer and make it their default."""
        ...

    def charge_with_method(
        self,
        *,
        provider_customer_id: str,
        provider_method_id: str,
        amount_cents: int,
        currency: str,
        idempotency_key: str,
        metadata: dict[str, str],
    ) -> ChargeResult:
        """Charge with the customer present (the hosted page): may require action (3-D Secure)."""
        ...

    def start_setup(self, *, provider_customer_id: str, idempotency_key: str) -> str:
        """A saved-payment-method setup the customer confirms on the page: its client secret."""
        ...

    def retrieve_payment(self, provider_payment_id: str) -> ChargeResult:
        """The payment's current state at the provider."""
        ...

    def payment_methods(self, provider_customer_id: str) -> list[PaymentMethod]:
        """The customer's saved payment methods."""
        ...

    def set_default_method(self, *, provider_customer_id: str, provider_method_id: str) -> None:
        """Make one of the customer's saved methods the one charged off-session."""
        ...

    def remove_method(self, *, provider_customer_id: str, provider_method_id: str) -> None:
        """Detach a saved method from the customer (it can no longer be charged)."""
        ...

    def parse_webhook(self, *, body: bytes, signature: str | None) -> ProviderWebhook:
        """The verified event, or SignatureInvalid."""
        ...
