"""What reduces an invoice after its fees: progressive-billing credit, coupons, credit
notes and prepaid wallet credits, gathered from their own services for the waterfall.

Each area registers a provider here. `gather` runs on every computation of an invoice
(drafts included: nothing is consumed); `consume` runs once, when the invoice is
finalized, and records what was used (coupon balances, credit-note balances, wallet
transactions). Both run inside the caller's unit of work, so a rollback undoes both.

Most customers have nothing in most areas. A provider may say, with `may_apply`, how to
tell cheaply whether it could offer anything to an invoice: all those conditions are asked
in one statement in the unit of work (always fresh), and only the areas that answer yes
run their own look-ups.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from meterly.domain.coupons import AppliedCoupon
from meterly.domain.invoicing import CreditNoteBalance, InvoiceTotals
from meterly.domain.wallets import WalletBalance
from meterly.services.clock import Clock
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


PROVIDERS: list[CreditProvider] = []


def register(provider: CreditProvider) -> None:
    if provider not in PROVIDERS:
        PROVIDERS.append(provider)


def gather(session: Session, *, invoice: Invoice, fees: Sequence[Fee]) -> Credits:
    _load_providers()
    credits = Credits()
    # One-off invoices for prepaid credits (wallet top-ups) are never paid with credits.
    if invoice.invoice_type == "credit":
        return credits
    for provider in _worth_asking(session, invoice):
        provider.gather(session, invoice=invoice, fees=fees, credits=credits)
    return credits


def _worth_asking(session: Session, invoice: Invoice) -> list[CreditProvider]:
    """The providers that may have something for `invoice`, in their order (one statement)."""
    answers: dict[int, bool] = {}
    conditions: list[tuple[int, ColumnElement[bool]]] = []
    for index, provider in enumerate(PROVIDERS):
        if not isinstance(provider, ProbedProvider):
            answers[index] = True
            continue
        answer = provider.may_apply(invoice)
        if isinstance(answer, bool):
            answers[index] = answer
        else:
            conditions.append((index, answer))
    if conditions:
        row = session.execute(select(*(c.label(f"p{i}") for i, c in conditions))).one()
        for (index, _), value in zip(conditions, row, strict=True):
            answers[index] = bool(value)
    return [p for index, p in enumerate(PROVIDERS) if answers[index]]


def consume(session: Session, *, invoice: Invoice, totals: InvoiceTotals, clock: Clock) -> None:
    _load_providers()
    if invoice.invoice_type == "credit":
        return
    for provider in PROVIDERS:
        provider.consume(session, invoice=invoice, totals=totals, clock=clock)


# Modules that register a provider when imported. A module not written yet is skipped.
PROVIDER_MODULES = (
    "meterly.services.progressive_billing",
    "meterly.services.coupons",
    "meterly.services.credit_notes",
    "meterly.services.wallets",
)


_loaded: list[str] = []


def _load_providers() -> None:
    """Import the provider modules once per process (each invoice computation asks)."""
    if _loaded:
        return
    import importlib
    import importlib.util

    for name in PROVIDER_MODULES:
        if importlib.util.find_spec(name) is not None:
            importlib.import_module(name)
    _loaded.append("done")
