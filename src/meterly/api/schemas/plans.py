"""Plan, charge and charge filter on the wire (Lago's plan object with its charges)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy.orm import Session

from meterly.api.http import Payload
from meterly.api.schemas.fixed_charges import (
    FixedChargeIn,
    fixed_charge_input,
    plan_fixed_charges,
)
from meterly.api.schemas.taxes import tax
from meterly.api.wire import iso
from meterly.services.catalog import plans as plans_service
from meterly.services.catalog import taxes as taxes_service
from meterly.store.tables import Charge, ChargeFilter, Plan, Tax

# --- requests ------------------------------------------------------------------------


class ChargeFilterIn(Payload):
    invoice_display_name: str | None = None
    properties: dict[str, Any] | None = None
    values: dict[str, list[str]] | None = None


class ChargeIn(Payload):
    id: str | None = None
    billable_metric_id: str | None = None
    code: str | None = None
    charge_model: str | None = None
    invoice_display_name: str | None = None
    pay_in_advance: bool | None = None
    prorated: bool | None = None
    invoiceable: bool | None = None
    accepts_target_wallet: bool | None = None
    regroup_paid_fees: str | None = None
    min_amount_cents: int | None = None
    properties: dict[str, Any] | None = None
    filters: list[ChargeFilterIn] | None = None
    tax_codes: list[str] | None = None


class MinimumCommitmentIn(Payload):
    amount_cents: int | None = None
    invoice_display_name: str | None = None
    tax_codes: list[str] | None = None


class UsageThresholdIn(Payload):
    id: str | None = None
    amount_cents: int | None = None
    threshold_display_name: str | None = None
    recurring: bool | None = None


class PlanIn(Payload):
    name: str | None = None
    code: str | None = None
    interval: str | None = None
    amount_cents: int | None = None
    amount_currency: str | None = None
    # Days; the Lago client sends a float. Read through its text, never as binary.
    trial_period: int | float | str | None = None
    pay_in_advance: bool | None = None
    bill_charges_monthly: bool | None = None
    invoice_display_name: str | None = None
    description: str | None = None
    tax_codes: list[str] | None = None
    minimum_commitment: MinimumCommitmentIn | None = None
    usage_thresholds: list[UsageThresholdIn] | None = None
    metadata: dict[str, Any] | None = None
    charges: list[ChargeIn] | None = None
    fixed_charges: list[FixedChargeIn] | None = None


def filter_input(data: ChargeFilterIn) -> plans_service.FilterInput:
    return plans_service.FilterInput(**data.model_dump(exclude_unset=True), sent=_sent(data))


def charge_input(data: ChargeIn) -> plans_service.ChargeInput:
    fields = data.model_dump(exclude_unset=True, exclude={"filters", "tax_codes"})
    return plans_service.ChargeInput(
        **fields,
        filters=None if data.filters is None else tuple(filter_input(f) for f in data.filters),
        tax_codes=None if data.tax_codes is None else tuple(data.tax_codes),
        sent=_sent(data),
    )


def plan_input(data: PlanIn) -> plans_service.PlanInput:
    nested = {"charges", "fixed_charges", "tax_codes", "usage_thresholds", "minimum_commitment"}
    fields = data.model_dump(exclude_unset=True, exclude=nested)
    commitment = data.minimum_commitment
    return plans_service.PlanInput(
        **fields,
        tax_codes=None if data.tax_codes is None else tuple(data.tax_codes),
        minimum_commitment=None if commitment is None else commitment.model_dump(),
        usage_thresholds=None
        if data.usage_thresholds is None
        else tuple(t.model_dump() for t in data.usage_thresholds),
        charges=None if data.charges is None else tuple(charge_input(c) for c in data.charges),
        fixed_charges=None
        if data.fixed_charges is None
        else tuple(fixed_charge_input(f) for f in data.fixed_charges),
        sent=_sent(data),
    )


def _sent(data: BaseModel) -> frozenset[str]:
    return frozenset(data.model_fields_set)


# --- responses -----------------------------------------------------------------------


def tax_codes_of(plans: Iterable[Plan]) -> set[str]:
    """Every tax code a plan's answer needs (plan, commitment, charges)."""
    codes: set[str] = set()
    for row in plans:
        codes.update(row.tax_codes or ())
        codes.update((row.minimum_commitment or {}).get("tax_codes") or ())
        for item in row.charges:
            codes.update(item.tax_codes or ())
    return codes


def plan_payload(session: Session, row: Plan, *, with_counters: bool = True) -> dict[str, Any]:
    """The full plan object, looking up its taxes and counters in `session`."""
    taxes = taxes_service.lookup(session, row.organization_id, tax_codes_of([row]))
    counts = plans_service.counters(session, row.id) if with_counters else None
    return plan(row, taxes=taxes, counters=counts)


def plan(
    row: Plan, *, taxes: Mapping[str, Tax], counters: Mapping[str, int] | None = None
) -> dict[str, Any]:
    """Lago's plan object; `taxes` maps the codes the plan and its charges use to rows."""
    counts = counters or {}
    thresholds = [usage_threshold(t) for t in row.usage_thresholds or ()]
    body: dict[str, Any] = {
        "lago_id": row.id,
        "name": row.name,
        "invoice_display_name": row.invoice_display_name,
        "created_at": iso(row.created_at),
        "code": row.code,
        "interval": row.interval,
        "description": row.description,
        "amount_cents": row.amount_cents,
        "amount_currency": row.amount_currency,
        # A float column in Lago: a JSON number.
        "trial_period": float(row.trial_period),
        "pay_in_advance": row.pay_in_advance,
        "bill_charges_monthly": row.bill_charges_monthly,
        "bill_fixed_charges_monthly": None,
        "customers_count": counts.get("customers_count", 0),
        "active_subscriptions_count": counts.get("active_subscriptions_count", 0),
        "draft_invoices_count": counts.get("draft_invoices_count", 0),
        "parent_id": row.parent_id,
        "pending_deletion": row.deleted_at is not None,
        "charges": [charge(c, taxes=taxes) for c in row.charges],
        "fixed_charges": plan_fixed_charges(row),
        "entitlements": [],
        "usage_thresholds": thresholds,
        "applicable_usage_thresholds": list(thresholds),
        "taxes": _taxes(row.tax_codes, taxes),
    }
    if row.minimum_commitment:
        body["minimum_commitment"] = minimum_commitment(row, taxes=taxes)
    if row.plan_metadata:
        body["metadata"] = dict(row.plan_metadata)
    return body


def charge(row: Charge, *, taxes: Mapping[str, Tax]) -> dict[str, Any]:
    return {
        "lago_id": row.id,
        "lago_billable_metric_id": row.billable_metric_id,
        "code": row.code,
        "invoice_display_name": row.invoice_display_name,
        "billable_metric_code": row.billable_metric.code,
        "created_at": iso(row.created_at),
        "charge_model": row.charge_model,
        "invoiceable": row.invoiceable,
        "regroup_paid_fees": row.regroup_paid_fees,
        "pay_in_advance": row.pay_in_advance,
        "prorated": row.prorated,
        "min_amount_cents": row.min_amount_cents,
        "accepts_target_wallet": row.accepts_target_wallet,
        "properties": dict(row.properties or {}),
        "applied_pricing_unit": None,
        "lago_parent_id": None,
        "filters": [charge_filter(f, charge_code=row.code) for f in row.filters],
        "taxes": _taxes(row.tax_codes, taxes),
    }


def charge_payload(session: Session, row: Charge) -> dict[str, Any]:
    taxes = taxes_service.lookup(session, row.organization_id, row.tax_codes or ())
    return charge(row, taxes=taxes)


def charge_filter(row: ChargeFilter, *, charge_code: str) -> dict[str, Any]:
    return {
        "lago_id": row.id,
        "charge_code": charge_code,
        "invoice_display_name": row.invoice_display_name,
        "properties": dict(row.properties or {}),
        "values": {k: list(v) for k, v in (row.values or {}).items()},
    }


def usage_threshold(stored: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "lago_id": stored["lago_id"],
        "threshold_display_name": stored.get("threshold_display_name"),
        "amount_cents": stored["amount_cents"],
        "recurring": bool(stored.get("recurring")),
        "created_at": _stamp(stored.get("created_at")),
        "updated_at": _stamp(stored.get("updated_at")),
    }


def minimum_commitment(row: Plan, *, taxes: Mapping[str, Tax]) -> dict[str, Any]:
    stored = row.minimum_commitment or {}
    return {
        "lago_id": stored.get("lago_id"),
        "plan_code": row.code,
        "invoice_display_name": stored.get("invoice_display_name"),
        "amount_cents": stored.get("amount_cents"),
        "interval": row.interval,
        "created_at": _stamp(stored.get("created_at")),
        "updated_at": _stamp(stored.get("updated_at")),
        "taxes": _taxes(stored.get("tax_codes"), taxes),
    }


def _taxes(codes: Iterable[str] | None, taxes: Mapping[str, Tax]) -> list[dict[str, Any]]:
    return [tax(taxes[code]) for code in codes or () if code in taxes]


def _stamp(value: object) -> str | None:
    """A timestamp kept as ISO text inside a JSON column, in Lago's wire form."""
    if not isinstance(value, str):
        return None
    return iso(datetime.fromisoformat(value))
