"""Taxes: named rates that plans, charges, commitments and customers refer to by code."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from meterly.domain.errors import NotFound, ValidationFailed
from meterly.domain.taxes import Tax as TaxRate
from meterly.domain.taxes import applicable_taxes
from meterly.services.common import Clock, new_id
from meterly.store.tables import Charge, Customer, Plan, Subscription, Tax

_MAX_RATE = Decimal(100)


@dataclass(frozen=True, slots=True)
class TaxInput:
    """A create or update request; None means "not sent"."""

    name: str | None = None
    code: str | None = None
    rate: object = None
    description: str | None = None
    applied_to_organization: bool | None = None
    sent: frozenset[str] = field(default_factory=frozenset)


def find(session: Session, *, organization_id: str, code: str) -> Tax:
    row = session.scalar(
        select(Tax).where(Tax.organization_id == organization_id, Tax.code == code)
    )
    if row is None:
        raise NotFound("tax")
    return row


def taxes_by_codes(session: Session, organization_id: str, codes: Iterable[str]) -> list[Tax]:
    """The taxes for `codes`, in the order given; 404 `tax_not_found` on an unknown code."""
    wanted = list(dict.fromkeys(codes))
    found = lookup(session, organization_id, wanted)
    if len(found) != len(wanted):
        raise NotFound("tax")
    return [found[code] for code in wanted]


def lookup(session: Session, organization_id: str, codes: Iterable[str]) -> dict[str, Tax]:
    """The taxes that exist among `codes`, by code (unknown codes are simply absent)."""
    wanted = set(codes)
    if not wanted:
        return {}
    rows = session.scalars(
        select(Tax).where(Tax.organization_id == organization_id, Tax.code.in_(wanted))
    )
    return {row.code: row for row in rows}


def organization_taxes(session: Session, organization_id: str) -> list[Tax]:
    """The organization's default taxes (applied_to_organization)."""
    return list(
        session.scalars(
            select(Tax)
            .where(Tax.organization_id == organization_id, Tax.applied_to_organization.is_(True))
            .order_by(Tax.code)
        )
    )


def list_page(
    session: Session, *, organization_id: str, page: int, per_page: int
) -> tuple[list[Tax], int]:
    where = Tax.organization_id == organization_id
    total = session.scalar(select(func.count()).select_from(Tax).where(where)) or 0
    rows = session.scalars(
        select(Tax)
        .where(where)
        .order_by(Tax.created_at.desc(), Tax.id)
        .offset((page - 1) * per_page)
        .limit(per_page)
    )
    return list(rows), total


def create(session: Session, *, organization_id: str, data: TaxInput, clock: Clock) -> Tax:
    errors: dict[str, list[str]] = {}
    for required in ("name", "code"):
        if not getattr(data, required):
            errors[required] = ["value_is_mandatory"]
    if data.rate is None:
        errors["rate"] = ["value_is_mandatory"]
    if errors:
        raise ValidationFailed(errors)
    assert data.code is not None and data.name is not None
    rate = parse_rate(data.rate)
    _check_code_free(session, organization_id, data.code)
    now = clock.now()
    row = Tax(
        id=new_id(),
        organization_id=organization_id,
        code=data.code,
        name=data.name,
        rate=rate,
        description=data.description,
        applied_to_organization=bool(data.applied_to_organization),
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    return row


def update(session: Session, *, row: Tax, data: TaxInput, clock: Clock) -> Tax:
    rate = parse_rate(data.rate) if data.rate is not None else row.rate
    if data.code and data.code != row.code:
        _check_code_free(session, row.organization_id, data.code)
        _rename_references(session, row.organization_id, row.code, data.code)
        row.code = data.code
    if data.name:
        row.name = data.name
    row.rate = rate
    if "description" in data.sent:
        row.description = data.description
    if data.applied_to_organization is not None:
        row.applied_to_organization = data.applied_to_organization
    row.updated_at = clock.now()
    session.flush()
    return row


def delete(session: Session, *, row: Tax) -> Tax:
    """Lago removes a tax for good, and every place that applied it lets go of it."""
    _rename_references(session, row.organization_id, row.code, None)
    session.delete(row)
    session.flush()
    return row


def parse_rate(value: object) -> Decimal:
    """A percentage in [0, 100]: a JSON number or a numeric string, read through its text."""
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise ValidationFailed.field("rate", "value_is_invalid")
    try:
        rate = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValidationFailed.field("rate", "value_is_invalid") from None
    if not rate.is_finite() or rate < 0 or rate > _MAX_RATE:
        raise ValidationFailed.field("rate", "value_is_invalid")
    return rate


def _check_code_free(session: Session, organization_id: str, code: str) -> None:
    taken = session.scalar(
        select(Tax.id).where(Tax.organization_id == organization_id, Tax.code == code)
    )
    if taken:
        raise ValidationFailed.field("code", "value_already_exist")


def _rename_references(session: Session, organization_id: str, old: str, new: str | None) -> None:
    """Plans, commitments and charges keep tax codes: follow a rename, drop on delete."""

    def swap(codes: list[str] | None) -> list[str]:
        result = [new if c == old else c for c in codes or ()]
        return [c for c in result if c is not None]

    for plan in session.scalars(select(Plan).where(Plan.organization_id == organization_id)):
        if old in (plan.tax_codes or ()):
            plan.tax_codes = swap(plan.tax_codes)
        commitment = plan.minimum_commitment
        if commitment and old in (commitment.get("tax_codes") or ()):
            plan.minimum_commitment = {**commitment, "tax_codes": swap(commitment["tax_codes"])}
    for charge in session.scalars(select(Charge).where(Charge.organization_id == organization_id)):
        if old in (charge.tax_codes or ()):
            charge.tax_codes = swap(charge.tax_codes)


# --- the rates that apply to a subscription's fees ---------------------------------


def domain_tax(row: Tax) -> TaxRate:
    return TaxRate(code=row.code, name=row.name, rate=row.rate, description=row.description or "")


@dataclass(frozen=True, slots=True)
class TaxContext:
    """The tax rates of each level for one subscription: organization, customer, plan."""

    organization: tuple[TaxRate, ...]
    customer: tuple[TaxRate, ...]
    plan: tuple[TaxRate, ...]
    by_code: dict[str, TaxRate]

    @classmethod
    def load(cls, session: Session, sub: Subscription) -> TaxContext:
        return cls.for_customer(session, sub.customer, sub.plan)

    @classmethod
    def for_customer(cls, session: Session, customer: Customer, plan: Plan | None) -> TaxContext:
        rows = list(
            session.scalars(select(Tax).where(Tax.organization_id == customer.organization_id))
        )
        by_code = {r.code: domain_tax(r) for r in rows}
        return cls(
            organization=tuple(by_code[r.code] for r in rows if r.applied_to_organization),
            customer=tuple(by_code[c] for c in customer.tax_codes or () if c in by_code),
            plan=tuple(by_code[c] for c in (plan.tax_codes if plan else ()) or () if c in by_code),
            by_code=by_code,
        )

    def codes(self, codes: Sequence[str] | None) -> tuple[TaxRate, ...]:
        return tuple(self.by_code[c] for c in codes or () if c in self.by_code)

    def for_charge(self, charge: Charge) -> tuple[TaxRate, ...]:
        return applicable_taxes(
            organization=self.organization,
            customer=self.customer,
            plan=self.plan,
            charge_or_addon=self.codes(charge.tax_codes),
            fee_type="charge",
        )

    def for_fee_type(
        self, fee_type: str, codes: Sequence[str] | None = None
    ) -> tuple[TaxRate, ...]:
        return applicable_taxes(
            organization=self.organization,
            customer=self.customer,
            plan=self.plan,
            charge_or_addon=self.codes(codes),
            fee_type=fee_type,
        )
