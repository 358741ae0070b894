"""Ongoing balances: what a wallet would hold if the customer's usage were invoiced now.

The ongoing balance is the balance minus the customer's current usage (taxes included)
and the drafts waiting for finalization; usage goes to the wallets in application order,
each taking up to its balance, the rest to the last wallet allowed to pay it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from meterly.domain.money import currency
from meterly.domain.taxes import tax_fee
from meterly.domain.wallets import (
    OngoingBalance,
    WalletBalance,
    application_order,
    ongoing_balance,
)
from meterly.services.common import Clock
from meterly.services.credits.wallet_ledger import set_ongoing
from meterly.services.credits.wallet_terms import (
    ACTIVE,
    PAYABLE_INVOICE_TYPES,
    applies_to_of,
    customer_of,
)
from meterly.services.metering import charges_window, compute_usage
from meterly.services.notifications import enqueue
from meterly.store.tables import Customer, Invoice, Subscription
from meterly.store.tables_wallets import Wallet

GroupKey = tuple[str, str | None]


def usage_groups(
    session: Session, *, customer: Customer, currency_code: str, at: datetime
) -> dict[GroupKey, int]:
    """What the customer owes but has not been invoiced for, taxes included, per
    (fee_type, metric) group: the current usage of its active subscriptions and its
    draft invoices."""

    groups: dict[GroupKey, int] = {}
    subs = session.scalars(
        select(Subscription).where(
            Subscription.customer_id == customer.id, Subscription.status == ACTIVE
        )
    )
    for sub in subs:
        if sub.plan.amount_currency.upper() != currency_code:
            continue
        window, full_days = charges_window(session, sub, at=at)
        if window.end <= window.start:
            continue
        usage = compute_usage(
            session,
            sub=sub,
            window=window,
            full_period_days=full_days,
            include=lambda c: not c.pay_in_advance,
            apply_taxes=True,
        )
        for charge in usage.charges:
            amount = charge.amount_cents
            if amount <= 0:
                continue
            taxed = (
                amount + tax_fee(base_amount_cents=Decimal(amount), taxes=charge.taxes).amount_cents
            )
            metric_key: GroupKey = ("charge", charge.charge.billable_metric.code)
            groups[metric_key] = groups.get(metric_key, 0) + taxed
    drafts = session.scalars(
        select(Invoice).where(
            Invoice.customer_id == customer.id,
            Invoice.status == "draft",
            Invoice.currency == currency_code,
            Invoice.invoice_type.in_(PAYABLE_INVOICE_TYPES),
        )
    )
    for invoice in drafts:
        for fee in invoice.fees:
            code = fee.item.get("code") if fee.fee_type == "charge" else None
            key: GroupKey = (fee.fee_type, str(code) if code is not None else None)
            groups[key] = groups.get(key, 0) + fee.amount_cents + fee.taxes_amount_cents
    return groups


def allocate_usage(
    wallets: Sequence[WalletBalance], groups: Mapping[GroupKey, int]
) -> dict[str, int]:
    """Usage per wallet: in application order each wallet takes what it may pay, up to its
    balance; what no balance covers goes to the last wallet allowed to pay it."""
    left = dict(groups)
    taken = {w.id: 0 for w in wallets}
    order = application_order(wallets)
    for wallet in order:
        room = wallet.balance_cents
        for key in sorted(left, key=lambda k: -left[k]):
            if room <= 0:
                break
            if left[key] > 0 and wallet.applies_to.allows(
                fee_type=key[0], billable_metric_code=key[1]
            ):
                used = min(room, left[key])
                left[key] -= used
                room -= used
                taken[wallet.id] += used
    for key, amount in left.items():
        if amount <= 0:
            continue
        allowed = [
            w for w in order if w.applies_to.allows(fee_type=key[0], billable_metric_code=key[1])
        ]
        if allowed:
            taken[allowed[-1].id] += amount
    return taken


def ongoing_balances(
    session: Session, *, customer: Customer, currency_code: str, at: datetime
) -> dict[str, OngoingBalance]:
    """The ongoing balance of each active wallet of the customer in the currency."""
    rows = active_wallets(session, customer.id, currency_code)
    if not rows:
        return {}
    groups = usage_groups(session, customer=customer, currency_code=currency_code, at=at)
    usage = allocate_usage([balance_of(w) for w in rows], groups)
    cur = currency(currency_code)
    return {
        w.id: ongoing_balance(
            balance_cents=w.balance_cents,
            current_usage_amount_cents=usage[w.id],
            rate_amount=w.rate_amount,
            currency=cur,
        )
        for w in rows
    }


def ongoing_of(session: Session, *, wallet: Wallet, at: datetime) -> OngoingBalance:
    """One wallet's ongoing balance now (its cached figures when it is terminated)."""
    if wallet.status == ACTIVE:
        values = ongoing_balances(
            session, customer=customer_of(session, wallet), currency_code=wallet.currency, at=at
        )
        if wallet.id in values:
            return values[wallet.id]
    return OngoingBalance(
        ongoing_balance_cents=wallet.ongoing_balance_cents,
        credits_ongoing_balance=wallet.credits_ongoing_balance,
        ongoing_usage_balance_cents=wallet.ongoing_usage_balance_cents,
        credits_ongoing_usage_balance=wallet.credits_ongoing_usage_balance,
    )


def refresh_ongoing_balances(
    session: Session, *, customer: Customer, currency_code: str, clock: Clock
) -> list[Wallet]:
    """Store the ongoing balances; `wallet.depleted_ongoing_balance` when one reaches 0."""
    now = clock.now()
    values = ongoing_balances(session, customer=customer, currency_code=currency_code, at=now)
    rows = active_wallets(session, customer.id, currency_code)
    for wallet in rows:
        set_ongoing(wallet, values[wallet.id])
        wallet.last_balance_sync_at = now
        depleted = wallet.ongoing_balance_cents <= 0
        if depleted and not wallet.depleted_ongoing_balance:
            enqueue(
                session, wallet.organization_id, "wallet.depleted_ongoing_balance", "wallet",
                wallet.id, clock,
            )  # fmt: skip
        wallet.depleted_ongoing_balance = depleted
    session.flush()
    return rows


def active_wallets(session: Session, customer_id: str, currency_code: str) -> list[Wallet]:
    return list(
        session.scalars(
            select(Wallet)
            .where(*active_where(customer_id, currency_code))
            .order_by(Wallet.priority, Wallet.created_at, Wallet.id)
        )
    )


def active_where(customer_id: str, currency_code: str) -> tuple[ColumnElement[bool], ...]:
    return (
        Wallet.customer_id == customer_id,
        Wallet.status == ACTIVE,
        Wallet.currency == currency_code.upper(),
    )


def balance_of(wallet: Wallet) -> WalletBalance:
    return WalletBalance(
        id=wallet.id,
        balance_cents=wallet.balance_cents,
        rate_amount=wallet.rate_amount,
        created_at=wallet.created_at,
        priority=wallet.priority,
        applies_to=applies_to_of(wallet),
        code=wallet.code,
        credits_balance=wallet.credits_balance,
    )
