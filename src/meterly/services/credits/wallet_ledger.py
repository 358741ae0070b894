"""A wallet's ledger: its transactions, the balance they sum to, and who paid for what.

* The balance (`credits_balance`, `balance_cents`) is the sum of the settled transactions,
  inbound minus outbound; the wallet row caches that sum and every change to the ledger
  rewrites it in the same unit of work (`ledger` recomputes it from the rows, for checks).
* Inbound transactions (purchased, granted) keep `remaining_amount_cents`; outbound ones
  (invoiced, voided) draw from them first in first out (priority, then creation order)
  and record each draw in `wallet_consumptions` (Lago's consumptions and fundings).
* Changes to one wallet's ledger are serialised by `lock`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from meterly.domain.errors import NotAllowed, NotFound, ValidationFailed
from meterly.domain.money import ZERO, currency, from_minor
from meterly.domain.wallets import OngoingBalance, ongoing_balance
from meterly.services.common import new_id
from meterly.services.credits.wallet_terms import (
    INBOUND,
    INVOICED,
    OUTBOUND,
    SETTLED,
    TRANSACTION_KINDS,
    TRANSACTION_STATUSES,
    TRANSACTION_TYPES,
    is_uuid,
)
from meterly.store.tables_wallets import Wallet, WalletTransaction
from meterly.store.tables_wallets import (
    WalletTransactionConsumption as ConsumptionRow,
)

# --- the ledger ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ledger:
    """A wallet's sums recomputed from its transactions (the cached columns must agree)."""

    credits_balance: Decimal
    balance_cents: int
    consumed_credits: Decimal
    consumed_amount_cents: int


def ledger(session: Session, *, wallet_id: str) -> Ledger:
    rows = session.execute(
        select(
            WalletTransaction.transaction_type,
            WalletTransaction.transaction_status,
            WalletTransaction.credit_amount,
            WalletTransaction.amount_cents,
        ).where(WalletTransaction.wallet_id == wallet_id, WalletTransaction.status == SETTLED)
    ).all()
    return ledger_of(rows)


def ledger_of(rows: Iterable[Sequence[Any]]) -> Ledger:
    """Σ settled inbound − Σ settled outbound, in credits and cents; Σ invoiced consumed."""
    credits, cents, used_credits, used_cents = ZERO, 0, ZERO, 0
    for kind, status, credit_amount, amount_cents in rows:
        sign = 1 if kind == INBOUND else -1
        credits += sign * credit_amount
        cents += sign * amount_cents
        if kind == OUTBOUND and status == INVOICED:
            used_credits += credit_amount
            used_cents += amount_cents
    return Ledger(credits, cents, used_credits, used_cents)


def lock(session: Session, wallet: Wallet) -> Wallet:
    """Serialise ledger changes of one wallet (a row lock on PostgreSQL; SQLite has one writer)."""
    if session.get_bind().dialect.name == "postgresql":
        session.flush()
        session.refresh(wallet, with_for_update=True)
    return wallet


def _next_position(session: Session, wallet_id: str) -> int:
    last = session.scalar(
        select(func.max(WalletTransaction.position)).where(WalletTransaction.wallet_id == wallet_id)
    )
    return int(last or 0) + 1


def new_transaction(
    session: Session,
    wallet: Wallet,
    *,
    kind: str,
    transaction_type: str,
    status: str,
    credits: Decimal,
    amount_cents: int,
    source: str,
    now: datetime,
    invoice_id: str | None = None,
    name: str | None = None,
    metadata: list[dict[str, Any]] | None = None,
    requires_payment: bool = False,
) -> WalletTransaction:
    cur = currency(wallet.currency)
    row = WalletTransaction(
        id=new_id(),
        organization_id=wallet.organization_id,
        wallet_id=wallet.id,
        position=_next_position(session, wallet.id),
        invoice_id=invoice_id,
        transaction_type=transaction_type,
        status=status,
        transaction_status=kind,
        source=source,
        credit_amount=credits,
        amount=from_minor(amount_cents, cur),
        amount_cents=amount_cents,
        remaining_amount_cents=amount_cents if transaction_type == INBOUND else None,
        priority=wallet.priority,
        name=name,
        invoice_requires_successful_payment=requires_payment,
        transaction_metadata=_transaction_metadata(metadata),
        settled_at=now if status == SETTLED else None,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    if status == SETTLED:
        apply_settled(wallet, row, now)
    return row


def _transaction_metadata(items: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    out = []
    for item in items or ():
        if not isinstance(item, dict) or not isinstance(item.get("key"), str):
            raise ValidationFailed.field("metadata", "value_is_invalid")
        value = item.get("value")
        out.append({"key": item["key"], "value": None if value is None else str(value)})
    return out


def apply_settled(wallet: Wallet, row: WalletTransaction, now: datetime) -> None:
    """A transaction just settled: the wallet's cached sums move with it."""
    sign = 1 if row.transaction_type == INBOUND else -1
    wallet.credits_balance = wallet.credits_balance + sign * row.credit_amount
    wallet.balance_cents = wallet.balance_cents + sign * row.amount_cents
    if row.transaction_type == OUTBOUND and row.transaction_status == INVOICED:
        wallet.consumed_credits = wallet.consumed_credits + row.credit_amount
        wallet.consumed_amount_cents = wallet.consumed_amount_cents + row.amount_cents
        wallet.last_consumed_credit_at = now
    assert wallet.balance_cents >= 0 and wallet.credits_balance >= 0, "wallet overdrawn"
    # The ongoing balance keeps the last usage figure until the next refresh.
    cur = currency(wallet.currency)
    set_ongoing(
        wallet,
        ongoing_balance(
            balance_cents=wallet.balance_cents,
            current_usage_amount_cents=wallet.ongoing_usage_balance_cents,
            rate_amount=wallet.rate_amount,
            currency=cur,
        ),
    )
    wallet.updated_at = now


# Here rather than in `wallet_balances`: settling a transaction moves the cached ongoing
# balance too, and the ledger sits below the balances.
def set_ongoing(wallet: Wallet, value: OngoingBalance) -> None:
    wallet.ongoing_balance_cents = value.ongoing_balance_cents
    wallet.credits_ongoing_balance = value.credits_ongoing_balance
    wallet.ongoing_usage_balance_cents = value.ongoing_usage_balance_cents
    wallet.credits_ongoing_usage_balance = value.credits_ongoing_usage_balance


def draw(session: Session, outbound: WalletTransaction, now: datetime) -> None:
    """Link an outbound transaction to the inbound ones it spends, first in first out."""
    left = outbound.amount_cents
    sources = session.scalars(
        select(WalletTransaction)
        .where(
            WalletTransaction.wallet_id == outbound.wallet_id,
            WalletTransaction.transaction_type == INBOUND,
            WalletTransaction.status == SETTLED,
            WalletTransaction.remaining_amount_cents > 0,
        )
        .order_by(WalletTransaction.priority, WalletTransaction.position)
    )
    for source in sources:
        if left <= 0:
            break
        remaining = source.remaining_amount_cents or 0
        used = min(remaining, left)
        source.remaining_amount_cents = remaining - used
        source.updated_at = now
        left -= used
        session.add(
            ConsumptionRow(
                id=new_id(),
                organization_id=outbound.organization_id,
                inbound_wallet_transaction_id=source.id,
                outbound_wallet_transaction_id=outbound.id,
                consumed_amount_cents=used,
                created_at=now,
            )
        )
    assert left == 0, "the ledger has less left than the balance says"
    session.flush()


# --- transaction queries ---------------------------------------------------------------


def find_transaction(
    session: Session, *, organization_id: str, transaction_id: str
) -> WalletTransaction:
    row = session.get(WalletTransaction, transaction_id) if is_uuid(transaction_id) else None
    if row is None or row.organization_id != organization_id:
        raise NotFound("wallet_transaction")
    return row


@dataclass(frozen=True, slots=True)
class TransactionFilters:
    status: str | None = None
    transaction_type: str | None = None
    transaction_status: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)


def list_transactions(
    session: Session,
    *,
    wallet: Wallet,
    page: int,
    per_page: int,
    filters: TransactionFilters | None = None,
) -> tuple[list[WalletTransaction], int]:
    f = filters or TransactionFilters()
    errors: dict[str, list[str]] = {}
    for name, value, allowed in (
        ("status", f.status, TRANSACTION_STATUSES),
        ("transaction_type", f.transaction_type, TRANSACTION_TYPES),
        ("transaction_status", f.transaction_status, TRANSACTION_KINDS),
    ):
        if value is not None and value not in allowed:
            errors[name] = ["value_is_invalid"]
    if errors:
        raise ValidationFailed(errors)
    query = select(WalletTransaction).where(WalletTransaction.wallet_id == wallet.id)
    if f.status:
        query = query.where(WalletTransaction.status == f.status)
    if f.transaction_type:
        query = query.where(WalletTransaction.transaction_type == f.transaction_type)
    if f.transaction_status:
        query = query.where(WalletTransaction.transaction_status == f.transaction_status)
    rows = list(session.scalars(query.order_by(WalletTransaction.position.desc())))
    if f.metadata:
        rows = [r for r in rows if _metadata_matches(r.transaction_metadata, f.metadata)]
    return rows[(page - 1) * per_page : page * per_page], len(rows)


def _metadata_matches(items: Sequence[Any], wanted: Mapping[str, str]) -> bool:
    values = {str(i.get("key")): i.get("value") for i in items or () if isinstance(i, dict)}
    return all(k in values and str(values[k]) == v for k, v in wanted.items())


def consumptions(
    session: Session, *, transaction: WalletTransaction, page: int, per_page: int
) -> tuple[list[tuple[ConsumptionRow, WalletTransaction]], int]:
    """How an inbound transaction was spent: each draw with the outbound transaction."""
    if transaction.transaction_type != INBOUND:
        raise NotAllowed("wallet_transaction_not_inbound")
    return _links(
        session,
        own=ConsumptionRow.inbound_wallet_transaction_id,
        other=ConsumptionRow.outbound_wallet_transaction_id,
        transaction=transaction,
        page=page,
        per_page=per_page,
    )


def fundings(
    session: Session, *, transaction: WalletTransaction, page: int, per_page: int
) -> tuple[list[tuple[ConsumptionRow, WalletTransaction]], int]:
    """What paid an outbound transaction: each draw with the inbound transaction."""
    if transaction.transaction_type != OUTBOUND:
        raise NotAllowed("wallet_transaction_not_outbound")
    return _links(
        session,
        own=ConsumptionRow.outbound_wallet_transaction_id,
        other=ConsumptionRow.inbound_wallet_transaction_id,
        transaction=transaction,
        page=page,
        per_page=per_page,
    )


def _links(
    session: Session,
    *,
    own: Any,
    other: Any,
    transaction: WalletTransaction,
    page: int,
    per_page: int,
) -> tuple[list[tuple[ConsumptionRow, WalletTransaction]], int]:
    base = (
        select(ConsumptionRow, WalletTransaction)
        .join(WalletTransaction, WalletTransaction.id == other)
        .where(own == transaction.id)
    )
    total = (
        session.scalar(
            select(func.count()).select_from(ConsumptionRow).where(own == transaction.id)
        )
        or 0
    )
    rows = session.execute(
        base.order_by(WalletTransaction.position, ConsumptionRow.id)
        .offset((page - 1) * per_page)
        .limit(per_page)
    ).all()
    return [(r[0], r[1]) for r in rows], total
