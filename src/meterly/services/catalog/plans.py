"""Plans, their usage charges and the charges' filters: the price list of a subscription."""

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
from meterly.domain.pricing import charge_model as parse_charge_model
from meterly.domain.pricing import normalized_properties, parse_properties
from meterly.domain.pricing.models import ChargeModel
from meterly.services.catalog.taxes import taxes_by_codes
from meterly.services.common import Clock, new_id
from meterly.store.tables import BillableMetricRow, Charge, ChargeFilter, Plan, Subscription

INTERVALS = ("weekly", "monthly", "quarterly", "semiannual", "yearly")
_MONTHLY_CHARGES_INTERVALS = {"yearly", "semiannual"}
ALL_FILTER_VALUES = "__ALL_FILTER_VALUES__"

# Lago: which metrics and models each charge option is compatible with.
_PAY_IN_ADVANCE_AGGREGATIONS = {"count_agg", "sum_agg", "unique_count_agg", "custom_agg"}
_PRORATED_MODELS = {ChargeModel.STANDARD, ChargeModel.GRADUATED, ChargeModel.VOLUME}
_NOT_WITH_LATEST = {ChargeModel.PERCENTAGE, ChargeModel.GRADUATED_PERCENTAGE}
_REGROUP_VALUES = {"invoice"}

# Lago's BuildDefaultPropertiesService: what a charge sent without properties gets.
_OPEN_RANGE = {"from_value": 0, "to_value": None, "per_unit_amount": "0", "flat_amount": "0"}
_DEFAULT_PROPERTIES: dict[ChargeModel, dict[str, Any]] = {
    ChargeModel.STANDARD: {"amount": "0"},
    ChargeModel.GRADUATED: {"graduated_ranges": [_OPEN_RANGE]},
    ChargeModel.GRADUATED_PERCENTAGE: {
        "graduated_percentage_ranges": [
            {"from_value": 0, "to_value": None, "rate": "0", "flat_amount": "0"}
        ]
    },
    ChargeModel.VOLUME: {"volume_ranges": [_OPEN_RANGE]},
    ChargeModel.PACKAGE: {"amount": "0", "package_size": 1, "free_units": 0},
    ChargeModel.PERCENTAGE: {"rate": "0"},
    ChargeModel.DYNAMIC: {},
}

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
class FilterInput:
    invoice_display_name: str | None = None
    properties: dict[str, Any] | None = None
    values: dict[str, list[str]] | None = None
    sent: frozenset[str] = field(default_factory=frozenset)


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
    regroup_paid_fees: str | None = None
    min_amount_cents: int | None = None
    properties: dict[str, Any] | None = None
    filters: tuple[FilterInput, ...] | None = None
    tax_codes: tuple[str, ...] | None = None
    sent: frozenset[str] = field(default_factory=frozenset)


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
        _create_charge(
            session,
            plan=row,
            data=charge_data,
            taken=_live_codes(row),
            position=position,
            now=now,
            metric_resource="billable_metrics",
        )
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
        _replace_charges(session, plan=row, charges=data.charges, now=now)
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
    charge = _create_charge(
        session,
        plan=plan,
        data=data,
        taken=_live_codes(plan),
        position=position,
        now=clock.now(),
        metric_resource="billable_metric",
    )
    return _fresh_charge(session, charge)


def update_charge(session: Session, *, charge: Charge, data: ChargeInput, clock: Clock) -> Charge:
    plan = session.get_one(Plan, charge.plan_id)
    taken = _live_codes(plan) - {charge.code}
    _update_charge(session, charge=charge, data=data, taken=taken, now=clock.now())
    return _fresh_charge(session, charge)


def delete_charge(session: Session, *, charge: Charge, clock: Clock) -> Charge:
    now = clock.now()
    for item in charge.filters:
        item.deleted_at = now
    charge.deleted_at = now
    session.flush()
    return charge


def _live_codes(plan: Plan) -> set[str]:
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


def _replace_charges(
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
            created = _create_charge(
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


def _create_charge(
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
        regroup_paid_fees=data.regroup_paid_fees,
        min_amount_cents=data.min_amount_cents or 0,
        tax_codes=[],
        created_at=now,
        updated_at=now,
    )
    properties = data.properties if data.properties is not None else _defaults(model)
    _validate_charge(charge, metric, model)
    charge.properties = _properties(model, properties)
    if data.tax_codes is not None:
        taxes_by_codes(session, plan.organization_id, data.tax_codes)
        charge.tax_codes = list(dict.fromkeys(data.tax_codes))
    session.add(charge)
    session.flush()
    _replace_filters(session, charge=charge, metric=metric, filters=data.filters or (), now=now)
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
    for name in ("pay_in_advance", "prorated", "invoiceable", "min_amount_cents"):
        value = getattr(data, name)
        if value is not None:
            setattr(charge, name, value)
    for name in ("invoice_display_name", "regroup_paid_fees"):
        if name in data.sent:
            setattr(charge, name, getattr(data, name))
    _validate_charge(charge, metric, model)
    if data.properties is not None:
        charge.properties = _properties(model, data.properties)
    elif model.value != previous_model:
        charge.properties = _properties(model, _defaults(model))
    if data.tax_codes is not None:
        taxes_by_codes(session, charge.organization_id, data.tax_codes)
        charge.tax_codes = list(dict.fromkeys(data.tax_codes))
    charge.updated_at = now
    session.flush()
    if data.filters is not None:
        _replace_filters(session, charge=charge, metric=metric, filters=data.filters, now=now)


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


def _defaults(model: ChargeModel) -> dict[str, Any]:
    return dict(_DEFAULT_PROPERTIES[model])


def _properties(model: ChargeModel, raw: Mapping[str, Any]) -> dict[str, Any]:
    """Validate with the pricing rules (their codes propagate); store what Lago echoes."""
    parse_properties(model.value, raw)
    return dict(normalized_properties(model.value, raw))


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


# --- charge filters ----------------------------------------------------------------


def find_filter(session: Session, *, charge: Charge, filter_id: str) -> ChargeFilter:
    row = session.get(ChargeFilter, filter_id)
    if row is None or row.charge_id != charge.id or row.deleted_at is not None:
        raise NotFound("charge_filter")
    return row


def list_filters_page(
    session: Session, *, charge: Charge, page: int, per_page: int
) -> tuple[list[ChargeFilter], int]:
    where = (ChargeFilter.charge_id == charge.id, ChargeFilter.deleted_at.is_(None))
    total = session.scalar(select(func.count()).select_from(ChargeFilter).where(*where)) or 0
    rows = session.scalars(
        select(ChargeFilter)
        .where(*where)
        .order_by(ChargeFilter.created_at, ChargeFilter.id)
        .offset((page - 1) * per_page)
        .limit(per_page)
    )
    return list(rows), total


def create_filter(
    session: Session, *, charge: Charge, data: FilterInput, clock: Clock
) -> ChargeFilter:
    metric = session.get_one(BillableMetricRow, charge.billable_metric_id)
    values = _filter_values(metric, data.values)
    _check_values_free(charge, values, exclude=None)
    now = clock.now()
    row = ChargeFilter(
        id=new_id(),
        charge_id=charge.id,
        invoice_display_name=data.invoice_display_name,
        properties=_filter_properties(charge, data.properties),
        values=values,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    session.expire(charge, ["filters"])
    return row


def update_filter(
    session: Session, *, charge: Charge, row: ChargeFilter, data: FilterInput, clock: Clock
) -> ChargeFilter:
    metric = session.get_one(BillableMetricRow, charge.billable_metric_id)
    if data.values is not None:
        values = _filter_values(metric, data.values)
        _check_values_free(charge, values, exclude=row.id)
        row.values = values
    if data.properties is not None:
        row.properties = _filter_properties(charge, data.properties)
    if "invoice_display_name" in data.sent:
        row.invoice_display_name = data.invoice_display_name
    row.updated_at = clock.now()
    session.flush()
    return row


def delete_filter(session: Session, *, row: ChargeFilter, clock: Clock) -> ChargeFilter:
    row.deleted_at = clock.now()
    session.flush()
    return row


def _replace_filters(
    session: Session,
    *,
    charge: Charge,
    metric: BillableMetricRow,
    filters: Sequence[FilterInput],
    now: datetime,
) -> None:
    """Filters matched by their values keep their id; new ones are created, the rest go."""
    existing = {
        _values_key(f.values): f
        for f in session.scalars(
            select(ChargeFilter).where(
                ChargeFilter.charge_id == charge.id, ChargeFilter.deleted_at.is_(None)
            )
        )
    }
    seen: set[str] = set()
    for data in filters:
        values = _filter_values(metric, data.values)
        key = _values_key(values)
        if key in seen:
            raise ValidationFailed.field("values", "value_already_exist")
        seen.add(key)
        properties = _filter_properties(charge, data.properties)
        row = existing.get(key)
        if row is None:
            session.add(
                ChargeFilter(
                    id=new_id(),
                    charge_id=charge.id,
                    invoice_display_name=data.invoice_display_name,
                    properties=properties,
                    values=values,
                    created_at=now,
                    updated_at=now,
                )
            )
        else:
            row.invoice_display_name = data.invoice_display_name
            row.properties = properties
            row.updated_at = now
    for key, row in existing.items():
        if key not in seen:
            row.deleted_at = now
    session.flush()


def _filter_properties(charge: Charge, raw: Mapping[str, Any] | None) -> dict[str, Any]:
    model = parse_charge_model(charge.charge_model)
    return _properties(model, raw if raw is not None else _defaults(model))


def _filter_values(
    metric: BillableMetricRow, raw: Mapping[str, Any] | None
) -> dict[str, list[str]]:
    """Keys and values must be declared by the metric's filters (or be the catch-all)."""
    if not raw:
        raise ValidationFailed.field("values", "value_is_mandatory")
    declared = {f["key"]: set(f["values"]) for f in metric.filters or ()}
    result: dict[str, list[str]] = {}
    for key, values in raw.items():
        if key not in declared or not isinstance(values, list) or not values:
            raise ValidationFailed.field("values", "value_is_invalid")
        if values == [ALL_FILTER_VALUES]:
            result[key] = [ALL_FILTER_VALUES]
            continue
        if not all(isinstance(v, str) and v in declared[key] for v in values):
            raise ValidationFailed.field("values", "value_is_invalid")
        result[key] = list(dict.fromkeys(values))
    return result


def _check_values_free(
    charge: Charge, values: Mapping[str, list[str]], exclude: str | None
) -> None:
    key = _values_key(values)
    for other in charge.filters:
        if other.id != exclude and other.deleted_at is None and _values_key(other.values) == key:
            raise ValidationFailed.field("values", "value_already_exist")


def _values_key(values: Mapping[str, Any]) -> str:
    return repr(sorted((k, sorted(v)) for k, v in values.items()))
