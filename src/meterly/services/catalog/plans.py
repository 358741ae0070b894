"""Plans: the price list of a subscription (interval, amount, trial, minimum commitment,
progressive-billing thresholds, taxes, metadata) and the plan-level create and update that
carry the plan's charges along.

A plan's charges are in `charges`, their filters in `charge_filters`; both are re-exported
here, so callers reach the whole price list through `plans`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import distinct, func, select
from sqlalchemy.orm import Session

from meterly.domain.errors import NotFound, ValidationFailed
from meterly.domain.money import is_currency
from meterly.services.catalog.charge_filters import ALL_FILTER_VALUES as ALL_FILTER_VALUES
from meterly.services.catalog.charge_filters import FilterInput as FilterInput
from meterly.services.catalog.charge_filters import create_filter as create_filter
from meterly.services.catalog.charge_filters import delete_filter as delete_filter
from meterly.services.catalog.charge_filters import find_filter as find_filter
from meterly.services.catalog.charge_filters import list_filters_page as list_filters_page
from meterly.services.catalog.charge_filters import update_filter as update_filter
from meterly.services.catalog.charges import ChargeInput as ChargeInput
from meterly.services.catalog.charges import add_charge, live_codes, replace_charges
from meterly.services.catalog.charges import charges_for_billing as charges_for_billing
from meterly.services.catalog.charges import create_charge as create_charge
from meterly.services.catalog.charges import delete_charge as delete_charge
from meterly.services.catalog.charges import find_charge as find_charge
from meterly.services.catalog.charges import list_charges_page as list_charges_page
from meterly.services.catalog.charges import update_charge as update_charge
from meterly.services.catalog.fixed_charges import FixedChargeInput as FixedChargeInput
from meterly.services.catalog.fixed_charges import add_fixed_charge, replace_fixed_charges
from meterly.services.catalog.taxes import taxes_by_codes
from meterly.services.common import Clock, new_id
from meterly.store.tables import Plan, Subscription

INTERVALS = ("weekly", "monthly", "quarterly", "semiannual", "yearly")
_MONTHLY_CHARGES_INTERVALS = {"yearly", "semiannual"}

# Fields the plan keeps once subscriptions use it (Lago: name, display, amount, taxes...).
_LOCKED_WHEN_ATTACHED = (
    "code",
    "interval",
    "pay_in_advance",
    "amount_currency",
    "trial_period",
    "bill_charges_monthly",
)


# --- inputs ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlanInput:
    """A create or update request; None means "not sent"."""

    name: str | None = None
    code: str | None = None
    interval: str | None = None
    amount_cents: int | None = None
    amount_currency: str | None = None
    trial_period: object = None
    pay_in_advance: bool | None = None
    bill_charges_monthly: bool | None = None
    invoice_display_name: str | None = None
    description: str | None = None
    tax_codes: tuple[str, ...] | None = None
    minimum_commitment: dict[str, Any] | None = None
    usage_thresholds: tuple[dict[str, Any], ...] | None = None
    metadata: dict[str, Any] | None = None
    charges: tuple[ChargeInput, ...] | None = None
    fixed_charges: tuple[FixedChargeInput, ...] | None = None
    sent: frozenset[str] = field(default_factory=frozenset)


# --- plans -------------------------------------------------------------------------


def find(session: Session, *, organization_id: str, code: str) -> Plan:
    row = session.scalar(
        select(Plan).where(
            Plan.organization_id == organization_id,
            Plan.code == code,
            Plan.parent_id.is_(None),
            Plan.deleted_at.is_(None),
        )
    )
    if row is None:
        raise NotFound("plan")
    return row


def list_page(
    session: Session, *, organization_id: str, page: int, per_page: int
) -> tuple[list[Plan], int]:
    where = (
        Plan.organization_id == organization_id,
        Plan.parent_id.is_(None),
        Plan.deleted_at.is_(None),
    )
    total = session.scalar(select(func.count()).select_from(Plan).where(*where)) or 0
    rows = session.scalars(
        select(Plan)
        .where(*where)
        .order_by(Plan.created_at.desc(), Plan.id)
        .offset((page - 1) * per_page)
        .limit(per_page)
    )
    return list(rows), total


def counters(session: Session, plan_id: str) -> dict[str, int]:
    """Lago's plan counters: customers and active subscriptions on the plan."""
    active = (Subscription.plan_id == plan_id, Subscription.status == "active")
    subscriptions = session.scalar(select(func.count()).where(*active)) or 0
    customers = session.scalar(
        select(func.count(distinct(Subscription.customer_id))).where(*active)
    )
    return {
        "customers_count": customers or 0,
        "active_subscriptions_count": subscriptions,
        "draft_invoices_count": 0,
    }


def create(session: Session, *, organization_id: str, data: PlanInput, clock: Clock) -> Plan:
    given = {f.name for f in fields(data) if f.name != "sent" and getattr(data, f.name) is not None}
    data = replace(data, sent=data.sent | given)
    errors: dict[str, list[str]] = {}
    for required in ("name", "code", "interval", "amount_currency"):
        if not getattr(data, required):
            errors[required] = ["value_is_mandatory"]
    if data.amount_cents is None:
        errors["amount_cents"] = ["value_is_mandatory"]
    if errors:
        raise ValidationFailed(errors)
    assert data.code is not None and data.name is not None
    _check_plan_code_free(session, organization_id, data.code)
    now = clock.now()
    row = Plan(
        id=new_id(),
        organization_id=organization_id,
        code=data.code,
        name=data.name,
        pay_in_advance=False,
        trial_period=Decimal(0),
        tax_codes=[],
        usage_thresholds=[],
        created_at=now,
        updated_at=now,
    )
    _apply_plan(session, row, data, now=now, locked=False)
    session.add(row)
    session.flush()
    for position, charge_data in enumerate(data.charges or ()):
        add_charge(
            session,
            plan=row,
            data=charge_data,
            taken=live_codes(row),
            position=position,
            now=now,
            metric_resource="billable_metrics",
        )
    taken: set[str] = set()
    for position, fixed_data in enumerate(data.fixed_charges or ()):
        fixed = add_fixed_charge(
            session,
            plan=row,
            data=fixed_data,
            taken=taken,
            position=position,
            now=now,
            add_on_resource="add_ons",
        )
        taken.add(fixed.code)
    return _fresh(session, row)


def update(session: Session, *, row: Plan, data: PlanInput, clock: Clock) -> Plan:
    now = clock.now()
    locked = is_attached(session, row.id)
    if data.code and data.code != row.code and not locked:
        _check_plan_code_free(session, row.organization_id, data.code)
        row.code = data.code
    if data.name:
        row.name = data.name
    _apply_plan(session, row, data, now=now, locked=locked)
    row.updated_at = now
    session.flush()
    if data.charges is not None:
        replace_charges(session, plan=row, charges=data.charges, now=now)
    if data.fixed_charges is not None:
        replace_fixed_charges(session, plan=row, items=data.fixed_charges, now=now)
    return _fresh(session, row)


def delete(session: Session, *, row: Plan, clock: Clock) -> Plan:
    """Soft delete: the code is free again; its charges stay for the subscriptions' last bills."""
    row.deleted_at = clock.now()
    session.flush()
    return row


def is_attached(session: Session, plan_id: str) -> bool:
    found = session.scalar(select(Subscription.id).where(Subscription.plan_id == plan_id).limit(1))
    return found is not None


def _apply_plan(
    session: Session, row: Plan, data: PlanInput, *, now: datetime, locked: bool
) -> None:
    sent = data.sent - set(_LOCKED_WHEN_ATTACHED) if locked else data.sent
    errors: dict[str, list[str]] = {}
    interval = data.interval if "interval" in sent and data.interval else row.interval
    if interval not in INTERVALS:
        errors["interval"] = ["value_is_invalid"]
    if data.amount_cents is not None and data.amount_cents < 0:
        errors["amount_cents"] = ["value_is_invalid"]
    currency = data.amount_currency if "amount_currency" in sent else None
    if currency is not None and not is_currency(currency):
        errors["amount_currency"] = ["value_is_invalid"]
    trial: Decimal | None = None
    if "trial_period" in sent and data.trial_period is not None:
        trial = _trial_period(data.trial_period)
        if trial is None:
            errors["trial_period"] = ["value_is_invalid"]
    if data.metadata is not None:
        _check_metadata(data.metadata)
    if errors:
        raise ValidationFailed(errors)
    if data.tax_codes is not None:
        taxes_by_codes(session, row.organization_id, data.tax_codes)
        row.tax_codes = list(dict.fromkeys(data.tax_codes))
    row.interval = interval
    if data.amount_cents is not None:
        row.amount_cents = data.amount_cents
    if currency is not None:
        row.amount_currency = currency.upper()
    if trial is not None:
        row.trial_period = trial
    if data.pay_in_advance is not None and "pay_in_advance" in sent:
        row.pay_in_advance = data.pay_in_advance
    if "bill_charges_monthly" in sent:
        row.bill_charges_monthly = data.bill_charges_monthly
    if row.interval not in _MONTHLY_CHARGES_INTERVALS:
        row.bill_charges_monthly = None
    for name in ("invoice_display_name", "description"):
        if name in data.sent:
            setattr(row, name, getattr(data, name))
    if "minimum_commitment" in data.sent:
        row.minimum_commitment = _commitment(session, row, data.minimum_commitment, now)
    if data.usage_thresholds is not None:
        row.usage_thresholds = _thresholds(row.usage_thresholds, data.usage_thresholds, now)
    if "metadata" in data.sent:
        row.plan_metadata = dict(data.metadata) if data.metadata else None


def _check_plan_code_free(session: Session, organization_id: str, code: str) -> None:
    taken = session.scalar(
        select(Plan.id).where(
            Plan.organization_id == organization_id,
            Plan.code == code,
            Plan.deleted_at.is_(None),
        )
    )
    if taken:
        raise ValidationFailed.field("code", "value_already_exist")


def _trial_period(value: object) -> Decimal | None:
    """Days, a decimal: a JSON number or numeric string read through its text."""
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        return None
    try:
        days = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return days if days.is_finite() and days >= 0 else None


def _commitment(
    session: Session, row: Plan, raw: Mapping[str, Any] | None, now: datetime
) -> dict[str, Any] | None:
    """The plan's minimum commitment; an empty object or null removes it."""
    if not raw:
        return None
    amount = raw.get("amount_cents")
    if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
        raise ValidationFailed.field("amount_cents", "value_is_invalid")
    codes = list(dict.fromkeys(raw.get("tax_codes") or ()))
    taxes_by_codes(session, row.organization_id, codes)
    previous = row.minimum_commitment or {}
    return {
        "lago_id": previous.get("lago_id") or new_id(),
        "amount_cents": amount,
        "invoice_display_name": raw.get("invoice_display_name"),
        "tax_codes": codes,
        "created_at": previous.get("created_at") or now.isoformat(),
        "updated_at": now.isoformat(),
    }


def _thresholds(
    current: Sequence[Mapping[str, Any]] | None,
    raw: Iterable[Mapping[str, Any]],
    now: datetime,
) -> list[dict[str, Any]]:
    """Progressive billing thresholds: amounts unique (per kind), at most one recurring."""
    by_id = {t["lago_id"]: t for t in current or ()}
    result: list[dict[str, Any]] = []
    seen: set[tuple[int, bool]] = set()
    for item in raw:
        amount = item.get("amount_cents")
        if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
            raise ValidationFailed.field("amount_cents", "value_is_out_of_range")
        recurring = bool(item.get("recurring"))
        if (amount, recurring) in seen:
            raise ValidationFailed.field("amount_cents", "value_already_exist")
        if recurring and any(r for _, r in seen):
            raise ValidationFailed.field("recurring", "value_already_exist")
        seen.add((amount, recurring))
        previous = by_id.get(item.get("id") or "", {})
        result.append(
            {
                "lago_id": previous.get("lago_id") or new_id(),
                "amount_cents": amount,
                "threshold_display_name": item.get("threshold_display_name"),
                "recurring": recurring,
                "created_at": previous.get("created_at") or now.isoformat(),
                "updated_at": now.isoformat(),
            }
        )
    return sorted(result, key=lambda t: (t["recurring"], t["amount_cents"]))


def _fresh(session: Session, row: Plan) -> Plan:
    """Reload the view-only relationships (live charges, their filters) after writes."""
    session.flush()
    session.expire(row, ["charges"])
    for charge in row.charges:
        session.expire(charge, ["filters", "billable_metric"])
    return row


# --- metadata ----------------------------------------------------------------------


def replace_metadata(row: Plan, *, metadata: Mapping[str, Any], clock: Clock) -> dict[str, Any]:
    _check_metadata(metadata)
    row.plan_metadata = dict(metadata) or None
    row.updated_at = clock.now()
    return dict(row.plan_metadata or {})


def merge_metadata(row: Plan, *, metadata: Mapping[str, Any], clock: Clock) -> dict[str, Any]:
    _check_metadata(metadata)
    row.plan_metadata = {**(row.plan_metadata or {}), **metadata} or None
    row.updated_at = clock.now()
    return dict(row.plan_metadata or {})


def delete_metadata(row: Plan, *, key: str | None, clock: Clock) -> dict[str, Any] | None:
    """Remove one key (or every key when `key` is None); the remaining metadata or None."""
    if key is None:
        row.plan_metadata = None
    else:
        remaining = {k: v for k, v in (row.plan_metadata or {}).items() if k != key}
        row.plan_metadata = remaining or None
    row.updated_at = clock.now()
    return dict(row.plan_metadata) if row.plan_metadata else None


def _check_metadata(metadata: Mapping[str, Any]) -> None:
    """Lago's plan metadata: a flat object of string keys and scalar (string/null) values."""
    for key, value in metadata.items():
        if not isinstance(key, str) or not key or isinstance(value, dict | list):
            raise ValidationFailed.field("metadata", "value_is_invalid")
