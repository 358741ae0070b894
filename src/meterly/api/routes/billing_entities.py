"""/api/v1/billing_entities: the legal sellers of the organization (Lago's billing entities).

The organization is the default entity (`default`); see services/accounts/billing_entities.py.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from sqlalchemy.orm import Session

from meterly.api.http import clock, envelope, json_body, ok, organization_id, root, unit_of_work
from meterly.api.openapi import BILLING_ENTITY
from meterly.api.wire import iso
from meterly.domain.errors import ValidationFailed
from meterly.services import billing, mail
from meterly.services.accounts import billing_entities

router = APIRouter(prefix="/billing_entities", tags=["billing_entities"])

_SCALARS = ("code", "name", "default_currency", "document_numbering", "document_number_prefix")


def _input(raw: dict[str, Any]) -> billing_entities.BillingEntityInput:
    values: dict[str, Any] = {}
    for name in _SCALARS:
        value = raw.get(name)
        if value is not None and not isinstance(value, str):
            raise ValidationFailed.field(name, "value_is_invalid")
        values[name] = value
    managed = raw.get("eu_tax_management")
    if managed is not None and not isinstance(managed, bool):
        raise ValidationFailed.field("eu_tax_management", "value_is_invalid")
    profile = {k: raw[k] for k in billing_entities.PROFILE_FIELDS if k in raw}
    billing = raw.get("billing_configuration") or {}
    if not isinstance(billing, dict):
        raise ValidationFailed.field("billing_configuration", "value_is_invalid")
    profile.update({k: billing[k] for k in ("invoice_footer", "document_locale") if k in billing})
    for name, value in profile.items():
        if value is not None and not isinstance(value, str):
            raise ValidationFailed.field(name, "value_is_invalid")
    einvoicing = raw.get("einvoicing")
    if einvoicing is not None and not isinstance(einvoicing, bool):
        raise ValidationFailed.field("einvoicing", "value_is_invalid")
    timezone = raw.get("timezone")
    if timezone is not None and not isinstance(timezone, str):
        raise ValidationFailed.field("timezone", "invalid_timezone")
    # Checked by the service (a boolean; Lago's document types, in a list).
    zero = raw.get("finalize_zero_amount_invoice", billing.get("finalize_zero_amount_invoice"))
    return billing_entities.BillingEntityInput(
        **values,
        eu_tax_management=managed,
        profile=profile,
        # Checked (non-negative integers) by the service; Lago nests the grace period.
        net_payment_term=raw.get("net_payment_term"),
        invoice_grace_period=billing.get("invoice_grace_period", raw.get("invoice_grace_period")),
        timezone=timezone,
        einvoicing=einvoicing,
        finalize_zero_amount_invoice=zero,
        email_settings=raw.get("email_settings"),
    )


def _wire(session: Session, org: str, seller: billing_entities.Seller) -> dict[str, Any]:
    profile = seller.profile
    documents = seller.email_settings
    if documents is None:  # the organization's own (the default entity's too)
        documents = tuple(mail.document_types(session, org))
    return {
        "lago_id": seller.lago_id,
        "code": seller.code,
        "name": seller.name,
        "default_currency": seller.default_currency,
        "document_numbering": seller.document_numbering,
        "document_number_prefix": seller.document_number_prefix,
        "document_locale": profile.get("document_locale"),
        "invoice_footer": profile.get("invoice_footer"),
        "is_default": seller.is_default,
        "eu_tax_management": seller.eu_tax_management,
        "einvoicing": seller.einvoicing,
        "net_payment_term": seller.net_payment_term,
        "invoice_grace_period": seller.invoice_grace_period,
        "timezone": seller.timezone,
        "finalize_zero_amount_invoice": seller.finalize_zero_amount_invoice,
        "email_settings": list(documents),
        **{
            k: profile.get(k)
            for k in billing_entities.PROFILE_FIELDS
            if k not in ("invoice_footer", "document_locale")
        },
        "created_at": iso(seller.created_at),
        "updated_at": iso(seller.updated_at),
    }


@router.get("")
def index(request: Request, org: str = Depends(organization_id)) -> Response:
    with unit_of_work(request) as session:
        found = billing_entities.sellers(session, org)
        return ok({"billing_entities": [_wire(session, org, s) for s in found]})


@router.post("", openapi_extra=BILLING_ENTITY)
def create(
    request: Request, org: str = Depends(organization_id), body: Any = Depends(json_body)
) -> Response:
    data = _input(root(body, "billing_entity"))
    with unit_of_work(request) as session:
        row = billing_entities.create(session, organization_id=org, data=data, clock=clock(request))
        seller = billing_entities.find_seller(session, org, row.code)
        return envelope("billing_entity", _wire(session, org, seller))


@router.get("/{code}")
def show(code: str, request: Request, org: str = Depends(organization_id)) -> Response:
    with unit_of_work(request) as session:
        return envelope(
            "billing_entity", _wire(session, org, billing_entities.find_seller(session, org, code))
        )


@router.put("/{code}", openapi_extra=BILLING_ENTITY)
def update(
    code: str, request: Request, org: str = Depends(organization_id), body: Any = Depends(json_body)
) -> Response:
    raw = root(body, "billing_entity")
    if "code" in raw and raw["code"] != code:
        raise ValidationFailed.field("code", "value_is_invalid")  # a code never changes
    data = _input(raw)
    with unit_of_work(request) as session:
        seller = billing_entities.update(
            session, organization_id=org, code=code, data=data, clock=clock(request)
        )
        if seller.is_default and data.email_settings is not None:
            # The default entity is the organization: its documents are the mail settings'.
            changes = {"email_settings": data.email_settings}
            mail.update_settings(
                session, organization_id=org, changes=changes, clock=clock(request)
            )
        if data.invoice_grace_period is not None:
            # The entity's customers' drafts move with it; a lower one finalizes those due.
            billing.apply_grace_period(session, organization_id=org, clock=clock(request))
        return envelope("billing_entity", _wire(session, org, seller))
