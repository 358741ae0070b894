"""Top-ups: credits paid for, granted and voided, by hand or by the recurring rules.

* `POST /wallet_transactions` (`create_transactions`): one transaction per paid, granted
  and voided part.
* Paid credits are invoiced on a `credit` invoice (one `credit` fee, no taxes: Lago treats
  a purchase as an advance payment). They settle at once, or when the invoice is paid if
  `invoice_requires_successful_payment` (`settle_paid_top_ups`, `fail_paid_top_ups`).
* The recurring transaction rules fire here: interval rules on their day, threshold rules
  when the ongoing balance falls to their threshold (`run_recurring_top_ups`, a scheduler
  entry point; `check_threshold_rules`, also after an invoice consumed credits).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from meterly.domain.errors import NotAllowed, ValidationFailed
from meterly.domain.money import ZERO, currency
from meterly.domain.periods import local_date, local_midnight
from meterly.domain.wallets import (
    TopUp,
    TopUpInterval,
    TopUpMethod,
    credits_to_cents,
    interval_top_up_due,
    threshold_top_up,
    top_up_amount,
)
from meterly.services.accounts import billing_entities, customers
from meterly.services.common import Clock, new_id
from meterly.services.credits.wallet_balances import refresh_ongoing_balances
from meterly.services.credits.wallet_ledger import apply_settled, draw, lock, new_transaction
from meterly.services.credits.wallet_rules import rules_of
from meterly.services.credits.wallet_terms import (
    ACTIVE,
    FAILED,
    GRANTED,
    INBOUND,
    OUTBOUND,
    PENDING,
    PURCHASED,
    SETTLED,
    TERMINATED,
    VOIDED,
    customer_of,
    find,
)
from meterly.services.invoicing import numbering
from meterly.services.notifications import enqueue
from meterly.store.clock_scope import in_scope
from meterly.store.tables import Fee, Invoice, Organization
from meterly.store.tables_wallets import RecurringTransactionRule, Wallet, WalletTransaction


@dataclass(frozen=True, slots=True)
class TransactionInput:
    """`POST /wallet_transactions`."""

    wallet_id: str | None = None
    paid_credits: Decimal | None = None
    granted_credits: Decimal | None = None
    voided_credits: Decimal | None = None
    invoice_requires_successful_payment: bool | None = None
    metadata: list[dict[str, Any]] | None = None
    name: str | None = None
    ignore_paid_top_up_limits: bool | None = None


# --- transactions: top-ups, grants, voids ----------------------------------------------


def create_transactions(
    session: Session, *, organization_id: str, data: TransactionInput, clock: Clock
) -> list[WalletTransaction]:
    """`POST /wallet_transactions`: one transaction per paid, granted and voided part."""
    if not data.wallet_id:
        raise ValidationFailed.field("wallet_id", "value_is_mandatory")
    wallet = find(session, organization_id=organization_id, wallet_id=data.wallet_id)
    if wallet.status != ACTIVE:
        raise NotAllowed("wallet_not_active")
    lock(session, wallet)
    voided = data.voided_credits or ZERO
    if voided > wallet.credits_balance:
        raise ValidationFailed.field("voided_credits", "insufficient_credits")
    requires_payment = (
        data.invoice_requires_successful_payment
        if data.invoice_requires_successful_payment is not None
        else wallet.invoice_requires_successful_payment
    )
    rows = top_up(
        session,
        wallet=wallet,
        paid=data.paid_credits or ZERO,
        granted=data.granted_credits or ZERO,
        source="manual",
        requires_payment=requires_payment,
        metadata=data.metadata or [],
        name=data.name,
        ignore_limits=bool(data.ignore_paid_top_up_limits),
        clock=clock,
    )
    if voided > 0:
        rows.append(
            void_credits(
                session,
                wallet=wallet,
                credits=voided,
                metadata=data.metadata or [],
                name=data.name,
                clock=clock,
            )
        )
    return rows


def top_up(
    session: Session,
    *,
    wallet: Wallet,
    paid: Decimal,
    granted: Decimal,
    source: str,
    requires_payment: bool,
    metadata: list[dict[str, Any]],
    name: str | None,
    ignore_limits: bool,
    clock: Clock,
) -> list[WalletTransaction]:
    """Paid credits (on a credit invoice) and granted credits (settled at once)."""
    cur = currency(wallet.currency)
    paid_cents = credits_to_cents(credits=paid, rate_amount=wallet.rate_amount, currency=cur)
    if paid > 0:
        if paid_cents <= 0:
            raise ValidationFailed.field("paid_credits", "invalid_paid_credits")
        if not ignore_limits:
            _check_limits(wallet, paid_cents)
    now = clock.now()
    rows: list[WalletTransaction] = []
    lock(session, wallet)
    if paid > 0:
        row = new_transaction(
            session,
            wallet,
            kind=PURCHASED,
            transaction_type=INBOUND,
            status=PENDING,
            credits=paid,
            amount_cents=paid_cents,
            source=source,
            now=now,
            name=name,
            metadata=metadata,
            requires_payment=requires_payment,
        )
        invoice = _credit_invoice(session, wallet=wallet, transaction=row, clock=clock)
        row.invoice_id = invoice.id
        if not requires_payment:
            _settle(wallet, row, now)
        session.flush()
        rows.append(row)
    if granted > 0:
        rows.append(
            new_transaction(
                session,
                wallet,
                kind=GRANTED,
                transaction_type=INBOUND,
                status=SETTLED,
                credits=granted,
                amount_cents=credits_to_cents(
                    credits=granted, rate_amount=wallet.rate_amount, currency=cur
                ),
                source=source,
                now=now,
                name=name,
                metadata=metadata,
            )
        )
    for row in rows:
        enqueue(
            session, wallet.organization_id, "wallet_transaction.created", "wallet_transaction",
            row.id, clock,
        )  # fmt: skip
    return rows


def _check_limits(wallet: Wallet, paid_cents: int) -> None:
    low, high = wallet.paid_top_up_min_amount_cents, wallet.paid_top_up_max_amount_cents
    if low is not None and paid_cents < low:
        raise ValidationFailed.field("paid_credits", "amount_below_minimum")
    if high is not None and paid_cents > high:
        raise ValidationFailed.field("paid_credits", "amount_above_maximum")


def _settle(wallet: Wallet, row: WalletTransaction, now: datetime) -> None:
    row.status = SETTLED
    row.settled_at = now
    row.updated_at = now
    row.remaining_amount_cents = row.amount_cents
    apply_settled(wallet, row, now)


def void_credits(
    session: Session,
    *,
    wallet: Wallet,
    credits: Decimal,
    metadata: list[dict[str, Any]],
    name: str | None,
    clock: Clock,
) -> WalletTransaction:
    """Remove credits: an outbound voided transaction, never more than the balance."""
    lock(session, wallet)
    if credits <= 0 or credits > wallet.credits_balance:
        raise ValidationFailed.field("voided_credits", "insufficient_credits")
    cur = currency(wallet.currency)
    if credits == wallet.credits_balance:
        cents = wallet.balance_cents
    else:
        cents = min(
            credits_to_cents(credits=credits, rate_amount=wallet.rate_amount, currency=cur),
            wallet.balance_cents,
        )
    now = clock.now()
    row = new_transaction(
        session,
        wallet,
        kind=VOIDED,
        transaction_type=OUTBOUND,
        status=SETTLED,
        credits=credits,
        amount_cents=cents,
        source="manual",
        now=now,
        name=name,
        metadata=metadata,
    )
    draw(session, row, now)
    enqueue(
        session, wallet.organization_id, "wallet_transaction.created", "wallet_transaction",
        row.id, clock,
    )  # fmt: skip
    return row


def settle_paid_top_ups(
    session: Session, *, invoice: Invoice, clock: Clock
) -> list[WalletTransaction]:
    """The credit invoice was paid: its pending purchased credits land in the wallet.

    Called by the invoices service when an invoice's payment_status becomes succeeded;
    a no-op for other invoices and for transactions already settled.
    """
    if invoice.invoice_type != "credit":
        return []
    now = clock.now()
    settled: list[WalletTransaction] = []
    for row in _pending_purchases(session, invoice):
        wallet = session.get(Wallet, row.wallet_id)
        assert wallet is not None
        lock(session, wallet)
        _settle(wallet, row, now)
        settled.append(row)
        enqueue(
            session, wallet.organization_id, "wallet_transaction.updated", "wallet_transaction",
            row.id, clock,
        )  # fmt: skip
    session.flush()
    return settled


def fail_paid_top_ups(
    session: Session, *, invoice: Invoice, clock: Clock
) -> list[WalletTransaction]:
    """The credit invoice's payment failed or it was voided: its pending credits never land."""
    if invoice.invoice_type != "credit":
        return []
    now = clock.now()
    failed = []
    for row in _pending_purchases(session, invoice):
        row.status = FAILED
        row.failed_at = now
        row.updated_at = now
        row.remaining_amount_cents = 0
        failed.append(row)
        enqueue(
            session, row.organization_id, "wallet_transaction.payment_failure",
            "wallet_transaction", row.id, clock,
        )  # fmt: skip
    session.flush()
    return failed


def _pending_purchases(session: Session, invoice: Invoice) -> list[WalletTransaction]:
    return list(
        session.scalars(
            select(WalletTransaction)
            .where(
                WalletTransaction.invoice_id == invoice.id,
                WalletTransaction.transaction_status == PURCHASED,
                WalletTransaction.status == PENDING,
            )
            .order_by(WalletTransaction.position)
        )
    )


# --- the credit invoice ----------------------------------------------------------------


def _credit_invoice(
    session: Session, *, wallet: Wallet, transaction: WalletTransaction, clock: Clock
) -> Invoice:
    """Lago's paid-credit invoice: one `credit` fee, no taxes, finalized at once."""

    customer = customer_of(session, wallet)
    org = session.get(Organization, wallet.organization_id)
    assert org is not None
    now = clock.now()
    # The customer's own terms, else its billing entity's, else the organization's.
    in_force = billing_entities.customer_settings(session, customer)
    day = local_date(now, timezone=in_force.timezone)
    term = in_force.net_payment_term
    amount = transaction.amount_cents
    invoice = Invoice(
        id=new_id(),
        organization_id=wallet.organization_id,
        customer_id=customer.id,
        invoice_type="credit",
        status="draft",
        payment_status="pending",
        currency=wallet.currency,
        issuing_date=local_midnight(day, timezone="UTC"),
        payment_due_date=local_midnight(day + timedelta(days=term), timezone="UTC"),
        net_payment_term=term,
        fees_amount_cents=amount,
        coupons_amount_cents=0,
        progressive_billing_credit_amount_cents=0,
        sub_total_excluding_taxes_amount_cents=amount,
        taxes_amount_cents=0,
        sub_total_including_taxes_amount_cents=amount,
        credit_notes_amount_cents=0,
        prepaid_credit_amount_cents=0,
        total_amount_cents=amount,
        total_paid_amount_cents=0,
        breakdown={"applied_taxes": [], "credits": [], "wallets": []},
        invoice_metadata=[],
        created_at=now,
        updated_at=now,
    )
    session.add(invoice)
    session.flush()
    session.add(
        Fee(
            id=new_id(),
            organization_id=wallet.organization_id,
            invoice_id=invoice.id,
            customer_id=customer.id,
            fee_type="credit",
            item={
                "type": "credit",
                "code": "credit",
                "name": "credit",
                "description": None,
                "invoice_display_name": transaction.name or "Prepaid credits",
                "filters": None,
                "filter_invoice_display_name": None,
                "lago_item_id": transaction.id,
                "item_type": "WalletTransaction",
                "grouped_by": {},
            },
            pay_in_advance=False,
            invoiceable=True,
            currency=wallet.currency,
            amount_cents=amount,
            precise_amount_cents=Decimal(amount),
            unit_amount_cents=int(wallet.rate_amount * currency(wallet.currency).subunit_to_unit),
            precise_unit_amount=wallet.rate_amount,
            units=transaction.credit_amount,
            amount_details={},
            explanation=[],
            properties={},
            applied_taxes=[],
            payment_status="pending",
            created_at=now,
            updated_at=now,
        )
    )
    session.flush()
    numbering.finalize(session, invoice=invoice, clock=clock)
    enqueue(
        session, invoice.organization_id, "invoice.paid_credit_added", "invoice", invoice.id, clock
    )
    return invoice


# --- recurring top-ups -----------------------------------------------------------------


# The rules are stored by `wallet_rules`; they fire here, where `top_up` is.
def run_recurring_top_ups(session: Session, *, clock: Clock) -> list[WalletTransaction]:
    """Refresh the ongoing balances of wallets with rules, then run the rules that fire:
    interval rules due today (once a day), threshold rules at or under their threshold."""
    now = clock.now()
    wallet_ids = session.scalars(
        select(RecurringTransactionRule.wallet_id)
        .join(Wallet, Wallet.id == RecurringTransactionRule.wallet_id)
        .where(
            RecurringTransactionRule.status == ACTIVE,
            Wallet.status == ACTIVE,
            in_scope(Wallet.customer_id),
        )
        .distinct()
    )
    created: list[WalletTransaction] = []
    refreshed: set[tuple[str, str]] = set()
    for wallet_id in sorted(set(wallet_ids)):
        wallet = session.get(Wallet, wallet_id)
        assert wallet is not None
        if wallet.expiration_at is not None and wallet.expiration_at <= now:
            continue
        key = (wallet.customer_id, wallet.currency)
        if key not in refreshed:
            refresh_ongoing_balances(
                session, customer=customer_of(session, wallet), currency_code=wallet.currency,
                clock=clock,
            )  # fmt: skip
            refreshed.add(key)
        created += _interval_top_ups(session, wallet=wallet, clock=clock)
        created += check_threshold_rules(session, wallet=wallet, clock=clock)
    return created


def _interval_top_ups(session: Session, *, wallet: Wallet, clock: Clock) -> list[WalletTransaction]:

    now = clock.now()
    customer = customer_of(session, wallet)
    org = session.get(Organization, wallet.organization_id)
    assert org is not None
    tz = customers.applicable_timezone(session, customer)
    today = local_date(now, timezone=tz)
    created: list[WalletTransaction] = []
    for rule in rules_of(session, wallet):
        if rule.trigger != "interval" or rule.interval is None or _rule_expired(rule, now):
            continue
        started_on: date = local_date(rule.started_at or rule.created_at, timezone=tz)
        if rule.last_top_up_on == today:
            continue
        if not interval_top_up_due(
            interval=TopUpInterval(rule.interval), started_on=started_on, today=today
        ):
            continue
        rule.last_top_up_on = today
        amount = top_up_amount(
            ongoing_balance_credits=wallet.credits_ongoing_balance,
            method=TopUpMethod(rule.method),
            paid=rule.paid_credits,
            granted=rule.granted_credits,
            target=rule.target_ongoing_balance,
            grants_target_top_up=rule.grants_target_top_up,
        )
        created += _rule_top_up(session, wallet=wallet, rule=rule, amount=amount, clock=clock)
    return created


def check_threshold_rules(
    session: Session, *, wallet: Wallet, clock: Clock
) -> list[WalletTransaction]:
    """Threshold rules fire when the (stored) ongoing balance is at or under the threshold
    and no top-up of theirs is still pending."""
    if wallet.status != ACTIVE:
        return []
    now = clock.now()
    created: list[WalletTransaction] = []
    for rule in rules_of(session, wallet):
        if rule.trigger != "threshold" or _rule_expired(rule, now):
            continue
        pending = session.scalar(
            select(WalletTransaction.id).where(
                WalletTransaction.wallet_id == wallet.id,
                WalletTransaction.source == "threshold",
                WalletTransaction.status == PENDING,
            )
        )
        amount = threshold_top_up(
            ongoing_balance_credits=wallet.credits_ongoing_balance,
            threshold_credits=rule.threshold_credits,
            method=TopUpMethod(rule.method),
            paid=rule.paid_credits,
            granted=rule.granted_credits,
            target=rule.target_ongoing_balance,
            grants_target_top_up=rule.grants_target_top_up,
            pending_top_up=pending is not None,
        )
        created += _rule_top_up(session, wallet=wallet, rule=rule, amount=amount, clock=clock)
    return created


def _rule_top_up(
    session: Session,
    *,
    wallet: Wallet,
    rule: RecurringTransactionRule,
    amount: TopUp | None,
    clock: Clock,
) -> list[WalletTransaction]:
    if amount is None or amount.total_credits <= 0:
        return []
    return top_up(
        session,
        wallet=wallet,
        paid=amount.paid_credits,
        granted=amount.granted_credits,
        source=rule.trigger,
        requires_payment=rule.invoice_requires_successful_payment,
        metadata=list(rule.transaction_metadata or []),
        name=rule.transaction_name,
        ignore_limits=rule.ignore_paid_top_up_limits,
        clock=clock,
    )


def _rule_expired(rule: RecurringTransactionRule, now: datetime) -> bool:
    if rule.expiration_at is not None and rule.expiration_at <= now:
        rule.status = TERMINATED
        rule.updated_at = now
        return True
    return False
