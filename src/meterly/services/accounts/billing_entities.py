"""Billing entities (Lago's `billing_entities`): the legal sellers of an organization.

The organization itself is the default seller, code `default`: its name, currency,
numbering and profile are the default entity's, and `PUT /billing_entities/default`
changes the organization. Other entities are rows of their own. A customer belongs to one
through its `billing_entity_code` (none: the default). Its invoices are numbered with the
entity's scheme and prefix, carry the entity's code, and show the entity as the seller.
With `eu_tax_management`, the customer gets the EU VAT of its place (domain/eu_vat.py),
evaluated again whenever the customer changes.

An entity's net payment term, invoice grace period, timezone and document language apply
to its customers: the customer's own setting wins, then the entity's, then the
organization's (`customer_settings`), as in Lago. So do finalizing zero-amount invoices
and which documents are e-mailed (`email_settings`). E-invoicing is switched per seller.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from meterly.domain import eu_vat
from meterly.domain.errors import NotFound, ValidationFailed
from meterly.domain.money import is_currency
from meterly.services.accounts.organizations import ORGANIZATION_PROFILE_FIELDS
from meterly.services.catalog import taxes
from meterly.services.common import Clock, new_id
from meterly.store.tables import BillingEntity, Customer, Organization

DEFAULT_CODE = "default"
NUMBERING = ("per_customer", "per_billing_entity")
# Identity shown on documents, beyond the organization's own profile fields.
PROFILE_FIELDS = (*ORGANIZATION_PROFILE_FIELDS, "logo_url", "invoice_footer", "document_locale")
# Lago's `email_settings` values (services/mail reads them: it sits above this package).
EMAIL_DOCUMENTS = ("invoice.finalized", "credit_note.created", "payment_receipt.created")
_PREFIX = re.compile(r"^[A-Za-z0-9_-]{1,10}$")


@dataclass(frozen=True, slots=True)
class BillingEntityInput:
    code: str | None = None
    name: str | None = None
    default_currency: str | None = None
    document_numbering: str | None = None
    document_number_prefix: str | None = None
    eu_tax_management: bool | None = None
    profile: Mapping[str, Any] = field(default_factory=dict)
    net_payment_term: int | None = None
    invoice_grace_period: int | None = None
    timezone: str | None = None
    einvoicing: bool | None = None
    finalize_zero_amount_invoice: bool | None = None
    email_settings: list[str] | None = None


@dataclass(frozen=True, slots=True)
class Seller:
    """A billing entity as the API shows it: a row, or the organization as the default."""

    lago_id: str
    code: str
    name: str
    default_currency: str
    document_numbering: str
    document_number_prefix: str
    eu_tax_management: bool
    profile: Mapping[str, Any]
    is_default: bool
    created_at: datetime
    updated_at: datetime
    # In force for the seller's customers: the entity's own value, else the organization's.
    net_payment_term: int
    invoice_grace_period: int
    timezone: str
    einvoicing: bool
    finalize_zero_amount_invoice: bool
    # The entity's own `email_settings`; None: the organization's (services/mail).
    email_settings: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class CustomerSettings:
    """What a customer's invoices follow: its own value, else its seller's."""

    net_payment_term: int
    invoice_grace_period: int
    timezone: str
    document_locale: str | None
    finalize_zero_amount_invoice: bool


def default_seller(org: Organization) -> Seller:
    numbering = (
        "per_billing_entity" if org.document_numbering == "per_organization" else "per_customer"
    )
    billing = org.billing_configuration or {}
    return Seller(
        lago_id=org.id,
        code=DEFAULT_CODE,
        name=org.name,
        default_currency=org.default_currency,
        document_numbering=numbering,
        document_number_prefix=org.document_number_prefix,
        eu_tax_management=bool(billing.get("eu_tax_management")),
        profile={
            **(org.profile or {}),
            **{k: billing[k] for k in ("invoice_footer", "document_locale") if k in billing},
        },
        is_default=True,
        created_at=org.created_at,
        updated_at=org.updated_at,
        net_payment_term=org.net_payment_term,
        invoice_grace_period=org.invoice_grace_period,
        timezone=org.timezone or "UTC",
        einvoicing=bool(org.einvoicing),
        finalize_zero_amount_invoice=bool(org.finalize_zero_amount_invoice),
    )


def seller_of(entity: BillingEntity, org: Organization) -> Seller:
    """The entity, with the organization's settings where the entity has none of its own."""
    own_locale = (entity.profile or {}).get("document_locale")
    org_locale = (org.billing_configuration or {}).get("document_locale")
    profile = dict(entity.profile or {})
    if not own_locale and org_locale:
        profile["document_locale"] = org_locale
    return Seller(
        lago_id=entity.id,
        code=entity.code,
        name=entity.name,
        default_currency=entity.default_currency,
        document_numbering=entity.document_numbering,
        document_number_prefix=entity.document_number_prefix,
        eu_tax_management=entity.eu_tax_management,
        profile=profile,
        is_default=False,
        created_at=entity.created_at,
        updated_at=entity.updated_at,
        net_payment_term=_first(entity.net_payment_term, org.net_payment_term),
        invoice_grace_period=_first(entity.invoice_grace_period, org.invoice_grace_period),
        timezone=entity.timezone or org.timezone or "UTC",
        einvoicing=bool(entity.einvoicing),
        finalize_zero_amount_invoice=(
            entity.finalize_zero_amount_invoice
            if entity.finalize_zero_amount_invoice is not None
            else bool(org.finalize_zero_amount_invoice)
        ),
        email_settings=(
            tuple(entity.email_settings) if entity.email_settings is not None else None
        ),
    )


def _first(own: int | None, inherited: int) -> int:
    return own if own is not None else inherited


def sellers(session: Session, organization_id: str) -> list[Seller]:
    """The default seller first, then the entities in the order they were created."""
    org = _org(session, organization_id)
    rows = session.scalars(
        select(BillingEntity)
        .where(BillingEntity.organization_id == organization_id)
        .order_by(BillingEntity.created_at, BillingEntity.code)
    )
    return [default_seller(org), *(seller_of(r, org) for r in rows)]


def find_entity(session: Session, organization_id: str, code: str) -> BillingEntity | None:
    return session.scalar(
        select(BillingEntity).where(
            BillingEntity.organization_id == organization_id, BillingEntity.code == code
        )
    )


def find_seller(session: Session, organization_id: str, code: str) -> Seller:
    if code == DEFAULT_CODE:
        return default_seller(_org(session, organization_id))
    entity = find_entity(session, organization_id, code)
    if entity is None:
        raise NotFound("billing_entity")
    return seller_of(entity, _org(session, organization_id))


def seller_for(session: Session, customer: Customer) -> Seller:
    """The customer's seller: its billing entity, else the organization."""
    code = (customer.profile or {}).get("billing_entity_code") or DEFAULT_CODE
    return find_seller(session, customer.organization_id, str(code))


def customer_settings(session: Session, customer: Customer) -> CustomerSettings:
    """The customer's payment term, grace period, timezone and language: its own value,
    else its billing entity's, else the organization's (Lago's `applicable_*`)."""
    seller = seller_for(session, customer)
    own_locale = (customer.billing_configuration or {}).get("document_locale")
    seller_locale = seller.profile.get("document_locale")
    zero = customer.finalize_zero_amount_invoice  # "finalize", "skip" or "inherit"
    return CustomerSettings(
        net_payment_term=_first(customer.net_payment_term, seller.net_payment_term),
        invoice_grace_period=_first(customer.invoice_grace_period, seller.invoice_grace_period),
        timezone=customer.timezone or seller.timezone,
        document_locale=str(own_locale or seller_locale) if own_locale or seller_locale else None,
        finalize_zero_amount_invoice=(
            zero == "finalize"
            if zero in ("finalize", "skip")
            else seller.finalize_zero_amount_invoice
        ),
    )


def customer_timezone(session: Session, customer: Customer) -> str:
    """The customer's timezone, else its seller's (read often: no entity query when the
    customer has its own)."""
    return customer.timezone or seller_for(session, customer).timezone


def invoice_seller(session: Session, organization_id: str, code: str | None) -> Seller:
    """The seller recorded on an invoice (its `billing_entity_code`); a code no longer
    known falls back to the organization."""
    if code and code != DEFAULT_CODE:
        entity = find_entity(session, organization_id, code)
        if entity is not None:
            return seller_of(entity, _org(session, organization_id))
    return default_seller(_org(session, organization_id))


def create(
    session: Session, *, organization_id: str, data: BillingEntityInput, clock: Clock
) -> BillingEntity:
    errors = _errors(data)
    for required in ("code", "name"):
        if not getattr(data, required):
            errors[required] = ["value_is_mandatory"]
    if data.code == DEFAULT_CODE or (
        data.code and find_entity(session, organization_id, data.code) is not None
    ):
        errors["code"] = ["value_already_exist"]
    if errors:
        raise ValidationFailed(errors)
    assert data.code and data.name
    org = _org(session, organization_id)
    now = clock.now()
    row = BillingEntity(
        id=new_id(),
        organization_id=organization_id,
        code=data.code,
        name=data.name,
        default_currency=(data.default_currency or org.default_currency).upper(),
        document_numbering=data.document_numbering or "per_customer",
        document_number_prefix=data.document_number_prefix or data.code.upper()[:10],
        eu_tax_management=bool(data.eu_tax_management),
        profile=dict(data.profile),
        net_payment_term=data.net_payment_term,
        invoice_grace_period=data.invoice_grace_period,
        timezone=data.timezone,
        einvoicing=bool(data.einvoicing),
        finalize_zero_amount_invoice=data.finalize_zero_amount_invoice,
        email_settings=_documents(data.email_settings),
        created_at=now,
        updated_at=now,
    )
    _check_eu(row.eu_tax_management, row.profile)
    session.add(row)
    session.flush()
    return row


def update(
    session: Session, *, organization_id: str, code: str, data: BillingEntityInput, clock: Clock
) -> Seller:
    """Change an entity, or, for `default`, the organization. The code never changes."""
    errors = _errors(data)
    if errors:
        raise ValidationFailed(errors)
    now = clock.now()
    if code == DEFAULT_CODE:
        org = _org(session, organization_id)
        if data.name:
            org.name = data.name
        if data.default_currency:
            org.default_currency = data.default_currency.upper()
        if data.document_numbering:
            per_entity = data.document_numbering == "per_billing_entity"
            org.document_numbering = "per_organization" if per_entity else "per_customer"
        if data.document_number_prefix:
            org.document_number_prefix = data.document_number_prefix
        if data.net_payment_term is not None:
            org.net_payment_term = data.net_payment_term
        if data.invoice_grace_period is not None:
            org.invoice_grace_period = data.invoice_grace_period
        if data.timezone is not None:
            org.timezone = data.timezone
        if data.einvoicing is not None:
            org.einvoicing = data.einvoicing
        if data.finalize_zero_amount_invoice is not None:
            org.finalize_zero_amount_invoice = data.finalize_zero_amount_invoice
        billing = dict(org.billing_configuration or {})
        if data.eu_tax_management is not None:
            billing["eu_tax_management"] = data.eu_tax_management
        for key in ("invoice_footer", "document_locale"):
            if key in data.profile:
                billing[key] = data.profile[key]
        org.billing_configuration = billing
        org.profile = {
            **(org.profile or {}),
            **{k: v for k, v in data.profile.items() if k in ORGANIZATION_PROFILE_FIELDS},
        }
        _check_eu(bool(billing.get("eu_tax_management")), org.profile)
        org.updated_at = now
        session.flush()
        return default_seller(org)
    row = find_entity(session, organization_id, code)
    if row is None:
        raise NotFound("billing_entity")
    if data.name:
        row.name = data.name
    if data.default_currency:
        row.default_currency = data.default_currency.upper()
    if data.document_numbering:
        row.document_numbering = data.document_numbering
    if data.document_number_prefix:
        row.document_number_prefix = data.document_number_prefix
    if data.eu_tax_management is not None:
        row.eu_tax_management = data.eu_tax_management
    if data.net_payment_term is not None:
        row.net_payment_term = data.net_payment_term
    if data.invoice_grace_period is not None:
        row.invoice_grace_period = data.invoice_grace_period
    if data.timezone is not None:
        row.timezone = data.timezone
    if data.einvoicing is not None:
        row.einvoicing = data.einvoicing
    if data.finalize_zero_amount_invoice is not None:
        row.finalize_zero_amount_invoice = data.finalize_zero_amount_invoice
    if data.email_settings is not None:
        row.email_settings = _documents(data.email_settings)
    row.profile = {**(row.profile or {}), **data.profile}
    _check_eu(row.eu_tax_management, row.profile)
    row.updated_at = now
    session.flush()
    return seller_of(row, _org(session, organization_id))


def apply_eu_taxes(session: Session, *, customer: Customer, clock: Clock) -> None:
    """Give the customer its EU VAT when its seller manages EU taxes (Lago's `lago_eu_*`
    taxes, created on first use); other tax codes of the customer are kept."""
    seller = seller_for(session, customer)
    if not seller.eu_tax_management:
        return
    profile = customer.profile or {}
    tax = eu_vat.tax_for(
        seller_country=str(seller.profile.get("country")),
        customer_country=profile.get("country"),
        customer_vat_number=profile.get("tax_identification_number"),
    )
    if not taxes.lookup(session, customer.organization_id, [tax.code]):
        taxes.create(
            session,
            organization_id=customer.organization_id,
            data=taxes.TaxInput(name=tax.name, code=tax.code, rate=str(tax.rate)),
            clock=clock,
        )
    kept = [c for c in customer.tax_codes or [] if not str(c).startswith("lago_eu_")]
    customer.tax_codes = [*kept, tax.code]


def _check_eu(managed: bool, profile: Mapping[str, Any]) -> None:
    """EU tax management needs a seller established in the EU."""
    if managed and not eu_vat.is_member(profile.get("country")):
        raise ValidationFailed.field("eu_tax_management", "billing_entity_must_be_in_eu")


def _errors(data: BillingEntityInput) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if data.default_currency is not None and not is_currency(data.default_currency):
        errors["default_currency"] = ["value_is_invalid"]
    if data.document_numbering is not None and data.document_numbering not in NUMBERING:
        errors["document_numbering"] = ["value_is_invalid"]
    for name in ("net_payment_term", "invoice_grace_period"):
        days = getattr(data, name)
        if days is not None and (isinstance(days, bool) or not isinstance(days, int) or days < 0):
            errors[name] = ["value_is_invalid"]
    if data.timezone is not None and not _is_timezone(data.timezone):
        errors["timezone"] = ["invalid_timezone"]
    prefix = data.document_number_prefix
    if prefix is not None and not _PREFIX.match(prefix):
        errors["document_number_prefix"] = ["value_is_invalid"]
    country = data.profile.get("country")
    if country is not None and not (
        isinstance(country, str) and re.fullmatch("[A-Za-z]{2}", country)
    ):
        errors["country"] = ["not_a_valid_country_code"]
    documents = data.email_settings
    if documents is not None and (
        not isinstance(documents, list)
        or any(not isinstance(d, str) or d not in EMAIL_DOCUMENTS for d in documents)
    ):
        errors["email_settings"] = ["value_is_invalid"]
    zero = data.finalize_zero_amount_invoice
    if zero is not None and not isinstance(zero, bool):
        errors["finalize_zero_amount_invoice"] = ["value_is_invalid"]
    unknown = set(data.profile) - set(PROFILE_FIELDS)
    for name in sorted(unknown):
        errors[name] = ["value_is_invalid"]
    return errors


def _documents(values: list[str] | None) -> list[str] | None:
    """Lago's order, each once (None stays None: the organization's settings)."""
    return None if values is None else [d for d in EMAIL_DOCUMENTS if d in values]


def _is_timezone(value: object) -> bool:
    if not isinstance(value, str) or not value:
        return False
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def _org(session: Session, organization_id: str) -> Organization:
    org = session.get(Organization, organization_id)
    if org is None:
        raise NotFound("organization")
    return org
