"""Prepaid wallets on invoices: the `invoice_credits` provider, last in Lago's waterfall.

On a subscription invoice the wallets come after taxes and credit notes: drafts see them,
finalization consumes them (one outbound invoiced transaction per wallet used), then the
customer's ongoing balances are refreshed and the threshold rules checked.

Not part of `wallet_balances`: after consuming, the provider fires threshold top-ups, and
the recurring top-ups refresh the ongoing balances, so it sits above both modules.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from sqlalchemy import ColumnElement, Select, exists, select
from sqlalchemy.orm import Session

from meterly.domain.errors import NotAllowed
from meterly.domain.invoicing import InvoiceTotals, WalletConsumption
from meterly.services.common import Clock
from meterly.services.credits import invoice_credits
from meterly.services.credits.wallet_balances import (
    active_wallets,
    active_where,
    balance_of,
    refresh_ongoing_balances,
)
from meterly.services.credits.wallet_ledger import draw, lock, new_transaction
from meterly.services.credits.wallet_terms import (
    ACTIVE,
    INVOICED,
    OUTBOUND,
    PAYABLE_INVOICE_TYPES,
    SETTLED,
    customer_of,
)
from meterly.services.credits.wallet_top_ups import check_threshold_rules
from meterly.services.notifications import enqueue
from meterly.store.tables import Fee, Invoice
from meterly.store.tables_wallets import Wallet, WalletTransaction


class WalletCredits:
    """Prepaid credits on invoices: offered to every computation, consumed on finalization."""

    def may_apply(self, invoice: Invoice) -> ColumnElement[bool] | bool:
        if invoice.invoice_type not in PAYABLE_INVOICE_TYPES:
            return False
        return exists().where(*active_where(invoice.customer_id, invoice.currency))

    def holders(self, customer_ids: Collection[str]) -> Select[str]:
        return select(Wallet.customer_id).where(
            Wallet.customer_id.in_(customer_ids), Wallet.status == ACTIVE
        )

    def gather(
        self,
        session: Session,
        *,
        invoice: Invoice,
        fees: Sequence[Fee],
        credits: invoice_credits.Credits,
    ) -> None:
        if invoice.invoice_type not in PAYABLE_INVOICE_TYPES:
            return
        for wallet in active_wallets(session, invoice.customer_id, invoice.currency):
            lock(session, wallet)
            if wallet.balance_cents > 0 and _usable(wallet, invoice):
                credits.wallets.append(balance_of(wallet))

    def consume(
        self, session: Session, *, invoice: Invoice, totals: InvoiceTotals, clock: Clock
    ) -> None:
        if not totals.wallets:
            return
        touched: list[Wallet] = []
        for used in totals.wallets:
            wallet = session.get(Wallet, used.wallet_id)
            assert wallet is not None
            _consume(session, wallet=wallet, invoice=invoice, used=used, clock=clock)
            touched.append(wallet)
        first = touched[0]
        refresh_ongoing_balances(
            session, customer=customer_of(session, first), currency_code=first.currency,
            clock=clock,
        )  # fmt: skip
        for wallet in touched:
            check_threshold_rules(session, wallet=wallet, clock=clock)


def _usable(wallet: Wallet, invoice: Invoice) -> bool:
    """A wallet past its expiration (not yet terminated by the clock) pays nothing."""
    return wallet.expiration_at is None or wallet.expiration_at > invoice.created_at


def _consume(
    session: Session, *, wallet: Wallet, invoice: Invoice, used: WalletConsumption, clock: Clock
) -> WalletTransaction:
    lock(session, wallet)
    if used.amount_cents > wallet.balance_cents or used.credit_amount > wallet.credits_balance:
        raise NotAllowed("insufficient_wallet_balance")
    now = clock.now()
    row = new_transaction(
        session,
        wallet,
        kind=INVOICED,
        transaction_type=OUTBOUND,
        status=SETTLED,
        credits=used.credit_amount,
        amount_cents=used.amount_cents,
        source="manual",
        now=now,
        invoice_id=invoice.id,
    )
    draw(session, row, now)
    enqueue(
        session, wallet.organization_id, "wallet_transaction.created", "wallet_transaction",
        row.id, clock,
    )  # fmt: skip
    return row


PROVIDER = WalletCredits()
