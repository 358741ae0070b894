"""Add-ons: one-off items with a default price, billed on one-off invoices."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from meterly.domain.errors import NotFound, ValidationFailed
from meterly.domain.money import is_currency
from meterly.services.catalog.taxes import lookup, taxes_by_codes
from meterly.services.common import Clock, new_id
from meterly.store.tables import Tax
from meterly.store.tables_coupons import AddOnRow


@dataclass(frozen=True, slots=True)
class AddOnInput:
    """A create or update request; None means "not sent"."""

    name: str | None = None
    code: str | None = None
    invoice_display_name: str | None = None
    description: str | None = None
    amount_cents: int | None = None
    amount_currency: str | None = None
    tax_codes: tuple[str, ...] | None = None
    sent: frozenset[str] = field(default_factory=frozenset)


def find(session: Session, *, organization_id: str, code: str) -> AddOnRow:
    row = session.scalar(
        select(AddOnRow).where(
            AddOnRow.organization_id == organization_id,
            AddOnRow.code == code,
            AddOnRow.deleted_at.is_(None),
        )
    )
    if row is None:
        raise NotFound("add_on")
    return row


def list_page(
    session: Session, *, organization_id: str, page: int, per_page: int
) -> tuple[list[AddOnRow], int]:
    where = (AddOnRow.organization_id == organization_id, AddOnRow.deleted_at.is_(None))
    total = session.scalar(select(func.count()).select_from(AddOnRow).where(*where)) or 0
    rows = session.scalars(
        select(AddOnRow)
        .where(*where)
        .order_by(AddOnRow.created_at.desc(), AddOnRow.id)
        .offset((page - 1) * per_page)
        .limit(per_page)
    )
    return list(rows), total


def taxes_of(session: Session, row: AddOnRow) -> list[Tax]:

    found = lookup(session, row.organization_id, row.tax_codes or ())
    return [found[c] for c in row.tax_codes or () if c in found]


def create(session: Session, *, organization_id: str, data: AddOnInput, clock: Clock) -> AddOnRow:
    errors: dict[str, list[str]] = {}
    for required in ("name", "code", "amount_currency"):
        if not getattr(data, required):
            errors[required] = ["value_is_mandatory"]
    if data.amount_cents is None:
        errors["amount_cents"] = ["value_is_mandatory"]
    errors |= _field_errors(data)
    if errors:
        raise ValidationFailed(errors)
    assert data.name and data.code and data.amount_currency and data.amount_cents is not None
    _check_code_free(session, organization_id, data.code)
    codes = _tax_codes(session, organization_id, data.tax_codes)
    now = clock.now()
    row = AddOnRow(
        id=new_id(),
        organization_id=organization_id,
        code=data.code,
        name=data.name,
        invoice_display_name=data.invoice_display_name,
        description=data.description,
        amount_cents=data.amount_cents,
        amount_currency=data.amount_currency.upper(),
        tax_codes=codes or [],
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    return row


def update(session: Session, *, row: AddOnRow, data: AddOnInput, clock: Clock) -> AddOnRow:
    errors = _field_errors(data)
    for required in ("name", "code", "amount_currency", "amount_cents"):
        if required in data.sent and getattr(data, required) in (None, ""):
            errors[required] = ["value_is_mandatory"]
    if errors:
        raise ValidationFailed(errors)
    if data.code and data.code != row.code:
        _check_code_free(session, row.organization_id, data.code)
    codes = _tax_codes(session, row.organization_id, data.tax_codes)
    if data.name:
        row.name = data.name
    if data.code:
        row.code = data.code
    if "invoice_display_name" in data.sent:
        row.invoice_display_name = data.invoice_display_name
    if "description" in data.sent:
        row.description = data.description
    if data.amount_cents is not None:
        row.amount_cents = data.amount_cents
    if data.amount_currency:
        row.amount_currency = data.amount_currency.upper()
    if codes is not None:
        row.tax_codes = codes
    row.updated_at = clock.now()
    session.flush()
    return row


def delete(session: Session, *, row: AddOnRow, clock: Clock) -> AddOnRow:
    row.deleted_at = clock.now()
    session.flush()
    return row


def _field_errors(data: AddOnInput) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if data.amount_cents is not None and data.amount_cents < 0:
        errors["amount_cents"] = ["value_is_invalid"]
    if data.amount_currency and not is_currency(data.amount_currency):
        errors["amount_currency"] = ["value_is_invalid"]
    return errors


def _tax_codes(
    session: Session, organization_id: str, codes: tuple[str, ...] | None
) -> list[str] | None:
    if codes is None:
        return None
    return [t.code for t in taxes_by_codes(session, organization_id, codes)]


def _check_code_free(session: Session, organization_id: str, code: str) -> None:
    taken = session.scalar(
        select(AddOnRow.id).where(
            AddOnRow.organization_id == organization_id,
            AddOnRow.code == code,
            AddOnRow.deleted_at.is_(None),
        )
    )
    if taken:
        raise ValidationFailed.field("code", "value_already_exist")
