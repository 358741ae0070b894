"""Wallets, wallet transactions, consumptions and fundings on the wire (lago-api.md §7.8)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session, object_session

from meterly.api.http import Payload
from meterly.api.wire import dec, iso
from meterly.domain.errors import ValidationFailed
from meterly.domain.money import to_decimal
from meterly.domain.wallets import AppliesTo, OngoingBalance
from meterly.services.credits import wallets as service
from meterly.store.tables import Customer
from meterly.store.tables_wallets import (
    RecurringTransactionRule,
    Wallet,
    WalletTransaction,
    WalletTransactionConsumption,
)

# Credits and amounts arrive as decimal strings (integers accepted); floats are refused.
Amount = Any
PAYMENT_METHOD = {"payment_method_id": None, "payment_method_type": "provider"}


class AppliesToIn(Payload):
    fee_types: list[str] | None = None
    billable_metric_codes: list[str] | None = None


class RuleIn(Payload):
    lago_id: str | None = None
    trigger: str | None = None
    interval: str | None = None
    method: str | None = None
    paid_credits: Amount = None
    granted_credits: Amount = None
    threshold_credits: Amount = None
    target_ongoing_balance: Amount = None
    started_at: datetime | None = None
    expiration_at: datetime | None = None
    grants_target_top_up: bool | None = None
    invoice_requires_successful_payment: bool | None = None
    ignore_paid_top_up_limits: bool | None = None
    transaction_metadata: list[dict[str, Any]] | None = None
    transaction_name: str | None = None


class WalletIn(Payload):
    external_customer_id: str | None = None
    rate_amount: Amount = None
    currency: str | None = None
    name: str | None = None
    code: str | None = None
    priority: int | None = None
    paid_credits: Amount = None
    granted_credits: Amount = None
    expiration_at: datetime | None = None
    applies_to: AppliesToIn | None = None
    recurring_transaction_rules: list[RuleIn] | None = None
    invoice_requires_successful_payment: bool | None = None
    transaction_metadata: list[dict[str, Any]] | None = None
    transaction_name: str | None = None
    paid_top_up_min_amount_cents: int | None = None
    paid_top_up_max_amount_cents: int | None = None
    ignore_paid_top_up_limits_on_creation: bool | None = None
    metadata: dict[str, Any] | None = None


class WalletTransactionIn(Payload):
    wallet_id: str | None = None
    paid_credits: Amount = None
    granted_credits: Amount = None
    voided_credits: Amount = None
    invoice_requires_successful_payment: bool | None = None
    metadata: list[dict[str, Any]] | None = None
    name: str | None = None
    ignore_paid_top_up_limits: bool | None = None


def _aware(value: datetime | None, field: str) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise ValidationFailed.field(field, "invalid_date")
    return value


def _amounts(model: Payload, names: tuple[str, ...], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for name in names:
        try:
            out[name] = service.credits_field(getattr(model, name), name)
        except ValidationFailed as exc:
            for key in exc.details:
                errors[f"{prefix}{key}"] = [f"invalid_{name}"]
    if errors:
        raise ValidationFailed(errors)
    return out


def wallet_input(data: WalletIn, raw: dict[str, Any]) -> service.WalletInput:
    amounts = _amounts(data, ("paid_credits", "granted_credits"))
    rate = None
    if data.rate_amount is not None:
        try:
            rate = to_decimal(data.rate_amount, field="rate_amount")
        except ValidationFailed:
            raise ValidationFailed.field("rate_amount", "value_is_invalid") from None
    applies = None
    if data.applies_to is not None:
        applies = AppliesTo(
            fee_types=tuple(data.applies_to.fee_types or ()),
            billable_metric_codes=tuple(data.applies_to.billable_metric_codes or ()),
        )
    rules = None
    if data.recurring_transaction_rules is not None:
        rules = tuple(_rule(r) for r in data.recurring_transaction_rules)
    return service.WalletInput(
        external_customer_id=data.external_customer_id,
        rate_amount=rate,
        currency=data.currency,
        name=data.name,
        code=data.code,
        priority=data.priority,
        paid_credits=amounts["paid_credits"],
        granted_credits=amounts["granted_credits"],
        expiration_at=_aware(data.expiration_at, "expiration_at"),
        applies_to=applies,
        recurring_transaction_rules=rules,
        invoice_requires_successful_payment=data.invoice_requires_successful_payment,
        transaction_metadata=data.transaction_metadata,
        transaction_name=data.transaction_name,
        paid_top_up_min_amount_cents=data.paid_top_up_min_amount_cents,
        paid_top_up_max_amount_cents=data.paid_top_up_max_amount_cents,
        ignore_paid_top_up_limits_on_creation=data.ignore_paid_top_up_limits_on_creation,
        metadata=data.metadata,
        sent=frozenset(raw),
    )


def _rule(rule: RuleIn) -> service.RuleInput:
    try:
        amounts = _amounts(
            rule,
            ("paid_credits", "granted_credits", "threshold_credits", "target_ongoing_balance"),
        )
        started = _aware(rule.started_at, "started_at")
        expires = _aware(rule.expiration_at, "expiration_at")
    except ValidationFailed:
        raise ValidationFailed.field(
            "recurring_transaction_rules", "invalid_recurring_rule"
        ) from None
    return service.RuleInput(
        lago_id=rule.lago_id,
        trigger=rule.trigger,
        interval=rule.interval,
        method=rule.method,
        started_at=started,
        expiration_at=expires,
        grants_target_top_up=rule.grants_target_top_up,
        invoice_requires_successful_payment=rule.invoice_requires_successful_payment,
        ignore_paid_top_up_limits=rule.ignore_paid_top_up_limits,
        transaction_metadata=rule.transaction_metadata,
        transaction_name=rule.transaction_name,
        **amounts,
    )


def transaction_input(data: WalletTransactionIn) -> service.TransactionInput:
    amounts = _amounts(data, ("paid_credits", "granted_credits", "voided_credits"))
    return service.TransactionInput(
        wallet_id=data.wallet_id,
        invoice_requires_successful_payment=data.invoice_requires_successful_payment,
        metadata=data.metadata,
        name=data.name,
        ignore_paid_top_up_limits=data.ignore_paid_top_up_limits,
        **amounts,
    )


# --- answers -----------------------------------------------------------------------------


def rule_body(row: RecurringTransactionRule) -> dict[str, Any]:
    return {
        "lago_id": row.id,
        "trigger": row.trigger,
        "interval": row.interval,
        "method": row.method,
        "paid_credits": dec(row.paid_credits),
        "granted_credits": dec(row.granted_credits),
        "threshold_credits": dec(row.threshold_credits),
        "target_ongoing_balance": dec(row.target_ongoing_balance),
        "grants_target_top_up": row.grants_target_top_up,
        "started_at": iso(row.started_at),
        "expiration_at": iso(row.expiration_at),
        "status": row.status,
        "created_at": iso(row.created_at),
        "invoice_requires_successful_payment": row.invoice_requires_successful_payment,
        "ignore_paid_top_up_limits": row.ignore_paid_top_up_limits,
        "transaction_metadata": list(row.transaction_metadata or []),
        "transaction_name": row.transaction_name,
        "purchase_order_number": None,
        "applied_invoice_custom_sections": [],
        "payment_method": dict(PAYMENT_METHOD),
    }


def wallet(
    session: Session, row: Wallet, *, ongoing: OngoingBalance | None = None
) -> dict[str, Any]:
    """The wallet object. `ongoing` is the live ongoing balance (else the stored one)."""
    customer = session.get(Customer, row.customer_id)
    assert customer is not None
    live = ongoing or OngoingBalance(
        ongoing_balance_cents=row.ongoing_balance_cents,
        credits_ongoing_balance=row.credits_ongoing_balance,
        ongoing_usage_balance_cents=row.ongoing_usage_balance_cents,
        credits_ongoing_usage_balance=row.credits_ongoing_usage_balance,
    )
    applies = row.applies_to or {}
    return {
        "lago_id": row.id,
        "lago_customer_id": row.customer_id,
        "external_customer_id": customer.external_id,
        "billing_entity_code": None,
        "status": row.status,
        "currency": row.currency,
        "name": row.name,
        "code": row.code,
        "priority": row.priority,
        "purchase_order_number": None,
        "rate_amount": dec(row.rate_amount),
        "credits_balance": dec(row.credits_balance),
        "balance_cents": row.balance_cents,
        "consumed_credits": dec(row.consumed_credits),
        "consumed_amount_cents": row.consumed_amount_cents,
        "credits_ongoing_balance": dec(live.credits_ongoing_balance),
        "credits_ongoing_usage_balance": dec(live.credits_ongoing_usage_balance),
        "ongoing_balance_cents": live.ongoing_balance_cents,
        "ongoing_usage_balance_cents": live.ongoing_usage_balance_cents,
        "created_at": iso(row.created_at),
        "expiration_at": iso(row.expiration_at),
        "last_balance_sync_at": iso(row.last_balance_sync_at),
        "last_consumed_credit_at": iso(row.last_consumed_credit_at),
        "terminated_at": iso(row.terminated_at),
        "invoice_requires_successful_payment": row.invoice_requires_successful_payment,
        "paid_top_up_min_amount_cents": row.paid_top_up_min_amount_cents,
        "paid_top_up_max_amount_cents": row.paid_top_up_max_amount_cents,
        "recurring_transaction_rules": [rule_body(r) for r in service.rules_of(session, row)],
        "applies_to": {
            "fee_types": list(applies.get("fee_types") or []),
            "billable_metric_codes": list(applies.get("billable_metric_codes") or []),
        },
        "metadata": row.wallet_metadata,
        "applied_invoice_custom_sections": [],
        "payment_method": dict(PAYMENT_METHOD),
    }


def wallet_payload(session: Session, row: Wallet) -> dict[str, Any]:
    """For webhooks: the wallet as stored."""
    return wallet(session, row)


def wallet_transaction(row: WalletTransaction) -> dict[str, Any]:
    inbound = row.transaction_type == service.INBOUND
    remaining = row.remaining_amount_cents if inbound else None
    return {
        "lago_id": row.id,
        "lago_wallet_id": row.wallet_id,
        "lago_invoice_id": row.invoice_id,
        "lago_credit_note_id": None,
        "lago_voided_invoice_id": None,
        "billing_entity_code": None,
        "status": row.status,
        "source": row.source,
        "transaction_status": row.transaction_status,
        "transaction_type": row.transaction_type,
        "amount": dec(row.amount),
        "credit_amount": dec(row.credit_amount),
        "remaining_amount_cents": remaining,
        "remaining_credit_amount": dec(_remaining_credits(row)) if inbound else None,
        "priority": row.priority,
        "purchase_order_number": None,
        "settled_at": iso(row.settled_at),
        "failed_at": iso(row.failed_at),
        "created_at": iso(row.created_at),
        "invoice_requires_successful_payment": row.invoice_requires_successful_payment,
        "metadata": list(row.transaction_metadata or []),
        "name": row.name,
        "payment_method": dict(PAYMENT_METHOD),
    }


def _remaining_credits(row: WalletTransaction) -> Decimal:
    """Credits left of an inbound transaction: its money left, in credits."""
    remaining = row.remaining_amount_cents or 0
    if remaining >= row.amount_cents:
        return row.credit_amount
    session = object_session(row)
    owner = session.get(Wallet, row.wallet_id) if session is not None else None
    if owner is None or remaining <= 0:
        return Decimal(0)
    return service.credits_of(remaining, owner)


def wallet_transaction_payload(session: Session, row: WalletTransaction) -> dict[str, Any]:
    """For webhooks."""
    return wallet_transaction(row)


def link(
    session: Session, row: WalletTransactionConsumption, other: WalletTransaction
) -> dict[str, Any]:
    """A consumption (or funding): the draw in cents and credits, and the other side."""
    owner = session.get(Wallet, other.wallet_id)
    assert owner is not None
    return {
        "lago_id": row.id,
        "amount_cents": row.consumed_amount_cents,
        "credit_amount": dec(service.credits_of(row.consumed_amount_cents, owner)),
        "created_at": iso(row.created_at),
        "wallet_transaction": wallet_transaction(other),
    }
