"""The subscription object on the wire."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import field_validator

from meterly.api.http import Payload
from meterly.api.wire import iso, iso_ms
from meterly.config import parse_instant
from meterly.domain.periods import BillingPeriod
from meterly.store.tables import Plan, Subscription, SubscriptionActivationRule


class SubscriptionIn(Payload):
    external_customer_id: str | None = None
    plan_code: str | None = None
    external_id: str | None = None
    name: str | None = None
    billing_time: str | None = None
    subscription_at: datetime | None = None
    ending_at: datetime | None = None
    plan_overrides: dict[str, Any] | None = None
    consolidate_invoice: bool | None = None
    # Checked by the service (billing.activation.parse_rules), which names the bad field.
    activation_rules: list[Any] | None = None

    @field_validator("subscription_at", "ending_at", mode="before")
    @classmethod
    def _instant(cls, value: object) -> object:
        if isinstance(value, str):
            return parse_instant(value)
        return value


def subscription(
    row: Subscription,
    *,
    period: BillingPeriod | None,
    previous_plan: Plan | None,
    next_sub: Subscription | None,
    plan_body: dict[str, Any] | None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "lago_id": row.id,
        "external_id": row.external_id,
        "lago_customer_id": row.customer_id,
        "external_customer_id": row.customer.external_id,
        "name": row.name,
        "plan_code": row.plan.code,
        "plan_amount_cents": row.plan.amount_cents,
        "plan_amount_currency": row.plan.amount_currency,
        "status": row.status,
        "billing_time": row.billing_time,
        "subscription_at": iso(row.subscription_at),
        "started_at": iso_ms(row.started_at) if row.status != "pending" else None,
        "trial_ended_at": iso(row.trial_ended_at),
        "ending_at": iso(row.ending_at),
        "terminated_at": iso(row.terminated_at),
        "canceled_at": iso(row.canceled_at),
        "created_at": iso(row.created_at),
        "previous_plan_code": previous_plan.code if previous_plan else None,
        "next_plan_code": next_sub.plan.code if next_sub else None,
        "downgrade_plan_date": next_sub.started_at.date().isoformat()
        if next_sub and next_sub.started_at
        else None,
        "current_billing_period_started_at": iso(period.start) if period else None,
        "current_billing_period_ending_at": iso(period.end) if period else None,
        "on_termination_credit_note": row.on_termination_credit_note,
        "on_termination_invoice": row.on_termination_invoice,
        "progressive_billing_disabled": row.progressive_billing_disabled,
        "consolidate_invoice": row.consolidate_invoice,
        "purchase_order_number": None,
        "cancellation_reason": row.cancellation_reason,
        "activated_at": _activated_at(row),
        "entitlements": [],
        "payment_method": {"payment_method_id": None, "payment_method_type": "provider"},
        "applicable_usage_thresholds": (plan_body or {}).get("usage_thresholds", []),
        "applied_invoice_custom_sections": [],
        "activation_rules": [activation_rule(rule) for rule in row.activation_rules],
    }
    if plan_body is not None:
        body["plan"] = plan_body
    return body


def _activated_at(row: Subscription) -> str | None:
    """When it began to run: a gated subscription when its payment came, null while it
    waits or if it never ran; any other from its start."""
    if row.activated_at is not None:
        return iso(row.activated_at)
    if row.status in ("pending", "incomplete") or row.cancellation_reason is not None:
        return None
    if row.status == "canceled" and row.activation_rules:
        return None  # a gated one terminated by hand while it waited
    return iso(row.started_at)


def activation_rule(rule: SubscriptionActivationRule) -> dict[str, Any]:
    return {
        "lago_id": rule.id,
        "type": rule.rule_type,
        "timeout_hours": rule.timeout_hours,
        "status": rule.status,
        "expires_at": iso(rule.expires_at),
        "created_at": iso(rule.created_at),
        "updated_at": iso(rule.updated_at),
    }
