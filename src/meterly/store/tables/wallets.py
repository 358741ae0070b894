"""Wallets (prepaid credits): wallets, their ledger, the consumption links, top-up rules.

The ledger is `wallet_transactions`: a wallet's balance is the sum of its settled
transactions (inbound minus outbound), in credits and in minor units. The wallet row
keeps that sum cached (`credits_balance`, `balance_cents`), rewritten in the same unit
of work as the transaction that changes it. `wallet_consumptions` says which
inbound transaction (a top-up or grant) paid for which outbound one (an invoice or a
void), first in first out; an inbound transaction's `remaining_amount_cents` is what is
left of it.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, Boolean, Date, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from meterly.store.tables.base import UUID, Base, Json
from meterly.store.types import ExactDecimal


class Wallet(Base):
    __tablename__ = "wallets"
    __table_args__ = (
        Index("uq_wallets_customer_code", "customer_id", "code", unique=True),
        Index("ix_wallets_org_customer", "organization_id", "customer_id", "status"),
    )

    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    customer_id: Mapped[str] = mapped_column(ForeignKey("customers.id"))
    # active | terminated
    status: Mapped[str] = mapped_column(String(16))
    currency: Mapped[str] = mapped_column(String(3))
    name: Mapped[str | None]
    code: Mapped[str]
    rate_amount: Mapped[Decimal] = mapped_column(ExactDecimal())
    priority: Mapped[int] = mapped_column(Integer, default=50)
    # {"fee_types": [...], "billable_metric_codes": [...]}
    applies_to: Mapped[dict[str, Any]] = mapped_column(Json, default=dict)
    invoice_requires_successful_payment: Mapped[bool] = mapped_column(Boolean, default=False)
    paid_top_up_min_amount_cents: Mapped[int | None] = mapped_column(BigInteger)
    paid_top_up_max_amount_cents: Mapped[int | None] = mapped_column(BigInteger)
    wallet_metadata: Mapped[dict[str, Any] | None] = mapped_column("metadata", Json)
    # The ledger's sums, cached (see the module doc).
    credits_balance: Mapped[Decimal] = mapped_column(ExactDecimal(), default=Decimal(0))
    balance_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    consumed_credits: Mapped[Decimal] = mapped_column(ExactDecimal(), default=Decimal(0))
    consumed_amount_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    # The ongoing balance at the last refresh (balance minus current usage).
    ongoing_balance_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    credits_ongoing_balance: Mapped[Decimal] = mapped_column(ExactDecimal(), default=Decimal(0))
    ongoing_usage_balance_cents: Mapped[int] = mapped_column(BigInteger, default=0)
    credits_ongoing_usage_balance: Mapped[Decimal] = mapped_column(
        ExactDecimal(), default=Decimal(0)
    )
    depleted_ongoing_balance: Mapped[bool] = mapped_column(Boolean, default=False)
    last_balance_sync_at: Mapped[datetime | None]
    last_consumed_credit_at: Mapped[datetime | None]
    expiration_at: Mapped[datetime | None]
    terminated_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class WalletTransaction(Base):
    __tablename__ = "wallet_transactions"
    __table_args__ = (
        Index("ix_wallet_transactions_wallet", "wallet_id", "position"),
        Index("ix_wallet_transactions_invoice", "invoice_id"),
    )

    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    wallet_id: Mapped[str] = mapped_column(ForeignKey("wallets.id"))
    # Order of creation within the wallet (ties of created_at): the FIFO order.
    position: Mapped[int] = mapped_column(Integer)
    # The credit invoice of a purchase, or the invoice an `invoiced` transaction paid.
    invoice_id: Mapped[str | None] = mapped_column(ForeignKey("invoices.id"))
    # inbound | outbound
    transaction_type: Mapped[str] = mapped_column(String(16))
    # pending | settled | failed
    status: Mapped[str] = mapped_column(String(16))
    # purchased | granted | voided | invoiced
    transaction_status: Mapped[str] = mapped_column(String(16))
    # manual | interval | threshold
    source: Mapped[str] = mapped_column(String(16), default="manual")
    credit_amount: Mapped[Decimal] = mapped_column(ExactDecimal())
    amount: Mapped[Decimal] = mapped_column(ExactDecimal())
    amount_cents: Mapped[int] = mapped_column(BigInteger)
    # Inbound only: what is left to consume (counted once settled).
    remaining_amount_cents: Mapped[int | None] = mapped_column(BigInteger)
    priority: Mapped[int] = mapped_column(Integer, default=50)
    name: Mapped[str | None]
    invoice_requires_successful_payment: Mapped[bool] = mapped_column(Boolean, default=False)
    # [{"key", "value"}]
    transaction_metadata: Mapped[list[Any]] = mapped_column("metadata", Json, default=list)
    settled_at: Mapped[datetime | None]
    failed_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class WalletTransactionConsumption(Base):
    """`consumed_amount_cents` of an inbound transaction used by an outbound one."""

    __tablename__ = "wallet_consumptions"
    __table_args__ = (
        Index("ix_wallet_consumptions_inbound", "inbound_wallet_transaction_id"),
        Index("ix_wallet_consumptions_outbound", "outbound_wallet_transaction_id"),
    )

    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"))
    inbound_wallet_transaction_id: Mapped[str] = mapped_column(
        ForeignKey("wallet_transactions.id", name="fk_wallet_consumptions_inbound")
    )
    outbound_wallet_transaction_id: Mapped[str] = mapped_column(
        ForeignKey("wallet_transactions.id", name="fk_wallet_consumptions_outbound")
    )
    consumed_amount_cents: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime]


class RecurringTransactionRule(Base):
    __tablename__ = "recurring_transaction_rules"

    id: Mapped[str] = mapped_column(UUID, primary_key=True)
    wallet_id: Mapped[str] = mapped_column(ForeignKey("wallets.id"), index=True)
    # The order the rules were given in.
    position: Mapped[int] = mapped_column(Integer, default=0)
    # active | terminated
    status: Mapped[str] = mapped_column(String(16), default="active")
    # interval | threshold
    trigger: Mapped[str] = mapped_column(String(16))
    # weekly | monthly | quarterly | semiannual | yearly (interval trigger)
    interval: Mapped[str | None] = mapped_column(String(16))
    # fixed | target
    method: Mapped[str] = mapped_column(String(16), default="fixed")
    paid_credits: Mapped[Decimal] = mapped_column(ExactDecimal(), default=Decimal(0))
    granted_credits: Mapped[Decimal] = mapped_column(ExactDecimal(), default=Decimal(0))
    threshold_credits: Mapped[Decimal] = mapped_column(ExactDecimal(), default=Decimal(0))
    target_ongoing_balance: Mapped[Decimal | None] = mapped_column(ExactDecimal())
    grants_target_top_up: Mapped[bool] = mapped_column(Boolean, default=False)
    invoice_requires_successful_payment: Mapped[bool] = mapped_column(Boolean, default=False)
    ignore_paid_top_up_limits: Mapped[bool] = mapped_column(Boolean, default=False)
    transaction_metadata: Mapped[list[Any]] = mapped_column(Json, default=list)
    transaction_name: Mapped[str | None]
    started_at: Mapped[datetime | None]
    expiration_at: Mapped[datetime | None]
    # The last day an interval rule topped up (a second run that day does nothing).
    last_top_up_on: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
