"""Customers: created or updated by external_id (Lago's upsert), scoped to an organization."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from meterly.domain.errors import NotFound, ValidationFailed
from meterly.domain.money import is_currency
from meterly.services.accounts.billing_entities import (
    apply_eu_taxes,
    customer_timezone,
    find_seller,
)
from meterly.services.common import Clock, FrozenClock, new_id
from meterly.store.sequences import CUSTOMERS_SCOPE, next_value
from meterly.store.tables import Customer, Organization, Subscription, Tax, TestClock

PROFILE_FIELDS = (
    "firstname",
    "lastname",
    "customer_type",
    "account_type",
    "phone",
    "url",
    "logo_url",
    "legal_name",
    "legal_number",
    "tax_identification_number",
    "address_line1",
    "address_line2",
    "city",
    "zipcode",
    "state",
    "country",
    "shipping_address",
    "external_salesforce_id",
    "billing_entity_code",
)
_EMAIL = re.compile(r"^[^@\s,]+@[^@\s,]+\.[^@\s,]+$")
FINALIZE_ZERO_OPTIONS = ("inherit", "skip", "finalize")


@dataclass(frozen=True, slots=True)
class CustomerInput:
    external_id: str
    fields: dict[str, Any] = field(default_factory=dict)


def find(session: Session, *, organization_id: str, external_id: str) -> Customer:
    row = session.scalar(
        select(Customer).where(
            Customer.organization_id == organization_id,
            Customer.external_id == external_id,
            Customer.deleted_at.is_(None),
        )
    )
    if row is None:
        raise NotFound("customer")
    return row


def find_optional(session: Session, *, organization_id: str, external_id: str) -> Customer | None:
    try:
        return find(session, organization_id=organization_id, external_id=external_id)
    except NotFound:
        return None


def list_page(
    session: Session,
    *,
    organization_id: str,
    page: int,
    per_page: int,
    search_term: str | None = None,
    currencies: list[str] | None = None,
    countries: list[str] | None = None,
    external_id: str | None = None,
) -> tuple[list[Customer], int]:
    where = [Customer.organization_id == organization_id, Customer.deleted_at.is_(None)]
    if search_term:
        like = f"%{search_term.lower()}%"
        where.append(
            or_(
                func.lower(Customer.name).like(like),
                func.lower(Customer.external_id).like(like),
                func.lower(Customer.email).like(like),
            )
        )
    if currencies:
        where.append(Customer.currency.in_(currencies))
    if external_id:
        where.append(Customer.external_id == external_id)
    rows = list(
        session.scalars(select(Customer).where(*where).order_by(Customer.created_at.desc()))
    )
    if countries:
        rows = [r for r in rows if r.profile.get("country") in countries]
    total = len(rows)
    return rows[(page - 1) * per_page : page * per_page], total


def upsert(
    session: Session, *, organization_id: str, data: CustomerInput, clock: Clock
) -> tuple[Customer, bool]:
    """Create the customer, or update the one with this external_id. Returns (row, created)."""
    if not data.external_id:
        raise ValidationFailed.field("external_id", "value_is_mandatory")
    _validate(session, organization_id, data.fields)
    row = find_optional(session, organization_id=organization_id, external_id=data.external_id)
    created = row is None
    test_clock = _test_clock(session, organization_id, row, data.fields.get("test_clock_id"))
    if test_clock is not None:  # a customer under a test clock lives at the clock's time
        clock = FrozenClock(test_clock.frozen_time)
    now = clock.now()
    if row is None:
        org = session.get(Organization, organization_id)
        assert org is not None
        # A counter row bumped atomically, not max + 1: concurrent creations would read the
        # same maximum, share an id and then collide on their invoice numbers (issue 20).
        sequence = next_value(session, organization_id=organization_id, scope=CUSTOMERS_SCOPE)
        row = Customer(
            id=new_id(),
            organization_id=organization_id,
            external_id=data.external_id,
            sequential_id=sequence,
            slug=f"{org.document_number_prefix}-{sequence:03d}",
            finalize_zero_amount_invoice="inherit",
            tax_codes=[],
            profile={},
            billing_configuration={},
            customer_metadata=[],
            test_clock_id=test_clock.id if test_clock is not None else None,
            created_at=now,
            updated_at=now,
        )
        session.add(row)
    _apply(row, data.fields, now=now)
    session.flush()
    # The seller may manage EU VAT: the customer's place (and VAT number) decides its tax.
    apply_eu_taxes(session, customer=row, clock=clock)
    return row, created


def _test_clock(
    session: Session, organization_id: str, row: Customer | None, requested: object
) -> TestClock | None:
    """The test clock the customer lives under. Only a new customer is attached (a Meterly
    extension of the body): moving one between times would re-bill or skip its periods."""
    clock_id = requested if requested is not None else (row.test_clock_id if row else None)
    if row is not None and requested is not None and requested != row.test_clock_id:
        raise ValidationFailed.field("test_clock_id", "cannot_be_changed")
    if clock_id is None:
        return None
    found = session.get(TestClock, str(clock_id))
    if found is None or found.organization_id != organization_id:
        raise NotFound("test_clock")
    return found


def customer_clock(session: Session, customer: Customer, clock: Clock) -> Clock:
    """What "now" is for this customer: its test clock's frozen time, else `clock`."""
    if customer.test_clock_id is None:
        return clock
    test_clock = session.get(TestClock, customer.test_clock_id)
    return FrozenClock(test_clock.frozen_time) if test_clock is not None else clock


def _validate(session: Session, organization_id: str, fields: dict[str, Any]) -> None:
    errors: dict[str, list[str]] = {}
    if fields.get("currency") is not None and not is_currency(fields["currency"]):
        errors["currency"] = ["value_is_invalid"]
    if fields.get("timezone") is not None and not _is_timezone(fields["timezone"]):
        errors["timezone"] = ["invalid_timezone"]
    country = fields.get("country")
    if country is not None and not (
        isinstance(country, str) and re.fullmatch("[A-Za-z]{2}", country)
    ):
        errors["country"] = ["not_a_valid_country_code"]
    email = fields.get("email")
    if email and not all(_EMAIL.match(e.strip()) for e in str(email).split(",")):
        errors["email"] = ["invalid_email_format"]
    term = fields.get("net_payment_term")
    if term is not None and (not isinstance(term, int) or term < 0):
        errors["net_payment_term"] = ["value_is_invalid"]
    zero = fields.get("finalize_zero_amount_invoice")
    if zero is not None and zero not in FINALIZE_ZERO_OPTIONS:
        errors["finalize_zero_amount_invoice"] = ["value_is_invalid"]
    customer_type = fields.get("customer_type")
    if customer_type is not None and customer_type not in ("company", "individual"):
        errors["customer_type"] = ["value_is_invalid"]
    billing = fields.get("billing_configuration") or {}
    grace = billing.get("invoice_grace_period")
    if grace is not None and (not isinstance(grace, int) or grace < 0):
        errors["billing_configuration.invoice_grace_period"] = ["value_is_invalid"]
    if errors:
        raise ValidationFailed(errors)
    entity = fields.get("billing_entity_code")
    if entity is not None:  # 404 billing_entity_not_found for an unknown seller
        find_seller(session, organization_id, str(entity))
    codes = fields.get("tax_codes")
    if codes:
        known = set(
            session.scalars(
                select(Tax.code).where(Tax.organization_id == organization_id, Tax.code.in_(codes))
            )
        )
        if set(codes) - known:
            raise NotFound("tax")


def _is_timezone(value: object) -> bool:
    if not isinstance(value, str) or not value:
        return False
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _apply(row: Customer, fields: dict[str, Any], *, now: Any) -> None:
    for name in ("name", "email", "currency", "timezone", "net_payment_term"):
        if name in fields:
            setattr(row, name, fields[name])
    if fields.get("currency"):
        row.currency = str(fields["currency"]).upper()
    if fields.get("finalize_zero_amount_invoice") is not None:
        row.finalize_zero_amount_invoice = fields["finalize_zero_amount_invoice"]
    if fields.get("tax_codes") is not None:
        row.tax_codes = list(dict.fromkeys(fields["tax_codes"]))
    profile = dict(row.profile)
    profile.update({k: fields[k] for k in PROFILE_FIELDS if k in fields})
    row.profile = profile
    billing = fields.get("billing_configuration")
    if isinstance(billing, dict):
        merged = dict(row.billing_configuration)
        merged.update({k: v for k, v in billing.items() if v is not None})
        row.billing_configuration = merged
        if billing.get("invoice_grace_period") is not None:
            row.invoice_grace_period = billing["invoice_grace_period"]
    if fields.get("metadata") is not None:
        row.customer_metadata = _metadata(row.customer_metadata, fields["metadata"], now)
    row.updated_at = now


def _metadata(existing: list[Any], incoming: list[Any], now: Any) -> list[dict[str, Any]]:
    """Lago replaces the metadata list; entries keep their lago_id when sent back with it."""
    by_id = {m["lago_id"]: m for m in existing}
    result = []
    for item in incoming:
        if not isinstance(item, dict) or not item.get("key"):
            raise ValidationFailed.field("metadata", "value_is_invalid")
        kept = by_id.get(item.get("id") or "")
        result.append(
            {
                "lago_id": kept["lago_id"] if kept else new_id(),
                "key": item["key"],
                "value": item.get("value"),
                "display_in_invoice": bool(item.get("display_in_invoice", False)),
                "created_at": kept["created_at"] if kept else now.isoformat(),
            }
        )
    return result


def delete(session: Session, *, row: Customer, clock: Clock) -> Customer:
    """Soft delete: the customer's live subscriptions end with it."""
    now = clock.now()
    row.deleted_at = now
    for sub in session.scalars(
        select(Subscription).where(
            Subscription.customer_id == row.id, Subscription.status.in_(("active", "pending"))
        )
    ):
        if sub.status == "pending":
            sub.status, sub.canceled_at = "canceled", now
        else:
            sub.status, sub.terminated_at = "terminated", now
        sub.updated_at = now
    return row


def applicable_timezone(session: Session, row: Customer) -> str:
    """The customer's timezone, else its billing entity's, else the organization's."""
    return customer_timezone(session, row)
