"""Wallets (prepaid credits): wallets, their ledger, top-ups, and their place on invoices.

* A wallet's ledger is its transactions. Its balance (`credits_balance`, `balance_cents`)
  is the sum of the settled ones, inbound minus outbound; the wallet row caches that sum
  and every change to the ledger rewrites it in the same unit of work (`ledger` recomputes
  it from the rows, for checks).
* Inbound transactions (purchased, granted) keep `remaining_amount_cents`; outbound ones
  (invoiced, voided) draw from them first in first out (priority, then creation order)
  and record each draw in `wallet_consumptions` (Lago's consumptions and fundings).
* Paid credits are invoiced on a `credit` invoice (one `credit` fee, no taxes: Lago treats
  a purchase as an advance payment). They settle at once, or when the invoice is paid if
  `invoice_requires_successful_payment` (`settle_paid_top_ups`).
* On a subscription invoice the wallets come after taxes and credit notes (the
  `invoice_credits` provider at the end of this module): drafts see them, finalization
  consumes them.
* The ongoing balance is the balance minus the customer's current usage (taxes included)
  and the drafts waiting for finalization; usage goes to the wallets in application
  order, each taking up to its balance, the rest to the last wallet allowed to pay it.
* Scheduler entry points: `run_recurring_top_ups` (interval and threshold rules) and
  `terminate_expired`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, exists, func, select
from sqlalchemy.orm import Session

from meterly.domain.errors import NotAllowed, NotFound, ValidationFailed
from meterly.domain.invoicing import InvoiceTotals, WalletConsumption
from meterly.domain.money import ZERO, Currency, currency, from_minor, is_currency, to_decimal
from meterly.domain.periods import local_date, local_midnight
from meterly.domain.taxes import tax_fee
from meterly.domain.wallets import (
    AppliesTo,
    OngoingBalance,
    TopUp,
    TopUpInterval,
    TopUpMethod,
    WalletBalance,
    application_order,
    cents_to_credits,
    credits_to_cents,
    interval_top_up_due,
    ongoing_balance,
    threshold_top_up,
    top_up_amount,
    validate_priority,
    validate_rate_amount,
)
from meterly.services.accounts import customers
from meterly.services.common import Clock, new_id
from meterly.services.credits import invoice_credits
from meterly.services.invoicing import numbering
from meterly.services.metering import charges_window, compute_usage
from meterly.services.notifications import enqueue
from meterly.store.tables import (
    BillableMetricRow,
    Customer,
    Fee,
    Invoice,
    Organization,
    Subscription,
)
from meterly.store.tables_wallets import (
    RecurringTransactionRule,
    Wallet,
    WalletTransaction,
)
from meterly.store.tables_wallets import (
    WalletTransactionConsumption as ConsumptionRow,
)

ACTIVE = "active"
TERMINATED = "terminated"
INBOUND = "inbound"
OUTBOUND = "outbound"
PENDING = "pending"
SETTLED = "settled"
FAILED = "failed"
PURCHASED = "purchased"
GRANTED = "granted"
VOIDED = "voided"
INVOICED = "invoiced"
SOURCES = ("manual", "interval", "threshold")
TRANSACTION_STATUSES = (PENDING, SETTLED, FAILED)
TRANSACTION_TYPES = (INBOUND, OUTBOUND)
TRANSACTION_KINDS = (PURCHASED, GRANTED, VOIDED, INVOICED)
# Fee types a wallet may be limited to (Lago's wallet targets).
LIMITABLE_FEE_TYPES = ("charge", "subscription", "commitment")
# Invoices prepaid credits pay (Lago: subscription and progressive-billing invoices).
PAYABLE_INVOICE_TYPES = ("subscription", "progressive_billing", "advance_charges")


# --- inputs ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RuleInput:
    """One recurring transaction rule as sent (`lago_id` names an existing rule)."""

    lago_id: str | None = None
    trigger: str | None = None
    interval: str | None = None
    method: str | None = None
    paid_credits: Decimal | None = None
    granted_credits: Decimal | None = None
    threshold_credits: Decimal | None = None
    target_ongoing_balance: Decimal | None = None
    started_at: datetime | None = None
    expiration_at: datetime | None = None
    grants_target_top_up: bool | None = None
    invoice_requires_successful_payment: bool | None = None
    ignore_paid_top_up_limits: bool | None = None
    transaction_metadata: list[dict[str, Any]] | None = None
    transaction_name: str | None = None


@dataclass(frozen=True, slots=True)
class WalletInput:
    """A create or update request; `sent` names the fields the caller sent (non-null)."""

    external_customer_id: str | None = None
    rate_amount: Decimal | None = None
    currency: str | None = None
    name: str | None = None
    code: str | None = None
    priority: int | None = None
    paid_credits: Decimal | None = None
    granted_credits: Decimal | None = None
    expiration_at: datetime | None = None
    applies_to: AppliesTo | None = None
    recurring_transaction_rules: tuple[RuleInput, ...] | None = None
    invoice_requires_successful_payment: bool | None = None
    transaction_metadata: list[dict[str, Any]] | None = None
    transaction_name: str | None = None
    paid_top_up_min_amount_cents: int | None = None
    paid_top_up_max_amount_cents: int | None = None
    ignore_paid_top_up_limits_on_creation: bool | None = None
    metadata: dict[str, Any] | None = None
    sent: frozenset[str] = field(default_factory=frozenset)


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


def credits_field(value: object, field_name: str) -> Decimal | None:
    """A credits amount from the wire: a decimal string (or integer), never negative."""
    if value is None:
        return None
    amount = to_decimal(value, field=field_name)
    if amount < 0:
        raise ValidationFailed.field(field_name, f"invalid_{field_name}")
    return amount


# --- queries ---------------------------------------------------------------------------


def find(session: Session, *, organization_id: str, wallet_id: str) -> Wallet:
    row = session.get(Wallet, wallet_id) if _is_uuid(wallet_id) else None
    if row is None or row.organization_id != organization_id:
        raise NotFound("wallet")
    return row


def find_by_code(
    session: Session, *, organization_id: str, external_customer_id: str, code: str
) -> Wallet:
    customer = _customer(session, organization_id, external_customer_id)
    row = session.scalar(
        select(Wallet).where(Wallet.customer_id == customer.id, Wallet.code == code)
    )
    if row is None:
        raise NotFound("wallet")
    return row


def list_page(
    session: Session,
    *,
    organization_id: str,
    page: int,
    per_page: int,
    external_customer_id: str | None = None,
    currency_code: str | None = None,
) -> tuple[list[Wallet], int]:
    query = select(Wallet).where(Wallet.organization_id == organization_id)
    if external_customer_id is not None:
        customer = _customer(session, organization_id, external_customer_id)
        query = query.where(Wallet.customer_id == customer.id)
    if currency_code:
        query = query.where(Wallet.currency == currency_code.upper())
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(
        query.order_by(Wallet.priority, Wallet.created_at, Wallet.id)
        .offset((page - 1) * per_page)
        .limit(per_page)
    )
    return list(rows), total


def customer_of(session: Session, wallet: Wallet) -> Customer:
    customer = session.get(Customer, wallet.customer_id)
    assert customer is not None
    return customer


def rules_of(session: Session, wallet: Wallet) -> list[RecurringTransactionRule]:
    return list(
        session.scalars(
            select(RecurringTransactionRule)
            .where(
                RecurringTransactionRule.wallet_id == wallet.id,
                RecurringTransactionRule.status == ACTIVE,
            )
            .order_by(RecurringTransactionRule.position, RecurringTransactionRule.id)
        )
    )


def find_transaction(
    session: Session, *, organization_id: str, transaction_id: str
) -> WalletTransaction:
    row = session.get(WalletTransaction, transaction_id) if _is_uuid(transaction_id) else None
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


# --- create, update, terminate --------------------------------------------------------


def create(
    session: Session,
    *,
    organization_id: str,
    data: WalletInput,
    clock: Clock,
    external_customer_id: str | None = None,
) -> tuple[Wallet, list[WalletTransaction]]:
    """A new active wallet, with its first paid and granted credits."""
    customer = _customer(
        session, organization_id, external_customer_id or data.external_customer_id
    )
    errors: dict[str, list[str]] = {}
    rate = data.rate_amount
    if rate is None:
        errors["rate_amount"] = ["value_is_mandatory"]
    else:
        _collect(errors, lambda: validate_rate_amount(rate))
    if not data.currency:
        errors["currency"] = ["value_is_mandatory"]
    elif not is_currency(data.currency):
        errors["currency"] = ["value_is_invalid"]
    elif customer.currency and customer.currency.upper() != data.currency.upper():
        errors["currency"] = ["currencies_does_not_match"]
    _check_common(errors, data, clock=clock)
    if data.code is not None and not data.code.strip():
        errors["code"] = ["value_is_invalid"]
    if data.code and _code_taken(session, customer.id, data.code, exclude=None):
        errors["code"] = ["value_already_exist"]
    rules = _check_rules(errors, data.recurring_transaction_rules or (), existing={})
    if errors:
        raise ValidationFailed(errors)
    assert rate is not None and data.currency is not None
    _check_metric_codes(session, organization_id, data.applies_to)
    now = clock.now()
    code_currency = data.currency.upper()
    wallet = Wallet(
        id=new_id(),
        organization_id=organization_id,
        customer_id=customer.id,
        status=ACTIVE,
        currency=code_currency,
        name=data.name,
        code=data.code or _default_code(session, customer.id, data.name),
        rate_amount=rate,
        priority=data.priority if data.priority is not None else 50,
        applies_to=_applies_to_json(data.applies_to),
        invoice_requires_successful_payment=bool(data.invoice_requires_successful_payment),
        paid_top_up_min_amount_cents=data.paid_top_up_min_amount_cents,
        paid_top_up_max_amount_cents=data.paid_top_up_max_amount_cents,
        wallet_metadata=_metadata_dict(data.metadata) if data.metadata is not None else None,
        credits_balance=ZERO,
        balance_cents=0,
        consumed_credits=ZERO,
        consumed_amount_cents=0,
        ongoing_balance_cents=0,
        credits_ongoing_balance=ZERO,
        ongoing_usage_balance_cents=0,
        credits_ongoing_usage_balance=ZERO,
        depleted_ongoing_balance=False,
        expiration_at=data.expiration_at,
        created_at=now,
        updated_at=now,
    )
    if not customer.currency:
        customer.currency = code_currency
        customer.updated_at = now
    session.add(wallet)
    session.flush()
    for position, rule in enumerate(rules):
        _save_rule(session, wallet, rule, None, now, position)
    enqueue(session, wallet.organization_id, "wallet.created", "wallet", wallet.id, clock)
    transactions = top_up(
        session,
        wallet=wallet,
        paid=data.paid_credits or ZERO,
        granted=data.granted_credits or ZERO,
        source="manual",
        requires_payment=bool(data.invoice_requires_successful_payment),
        metadata=data.transaction_metadata or [],
        name=data.transaction_name,
        ignore_limits=bool(data.ignore_paid_top_up_limits_on_creation),
        clock=clock,
    )
    return wallet, transactions


def update(session: Session, *, wallet: Wallet, data: WalletInput, clock: Clock) -> Wallet:
    """Lago's update: name, priority, expiration, limits, rules, settings; not rate nor currency."""
    if wallet.status != ACTIVE:
        raise NotAllowed("wallet_not_active")
    errors: dict[str, list[str]] = {}
    _check_common(errors, data, clock=clock)
    if data.code is not None and data.code != wallet.code:
        if not data.code.strip():
            errors["code"] = ["value_is_invalid"]
        elif _code_taken(session, wallet.customer_id, data.code, exclude=wallet.id):
            errors["code"] = ["value_already_exist"]
    existing = {r.id: r for r in rules_of(session, wallet)}
    rules = (
        _check_rules(errors, data.recurring_transaction_rules, existing=existing)
        if data.recurring_transaction_rules is not None
        else None
    )
    if errors:
        raise ValidationFailed(errors)
    _check_metric_codes(session, wallet.organization_id, data.applies_to)
    now = clock.now()
    sent = data.sent
    if "name" in sent:
        wallet.name = data.name
    if data.code:
        wallet.code = data.code
    if data.priority is not None:
        wallet.priority = data.priority
    if "expiration_at" in sent:
        wallet.expiration_at = data.expiration_at
    if data.applies_to is not None:
        wallet.applies_to = _applies_to_json(data.applies_to)
    if data.invoice_requires_successful_payment is not None:
        wallet.invoice_requires_successful_payment = data.invoice_requires_successful_payment
    if "paid_top_up_min_amount_cents" in sent:
        wallet.paid_top_up_min_amount_cents = data.paid_top_up_min_amount_cents
    if "paid_top_up_max_amount_cents" in sent:
        wallet.paid_top_up_max_amount_cents = data.paid_top_up_max_amount_cents
    if data.metadata is not None:
        wallet.wallet_metadata = _metadata_dict(data.metadata)
    if rules is not None:
        kept = {r.lago_id for r in rules if r.lago_id}
        for rule_id, row in existing.items():
            if rule_id not in kept:
                row.status = TERMINATED
                row.updated_at = now
        for position, rule in enumerate(rules):
            _save_rule(session, wallet, rule, existing.get(rule.lago_id or ""), now, position)
    wallet.updated_at = now
    session.flush()
    enqueue(session, wallet.organization_id, "wallet.updated", "wallet", wallet.id, clock)
    return wallet


def terminate(session: Session, *, wallet: Wallet, clock: Clock) -> Wallet:
    """DELETE: the wallet stops paying invoices and taking top-ups (its ledger stays)."""
    if wallet.status == TERMINATED:
        return wallet
    now = clock.now()
    wallet.status = TERMINATED
    wallet.terminated_at = now
    wallet.updated_at = now
    for rule in rules_of(session, wallet):
        rule.status = TERMINATED
        rule.updated_at = now
    session.flush()
    enqueue(session, wallet.organization_id, "wallet.terminated", "wallet", wallet.id, clock)
    return wallet


def replace_metadata(
    session: Session, *, wallet: Wallet, metadata: Mapping[str, Any], clock: Clock
) -> dict[str, Any] | None:
    wallet.wallet_metadata = _metadata_dict(metadata)
    return _touch_metadata(session, wallet, clock)


def merge_metadata(
    session: Session, *, wallet: Wallet, metadata: Mapping[str, Any], clock: Clock
) -> dict[str, Any] | None:
    wallet.wallet_metadata = {**(wallet.wallet_metadata or {}), **_metadata_dict(metadata)}
    return _touch_metadata(session, wallet, clock)


def delete_metadata(
    session: Session, *, wallet: Wallet, key: str | None, clock: Clock
) -> dict[str, Any] | None:
    if key is None:
        wallet.wallet_metadata = None
    else:
        remaining = dict(wallet.wallet_metadata or {})
        remaining.pop(key, None)
        wallet.wallet_metadata = remaining
    return _touch_metadata(session, wallet, clock)


def _touch_metadata(session: Session, wallet: Wallet, clock: Clock) -> dict[str, Any] | None:
    wallet.updated_at = clock.now()
    session.flush()
    return wallet.wallet_metadata


def _metadata_dict(metadata: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in metadata.items():
        if not isinstance(key, str) or not key:
            raise ValidationFailed.field("metadata", "value_is_invalid")
        if value is not None and not isinstance(value, str | int | bool):
            raise ValidationFailed.field("metadata", "value_is_invalid")
        out[key] = None if value is None else str(value)
    return out


def _check_common(errors: dict[str, list[str]], data: WalletInput, *, clock: Clock) -> None:
    if data.priority is not None:
        _collect(errors, lambda: validate_priority(data.priority))
    if data.expiration_at is not None and data.expiration_at <= clock.now():
        errors["expiration_at"] = ["invalid_date"]
    applies = data.applies_to
    if applies is not None and any(t not in LIMITABLE_FEE_TYPES for t in applies.fee_types):
        errors["applies_to"] = ["invalid_fee_types"]
    low, high = data.paid_top_up_min_amount_cents, data.paid_top_up_max_amount_cents
    if low is not None and low <= 0:
        errors["paid_top_up_min_amount_cents"] = ["value_is_out_of_range"]
    if high is not None and high <= 0:
        errors["paid_top_up_max_amount_cents"] = ["value_is_out_of_range"]
    if low is not None and high is not None and low > 0 and high > 0 and high < low:
        errors["paid_top_up_max_amount_cents"] = ["value_is_out_of_range"]


def _collect(errors: dict[str, list[str]], check: Any) -> None:
    try:
        check()
    except ValidationFailed as exc:
        for key, codes in exc.details.items():
            errors.setdefault(key, []).extend(codes if isinstance(codes, list) else [str(codes)])


def _check_metric_codes(session: Session, organization_id: str, applies: AppliesTo | None) -> None:
    if applies is None or not applies.billable_metric_codes:
        return
    known = set(
        session.scalars(
            select(BillableMetricRow.code).where(
                BillableMetricRow.organization_id == organization_id,
                BillableMetricRow.code.in_(applies.billable_metric_codes),
                BillableMetricRow.deleted_at.is_(None),
            )
        )
    )
    if set(applies.billable_metric_codes) - known:
        raise NotFound("billable_metrics")


def _applies_to_json(applies: AppliesTo | None) -> dict[str, Any]:
    if applies is None:
        return {"fee_types": [], "billable_metric_codes": []}
    return {
        "fee_types": list(dict.fromkeys(applies.fee_types)),
        "billable_metric_codes": list(dict.fromkeys(applies.billable_metric_codes)),
    }


def applies_to_of(wallet: Wallet) -> AppliesTo:
    data = wallet.applies_to or {}
    return AppliesTo(
        fee_types=tuple(data.get("fee_types") or ()),
        billable_metric_codes=tuple(data.get("billable_metric_codes") or ()),
    )


def _code_taken(session: Session, customer_id: str, code: str, *, exclude: str | None) -> bool:
    query = select(Wallet.id).where(Wallet.customer_id == customer_id, Wallet.code == code)
    if exclude:
        query = query.where(Wallet.id != exclude)
    return session.scalar(query) is not None


def _default_code(session: Session, customer_id: str, name: str | None) -> str:
    base = re.sub(r"[^a-z0-9]+", "_", (name or "").lower()).strip("_") or "default"
    code, n = base, 1
    while _code_taken(session, customer_id, code, exclude=None):
        n += 1
        code = f"{base}_{n}"
    return code


def _customer(session: Session, organization_id: str, external_id: str | None) -> Customer:

    if not external_id:
        raise NotFound("customer")
    return customers.find(session, organization_id=organization_id, external_id=external_id)


def _is_uuid(value: str) -> bool:
    return bool(re.fullmatch(r"[0-9a-fA-F-]{36}", value))


# --- recurring rules -------------------------------------------------------------------


def _check_rules(
    errors: dict[str, list[str]],
    rules: Sequence[RuleInput],
    *,
    existing: Mapping[str, RecurringTransactionRule],
) -> list[RuleInput]:
    for rule in rules:
        if not _valid_rule(rule, existing.get(rule.lago_id or "")):
            errors["recurring_transaction_rules"] = ["invalid_recurring_rule"]
            break
    return list(rules)


def _valid_rule(rule: RuleInput, old: RecurringTransactionRule | None) -> bool:
    if rule.lago_id and old is None:
        return False
    trigger = rule.trigger or (old.trigger if old else None)
    method = rule.method or (old.method if old else TopUpMethod.FIXED.value)
    if trigger == "interval":
        interval = rule.interval or (old.interval if old else None)
        if interval not in {i.value for i in TopUpInterval}:
            return False
    elif trigger == "threshold":
        threshold = rule.threshold_credits
        if threshold is None and old is None:
            return False
    else:
        return False
    if method == TopUpMethod.TARGET.value:
        target = rule.target_ongoing_balance
        if target is None and (old is None or old.target_ongoing_balance is None):
            return False
    elif method == TopUpMethod.FIXED.value:
        paid = (
            rule.paid_credits
            if rule.paid_credits is not None
            else (old.paid_credits if old else ZERO)
        )
        granted = (
            rule.granted_credits
            if rule.granted_credits is not None
            else (old.granted_credits if old else ZERO)
        )
        if paid <= 0 and granted <= 0:
            return False
    else:
        return False
    return True


def _save_rule(
    session: Session,
    wallet: Wallet,
    rule: RuleInput,
    row: RecurringTransactionRule | None,
    now: datetime,
    position: int,
) -> RecurringTransactionRule:
    if row is None:
        row = RecurringTransactionRule(
            id=new_id(),
            wallet_id=wallet.id,
            status=ACTIVE,
            trigger=rule.trigger or "interval",
            method=TopUpMethod.FIXED.value,
            paid_credits=ZERO,
            granted_credits=ZERO,
            threshold_credits=ZERO,
            grants_target_top_up=False,
            invoice_requires_successful_payment=wallet.invoice_requires_successful_payment,
            ignore_paid_top_up_limits=False,
            transaction_metadata=[],
            created_at=now,
            updated_at=now,
        )
        session.add(row)
    for name in (
        "trigger",
        "interval",
        "method",
        "paid_credits",
        "granted_credits",
        "threshold_credits",
        "target_ongoing_balance",
        "started_at",
        "expiration_at",
        "grants_target_top_up",
        "invoice_requires_successful_payment",
        "ignore_paid_top_up_limits",
        "transaction_metadata",
        "transaction_name",
    ):
        value = getattr(rule, name)
        if value is not None:
            setattr(row, name, value)
    row.position = position
    row.updated_at = now
    session.flush()
    return row


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


def _lock(session: Session, wallet: Wallet) -> Wallet:
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


def _new_transaction(
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
        _apply_settled(wallet, row, now)
    return row


def _transaction_metadata(items: list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    out = []
    for item in items or ():
        if not isinstance(item, dict) or not isinstance(item.get("key"), str):
            raise ValidationFailed.field("metadata", "value_is_invalid")
        value = item.get("value")
        out.append({"key": item["key"], "value": None if value is None else str(value)})
    return out


def _apply_settled(wallet: Wallet, row: WalletTransaction, now: datetime) -> None:
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
    _set_ongoing(
        wallet,
        ongoing_balance(
            balance_cents=wallet.balance_cents,
            current_usage_amount_cents=wallet.ongoing_usage_balance_cents,
            rate_amount=wallet.rate_amount,
            currency=cur,
        ),
    )
    wallet.updated_at = now


def _draw(session: Session, outbound: WalletTransaction, now: datetime) -> None:
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


# --- transactions: top-ups, grants, voids ---------------------------------------------


def create_transactions(
    session: Session, *, organization_id: str, data: TransactionInput, clock: Clock
) -> list[WalletTransaction]:
    """`POST /wallet_transactions`: one transaction per paid, granted and voided part."""
    if not data.wallet_id:
        raise ValidationFailed.field("wallet_id", "value_is_mandatory")
    wallet = find(session, organization_id=organization_id, wallet_id=data.wallet_id)
    if wallet.status != ACTIVE:
        raise NotAllowed("wallet_not_active")
    _lock(session, wallet)
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
    _lock(session, wallet)
    if paid > 0:
        row = _new_transaction(
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
            _new_transaction(
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
    _apply_settled(wallet, row, now)


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
    _lock(session, wallet)
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
    row = _new_transaction(
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
    _draw(session, row, now)
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
        _lock(session, wallet)
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
    day = local_date(now, timezone=customers.applicable_timezone(customer, org))
    term = (
        customer.net_payment_term if customer.net_payment_term is not None else org.net_payment_term
    )
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


# --- ongoing balance -------------------------------------------------------------------

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
    rows = _active_wallets(session, customer.id, currency_code)
    if not rows:
        return {}
    groups = usage_groups(session, customer=customer, currency_code=currency_code, at=at)
    usage = allocate_usage([_balance(w) for w in rows], groups)
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
    rows = _active_wallets(session, customer.id, currency_code)
    for wallet in rows:
        _set_ongoing(wallet, values[wallet.id])
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


def _set_ongoing(wallet: Wallet, value: OngoingBalance) -> None:
    wallet.ongoing_balance_cents = value.ongoing_balance_cents
    wallet.credits_ongoing_balance = value.credits_ongoing_balance
    wallet.ongoing_usage_balance_cents = value.ongoing_usage_balance_cents
    wallet.credits_ongoing_usage_balance = value.credits_ongoing_usage_balance


def _active_wallets(session: Session, customer_id: str, currency_code: str) -> list[Wallet]:
    return list(
        session.scalars(
            select(Wallet)
            .where(*_active_where(customer_id, currency_code))
            .order_by(Wallet.priority, Wallet.created_at, Wallet.id)
        )
    )


def _active_where(customer_id: str, currency_code: str) -> tuple[ColumnElement[bool], ...]:
    return (
        Wallet.customer_id == customer_id,
        Wallet.status == ACTIVE,
        Wallet.currency == currency_code.upper(),
    )


def _balance(wallet: Wallet) -> WalletBalance:
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


# --- scheduler: recurring top-ups and expiry -------------------------------------------


def run_recurring_top_ups(session: Session, *, clock: Clock) -> list[WalletTransaction]:
    """Refresh the ongoing balances of wallets with rules, then run the rules that fire:
    interval rules due today (once a day), threshold rules at or under their threshold."""
    now = clock.now()
    wallet_ids = session.scalars(
        select(RecurringTransactionRule.wallet_id)
        .join(Wallet, Wallet.id == RecurringTransactionRule.wallet_id)
        .where(RecurringTransactionRule.status == ACTIVE, Wallet.status == ACTIVE)
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
    tz = customers.applicable_timezone(customer, org)
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


def terminate_expired(session: Session, *, clock: Clock) -> list[Wallet]:
    """Active wallets whose `expiration_at` has passed are terminated."""
    now = clock.now()
    rows = list(
        session.scalars(
            select(Wallet).where(
                Wallet.status == ACTIVE,
                Wallet.expiration_at.is_not(None),
                Wallet.expiration_at <= now,
            )
        )
    )
    for wallet in rows:
        terminate(session, wallet=wallet, clock=clock)
    return rows


# --- the invoice waterfall -------------------------------------------------------------


class WalletCredits:
    """Prepaid credits on invoices: offered to every computation, consumed on finalization."""

    def may_apply(self, invoice: Invoice) -> ColumnElement[bool] | bool:
        if invoice.invoice_type not in PAYABLE_INVOICE_TYPES:
            return False
        return exists().where(*_active_where(invoice.customer_id, invoice.currency))

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
        for wallet in _active_wallets(session, invoice.customer_id, invoice.currency):
            _lock(session, wallet)
            if wallet.balance_cents > 0 and _usable(wallet, invoice):
                credits.wallets.append(_balance(wallet))

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
    _lock(session, wallet)
    if used.amount_cents > wallet.balance_cents or used.credit_amount > wallet.credits_balance:
        raise NotAllowed("insufficient_wallet_balance")
    now = clock.now()
    row = _new_transaction(
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
    _draw(session, row, now)
    enqueue(
        session, wallet.organization_id, "wallet_transaction.created", "wallet_transaction",
        row.id, clock,
    )  # fmt: skip
    return row


def credits_of(cents: int, wallet: Wallet) -> Decimal:
    """Minor units of this wallet's currency as credits (for the wire)."""
    cur: Currency = currency(wallet.currency)
    return cents_to_credits(cents=cents, rate_amount=wallet.rate_amount, currency=cur)


PROVIDER = WalletCredits()
