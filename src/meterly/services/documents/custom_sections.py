"""Invoice custom sections (Lago's API): blocks of text printed at the foot of invoices.

The organization picks defaults (`applied_to_organization`); a customer may pick its own
sections by code, or skip them all. What an invoice prints is frozen on it when it is
issued (services/invoicing/snapshot), so edits here change only invoices issued later.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from meterly.domain.errors import NotFound, ValidationFailed
from meterly.services.common import Clock, new_id
from meterly.services.invoicing import snapshot
from meterly.store.tables import (
    Customer,
    CustomerInvoiceCustomSection,
    InvoiceCustomSection,
    Organization,
)

_TEXT_LIMITS = {"code": 255, "name": 255, "display_name": 255}


@dataclass(frozen=True, slots=True)
class SectionInput:
    """A create or update request; `sent` says which keys were present."""

    code: str | None = None
    name: str | None = None
    description: str | None = None
    details: str | None = None
    display_name: str | None = None
    applied_to_organization: bool | None = None
    sent: frozenset[str] = field(default_factory=frozenset)


def find(session: Session, *, organization_id: str, code: str) -> InvoiceCustomSection:
    row = session.scalar(
        select(InvoiceCustomSection).where(
            InvoiceCustomSection.organization_id == organization_id,
            InvoiceCustomSection.code == code,
        )
    )
    if row is None:
        raise NotFound("invoice_custom_section")
    return row


def list_page(
    session: Session, *, organization_id: str, page: int, per_page: int
) -> tuple[list[InvoiceCustomSection], int]:
    where = InvoiceCustomSection.organization_id == organization_id
    total = session.scalar(select(func.count()).select_from(InvoiceCustomSection).where(where))
    rows = session.scalars(
        select(InvoiceCustomSection)
        .where(where)
        .order_by(InvoiceCustomSection.created_at.desc(), InvoiceCustomSection.id)
        .offset((page - 1) * per_page)
        .limit(per_page)
    )
    return list(rows), int(total or 0)


def _check_lengths(data: SectionInput) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for name, limit in _TEXT_LIMITS.items():
        value = getattr(data, name)
        if value is not None and len(value) > limit:
            errors[name] = ["value_is_too_long"]
    return errors


def _check_code_free(session: Session, organization_id: str, code: str) -> None:
    taken = session.scalar(
        select(InvoiceCustomSection.id).where(
            InvoiceCustomSection.organization_id == organization_id,
            InvoiceCustomSection.code == code,
        )
    )
    if taken:
        raise ValidationFailed.field("code", "value_already_exist")


def create(
    session: Session, *, organization_id: str, data: SectionInput, clock: Clock
) -> InvoiceCustomSection:
    errors = _check_lengths(data)
    for required in ("code", "name"):
        if not (getattr(data, required) or "").strip():
            errors[required] = ["value_is_mandatory"]
    if errors:
        raise ValidationFailed(errors)
    assert data.code is not None and data.name is not None
    _check_code_free(session, organization_id, data.code)
    now = clock.now()
    row = InvoiceCustomSection(
        id=new_id(),
        organization_id=organization_id,
        code=data.code,
        name=data.name,
        description=data.description,
        details=data.details,
        display_name=data.display_name,
        applied_to_organization=bool(data.applied_to_organization),
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    return row


def update(
    session: Session, *, row: InvoiceCustomSection, data: SectionInput, clock: Clock
) -> InvoiceCustomSection:
    errors = _check_lengths(data)
    if "name" in data.sent and not (data.name or "").strip():
        errors["name"] = ["value_is_mandatory"]
    if "code" in data.sent and not (data.code or "").strip():
        errors["code"] = ["value_is_mandatory"]
    if errors:
        raise ValidationFailed(errors)
    if data.code and data.code != row.code:
        _check_code_free(session, row.organization_id, data.code)
        row.code = data.code
    if data.name:
        row.name = data.name
    for name in ("description", "details", "display_name"):
        if name in data.sent:
            setattr(row, name, getattr(data, name))
    if data.applied_to_organization is not None:
        row.applied_to_organization = data.applied_to_organization
    row.updated_at = clock.now()
    session.flush()
    return row


def delete_section(session: Session, *, row: InvoiceCustomSection) -> None:
    """Gone for good, and from every customer's selection; issued invoices keep their copy."""
    session.execute(
        delete(CustomerInvoiceCustomSection).where(
            CustomerInvoiceCustomSection.invoice_custom_section_id == row.id
        )
    )
    session.delete(row)
    session.flush()


def select_for_customer(
    session: Session,
    *,
    customer: Customer,
    skip: bool | None,
    codes: Sequence[str] | None,
    clock: Clock,
) -> None:
    """Lago's `skip_invoice_custom_sections` / `invoice_custom_section_codes` on a customer:
    None leaves a setting as it is; an empty list of codes returns to the defaults."""
    if codes is not None:
        wanted = list(dict.fromkeys(codes))
        rows = list(
            session.scalars(
                select(InvoiceCustomSection).where(
                    InvoiceCustomSection.organization_id == customer.organization_id,
                    InvoiceCustomSection.code.in_(wanted),
                )
            )
        )
        if len(rows) != len(wanted):
            raise NotFound("invoice_custom_section")
        session.execute(
            delete(CustomerInvoiceCustomSection).where(
                CustomerInvoiceCustomSection.customer_id == customer.id
            )
        )
        now = clock.now()
        for row in rows:
            session.add(
                CustomerInvoiceCustomSection(
                    id=new_id(),
                    customer_id=customer.id,
                    invoice_custom_section_id=row.id,
                    created_at=now,
                )
            )
    if skip is not None:
        customer.skip_invoice_custom_sections = skip
    session.flush()


def applicable(session: Session, *, customer: Customer) -> list[dict[str, object]]:
    """The sections an invoice issued now would print for this customer."""
    org = session.get(Organization, customer.organization_id)
    if org is None:
        raise NotFound("organization")
    return snapshot.custom_sections_for(session, org, customer)
