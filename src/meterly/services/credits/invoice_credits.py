"""What reduces an invoice after its fees: progressive-billing credit, coupons, credit
notes and prepaid wallet credits, gathered from their own services for the waterfall.

Each area implements a provider (`CreditProvider`); `services/credits/available_credits.py`
lists them in the waterfall's order. `gather` runs on every computation of an invoice
(drafts included: nothing is consumed); `consume` runs once, when the invoice is
finalized, and records what was used (coupon balances, credit-note balances, wallet
transactions). Both run inside the caller's unit of work, so a rollback undoes both.

Most customers have nothing in most areas. A provider may say, with `may_apply`, how to
tell cheaply whether it could offer anything to an invoice: all those conditions are asked
in one statement in the unit of work (always fresh), and only the areas that answer yes
run their own look-ups.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from sqlalchemy import ColumnElement, Select
from sqlalchemy.orm import Session

from meterly.domain.coupons import AppliedCoupon
from meterly.domain.invoicing import CreditNoteBalance, InvoiceTotals
from meterly.domain.wallets import WalletBalance
from meterly.services.common import Clock
from meterly.store.tables import Fee, Invoice


@dataclass
class Credits:
    progressive_billing_credit_cents: int = 0
    coupons: list[AppliedCoupon] = field(default_factory=list)
    credit_notes: list[CreditNoteBalance] = field(default_factory=list)
    wallets: list[WalletBalance] = field(default_factory=list)


class CreditProvider(Protocol):
    def gather(
        self, session: Session, *, invoice: Invoice, fees: Sequence[Fee], credits: Credits
    ) -> None:
        """Add what this area offers to `credits` (coupons, balances, wallets...)."""

    def consume(
        self, session: Session, *, invoice: Invoice, totals: InvoiceTotals, clock: Clock
    ) -> None:
        """Record what the finalized invoice used."""


@runtime_checkable
class ProbedProvider(Protocol):
    def may_apply(self, invoice: Invoice) -> ColumnElement[bool] | bool:
        """Whether this area could offer anything to `invoice`: a bool answers at once; a
        condition is asked in the database. It may say yes too often, never no wrongly."""

    def holders(self, customer_ids: Collection[str]) -> Select[str]:
        """The customers among `customer_ids` this area could offer anything, asked once for
        a billing batch (`available_credits.batch_holders`). It may name a customer too
        often (any currency, any invoice), never leave one out wrongly."""
