"""A plan's usage charges: what each billable metric costs on the plan.

Finding and listing a plan's charges, the charges endpoint (create, update, delete one),
`add_charge` and `replace_charges` that plan create and update build on, and Lago's
cross-field charge rules. Their filters are in `charge_filters`, their properties in
`charge_properties`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from meterly.domain.errors import NotFound, ValidationFailed
from meterly.domain.pricing import charge_model as parse_charge_model
from meterly.domain.pricing.models import ChargeModel
from meterly.services.catalog import charge_properties
from meterly.services.catalog.charge_filters import FilterInput, replace_filters
from meterly.services.catalog.taxes import taxes_by_codes
from meterly.services.common import Clock, new_id
from meterly.store.tables import BillableMetricRow, Charge, Plan

# Lago: which metrics and models each charge option is compatible with.
_PAY_IN_ADVANCE_AGGREGATIONS = {"count_agg", "sum_agg", "unique_count_agg", "custom_agg"}
_PRORATED_MODELS = {ChargeModel.STANDARD, ChargeModel.GRADUATED, ChargeModel.VOLUME}
_NOT_WITH_LATEST = {ChargeModel.PERCENTAGE, ChargeModel.GRADUATED_PERCENTAGE}
_REGROUP_VALUES = {"invoice"}


# --- inputs ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ChargeInput:
    """A charge in a plan body or on the charges endpoint; None means "not sent"."""

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
    filters: tuple[FilterInput, ...] | None = None
    tax_codes: tuple[str, ...] | None = None
    sent: frozenset[str] = field(default_factory=frozenset)


# --- charges -----------------------------------------------------------------------


def charges_for_billing(session: Session, plan_id: str) -> list[Charge]:
    """The plan's live charges, in order, with their metric and live filters loaded."""
    rows = session.scalars(
        select(Charge)
        .where(Charge.plan_id == plan_id, Charge.deleted_at.is_(None))
        .order_by(Charge.position, Charge.created_at)
    )
    return list(rows)


def find_charge(session: Session, *, plan: Plan, code: str) -> Charge:
    row = session.scalar(
        select(Charge).where(
            Charge.plan_id == plan.id, Charge.code == code, Charge.deleted_at.is_(None)
        )
    )
    if row is None:
        raise NotFound("charge")
    return row


def list_charges_page(
    session: Session, *, plan: Plan, page: int, per_page: int
) -> tuple[list[Charge], int]:
    where = (Charge.plan_id == plan.id, Charge.deleted_at.is_(None))
    total = session.scalar(select(func.count()).select_from(Charge).where(*where)) or 0
    rows = session.scalars(
        select(Charge)
        .where(*where)
        .order_by(Charge.position, Charge.created_at, Charge.id)
        .offset((page - 1) * per_page)
        .limit(per_page)
    )
    return list(rows), total


def create_charge(session: Session, *, plan: Plan, data: ChargeInput, clock: Clock) -> Charge:
    live = list(plan.charges)
    position = max((c.position for c in live), default=-1) + 1
    charge = add_charge(
        session,
        plan=plan,
        data=data,
        taken=live_codes(plan),
        position=position,
        now=clock.now(),
        metric_resource="billable_metric",
    )
    return _fresh_charge(session, charge)


def update_charge(session: Session, *, charge: Charge, data: ChargeInput, clock: Clock) -> Charge:
    plan = session.get_one(Plan, charge.plan_id)
    taken = live_codes(plan) - {charge.code}
    _update_charge(session, charge=charge, data=data, taken=taken, now=clock.now())
    return _fresh_charge(session, charge)


def delete_charge(session: Session, *, charge: Charge, clock: Clock) -> Charge:
    now = clock.now()
    for item in charge.filters:
        item.deleted_at = now
    charge.deleted_at = now
    session.flush()
    return charge


def live_codes(plan: Plan) -> set[str]:
    session = _session_of(plan)
    return set(
        session.scalars(
            select(Charge.code).where(Charge.plan_id == plan.id, Charge.deleted_at.is_(None))
        )
    )


def _session_of(row: object) -> Session:
    session = Session.object_session(row)
    assert session is not None, "a row outside a unit of work"
    return session


def replace_charges(
    session: Session, *, plan: Plan, charges: Sequence[ChargeInput], now: datetime
) -> None:
    """Lago's plan update: sent with an id -> updated, without -> created, absent -> deleted."""
    existing = {c.id: c for c in session.scalars(_live_charges(plan.id))}
    kept_ids = {c.id for c in charges if c.id}
    unknown = kept_ids - set(existing)
    if unknown:
        raise NotFound("charge")
    for charge in existing.values():
        if charge.id not in kept_ids:
            for item in charge.filters:
                item.deleted_at = now
            charge.deleted_at = now
    session.flush()
    taken: set[str] = set()
    for position, data in enumerate(charges):
        if data.id:
            charge = existing[data.id]
            _update_charge(session, charge=charge, data=data, taken=taken, now=now)
            charge.position = position
            taken.add(charge.code)
    for position, data in enumerate(charges):
        if not data.id:
            created = add_charge(
                session,
                plan=plan,
                data=data,
                taken=taken,
                position=position,
                now=now,
                metric_resource="billable_metrics",
            )
            taken.add(created.code)


def _live_charges(plan_id: str) -> Any:
    return select(Charge).where(Charge.plan_id == plan_id, Charge.deleted_at.is_(None))


# Shared by the charges endpoint and plan create/update, which name a missing metric
# differently (`metric_resource`).
def add_charge(
    session: Session,
    *,
    plan: Plan,
    data: ChargeInput,
    taken: set[str],
    position: int,
    now: datetime,
    metric_resource: str,
) -> Charge:
    metric = _metric(session, plan.organization_id, data.billable_metric_id, metric_resource)
    if not data.charge_model:
        raise ValidationFailed.field("charge_model", "value_is_mandatory")
    model = parse_charge_model(data.charge_model)
    code = data.code or _default_code(metric.code, taken)
    if code in taken:
        raise ValidationFailed.field("code", "value_already_exist")
    charge = Charge(
        id=new_id(),
        organization_id=plan.organization_id,
        plan_id=plan.id,
        billable_metric_id=metric.id,
        position=position,
        code=code,
        charge_model=model.value,
        invoice_display_name=data.invoice_display_name,
        pay_in_advance=bool(data.pay_in_advance),
        prorated=bool(data.prorated),
        invoiceable=True if data.invoiceable is None else data.invoiceable,
        accepts_target_wallet=bool(data.accepts_target_wallet),
        regroup_paid_fees=data.regroup_paid_fees,
        min_amount_cents=data.min_amount_cents or 0,
        tax_codes=[],
        created_at=now,
        updated_at=now,
    )
    properties = (
        data.properties if data.properties is not None else charge_properties.defaults(model)
    )
    _validate_charge(charge, metric, model)
    charge.properties = charge_properties.properties(model, properties)
    if data.tax_codes is not None:
        taxes_by_codes(session, plan.organization_id, data.tax_codes)
        charge.tax_codes = list(dict.fromkeys(data.tax_codes))
    session.add(charge)
    session.flush()
    replace_filters(session, charge=charge, metric=metric, filters=data.filters or (), now=now)
    return charge


def _update_charge(
    session: Session, *, charge: Charge, data: ChargeInput, taken: set[str], now: datetime
) -> None:
    """Apply the sent fields, then validate the charge as a whole (metric stays fixed)."""
    metric = session.get_one(BillableMetricRow, charge.billable_metric_id)
    previous_model = charge.charge_model
    model = parse_charge_model(data.charge_model or charge.charge_model)
    if data.code and data.code != charge.code:
        if data.code in taken:
            raise ValidationFailed.field("code", "value_already_exist")
        charge.code = data.code
    elif charge.code in taken:
        raise ValidationFailed.field("code", "value_already_exist")
    charge.charge_model = model.value
    for name in (
        "pay_in_advance",
        "prorated",
        "invoiceable",
        "accepts_target_wallet",
        "min_amount_cents",
    ):
        value = getattr(data, name)
        if value is not None:
            setattr(charge, name, value)
    for name in ("invoice_display_name", "regroup_paid_fees"):
        if name in data.sent:
            setattr(charge, name, getattr(data, name))
    _validate_charge(charge, metric, model)
    if data.properties is not None:
        charge.properties = charge_properties.properties(model, data.properties)
    elif model.value != previous_model:
        charge.properties = charge_properties.properties(model, charge_properties.defaults(model))
    if data.tax_codes is not None:
        taxes_by_codes(session, charge.organization_id, data.tax_codes)
        charge.tax_codes = list(dict.fromkeys(data.tax_codes))
    charge.updated_at = now
    session.flush()
    if data.filters is not None:
        replace_filters(session, charge=charge, metric=metric, filters=data.filters, now=now)


def _fresh_charge(session: Session, charge: Charge) -> Charge:
    session.flush()
    session.expire(charge, ["filters", "billable_metric"])
    return charge


def _metric(
    session: Session, organization_id: str, metric_id: str | None, resource: str
) -> BillableMetricRow:
    row = session.get(BillableMetricRow, metric_id) if metric_id else None
    if row is None or row.organization_id != organization_id or row.deleted_at is not None:
        raise NotFound(resource)
    return row


def _default_code(metric_code: str, taken: set[str]) -> str:
    if metric_code not in taken:
        return metric_code
    suffix = 2
    while f"{metric_code}_{suffix}" in taken:
        suffix += 1
    return f"{metric_code}_{suffix}"


def _validate_charge(charge: Charge, metric: BillableMetricRow, model: ChargeModel) -> None:
    """Lago's cross-field charge rules, all collected before answering."""
    aggregation = metric.aggregation_type
    errors: dict[str, list[str]] = {}
    if model is ChargeModel.DYNAMIC and aggregation != "sum_agg":
        errors["charge_model"] = ["invalid_aggregation_type_or_charge_model"]
    if model in _NOT_WITH_LATEST and aggregation == "latest_agg":
        errors["charge_model"] = ["invalid_aggregation_type_or_charge_model"]
    if charge.pay_in_advance and (
        aggregation not in _PAY_IN_ADVANCE_AGGREGATIONS or model is ChargeModel.VOLUME
    ):
        errors["pay_in_advance"] = ["invalid_aggregation_type_or_charge_model"]
    if not charge.invoiceable and not charge.pay_in_advance:
        errors["invoiceable"] = ["must_be_true_unless_pay_in_advance"]
    if charge.prorated and not _prorated_allowed(metric, model, charge.pay_in_advance):
        errors["prorated"] = ["invalid_billable_metric_or_charge_model"]
    if charge.min_amount_cents < 0:
        errors["min_amount_cents"] = ["value_is_invalid"]
    elif charge.min_amount_cents > 0 and charge.pay_in_advance:
        errors["min_amount_cents"] = ["not_compatible_with_pay_in_advance"]
    if charge.regroup_paid_fees is not None:
        if charge.regroup_paid_fees not in _REGROUP_VALUES:
            errors["regroup_paid_fees"] = ["value_is_invalid"]
        elif not charge.pay_in_advance or charge.invoiceable:
            errors["regroup_paid_fees"] = [
                "only_compatible_with_pay_in_advance_and_non_invoiceable"
            ]
    if errors:
        raise ValidationFailed(errors)


def _prorated_allowed(metric: BillableMetricRow, model: ChargeModel, pay_in_advance: bool) -> bool:
    if not metric.recurring or metric.aggregation_type == "weighted_sum_agg":
        return False
    if pay_in_advance:
        return model is ChargeModel.STANDARD
    return model in _PRORATED_MODELS
