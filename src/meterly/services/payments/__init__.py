"""Getting paid: payment providers, payments, receipts, payment requests and dunning.

- `port`: what Meterly asks of a provider; `stripe_adapter`: Stripe, the first adapter.
- `connections`: an organization's provider connections (secrets encrypted by `secrets`)
  and the customers linked to a provider customer.
- `collection`: the worker's job charging finalized invoices, and `retry_payment`.
- `inbound`: the provider's webhooks, verified and applied once.
- `ledger`: manual and provider payments against invoices, and their receipts.
- `checkout`: the hosted payment page's calls (save a card, pay an invoice).
- `payment_requests`: overdue invoices asked for at once (reminder and charges).
- `dunning`: campaigns, customers' place in them, and the worker's pass.
"""

from meterly.services.payments import (
    checkout,
    collection,
    connections,
    dunning,
    inbound,
    ledger,
    links,
    payment_requests,
)
from meterly.services.payments.connections import ConnectionInput
from meterly.services.payments.ledger import ManualPayment
from meterly.services.payments.port import (
    ChargeResult,
    PaymentMethod,
    PaymentProvider,
    ProviderError,
    SignatureInvalid,
)

__all__ = [
    "ChargeResult",
    "ConnectionInput",
    "ManualPayment",
    "PaymentMethod",
    "PaymentProvider",
    "ProviderError",
    "SignatureInvalid",
    "checkout",
    "collection",
    "connections",
    "dunning",
    "inbound",
    "ledger",
    "links",
    "payment_requests",
]
