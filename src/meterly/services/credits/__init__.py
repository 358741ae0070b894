"""Credits: everything that reduces what an invoice asks after its fees.

Coupons and their applications, credit notes (and the termination credit of a paid-in-
advance period), prepaid wallets with their ledger and top-ups, and the progressive-billing
credit. `available_credits` gathers them for the billing engine's waterfall.
"""

from meterly.services.credits import (
    available_credits,
    coupons,
    credit_notes,
    termination_credits,
    wallets,
)
from meterly.services.credits.coupons import remaining_amount_cents
from meterly.services.credits.credit_notes import applied_taxes_rows, offsetted_amount_cents
from meterly.services.credits.progressive_credit import PROGRESSIVE

__all__ = [
    "PROGRESSIVE",
    "applied_taxes_rows",
    "available_credits",
    "coupons",
    "credit_notes",
    "offsetted_amount_cents",
    "remaining_amount_cents",
    "termination_credits",
    "wallets",
]
