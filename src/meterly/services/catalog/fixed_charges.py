"""A plan's fixed charges: recurring fees built on an add-on (a platform fee, seats) and
priced as units x price with the standard, graduated or volume model.

Finding and listing them, the fixed charges endpoint (create, update, delete one), the
plan-level create and update that carry them along, and the copy a plan override makes.
A subscription's own units over time are in `fixed_charge_units` (services/billing reads
them; services/subscriptions writes the overrides).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from meterly.domain.errors import NotFound, ValidationFailed
from meterly.domain.pricing import charge_model as parse_charge_model
from meterly.domain.pricing.models import ChargeModel
from meterly.services.catalog import charge_properties
from meterly.services.catalog.taxes import taxes_by_codes
from meterly.services.common import Clock, new_id
from meterly.store.tables import FixedCharge, Plan
from meterly.store.tables_coupons import AddOnRow

# Lago prices fixed charges with these three models only.
FIXED_CHARGE_MODELS = (ChargeModel.STANDARD, ChargeModel.GRADUATED, ChargeModel.VOLUME)


@dataclass(frozen=True, slots=True)
class FixedChargeInput:
    """A fixed charge in a plan body or on the fixed charges endpoint; None = not sent."""

    id: str | None = None
    add_on_id: str | None = None
    add_on_code: str | None = None
    code: str | None = None
    charge_model: str | None = None
    invoice_display_name: str | None = None
    units: object = None
    pay_in_advance: bool | None = None
    prorated: bool | None = None
    properties: dict[str, Any] | None = None
    tax_codes: tuple[str, ...] | None = None
    apply_units_immediately: bool | None = None
    sent: frozenset[str] = field(default_factory=frozenset)


# --- reads -------------------------------------------------------------------------


def live_fixed_charges(session: Session, plan_id: str) -> list[FixedCharge]:
    return list(
        session.scalars(
            select(FixedCharge)
            .where(FixedCharge.plan_id == plan_id, FixedCharge.deleted_at.is_(None))
            .order_by(FixedCharge.position, FixedCharge.created_at, FixedCharge.id)
        )
    )


def find_fixed_charge(session: Session, *, plan: Plan, code: str) -> FixedCharge:
    row = session.scalar(
        select(FixedCharge).where(
            FixedCharge.plan_id == plan.id,
            FixedCharge.code == code,
            FixedCharge.deleted_at.is_(None),
        )
    )
    if row is None:
        raise NotFound("fixed_charge")
    return row


def list_fixed_charges_page(
    session: Session, *, plan: Plan, page: int, per_page: int
) -> tuple[list[FixedCharge], int]:
    rows = live_fixed_charges(session, plan.id)
    return rows[(page - 1) * per_page : page * per_page], len(rows)


def add_on_of(session: Session, row: FixedCharge) -> AddOnRow:
    return session.get_one(AddOnRow, row.add_on_id)


def parse_units(value: object) -> Decimal:
    """Units: a JSON number or a numeric string (the client sends a number), >= 0."""
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise ValidationFailed.field("units", "value_is_invalid")
    try:
        units = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValidationFailed.field("units", "value_is_invalid") from None
    if not units.is_finite() or units < 0:
        raise ValidationFailed.field("units", "value_is_invalid")
    return units


# --- writes ------------------------------------------------------------------------


def create_fixed_charge(
    session: Session, *, plan: Plan, data: FixedChargeInput, clock: Clock
) -> FixedCharge:
    live = live_fixed_charges(session, plan.id)
    position = max((f.position for f in live), default=-1) + 1
    return add_fixed_charge(
        session,
        plan=plan,
        data=data,
        taken={f.code for f in live},
        position=position,
        now=clock.now(),
        add_on_resource="add_on",
    )


def update_fixed_charge(
    session: Session, *, row: FixedCharge, data: FixedChargeInput, clock: Clock
) -> FixedCharge:
    taken = {f.code for f in live_fixed_charges(session, row.plan_id)} - {row.code}
    _update(session, row=row, data=data, taken=taken, now=clock.now())
    return row


def delete_fixed_charge(session: Session, *, row: FixedCharge, clock: Clock) -> FixedCharge:
    row.deleted_at = clock.now()
    session.flush()
    return row


def replace_fixed_charges(
    session: Session, *, plan: Plan, items: Sequence[FixedChargeInput], now: datetime
) -> None:
    """Lago's plan update: sent with an id -> updated, without -> created, absent -> deleted."""
    existing = {f.id: f for f in live_fixed_charges(session, plan.id)}
    kept = {item.id for item in items if item.id}
    if kept - set(existing):
        raise NotFound("fixed_charge")
    for row in existing.values():
        if row.id not in kept:
            row.deleted_at = now
    session.flush()
    taken: set[str] = set()
    for position, item in enumerate(items):
        if item.id:
            row = existing[item.id]
            _update(session, row=row, data=item, taken=taken, now=now)
            row.position = position
            taken.add(row.code)
    for position, item in enumerate(items):
        if not item.id:
            created = add_fixed_charge(
                session,
                plan=plan,
                data=item,
                taken=taken,
                position=position,
                now=now,
                add_on_resource="add_ons",
            )
            taken.add(created.code)


def add_fixed_charge(
    session: Session,
    *,
    plan: Plan,
    data: FixedChargeInput,
    taken: set[str],
    position: int,
    now: datetime,
    add_on_resource: str,
) -> FixedCharge:
    add_on = _add_on(session, plan.organization_id, data, add_on_resource)
    model = _model(data.charge_model or ChargeModel.STANDARD.value)
    code = data.code or _default_code(add_on.code, taken)
    if code in taken:
        raise ValidationFailed.field("code", "value_already_exist")
    raw = data.properties if data.properties is not None else charge_properties.defaults(model)
    row = FixedCharge(
        id=new_id(),
        organization_id=plan.organization_id,
        plan_id=plan.id,
        add_on_id=add_on.id,
        position=position,
        code=code,
        charge_model=model.value,
        invoice_display_name=data.invoice_display_name,
        units=parse_units(data.units) if data.units is not None else Decimal(0),
        pay_in_advance=bool(data.pay_in_advance),
        prorated=bool(data.prorated),
        properties=_properties(model, raw),
        tax_codes=_tax_codes(session, plan.organization_id, data.tax_codes) or [],
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    return row


def copy_fixed_charges(
    session: Session,
    *,
    base: Plan,
    child: Plan,
    overrides: Sequence[dict[str, Any]] | None,
    now: datetime,
) -> None:
    """A plan override's copy of the base plan's fixed charges, each with its overrides
    (`invoice_display_name`, `units`, `properties`, `tax_codes`) keyed by the base id."""
    by_id = {o.get("id"): o for o in overrides or () if isinstance(o, dict)}
    for source in live_fixed_charges(session, base.id):
        over = by_id.get(source.id, {})
        model = _model(source.charge_model)
        properties = source.properties
        if over.get("properties") is not None:
            properties = _properties(model, over["properties"])
        tax_codes = list(source.tax_codes)
        if over.get("tax_codes") is not None:
            tax_codes = _tax_codes(session, base.organization_id, over["tax_codes"]) or []
        units = source.units
        if over.get("units") is not None:
            units = parse_units(over["units"])
        session.add(
            FixedCharge(
                id=new_id(),
                organization_id=source.organization_id,
                plan_id=child.id,
                add_on_id=source.add_on_id,
                position=source.position,
                code=source.code,
                charge_model=source.charge_model,
                invoice_display_name=over.get("invoice_display_name", source.invoice_display_name),
                units=units,
                pay_in_advance=source.pay_in_advance,
                prorated=source.prorated,
                properties=properties,
                tax_codes=tax_codes,
                created_at=now,
                updated_at=now,
            )
        )
    session.flush()


def _update(
    session: Session, *, row: FixedCharge, data: FixedChargeInput, taken: set[str], now: datetime
) -> None:
    """Apply the sent fields; the add-on stays (Lago keeps it once created)."""
    if data.code and data.code != row.code:
        if data.code in taken:
            raise ValidationFailed.field("code", "value_already_exist")
        row.code = data.code
    elif row.code in taken:
        raise ValidationFailed.field("code", "value_already_exist")
    previous_model = row.charge_model
    model = _model(data.charge_model or row.charge_model)
    row.charge_model = model.value
    if data.properties is not None:
        row.properties = _properties(model, data.properties)
    elif model.value != previous_model:
        row.properties = _properties(model, charge_properties.defaults(model))
    if data.units is not None:
        row.units = parse_units(data.units)
    for name in ("pay_in_advance", "prorated"):
        value = getattr(data, name)
        if value is not None:
            setattr(row, name, value)
    if "invoice_display_name" in data.sent:
        row.invoice_display_name = data.invoice_display_name
    codes = _tax_codes(session, row.organization_id, data.tax_codes)
    if codes is not None:
        row.tax_codes = codes
    row.updated_at = now
    session.flush()


def _add_on(
    session: Session, organization_id: str, data: FixedChargeInput, resource: str
) -> AddOnRow:
    if data.add_on_id:
        row = session.get(AddOnRow, data.add_on_id)
    elif data.add_on_code:
        row = session.scalar(
            select(AddOnRow).where(
                AddOnRow.organization_id == organization_id,
                AddOnRow.code == data.add_on_code,
                AddOnRow.deleted_at.is_(None),
            )
        )
    else:
        raise ValidationFailed.field("add_on", "value_is_mandatory")
    if row is None or row.organization_id != organization_id or row.deleted_at is not None:
        raise NotFound(resource)
    return row


def _model(name: str) -> ChargeModel:
    model = parse_charge_model(name)
    if model not in FIXED_CHARGE_MODELS:
        raise ValidationFailed.field("charge_model", "value_is_invalid")
    return model


def _properties(model: ChargeModel, raw: object) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ValidationFailed.field("properties", "value_is_invalid")
    stored = charge_properties.properties(model, raw)
    # Fixed charges have no events to group or present: those keys mean nothing here.
    for key in ("pricing_group_keys", "grouped_by", "presentation_group_keys"):
        stored.pop(key, None)
    return stored


def _tax_codes(
    session: Session, organization_id: str, codes: Sequence[str] | None
) -> list[str] | None:
    if codes is None:
        return None
    taxes_by_codes(session, organization_id, codes)
    return list(dict.fromkeys(codes))


def _default_code(add_on_code: str, taken: set[str]) -> str:
    if add_on_code not in taken:
        return add_on_code
    suffix = 2
    while f"{add_on_code}_{suffix}" in taken:
        suffix += 1
    return f"{add_on_code}_{suffix}"
