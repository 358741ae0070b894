"""Wallets (prepaid credits): the wallet itself, and the one door to all of wallets.

A wallet is created with its first paid and granted credits and its recurring transaction
rules, updated (never its rate nor its currency), given metadata, and terminated by hand
or once expired (`terminate_expired`, a scheduler entry point).

The rest lives in sibling modules, each importing only those listed before it:

* `wallet_terms`: statuses and kinds; finding a wallet, its customer, what it applies to.
* `wallet_rules`: recurring transaction rules, as sent and as stored.
* `wallet_ledger`: the transactions, the balance they sum to, their draws and queries.
* `wallet_balances`: ongoing balances (the balance minus usage not yet invoiced).
* `wallet_top_ups`: paid, granted and voided credits, the credit invoice, recurring rules
  firing.
* `wallet_credits`: wallets on invoices (the `invoice_credits` provider).

This module comes last and re-exports their public names, so callers keep writing
`wallets.<name>`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from meterly.domain.errors import NotAllowed, NotFound, ValidationFailed
from meterly.domain.money import ZERO, Currency, currency, is_currency, to_decimal
from meterly.domain.wallets import (
    AppliesTo,
    cents_to_credits,
    validate_priority,
    validate_rate_amount,
)
from meterly.services.accounts import customers
from meterly.services.common import Clock, new_id
from meterly.services.credits.wallet_balances import GroupKey as GroupKey
from meterly.services.credits.wallet_balances import allocate_usage as allocate_usage
from meterly.services.credits.wallet_balances import balance_of as balance_of
from meterly.services.credits.wallet_balances import ongoing_balances as ongoing_balances
from meterly.services.credits.wallet_balances import ongoing_of as ongoing_of
from meterly.services.credits.wallet_balances import (
    refresh_ongoing_balances as refresh_ongoing_balances,
)
from meterly.services.credits.wallet_balances import usage_groups as usage_groups
from meterly.services.credits.wallet_credits import PROVIDER as PROVIDER
from meterly.services.credits.wallet_credits import WalletCredits as WalletCredits
from meterly.services.credits.wallet_ledger import Ledger as Ledger
from meterly.services.credits.wallet_ledger import TransactionFilters as TransactionFilters
from meterly.services.credits.wallet_ledger import consumptions as consumptions
from meterly.services.credits.wallet_ledger import find_transaction as find_transaction
from meterly.services.credits.wallet_ledger import fundings as fundings
from meterly.services.credits.wallet_ledger import ledger as ledger
from meterly.services.credits.wallet_ledger import ledger_of as ledger_of
from meterly.services.credits.wallet_ledger import list_transactions as list_transactions
from meterly.services.credits.wallet_rules import RuleInput as RuleInput
from meterly.services.credits.wallet_rules import check_rules, save_rule
from meterly.services.credits.wallet_rules import rules_of as rules_of
from meterly.services.credits.wallet_terms import ACTIVE as ACTIVE
from meterly.services.credits.wallet_terms import FAILED as FAILED
from meterly.services.credits.wallet_terms import GRANTED as GRANTED
from meterly.services.credits.wallet_terms import INBOUND as INBOUND
from meterly.services.credits.wallet_terms import INVOICED as INVOICED
from meterly.services.credits.wallet_terms import LIMITABLE_FEE_TYPES as LIMITABLE_FEE_TYPES
from meterly.services.credits.wallet_terms import OUTBOUND as OUTBOUND
from meterly.services.credits.wallet_terms import PAYABLE_INVOICE_TYPES as PAYABLE_INVOICE_TYPES
from meterly.services.credits.wallet_terms import PENDING as PENDING
from meterly.services.credits.wallet_terms import PURCHASED as PURCHASED
from meterly.services.credits.wallet_terms import SETTLED as SETTLED
from meterly.services.credits.wallet_terms import SOURCES as SOURCES
from meterly.services.credits.wallet_terms import TERMINATED as TERMINATED
from meterly.services.credits.wallet_terms import TRANSACTION_KINDS as TRANSACTION_KINDS
from meterly.services.credits.wallet_terms import TRANSACTION_STATUSES as TRANSACTION_STATUSES
from meterly.services.credits.wallet_terms import TRANSACTION_TYPES as TRANSACTION_TYPES
from meterly.services.credits.wallet_terms import VOIDED as VOIDED
from meterly.services.credits.wallet_terms import applies_to_of as applies_to_of
from meterly.services.credits.wallet_terms import customer_of as customer_of
from meterly.services.credits.wallet_terms import find as find
from meterly.services.credits.wallet_top_ups import TransactionInput as TransactionInput
from meterly.services.credits.wallet_top_ups import check_threshold_rules as check_threshold_rules
from meterly.services.credits.wallet_top_ups import create_transactions as create_transactions
from meterly.services.credits.wallet_top_ups import fail_paid_top_ups as fail_paid_top_ups
from meterly.services.credits.wallet_top_ups import run_recurring_top_ups as run_recurring_top_ups
from meterly.services.credits.wallet_top_ups import settle_paid_top_ups as settle_paid_top_ups
from meterly.services.credits.wallet_top_ups import top_up as top_up
from meterly.services.credits.wallet_top_ups import void_credits as void_credits
from meterly.services.notifications import enqueue
from meterly.store.clock_scope import in_scope
from meterly.store.tables import BillableMetricRow, Customer
from meterly.store.tables_wallets import Wallet, WalletTransaction

# The former private name of `balance_of`, which tests still reach through this module.
_balance = balance_of


# --- inputs ----------------------------------------------------------------------------


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


def credits_field(value: object, field_name: str) -> Decimal | None:
    """A credits amount from the wire: a decimal string (or integer), never negative."""
    if value is None:
        return None
    amount = to_decimal(value, field=field_name)
    if amount < 0:
        raise ValidationFailed.field(field_name, f"invalid_{field_name}")
    return amount


# Beside `credits_field`: both convert credits at the wire.
def credits_of(cents: int, wallet: Wallet) -> Decimal:
    """Minor units of this wallet's currency as credits (for the wire)."""
    cur: Currency = currency(wallet.currency)
    return cents_to_credits(cents=cents, rate_amount=wallet.rate_amount, currency=cur)


# --- queries ---------------------------------------------------------------------------


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


# --- create, update, terminate ---------------------------------------------------------


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
    # A customer may hold wallets in several currencies (Lago, July 2026): each pays the
    # invoices of its own currency only (wallet_credits.active_wallets).
    _check_common(errors, data, clock=clock)
    if data.code is not None and not data.code.strip():
        errors["code"] = ["value_is_invalid"]
    if data.code and _code_taken(session, customer.id, data.code, exclude=None):
        errors["code"] = ["value_already_exist"]
    rules = check_rules(errors, data.recurring_transaction_rules or (), existing={})
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
        save_rule(session, wallet, rule, None, now, position)
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
        check_rules(errors, data.recurring_transaction_rules, existing=existing)
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
            save_rule(session, wallet, rule, existing.get(rule.lago_id or ""), now, position)
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


def terminate_expired(session: Session, *, clock: Clock) -> list[Wallet]:
    """Active wallets whose `expiration_at` has passed are terminated."""
    now = clock.now()
    rows = list(
        session.scalars(
            select(Wallet).where(
                Wallet.status == ACTIVE,
                Wallet.expiration_at.is_not(None),
                Wallet.expiration_at <= now,
                in_scope(Wallet.customer_id),
            )
        )
    )
    for wallet in rows:
        terminate(session, wallet=wallet, clock=clock)
    return rows


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
